"""Lung masses: solid lesions over 3 cm in or against a lung, found in the lung's envelope.

A tumour that abuts the mediastinum, the hilum or the chest wall is soft tissue, so the HU
rules leave it out of the lung mask and a search inside that mask never sees it. Here the
search runs in the lung's *envelope*: its convex hull in each axial slice (which spans the
concavities a mass carves into the lung, and the hilum), together with the lung itself.

1. Solid: voxels of the envelope denser than the midpoint between the lung's own median
   and soft tissue (+40 HU) after ~1 mm smoothing, below bone (200 HU).
2. Opened with a ball of ``OPEN_MM`` so that vessels, bronchial walls and thin strands of
   mediastinal fat and tissue detach; a mass is far thicker.
3. Kept: components whose equivalent-sphere diameter is at least ``MASS_MM`` (30 mm, the
   conventional border between a nodule and a mass) and whose surface touches aerated lung
   over at least ``MIN_LUNG_CONTACT`` of its area (a mass sits in or against the lung; the
   heart and great vessels, cut by the envelope's edge, touch lung over a smaller part),
   and whose median is soft tissue (at least ``SOLID_MEDIAN_HU``), not mediastinal fat.
   Known limit: the heart inside the left lung's envelope is soft tissue too; a whole-chest
   CT can give a heart-shaped "mass" (see the tests for what is checked).

Geometry: canonical view (:mod:`.ct_anatomy_frame`), sizes in mm. Masks on the study grid.
"""
from __future__ import annotations

import logging

import numpy as np

from .ct_anatomy_frame import ball_mm, crop_box, make_frame, smooth_mm

log = logging.getLogger(__name__)
SOFT_TISSUE_HU = 40.0
BONE_HU = 200.0
OPEN_MM = 5.0
MASS_MM = 30.0
MIN_LUNG_CONTACT = 0.25
OTHER_MM = 10.0  # reported: how much of a candidate comes this close to the opposite lung
SOLID_MEDIAN_HU = -10.0  # a solid mass is soft tissue; a fat-median region is mediastinal fat


def lung_envelope(lung: np.ndarray) -> np.ndarray:
    """Per-axial-slice convex hull of a canonical lung mask (each slice's hull on its own)."""
    from skimage.morphology import convex_hull_image

    out = np.zeros(lung.shape, bool)
    for k in range(lung.shape[0]):
        if lung[k].sum() >= 3:
            out[k] = convex_hull_image(lung[k])
    return out | lung


def mass_regions(hu: np.ndarray, lung: np.ndarray, spacing, other: np.ndarray | None = None
                 ) -> list[tuple[np.ndarray, float, str]]:
    """Masses in a canonical crop: (mask, score 0..1, reason) each, largest first."""
    from scipy import ndimage as ndi

    if lung.sum() < 10:
        return []
    env = lung_envelope(lung)
    median = float(np.median(hu[lung]))
    thr = (median + SOFT_TISSUE_HU) / 2.0
    smooth = smooth_mm(hu, spacing, 1.0)
    solid = env & (smooth > thr) & (smooth < BONE_HU)
    solid = ndi.binary_opening(solid, structure=ball_mm(OPEN_MM, spacing))
    labels, n = ndi.label(solid)
    aerated = lung & (smooth <= thr)
    near_lung = ndi.binary_dilation(aerated, structure=ball_mm(max(spacing), spacing))
    near_other = None
    if other is not None and other.any():
        near_other = ndi.binary_dilation(other & (smooth <= thr), structure=ball_mm(OTHER_MM, spacing))
    vox = float(np.prod(spacing))
    out = []
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        comp = labels[sl] == lab
        d_eq = float((6.0 * comp.sum() * vox / np.pi) ** (1.0 / 3.0))
        if d_eq < MASS_MM:
            continue
        surface = comp & ~ndi.binary_erosion(comp)
        contact = float((surface & near_lung[sl]).sum()) / max(1, int(surface.sum()))
        both = float((surface & near_other[sl]).sum()) / max(1, int(surface.sum())) if near_other is not None else 0.0
        log.debug("mass candidate %.0f mm, lung contact %.2f, other lung %.2f", d_eq, contact, both)
        median_hu = float(np.median(hu[sl][comp]))
        if contact < MIN_LUNG_CONTACT or median_hu < SOLID_MEDIAN_HU:
            continue
        region = np.zeros(hu.shape, bool)
        region[sl] = comp
        score = float(np.clip(0.5 + contact, 0.0, 1.0))
        reason = (f"solid mass {d_eq:.0f} mm across (equivalent sphere) in the lung's envelope, mean "
                  f"{float(hu[region].mean()):.0f} HU, touching aerated lung over {100 * contact:.0f}% of "
                  f"its surface and coming within {OTHER_MM:g} mm of the opposite lung over {100 * both:.0f}%")
        out.append((region, score, reason))
    out.sort(key=lambda t: -int(t[0].sum()))
    return out


def mass_candidates(study, lung_mask: np.ndarray, other_lung: np.ndarray | None = None,
                    max_candidates: int = 5):
    """Lung masses of ``study`` next to ``lung_mask`` (study grid), as
    :class:`~.ct_lesions.LesionCandidate` of kind "mass", largest first. ``other_lung``
    (the opposite lung) rules out what lies between the lungs (heart, mediastinum)."""
    from .ct_lesions import _candidate

    lung_mask = np.asarray(lung_mask, bool)
    if not lung_mask.any():
        return []
    frame = make_frame(study)
    lung = frame.to_canonical(lung_mask)
    pad = int(np.ceil(MASS_MM / min(frame.spacing)))
    box = crop_box(lung, pad=pad)
    hu = frame.to_canonical(study.array)[box].astype(np.float32)
    other = None if other_lung is None else np.ascontiguousarray(frame.to_canonical(np.asarray(other_lung, bool))[box])
    found = mass_regions(hu, np.ascontiguousarray(lung[box]), frame.spacing, other)
    return [_candidate(study, frame, box, m, s, r, "mass") for m, s, r in found[:max_candidates]]


def touches_edge(mask: np.ndarray) -> bool:
    """Whether a mask reaches a face of its array (cut by the field of view)."""
    if not mask.any():
        return False
    return any(np.take(mask, i, axis=ax).any() for ax in range(mask.ndim) for i in (0, -1))
