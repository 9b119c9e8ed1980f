"""Size and position of a mask in physical units: volume, area, centroid, boxes, extents,
and the maximal 3D (Feret) diameter.

Frames: voxel coordinates are array indices in the study's axis order ((z, y, x) or
(y, x)); physical coordinates are patient LPS mm through ``study.affine_lps``. Every
function here goes through the full affine, so anisotropic spacing and oblique (even
sheared) grids are measured correctly.

Boundary convention: a mask is the union of its voxels (parallelepipeds centred on the
voxel centres). Diameters are measured between *boundary points*: the centres of the
faces that separate a mask voxel from a non-mask voxel, i.e. half-way between the last
voxel inside and the first outside. For a shape rasterised by "centre inside" this is
the unbiased estimate of its boundary (error at most half a voxel at each end).
"""
from __future__ import annotations

import logging

import numpy as np

from ..result import Box, LineSegment

log = logging.getLogger(__name__)

_PATIENT_AXES = {"LR": 0, "RL": 0, "AP": 1, "PA": 1, "SI": 2, "IS": 2}


# ------------------------------------------------------------------ helpers
def linear_part(study) -> np.ndarray:
    """3 x ndim matrix: the LPS mm step of one voxel along each array axis."""
    return np.asarray(study.affine_lps, dtype=float)[:3, : study.ndim]


def as_mask(mask: np.ndarray, study=None) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if study is not None and mask.shape != tuple(study.array.shape):
        raise ValueError(
            f"mask shape {mask.shape} does not match the study grid {tuple(study.array.shape)}: "
            "resample the mask onto the study first"
        )
    return mask


def crop_to_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The mask cropped to its bounding box, and the box's lower corner (indices)."""
    lo, hi = [], []
    for axis in range(mask.ndim):
        occupied = np.flatnonzero(mask.any(axis=tuple(k for k in range(mask.ndim) if k != axis)))
        if len(occupied) == 0:
            return None
        lo.append(int(occupied[0]))
        hi.append(int(occupied[-1]))
    lo, hi = np.array(lo), np.array(hi)
    sl = tuple(slice(a, b + 1) for a, b in zip(lo, hi))
    return mask[sl], lo


def boundary_points(mask: np.ndarray, *, extremes_only: bool = False) -> np.ndarray:
    """Face centres between mask and non-mask voxels, as float array indices (N, ndim).

    Works for any number of dimensions; the voxel lattice is the mask's own (no
    geometry involved), so callers map the points through the affine afterwards. With
    ``extremes_only`` only the first and last face on each grid line are kept: the
    others lie between them, so they never matter for convex hulls and diameters.
    """
    crop = crop_to_mask(np.asarray(mask, dtype=bool))
    if crop is None:
        return np.zeros((0, np.ndim(mask)))
    sub, lo = crop
    padded = np.pad(sub, 1)
    pts = []
    for axis in range(padded.ndim):
        change = np.diff(padded, axis=axis)  # True where inside/outside flips along axis
        if extremes_only:
            pts += _line_ends(change, axis)
            continue
        idx = np.argwhere(change).astype(float)
        idx[:, axis] += 0.5  # the face between voxel k and k + 1
        pts.append(idx)
    out = np.concatenate(pts, axis=0) - 1.0 + lo  # undo padding and cropping
    return out


def _line_ends(change: np.ndarray, axis: int) -> list[np.ndarray]:
    """First and last True along ``axis`` of every line that has one, as face centres."""
    present = change.any(axis=axis)
    first = np.argmax(change, axis=axis)
    last = change.shape[axis] - 1 - np.argmax(np.flip(change, axis=axis), axis=axis)
    lines = np.argwhere(present)
    out = []
    for pos in (first, last):
        p = np.insert(lines.astype(float), axis, pos[present] + 0.5, axis=1)
        out.append(p)
    return out


