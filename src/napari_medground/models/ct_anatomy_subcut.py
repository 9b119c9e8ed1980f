"""Subcutaneous fat on CT by HU rules and morphology (no model weights).

Subcutaneous adipose tissue is the fat between the skin and the muscle wall. Per axial
slice of the canonical view (:mod:`.ct_anatomy_frame`, axes toward S, P, L):

1. the body (:func:`ct_anatomy.segment_body`) without a ``SKIN_MM`` rim (skin and
   dermis, 1.5-4 mm: Laurent 2007, Skin Res Technol 13:8) is searched for tissue that is
   not fat (muscle, organs, bone, the filled-in lungs);
2. that tissue, opened by ``SEPTUM_MM`` (drops fibrous septa and superficial vessels in
   the fat) and closed by ``WALL_GAP_MM`` (bridges gaps in a thin muscle wall, keeps the
   intermuscular fat inside), then filled, is the "core" inside the muscle wall;
3. subcutaneous fat = fat (-190..-30 HU, :func:`ct_anatomy.segment_fat`) outside the core.

Radii are in mm, so the rule is the same at 0.5 and 5 mm voxels. The mask is returned on
the study grid (bool, read-only, cached per study).
"""
from __future__ import annotations

import numpy as np

SKIN_MM = 3.0  # skin + dermis thickness left out of the search for the wall
SEPTUM_MM = 2.5  # thinner non-fat strands inside the fat are septa or vessels, not wall
WALL_GAP_MM = 10.0  # gaps in the muscle wall up to ~2 x this are bridged
MIN_CORE_MM2 = 400.0  # a non-fat region smaller than 4 cm^2 in a slice is not a body core


def segment_subcutaneous_fat(study) -> np.ndarray:
    """Subcutaneous fat of a CT (bool mask on the study grid, read-only).

    Raises ModelUnavailable for a study that is not CT (as every classical CT method).
    """
    from .ct_anatomy import _body_canonical, _cached, _frame_and_hu, _ro, segment_fat

    def run() -> np.ndarray:
        frame, _ = _frame_and_hu(study)
        body = np.asarray(_body_canonical(study), bool)
        fat = np.asarray(frame.to_canonical(segment_fat(study)), bool)
        out = np.zeros(body.shape, bool)
        for k in range(body.shape[0]):
            if body[k].any():
                out[k] = _slice_subcutaneous(body[k], fat[k], frame.spacing[1:])
        return _ro(frame.to_study(out))

    return _cached(study, "subcutaneous_fat", run)


def _slice_subcutaneous(body: np.ndarray, fat: np.ndarray, spacing_yx) -> np.ndarray:
    """One axial slice: fat between the skin and the closed outline of the muscle wall."""
    from scipy import ndimage as ndi

    from .ct_anatomy_frame import disk_mm

    pad = int(np.ceil(WALL_GAP_MM / min(spacing_yx))) + 2
    b = np.pad(body, pad)
    f = np.pad(fat, pad) & b
    inner = ndi.binary_erosion(b, structure=disk_mm(SKIN_MM, spacing_yx)) & ~f
    inner = ndi.binary_opening(inner, structure=disk_mm(SEPTUM_MM, spacing_yx))
    lab, n = ndi.label(inner)
    if n == 0:
        return fat & body
    areas = ndi.sum(inner, lab, index=np.arange(1, n + 1)) * float(np.prod(spacing_yx))
    keep = np.flatnonzero(areas >= MIN_CORE_MM2) + 1
    core = np.isin(lab, keep)
    core = ndi.binary_closing(core, structure=disk_mm(WALL_GAP_MM, spacing_yx))
    core = ndi.binary_fill_holes(core)
    sub = f & ~core
    return sub[pad:-pad, pad:-pad]
