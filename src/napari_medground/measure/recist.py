"""RECIST 1.1 axes on the axial plane: the longest in-plane diameter of a lesion and the
longest diameter perpendicular to it, on the slice where the long axis is largest.

Eisenhauer EA et al., Eur J Cancer 2009;45:228-47 (doi 10.1016/j.ejca.2008.10.026).
The axial slices are those perpendicular to the array axis nearest the patient's S-I
direction; lengths are in mm through the in-plane affine columns (oblique-safe).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..result import LineSegment
from .geometry import as_mask, boundary_points, crop_to_mask, farthest_pair
from .planes import SlicePlane, axial_plane, iter_slices


@dataclass(frozen=True)
class RecistAxes:
    """Long and short axis on one axial slice.

    Points of the segments are float array indices (full ndim; the slice coordinate is
    ``slice_index`` along array ``axis``). 2D studies: ``slice_index``/``axis`` are None.
    """

    long_axis: LineSegment
    short_axis: LineSegment
    slice_index: int | None
    axis: int | None


def recist_axes(mask: np.ndarray, study) -> RecistAxes | None:
    """RECIST long/short axes (mm) of a mask, or None when the mask is empty.

    Long axis: maximal Feret diameter on each axial slice, between boundary points (face
    centres between mask and background pixels). The slice with the largest long axis
    is reported (the middle one of exact ties). Short axis: the longest chord inside the
    mask perpendicular to the long axis and crossing it, on that slice.
    """
    mask = as_mask(mask, study)
    plane = axial_plane(study)
    slices = sorted(((_feret_bound(m2, plane), s, m2) for s, m2 in iter_slices(mask, plane)),
                    key=lambda x: -x[0])
    per_slice = []
    for bound, s, m2 in slices:
        if per_slice and bound < max(p[0] for p in per_slice) * (1 - 1e-9):
            break  # no later slice can beat (or tie) the best long axis
        pts = boundary_points(m2, extremes_only=True)
        i, j, d = farthest_pair(plane.coords(pts))
        per_slice.append((d, s, m2, pts[i], pts[j]))
    if not per_slice:
        return None
    per_slice.sort(key=lambda p: -1 if p[1] is None else p[1])
    top = max(p[0] for p in per_slice)
    tied = [p for p in per_slice if p[0] >= top * (1 - 1e-9)]
    d, s, m2, a, b = tied[len(tied) // 2]
    return _axes(plane, s, m2, a, b, d)


def _feret_bound(m2: np.ndarray, plane: SlicePlane) -> float:
    """Upper bound of a slice's Feret diameter: the diagonal of its bounding box (pixel edges)."""
    box = crop_to_mask(m2)
    lo = box[1] - 0.5
    hi = lo + np.array(box[0].shape)
    corners = plane.coords(np.array([[lo[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]], [hi[0], lo[1]]]))
    return float(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3])))


def abc2_volume_ml(mask: np.ndarray, study) -> float:
    """ABC/2 volume estimate (mL) of a haemorrhage (Kothari RU, Stroke 1996;27:1304-5).

    A: longest in-plane diameter on the axial slice with the largest area; B: longest
    diameter perpendicular to A on that slice; C: craniocaudal extent of the mask (mm,
    voxel thickness included; no partial-slice weighting). Returns 0.0 for an empty mask.
    """
    from .geometry import extent_mm

    mask = as_mask(mask, study)
    if study.is_2d:
        raise ValueError("abc2_volume_ml needs a 3D study (C is the craniocaudal extent)")
    plane = axial_plane(study)
    slices = list(iter_slices(mask, plane))
    if not slices:
        return 0.0
    s, m2 = max(slices, key=lambda sm: int(sm[1].sum()))
    pts = boundary_points(m2, extremes_only=True)
    i, j, d = farthest_pair(plane.coords(pts))
    ax = _axes(plane, s, m2, pts[i], pts[j], d)
    c = extent_mm(mask, study, "SI")
    return ax.long_axis.length_mm * ax.short_axis.length_mm * c / 2.0 / 1000.0


def _axes(plane: SlicePlane, s: int | None, m2: np.ndarray, a: np.ndarray, b: np.ndarray,
          d: float) -> RecistAxes:
    long_axis = LineSegment("long_axis", plane.full_index(s, a), plane.full_index(s, b), float(d))
    c0, c1, length = _perpendicular_chord(m2, plane, a, b)
    short_axis = LineSegment("short_axis", plane.full_index(s, c0), plane.full_index(s, c1), length)
    return RecistAxes(long_axis, short_axis, s, plane.axis)


def _perpendicular_chord(m2: np.ndarray, plane: SlicePlane, a: np.ndarray, b: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """Longest run of mask pixels along lines perpendicular to a-b that cross a-b.

    Lines are sampled every h = min pixel spacing / 3 mm along the long axis and along
    their own direction; each sample takes the value of the pixel it falls in (the mask
    as a union of pixels), so a chord's ends are within h/2 of the pixel edges.
    """
    p0, p1 = plane.coords(np.vstack([a, b]))
    length = float(np.linalg.norm(p1 - p0))
    h = plane.min_spacing_mm / 3.0
    u = (p1 - p0) / length if length > 0 else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    centres = plane.coords(np.argwhere(m2))
    off = (centres - p0) @ v
    pad = 2.0 * max(plane.pixel_extent_mm)
    t = np.arange(0.0, length + h / 2, h)
    s = np.arange(off.min() - pad, off.max() + pad + h, h)
    uv = p0 + t[:, None, None] * u + s[None, :, None] * v  # (T, S, 2)
    idx = np.rint(plane.index(uv.reshape(-1, 2))).astype(np.int64)
    ok = np.all((idx >= 0) & (idx < np.array(m2.shape)), axis=1)
    inside = np.zeros(len(idx), dtype=bool)
    inside[ok] = m2[idx[ok, 0], idx[ok, 1]]
    inside = inside.reshape(len(t), len(s))
    row, k0, k1 = _longest_run(inside)
    if row < 0:
        mid = (a + b) / 2.0
        return mid, mid, 0.0
    ends = np.vstack([uv[row, k0] - v * h / 2, uv[row, k1] + v * h / 2])
    e = plane.index(ends)
    return e[0], e[1], float((k1 - k0 + 1) * h)


def _longest_run(grid: np.ndarray) -> tuple[int, int, int]:
    """(row, first column, last column) of the longest run of True in any row; (-1, 0, 0) if none."""
    padded = np.pad(grid.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    starts = np.argwhere(d == 1)
    ends = np.argwhere(d == -1)
    if len(starts) == 0:
        return -1, 0, 0
    lengths = ends[:, 1] - starts[:, 1]
    k = int(np.argmax(lengths))
    return int(starts[k, 0]), int(starts[k, 1]), int(ends[k, 1] - 1)
