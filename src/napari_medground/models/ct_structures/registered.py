"""Catalogue locators of this sub-package (contract: ``napari_medground.catalogue.locators``).

``ct.vertebra``: ``locator_args = {"level": "L1"}`` (T12..L5 or "sacrum"), the level
counted up from the sacrum by :mod:`.vertebrae`.
"""
from __future__ import annotations

import time

from ...catalogue import Located, classical_use, register_locator
from .vertebrae import locate_vertebra


@register_locator("ct.vertebra")
def locate_vertebra_entry(study, entry, ctx) -> Located:
    """One vertebra at its counted level; not found (with the reason) when the count has
    no landmark in the field of view."""
    t0 = time.perf_counter()
    level = str((entry.locator_args or {}).get("level", entry.id))
    res = locate_vertebra(study, level)
    use = classical_use("ct_classical", seconds=time.perf_counter() - t0)
    if res.mask is None:
        return Located(None, 0.0, res.method, models=(use,), notes=res.notes, reason=res.reason)
    conf = res.confidence if res.status == "present" else min(res.confidence, 0.5)
    notes = res.notes + ((res.reason,) if res.reason else ())
    return Located(res.mask, conf, res.method, models=(use,), partial=res.cut_by_fov, notes=notes)
