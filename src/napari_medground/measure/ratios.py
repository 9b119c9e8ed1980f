"""Dimensionless ratios: the left/right asymmetry index and the Evans index.

Evans index: maximal width of the frontal horns of the lateral ventricles divided by
the maximal internal diameter of the skull on the same axial slice (> 0.3 is the iNPH
criterion; Relkin 2005; Brix 2017, doi 10.1016/j.ejrad.2017.07.013). Widths are
left-right distances in mm on the axial slices (perpendicular to the array axis nearest
the patient's S-I direction), measured along one line parallel to the patient's
left-right axis within the slice plane, voxel width included (edge to edge).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..result import LineSegment
from .geometry import as_mask
from .planes import SlicePlane, axial_plane, iter_slices


@dataclass(frozen=True)
class EvansIndex:
    """The Evans index and the two segments it is made of (float array indices)."""

    ratio: float
    horn_line: LineSegment
    skull_line: LineSegment
    slice_index: int | None


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two masks on the same grid (1.0 when both are empty)."""
    s = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 2.0 * float(np.count_nonzero(np.logical_and(a, b))) / s if s else 1.0


def asymmetry_index(left: float, right: float) -> float:
    """|L - R| / (L + R), a fraction in [0, 1] (multiply by 100 for %).

    This is the convention Lucarelli et al. (AJNR 2013;34:752-7) report as "normalised
    to total volume" (healthy 90th percentile 4.4% with FreeSurfer). Note that other
    papers use |L - R| / mean(L, R) = 2x this value, or |L - R| / larger volume.
    Raises ValueError for negative volumes or when both are zero.
    """
    left, right = float(left), float(right)
    if left < 0 or right < 0 or not (math.isfinite(left) and math.isfinite(right)):
        raise ValueError(f"asymmetry_index: volumes must be finite and >= 0, got {left}, {right}")
    if left + right == 0:
        raise ValueError("asymmetry_index: both volumes are zero")
    return abs(left - right) / (left + right)


def evans_index(ventricle_mask: np.ndarray, skull_mask: np.ndarray, study, *,
                frontal_fraction: float = 0.4, midline_gap_fraction: float = 0.1) -> EvansIndex | None:
    """Evans index from a lateral-ventricle mask and an intracranial (or head) mask.

    Frontal horns: the part of the ventricle mask in the anterior ``frontal_fraction``
    of its antero-posterior extent, keeping per slice and side the connected component
    nearest the midline (the midline is the centre of the skull mask's left-right span
    on that slice), and only when its medial edge lies within ``midline_gap_fraction``
    of the skull width from the midline: this drops temporal horns, which lie far
    lateral. The horn width is the largest left-right distance between the lateral
    walls of the two horns along one line; the slice where it is largest (the middle
    one of ties) is used and
    the skull width is the largest left-right width of ``skull_mask`` on that slice.
    Pass the intracranial cavity (inner table); a whole-head or brain mask gives the
    outer or brain width instead. Returns None when either mask is empty there.
    """
    vent = as_mask(ventricle_mask, study)
    skull = as_mask(skull_mask, study)
    if not vent.any() or not skull.any():
        return None
    frontal = _anterior_part(vent, study, frontal_fraction)
    plane = axial_plane(study)
    found = []
    for s, horn2d in iter_slices(frontal, plane):
        skull2d = skull if plane.axis is None else np.take(skull, s, axis=plane.axis)
        if not skull2d.any():
            continue
        w_sk = _widest_row(np.argwhere(skull2d), plane)
        horns = _horns_near_midline(horn2d, plane, w_sk, midline_gap_fraction)
        if horns is None:
            continue
        w_h = _widest_row(horns, plane, need_both_sides_of=(w_sk[1][0] + w_sk[2][0]) / 2.0)
        if w_h is not None:
            found.append((w_h, w_sk, s))
    if not found:
        return None
    top = max(f[0][0] for f in found)
    tied = [f for f in found if f[0][0] >= top - 1e-6]  # widths come in whole pixels: ties are common
    (h_len, h0, h1), (k_len, k0, k1), s = tied[len(tied) // 2]
    horn_line = LineSegment("frontal_horn_width", plane.full_index(s, plane.index(h0)),
                            plane.full_index(s, plane.index(h1)), h_len)
    skull_line = LineSegment("inner_skull_width", plane.full_index(s, plane.index(k0)),
                             plane.full_index(s, plane.index(k1)), k_len)
    return EvansIndex(h_len / k_len, horn_line, skull_line, s)


def _anterior_part(mask: np.ndarray, study, fraction: float) -> np.ndarray:
    """Voxels in the anterior ``fraction`` of the mask's A-P extent (LPS y: anterior is low)."""
    idx = np.argwhere(mask)
    y = np.atleast_2d(study.index_to_lps(idx))[:, 1]
    cut = y.min() + fraction * (y.max() - y.min())
    out = np.zeros_like(mask)
    keep = idx[y <= cut]
    out[tuple(keep.T)] = True
    return out


def _horns_near_midline(horn2d: np.ndarray, plane: SlicePlane, skull_width, gap_fraction: float
                        ) -> np.ndarray | None:
    """In-plane indices of the component on each side nearest the midline (None if none close)."""
    from scipy import ndimage

    width, left_end, right_end = skull_width
    mid_u = (left_end[0] + right_end[0]) / 2.0
    labels, n = ndimage.label(horn2d, structure=np.ones((3, 3)))
    if n == 0:
        return None
    idx = np.argwhere(labels > 0)
    u = plane.coords(idx)[:, 0] - mid_u
    lab = labels[tuple(idx.T)]
    chosen = []
    for side in (-1.0, 1.0):
        on_side = np.sign(u) == side
        if not on_side.any():
            continue
        gap = np.full(n + 1, np.inf)
        np.minimum.at(gap, lab[on_side], np.abs(u[on_side]))
        k = int(np.argmin(gap))
        if gap[k] <= gap_fraction * width:
            chosen.append(k)
    if not chosen:
        return None
    return idx[np.isin(lab, chosen)]


def _widest_row(idx: np.ndarray, plane: SlicePlane, need_both_sides_of: float | None = None):
    """Largest left-right width (mm, pixel width included) along one line of constant v.

    Returns (width, left end (u, v), right end (u, v)) in plane mm, or None. With
    ``need_both_sides_of`` a line only counts when it has pixels on both sides of that u.
    """
    if len(idx) == 0:
        return None
    uv = plane.coords(idx)
    w_u, w_v = plane.pixel_extent_mm
    step = min(w_v, plane.min_spacing_mm)
    rows = np.rint((uv[:, 1] - uv[:, 1].min()) / step).astype(np.int64)
    n = int(rows.max()) + 1
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, rows, uv[:, 0])
    np.maximum.at(hi, rows, uv[:, 0])
    ok = np.isfinite(lo)
    if need_both_sides_of is not None:
        ok &= (lo < need_both_sides_of) & (hi > need_both_sides_of)
    if not ok.any():
        return None
    width = np.where(ok, hi - lo + w_u, -np.inf)
    r = int(np.argmax(width))
    v = float(uv[rows == r, 1].mean())
    return float(width[r]), np.array([lo[r] - w_u / 2, v]), np.array([hi[r] + w_u / 2, v])
