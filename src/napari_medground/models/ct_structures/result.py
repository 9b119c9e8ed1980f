"""The one result type of every CT structure locator in this sub-package.

A locator takes a 3D CT ``Study`` and returns a :class:`StructureResult`: the mask on the
study grid (or None), a confidence, a plain-words method, the models used, and whether
the structure is cut by the field of view. ``status`` is a proposal for the reasoning
layer ("present", "uncertain", "not_assessable"); ``reason`` says why when it is not
"present".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class StructureResult:
    """One located structure.

    Attributes
    ----------
    name : catalogue-style name ("vertebrae_L2", "sacrum", ...).
    mask : bool array of the study's shape, or None when not located.
    confidence : 0..1 (0 when not located).
    method : plain words for the reasoning panel.
    status : "present", "uncertain" or "not_assessable" (a proposal).
    reason : why the status is not "present" (empty when it is).
    cut_by_fov : the structure touches the first/last slice of the scan.
    models : names of the models used ("HU rules" when none).
    notes : what happened, in order (numbers in mm / HU / mL).
    extra : structure-specific evidence (e.g. ``centreline_lps_mm``, ``level_landmark``).
    """

    name: str
    mask: np.ndarray | None
    confidence: float
    method: str
    status: str = "present"
    reason: str = ""
    cut_by_fov: bool = False
    models: tuple[str, ...] = ("HU rules",)
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.mask is not None and bool(self.mask.any())


def not_assessable(name: str, reason: str, method: str = "") -> StructureResult:
    """A structure that could not be located or judged, with the reason."""
    return StructureResult(name=name, mask=None, confidence=0.0, method=method or reason,
                           status="not_assessable", reason=reason)
