"""Built-in locators for brain MRI (MeshNet regions) and chest radiographs (classical rules).

The brain and CXR procedures run their backends over several structures at once (both
hippocampi and the brain for the Evans index; lungs and heart for the CTR); these
locators give the same masks one catalogue entry at a time, for callers that go through
the catalogue (contract: :mod:`napari_medground.catalogue.locators`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalogue import Located, LocateContext, classical_use, register_locator
from ..catalogue.locators import Timer
from ..catalogue.sanity import cut_by_fov
from ..masks import label_mask

BRAIN_MODEL = "model21_104class"


@register_locator("meshnet104.regions")
def locate_brain_region(study: Any, entry: Any, ctx: LocateContext) -> Located:
    """The MeshNet 104-region labels of the entry's term and side (vocabulary label map)."""
    from ..language import vocabulary
    from ..models.brain import segment_brain

    names = tuple(vocabulary.backend_labels(entry.terms[0], entry.side, "meshnet104")) if entry.terms else ()
    if not names:
        return Located(None, 0.0, entry.method, reason=f"no MeshNet label for the {entry.name}")
    seg = segment_brain(study, BRAIN_MODEL, regions=list(names), device=ctx.device, progress=ctx.progress,
                        cancel=ctx.cancel)
    ids = [i for i, n in seg.names.items() if n in names]
    mask = label_mask(seg.labels, ids)
    if not mask.any():
        return Located(None, 0.0, entry.method, (seg.model,), reason="the model labelled no voxels "
                       "(is this a T1-weighted brain MRI?)")
    return Located(mask, 0.9, entry.method, (seg.model,), partial=cut_by_fov(mask))


@register_locator("cxr.anatomy")
def locate_cxr(study: Any, entry: Any, ctx: LocateContext) -> Located:
    """Lung field, heart shadow or thorax (both lung fields) of a frontal chest radiograph;
    ``locator_args["part"]`` is "lung_left", "lung_right", "heart" or "thorax"."""
    from ..models.cxr import analyse_chest_xray

    with Timer() as t:
        cxr = analyse_chest_xray(study, device=ctx.device)
    part = str(entry.locator_args.get("part", ""))
    lungs = None if cxr.lung_left is None else (cxr.lung_left | cxr.lung_right)
    mask = {"lung_left": cxr.lung_left, "lung_right": cxr.lung_right, "heart": cxr.heart,
            "thorax": lungs}.get(part)
    use = (classical_use("cxr_classical", t.seconds),)
    if mask is None or not mask.any():
        return Located(None, 0.0, entry.method, use, reason=f"the {entry.name} was not found on this film")
    return Located(mask, float(cxr.confidence), entry.method, use, notes=tuple(cxr.notes))
