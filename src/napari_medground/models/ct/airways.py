"""Trachea and main bronchi in a canonical CT view: a midline pure-air tube tracked downward.

The trachea is found where it enters the scan from above: a round pocket of pure air
(close to the scanner's air value), within a few centimetres of the midline, enclosed by
soft tissue, in the upper part of the scan. It is then followed slice by slice downward
(and upward to where it starts): each axial slice keeps the pure-air regions that overlap
the previous slice's airway, unless a region is much larger than the trachea itself (the
growth has leaked into lung or bowel gas there, so that branch stops). A tracked tube
shorter than ``MIN_LENGTH_MM`` is not an airway, nor is one that does not reach the top of
the scan unless it is as long as a trachea (air in the oesophagus or bowel).
"""
from __future__ import annotations

import numpy as np

from .geometry import disk_mm

PURE_AIR_MARGIN_HU = 100.0  # up to air + 100 HU counts as the inside of an airway
MAX_OFF_MIDLINE_MM = 25.0  # the trachea runs within ~2.5 cm of the midline
TRACHEA_AREA_MM2 = (40.0, 700.0)  # cross-section: ~7 mm to ~30 mm across
MIN_LENGTH_MM = 20.0
LONG_TUBE_MM = 60.0  # a tube not reaching the top of the scan must be this long (a trachea)
TOP_MM = 6.0
LEAK_FACTOR = 2.5  # a region this many times the trachea's area is a leak, not a bronchus
SEARCH_FRACTION = 0.4  # the trachea seed is looked for in the top 40% of the scan


def find_airways(
    smooth: np.ndarray, candidate: np.ndarray, spacing: tuple[float, float, float],
    air_ref: float, mid_x: float,
) -> tuple[np.ndarray, str]:
    """Airway mask (trachea + main bronchi where tracked) and a note saying what was found.

    Parameters
    ----------
    smooth : lightly smoothed HU, canonical view (axis 0 toward superior).
    candidate : air-like voxels inside the body (the lung candidate mask).
    spacing : canonical voxel size in mm.
    air_ref : the scanner's HU for air (median outside the body).
    mid_x : canonical x index of the body midline.
    """
    from scipy import ndimage as ndi

    pure = candidate & (smooth < air_ref + PURE_AIR_MARGIN_HU)
    seed_k, seed = _find_seed(pure, candidate, spacing, mid_x)
    airway = np.zeros(candidate.shape, bool)
    if seed is None:
        return airway, "no trachea in view"
    pix_area = spacing[1] * spacing[2]
    area0 = float(seed.sum()) * pix_area
    airway[seed_k] = seed
    for direction in (-1, 1):
        current = seed
        k = seed_k + direction
        while 0 <= k < pure.shape[0] and current.any():
            grown = ndi.binary_dilation(current, structure=disk_mm(2.0 * max(spacing[1:]), spacing[1:]))
            labels, n = ndi.label(pure[k])
            if n == 0:
                break
            hit = np.unique(labels[grown & (labels > 0)])
            areas = np.bincount(labels.ravel())[hit] * pix_area
            ok = hit[areas <= LEAK_FACTOR * max(area0, float(current.sum()) * pix_area)]
            current = np.isin(labels, ok) if ok.size else np.zeros_like(current)
            airway[k] = current
            k += direction
    rows = np.flatnonzero(airway.any(axis=(1, 2)))
    length_mm = float(rows.size) * spacing[0]
    at_top = (pure.shape[0] - 1 - rows[-1]) * spacing[0] <= TOP_MM
    if pure.shape[0] * spacing[0] >= MIN_LENGTH_MM and (
            length_mm < MIN_LENGTH_MM or (not at_top and length_mm < LONG_TUBE_MM)):
        return np.zeros(candidate.shape, bool), "no trachea in view"
    # the partial-volume rim of the tube belongs to the airway, not to the lungs
    rim = np.stack([ndi.binary_dilation(s) if s.any() else s for s in airway])
    return (airway | (rim & candidate)), f"trachea tracked over {length_mm:.0f} mm"


def _find_seed(pure: np.ndarray, candidate: np.ndarray, spacing, mid_x: float):
    """The topmost axial slice holding a trachea-like pure-air blob, and that blob."""
    from scipy import ndimage as ndi

    nz = pure.shape[0]
    pix_area = spacing[1] * spacing[2]
    lo = int(nz * (1.0 - SEARCH_FRACTION))
    for k in range(nz - 1, max(lo, 0) - 1, -1):
        if not pure[k].any():
            continue
        labels, n = ndi.label(pure[k])
        best, best_area = None, 0.0
        for lab, sl in enumerate(ndi.find_objects(labels), start=1):
            blob = labels[sl] == lab
            area = float(blob.sum()) * pix_area
            if not TRACHEA_AREA_MM2[0] <= area <= TRACHEA_AREA_MM2[1]:
                continue
            cx = (sl[1].start + np.nonzero(blob)[1].mean())
            if abs(cx - mid_x) * spacing[2] > MAX_OFF_MIDLINE_MM:
                continue
            if not _round_and_enclosed(labels == lab, candidate[k], spacing[1:]):
                continue
            if area > best_area:
                best, best_area = labels == lab, area
        if best is not None:
            return k, best
    return -1, None


def _round_and_enclosed(blob: np.ndarray, candidate_slice: np.ndarray, spacing_yx) -> bool:
    """A roundish blob whose surroundings (a 3-6 mm ring) are mostly not air-like."""
    from scipy import ndimage as ndi

    ys, xs = np.nonzero(blob)
    h = (np.ptp(ys) + 1) * spacing_yx[0]
    w = (np.ptp(xs) + 1) * spacing_yx[1]
    if max(h, w) > 2.5 * min(h, w):
        return False
    inner = ndi.binary_dilation(blob, structure=disk_mm(3.0, spacing_yx))
    outer = ndi.binary_dilation(blob, structure=disk_mm(6.0, spacing_yx))
    ring = outer & ~inner
    return bool(ring.any()) and float(candidate_slice[ring].mean()) < 0.5
