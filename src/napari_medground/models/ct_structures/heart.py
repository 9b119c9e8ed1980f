"""Heart: whether it can be in the field of view at all (it sits on the diaphragm between
the lungs). No heart segmentation yet, so the answer is always ``not_assessable``, with
the reason that fits the scan: outside the field of view when the highest axial slice
shows only lung bases (air-density lung under :data:`MIN_LUNG_FRACTION` of the body's
cross-section) or no lung at all; otherwise "in view but not segmentable here".
"""
from __future__ import annotations

import numpy as np

from ..ct_anatomy_body import body_mask_canonical
from ..ct_anatomy_frame import make_frame
from .result import StructureResult, not_assessable

LUNG_HU = -400.0
MIN_LUNG_FRACTION = 0.3  # mid-thoracic slices (heart level) are about half lung
TOP_SLAB_MM = 10.0
_METHOD = "field-of-view check: lung share of the body cross-section in the highest slices"


def locate_heart(study) -> StructureResult:
    """Always not_assessable; the reason says whether the heart is outside the field of view."""
    frame = make_frame(study)
    sp = frame.spacing
    hu = frame.to_canonical(np.asarray(study.array)).astype(np.float32)
    n = max(1, int(round(TOP_SLAB_MM / sp[0])))
    top = hu[-n:]
    body = body_mask_canonical(top, sp)
    lung = (top < LUNG_HU) & body
    frac = float(lung.sum()) / max(1, int(body.sum()))
    if frac < MIN_LUNG_FRACTION:
        return not_assessable("heart", f"the heart is outside the field of view: the highest slices show "
                              f"{'only the lung bases' if frac > 0.02 else 'no lung'} "
                              f"({frac:.0%} of the body cross-section is lung)", _METHOD)
    return not_assessable("heart", "the heart may be in the field of view, but no heart segmentation is "
                          "available yet", _METHOD)
