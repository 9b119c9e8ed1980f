"""Diameter of a tube (the aorta) perpendicular to its centreline, in patient LPS mm.

The centreline is made from the mask itself: centroids of the mask in slabs along the
patient's superior-inferior axis (one voxel thick, at least 1 mm), smoothed along the
path. At each centreline point the mask is resampled (trilinear, 0.5 mm) on the plane
perpendicular to the local tangent; the section containing the centre is opened by 2 mm
(branches and touching neighbours) and its largest diameter (maximal Feret) is the
"outer-to-outer diameter perpendicular to the aortic path". Works in any storage
orientation: everything is computed from the affine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

STEP_MM = 0.5  # sampling of the perpendicular planes
END_MARGIN_MM = 10.0  # sections this close to either end of the path are not used


@dataclass(frozen=True)
class Section:
    """One perpendicular section: arc position (mm), centre (LPS mm), maximal and
    equivalent-circle diameters (mm), and the end points of the maximal diameter (LPS mm)."""

    arc_mm: float
    centre_lps: tuple[float, float, float]
    diameter_mm: float
    equivalent_mm: float
    ends_lps: tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True)
class TubeProfile:
    """Sections along a tube and the widest one (largest median of three neighbouring
    sections; None when none)."""

    sections: tuple[Section, ...]
    widest: Section | None
    length_mm: float


def centreline_lps(mask: np.ndarray, affine: np.ndarray, *, smooth_mm: float = 8.0) -> np.ndarray:
    """(n, 3) centreline points in LPS mm, ordered inferior to superior."""
    a = np.asarray(affine, float)
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return np.zeros((0, 3))
    pts = idx @ a[:3, :3].T + a[:3, 3]
    width = max(1.0, float(np.abs(a[2, :3]).max()))  # one voxel step along S, at least 1 mm
    bins = np.floor((pts[:, 2] - pts[:, 2].min()) / width).astype(int)
    counts = np.bincount(bins)
    keep = np.flatnonzero(counts >= max(3, 0.2 * np.median(counts[counts > 0])))
    line = np.stack([np.bincount(bins, weights=pts[:, k])[keep] / counts[keep] for k in range(3)], 1)
    if len(line) >= 3:
        arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(line, axis=0), axis=1))]
        sigma = smooth_mm / max(float(np.median(np.diff(arc))) if len(arc) > 1 else 1.0, 1e-3)
        line = ndi.gaussian_filter1d(line, sigma=sigma, axis=0, mode="nearest")
    return line


def _plane_basis(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = t / np.linalg.norm(t)
    ref = np.array([1.0, 0.0, 0.0]) if abs(t[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(t, ref)
    u /= np.linalg.norm(u)
    return u, np.cross(t, u)


def section_at(maskf: np.ndarray, affine: np.ndarray, centre: np.ndarray, tangent: np.ndarray,
               radius_mm: float) -> tuple[float, float, tuple] | None:
    """(max diameter mm, equivalent diameter mm, (end1, end2) LPS) of the perpendicular section."""
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import pdist, squareform

    u, v = _plane_basis(np.asarray(tangent, float))
    r = np.arange(-radius_mm, radius_mm + 1e-6, STEP_MM)
    gu, gv = np.meshgrid(r, r, indexing="ij")
    pts = centre + gu[..., None] * u + gv[..., None] * v
    inv = np.linalg.inv(np.asarray(affine, float))
    vox = pts.reshape(-1, 3) @ inv[:3, :3].T + inv[:3, 3]
    plane = ndi.map_coordinates(maskf, vox.T, order=1, cval=0.0).reshape(gu.shape) >= 0.5
    c = len(r) // 2
    opened = ndi.binary_opening(plane, structure=_disk(2.0 / STEP_MM))
    lab, _ = ndi.label(opened if opened[c, c] else plane)
    if lab[c, c] == 0:
        return None
    sec = lab == lab[c, c]
    if sec[0].any() or sec[-1].any() or sec[:, 0].any() or sec[:, -1].any():
        return None  # not closed within the search radius
    ij = np.argwhere(sec).astype(float)
    try:
        hull = ij[ConvexHull(ij).vertices]
    except (QhullError, ValueError):
        return None
    d = squareform(pdist(hull))
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    dmax = (d[a, b] + 1.0) * STEP_MM
    ends = tuple(tuple(float(x) for x in centre + (r[int(round(p[0]))]) * u + (r[int(round(p[1]))]) * v)
                 for p in (hull[a], hull[b]))
    eq = 2.0 * np.sqrt(sec.sum() * STEP_MM ** 2 / np.pi)
    return float(dmax), float(eq), ends


def _disk(radius_px: float) -> np.ndarray:
    n = int(np.ceil(radius_px))
    y, x = np.mgrid[-n:n + 1, -n:n + 1]
    return x * x + y * y <= radius_px * radius_px


def tube_profile(mask: np.ndarray, affine: np.ndarray, *, radius_mm: float = 45.0,
                 every_mm: float = 2.0) -> TubeProfile:
    """Perpendicular sections every ``every_mm`` along the centreline of ``mask``."""
    line = centreline_lps(mask, affine)
    if len(line) < 3:
        return TubeProfile((), None, 0.0)
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(line, axis=0), axis=1))]
    tang = np.gradient(line, arc, axis=0)
    maskf = np.asarray(mask, np.float32)
    out = []
    for s in np.arange(END_MARGIN_MM, arc[-1] - END_MARGIN_MM + 1e-6, every_mm):
        i = int(np.searchsorted(arc, s))
        i = min(max(i, 0), len(arc) - 1)
        got = section_at(maskf, affine, line[i], tang[i], radius_mm)
        if got is not None:
            out.append(Section(float(s), tuple(float(v) for v in line[i]), got[0], got[1], got[2]))
    return TubeProfile(tuple(out), _robust_widest(out), float(arc[-1]))


def _robust_widest(sections: list[Section]) -> Section | None:
    """The section whose diameter, as the median with its two neighbours along the path,
    is largest: one section widened by a branch or a touching neighbour does not win."""
    if not sections:
        return None
    d = np.array([s.diameter_mm for s in sections])
    med = np.array([np.median(d[max(0, i - 1):i + 2]) for i in range(len(d))])
    i = int(np.argmax(med))
    window = range(max(0, i - 1), min(len(d), i + 2))
    return sections[min(window, key=lambda j: abs(d[j] - med[i]))]
