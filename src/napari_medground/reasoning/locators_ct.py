"""The built-in locators (see :mod:`napari_medground.catalogue.locators` for the contract).

Each adapts one backend to the contract: a mask on the study grid, a confidence, the
method in words, the algorithms used (rule-based ones included, so exports credit them),
and whether the field of view cuts the structure. Imported by the locator registry the
first time a name is looked up; models are imported inside the functions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalogue import Located, LocateContext, classical_use, register_locator
from ..catalogue.locators import Timer
from ..catalogue.sanity import cut_by_fov

RULE_CONFIDENCE = 0.9  # HU-rule structures whose physics is unambiguous (air, bone, fat)


def _classical(entry: Any, mask: np.ndarray | None, seconds: float, confidence: float = RULE_CONFIDENCE,
               notes: tuple[str, ...] = (), backend: str = "ct_classical") -> Located:
    if mask is None or not mask.any():
        return Located(None, 0.0, entry.method, (classical_use(backend, seconds),), notes=notes,
                       reason="no voxels passed the rule (outside the field of view?)")
    return Located(mask, confidence, entry.method, (classical_use(backend, seconds),),
                   partial=cut_by_fov(mask), notes=notes)


def _rule_locator(function: str):
    """A locator for one whole-study HU rule of ``napari_medground.models.ct`` (by name)."""
    def locate(study: Any, entry: Any, ctx: LocateContext) -> Located:
        from ..models import ct as ct_anatomy

        with Timer() as t:
            mask = getattr(ct_anatomy, function)(study)
        return _classical(entry, mask, t.seconds)

    locate.__name__ = locate.__qualname__ = f"locate_{function.removeprefix('segment_')}"
    locate.__doc__ = f"The study's {function.removeprefix('segment_')} by HU rule (``models.ct.{function}``)."
    return locate


for _name, _function in {"ct.body": "segment_body", "ct.bone": "segment_bone", "ct.fat": "segment_fat"}.items():
    register_locator(_name, _rule_locator(_function))


@register_locator("ct.subcutaneous_fat")
def locate_subcutaneous_fat(study: Any, entry: Any, ctx: LocateContext) -> Located:
    from ..models.ct.subcut import segment_subcutaneous_fat

    with Timer() as t:
        mask = segment_subcutaneous_fat(study)
    return _classical(entry, mask, t.seconds, confidence=0.8)


@register_locator("ct.lungs")
def locate_lung(study: Any, entry: Any, ctx: LocateContext) -> Located:
    """One lung, by the entry's side (patient side from the affine)."""
    from ..models import ct as ct_anatomy

    with Timer() as t:
        lungs = ct_anatomy.segment_lungs(study)
    mask = {"left": lungs.left, "right": lungs.right}.get(entry.side or "", lungs.both)
    return _classical(entry, mask, t.seconds, lungs.confidence, tuple(lungs.notes))


@register_locator("ct.airways")
def locate_airways(study: Any, entry: Any, ctx: LocateContext) -> Located:
    from ..models import ct as ct_anatomy

    with Timer() as t:
        lungs = ct_anatomy.segment_lungs(study)
    return _classical(entry, lungs.airways, t.seconds, lungs.confidence, tuple(lungs.notes))


@register_locator("ct.organ")
def locate_organ(study: Any, entry: Any, ctx: LocateContext) -> Located:
    """Watershed localisation (rules) refined by LiteMedSAM: both algorithms are credited."""
    from ..models.ct import segment_organ

    with Timer() as t:
        org = segment_organ(study, entry.id, device=ctx.device, progress=ctx.progress, cancel=ctx.cancel)
    rules = classical_use("ct_classical", max(0.0, t.seconds - sum(m.seconds for m in org.models)))
    models = (rules, *org.models)
    if org.mask is None or not org.mask.any():
        return Located(None, 0.0, org.method, models, notes=tuple(org.notes), reason=org.method)
    return Located(org.mask, org.confidence, org.method, models, partial=cut_by_fov(org.mask),
                   notes=tuple(org.notes), extra={"agreement": org.agreement})
