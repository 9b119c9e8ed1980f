"""CT structures located by HU rules, shape and landmark reasoning (no atlas of the test CT).

Each locator takes a 3D CT ``Study`` and returns a :class:`.result.StructureResult` on
the study grid. Families: :mod:`.vertebrae` (levels counted from the sacrum, with
:mod:`.spine_column`), :mod:`.vessels` (aorta, IVC), :mod:`.pelvis` (urinary bladder),
:mod:`.muscles` (psoas), :mod:`.gallbladder`, :mod:`.heart` (field-of-view check only).
:mod:`.registered` registers them as catalogue locators.
"""
from .result import StructureResult, not_assessable
from .vertebrae import locate_vertebra, spine_levels

__all__ = ["StructureResult", "locate_vertebra", "not_assessable", "spine_levels"]

from . import registered  # noqa: E402,F401  (registers the catalogue locators)