def farthest_pair(points: np.ndarray) -> tuple[int, int, float]:
    """Indices of the two points farthest apart and their distance (any dimension).

    The convex hull (scipy/Qhull) reduces the candidates; flat sets (e.g. a 2D image's
    points in LPS) are first projected onto the subspace they span. Exact pairwise
    distances between the hull vertices follow, in blocks to bound memory.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n < 2:
        return 0, 0, 0.0
    cand = _hull_vertices(points)
    p = points[cand]
    sq = np.einsum("ij,ij->i", p, p)
    best = (0, 0, -1.0)
    block = max(1, 4_000_000 // len(p))
    for start in range(0, len(p), block):
        q = p[start:start + block]
        d2 = sq[start:start + block, None] + sq[None, :] - 2.0 * (q @ p.T)
        k = int(np.argmax(d2))
        i, j = divmod(k, d2.shape[1])
        if d2[i, j] > best[2]:
            best = (int(cand[start + i]), int(cand[j]), float(d2[i, j]))
    i, j = best[0], best[1]
    return i, j, float(np.linalg.norm(points[i] - points[j]))


def _hull_vertices(points: np.ndarray) -> np.ndarray:
    """Indices of the convex hull's vertices in the affine subspace the points span."""
    from scipy.spatial import ConvexHull

    n = len(points)
    if n <= 16:
        return np.arange(n)
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred[:: max(1, n // 20000)], full_matrices=False)
    rank = int(np.sum(s > 1e-9 * max(float(s[0]), 1e-12)))
    if rank <= 1:
        t = centred @ vt[0]
        return np.array([int(np.argmin(t)), int(np.argmax(t))])
    coords = centred @ vt[:rank].T
    try:
        return ConvexHull(coords).vertices
    except Exception:  # noqa: BLE001 - Qhull precision trouble: joggle the input
        return ConvexHull(coords, qhull_options="QJ").vertices


# ------------------------------------------------------------------ public API
def volume_ml(mask: np.ndarray, study) -> float:
    """Volume of a 3D mask in mL (voxel count x |det| of the affine's linear part).

    For a 2D study this returns the area in mm2 / 1000 (no thickness): use
    :func:`area_mm2` instead.
    """
    mask = as_mask(mask, study)
    if study.is_2d:
        return area_mm2(mask, study) / 1000.0
    voxel_mm3 = abs(float(np.linalg.det(linear_part(study))))
    return float(np.count_nonzero(mask)) * voxel_mm3 / 1000.0


def area_mm2(mask: np.ndarray, study) -> float:
    """Area of a 2D mask in mm2 (pixel count x the area of one pixel's parallelogram)."""
    mask = as_mask(mask, study)
    if not study.is_2d:
        raise ValueError("area_mm2 needs a 2D study; use volume_ml for 3D masks")
    a = linear_part(study)
    pixel_mm2 = float(np.linalg.norm(np.cross(a[:, 0], a[:, 1])))
    return float(np.count_nonzero(mask)) * pixel_mm2


def centroid(mask: np.ndarray, study) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass of the mask: (array indices, float (ndim,)) and (LPS mm, (3,)).

    Raises ValueError on an empty mask.
    """
    mask = as_mask(mask, study)
    idx = np.argwhere(mask)
    if len(idx) == 0:
        raise ValueError("centroid: the mask is empty")
    c_vox = idx.mean(axis=0)
    return c_vox, np.asarray(study.index_to_lps(c_vox), dtype=float)


def bounding_box(mask: np.ndarray) -> Box:
    """Smallest axis-aligned box (array indices, inclusive) holding the mask.

    Raises ValueError on an empty mask.
    """
    crop = crop_to_mask(np.asarray(mask, dtype=bool))
    if crop is None:
        raise ValueError("bounding_box: the mask is empty")
    sub, lo = crop
    hi = lo + np.array(sub.shape) - 1
    return Box(tuple(int(v) for v in lo), tuple(int(v) for v in hi))


def box_lps_mm(box: Box, study, *, voxel_edges: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """LPS mm (min corner, max corner) of the box's 8 (2D: 4) corners mapped by the affine.

    Corners are voxel centres of the inclusive box; with ``voxel_edges=True`` the box is
    widened by half a voxel on each side (its physical extent).
    """
    lo = np.asarray(box.min_voxel, dtype=float)
    hi = np.asarray(box.max_voxel, dtype=float)
    if voxel_edges:
        lo, hi = lo - 0.5, hi + 0.5
    grids = np.meshgrid(*[(a, b) for a, b in zip(lo, hi)], indexing="ij")
    corners = np.stack([g.ravel() for g in grids], axis=1)
    lps = np.atleast_2d(study.index_to_lps(corners))
    return lps.min(axis=0), lps.max(axis=0)


def extent_mm(mask: np.ndarray, study, direction: str = "SI") -> float:
    """Length of the mask's projection on a patient axis, in mm, voxel thickness included.

    ``direction`` is "SI" (craniocaudal), "LR" or "AP". The projection of each voxel
    centre onto the axis spans [min, max]; the width of one voxel's parallelepiped along
    the axis is added (half at each end), so a mask one slice thick measures one slice
    thickness. For 2D studies only the in-plane pixel extent counts.
    """
    mask = as_mask(mask, study)
    key = direction.upper()
    if key not in _PATIENT_AXES:
        raise ValueError(f"extent_mm: direction {direction!r} is not one of 'SI', 'LR', 'AP'")
    row = _PATIENT_AXES[key]
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return 0.0
    a = linear_part(study)[row]  # mm along the patient axis per index step
    proj = idx @ a
    thickness = float(np.abs(a).sum())
    return float(proj.max() - proj.min()) + thickness


def max_diameter(mask: np.ndarray, study, *, name: str = "max_diameter") -> LineSegment:
    """Maximal 3D Feret diameter (mm) of the mask, between boundary points in LPS mm.

    For a 2D study this is the maximal in-plane diameter. Endpoints are float array
    indices. An empty mask gives a zero-length segment at the origin.
    """
    mask = as_mask(mask, study)
    pts = boundary_points(mask, extremes_only=True)
    if len(pts) == 0:
        zero = tuple(0.0 for _ in range(mask.ndim))
        return LineSegment(name, zero, zero, 0.0)
    lps = np.atleast_2d(study.index_to_lps(pts))
    i, j, d = farthest_pair(lps)
    return LineSegment(name, tuple(float(v) for v in pts[i]), tuple(float(v) for v in pts[j]), float(d))
