"""Quantitative CT measures on masks: trabecular ROI, organ attenuation, muscle area, stones.

All functions take arrays in the canonical (S, P, L) view of
:mod:`napari_medground.models.ct.frame` (axis 0 = superior-inferior, axes 1-2 =
the axial plane) with ``spacing`` in mm along those axes, and HU for CT values. Erosions
are in mm (in-plane distance maps), so the same call works from 0.5 to 5 mm voxels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class RoiStats:
    """HU statistics of a region of interest: ``n`` voxels, ``volume_ml``, HU values."""

    n: int
    volume_ml: float
    mean: float
    median: float
    std: float


def roi_stats(hu: np.ndarray, roi: np.ndarray, spacing) -> RoiStats | None:
    """Statistics of ``hu`` inside ``roi`` (None when the ROI is empty)."""
    vals = np.asarray(hu)[roi]
    if vals.size == 0:
        return None
    return RoiStats(int(vals.size), float(vals.size * np.prod(spacing) / 1000.0), float(vals.mean()),
                    float(np.median(vals)), float(vals.std()))


def _fill_2d(mask: np.ndarray) -> np.ndarray:
    return np.stack([ndi.binary_fill_holes(s) for s in mask]) if mask.any() else mask


def erode_inplane_mm(mask: np.ndarray, spacing, mm: float) -> np.ndarray:
    """Voxels at least ``mm`` from the mask's edge within their axial slice."""
    out = np.zeros(mask.shape, bool)
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1)):
        out[z] = ndi.distance_transform_edt(mask[z], sampling=spacing[1:]) >= mm
    return out


def trabecular_roi(vertebra: np.ndarray, spacing, *, erode_mm: float = 3.0,
                   slab_fraction: float = 0.5) -> np.ndarray:
    """Trabecular ROI of a vertebral body: cortex excluded, endplates avoided.

    The vertebra mask is hole-filled per slice (low-density trabecular bone may have been
    left out by a bone threshold) with the spinal canal and what lies behind it removed,
    eroded in-plane by ``erode_mm`` (the cortex and partial
    volume), kept in the central ``slab_fraction`` of its craniocaudal extent (away from
    the endplates) and, per slice, reduced to its largest component (the body; thin
    posterior elements vanish on erosion).
    """
    m = body_only(np.asarray(vertebra, bool), spacing, erode_mm)
    zs = np.flatnonzero(m.reshape(m.shape[0], -1).any(1))
    if zs.size == 0:
        return m
    mid, half = 0.5 * (zs[0] + zs[-1]), 0.5 * slab_fraction * (zs[-1] - zs[0] + 1)
    lo, hi = int(np.floor(mid - half + 0.5)), int(np.ceil(mid + half - 0.5))
    slab = np.zeros_like(m)
    slab[max(lo, zs[0]):min(hi, zs[-1]) + 1] = m[max(lo, zs[0]):min(hi, zs[-1]) + 1]
    roi = erode_inplane_mm(slab, spacing, erode_mm)
    for z in np.flatnonzero(roi.reshape(roi.shape[0], -1).any(1)):
        lab, n = ndi.label(roi[z])
        if n > 1:
            sizes = ndi.sum(roi[z], lab, range(1, n + 1))
            roi[z] = lab == (1 + int(np.argmax(sizes)))
    return roi


def body_only(vertebra: np.ndarray, spacing, margin_mm: float) -> np.ndarray:
    """The vertebral body of a vertebra mask (canonical grid: axis 0 toward S, axis 1
    toward posterior). Per slice: holes filled, then the spinal canal (the largest hole)
    and everything posterior to ``margin_mm`` in front of its anterior edge removed (the
    posterior cortex of the body lies there). A slice whose canal is not closed by bone
    is cut at the median row of the slices where it is; with no closed canal anywhere
    nothing is cut (see :func:`body_cut_rows`)."""
    cuts = body_cut_rows(vertebra, spacing, margin_mm)
    found = [c for c in cuts.values() if c is not None]
    fallback = int(np.median(found)) if found else None
    out = np.zeros(vertebra.shape, bool)
    for z, cut in cuts.items():
        filled = ndi.binary_fill_holes(vertebra[z])
        cut = fallback if cut is None else cut
        if cut is not None:
            filled[max(cut, 0):] = False
        out[z] = filled
    return out


def body_cut_rows(vertebra: np.ndarray, spacing, margin_mm: float) -> dict[int, int | None]:
    """Per axial slice of ``vertebra``: the canonical row (axis 1) from which the
    posterior elements begin (``margin_mm`` in front of the closed spinal canal), or None
    where the canal is not closed by bone on that slice."""
    out: dict[int, int | None] = {}
    for z in np.flatnonzero(vertebra.reshape(vertebra.shape[0], -1).any(1)):
        filled = ndi.binary_fill_holes(vertebra[z])
        lab, n = ndi.label(filled & ~vertebra[z])
        out[int(z)] = None
        if n:
            canal = lab == (1 + int(np.argmax(ndi.sum(np.ones_like(lab), lab, range(1, n + 1)))))
            out[int(z)] = int(np.argwhere(canal)[:, 0].min() - np.ceil(margin_mm / spacing[1]))
    return out


def organ_roi(organ: np.ndarray, spacing, *, erode_mm: float = 5.0) -> np.ndarray:
    """Parenchymal ROI of an organ: eroded in-plane by ``erode_mm`` (edges, partial volume)."""
    return erode_inplane_mm(np.asarray(organ, bool), spacing, erode_mm)


@dataclass(frozen=True)
class Stone:
    """One high-attenuation focus: longest diameter (mm), volume (mm3), peak and mean HU,
    centroid as canonical array indices."""

    size_mm: float
    volume_mm3: float
    peak_hu: float
    mean_hu: float
    centroid: tuple[float, float, float]


def kidney_search_region(kidney: np.ndarray) -> np.ndarray:
    """The kidney mask with its sinus: per-slice convex hull (stones sit in calyces and pelvis)."""
    from skimage.morphology import convex_hull_image

    out = np.zeros(kidney.shape, bool)
    for z in np.flatnonzero(kidney.reshape(kidney.shape[0], -1).any(1)):
        lab, n = ndi.label(kidney[z])
        for i in range(1, n + 1):
            out[z] |= convex_hull_image(lab == i)
    return out


def find_stones(hu: np.ndarray, region: np.ndarray, spacing, *, threshold_hu: float = 200.0,
                min_size_mm: float = 1.0) -> list[Stone]:
    """Foci of HU >= ``threshold_hu`` lying wholly inside ``region`` (largest first).

    A focus is a connected component of the dense voxels of the whole scan (near the
    region), so bone that a leaky kidney mask touches (rib, vertebra) continues outside
    the region and is rejected instead of being cut into a "stone". Size: the longest
    distance between voxel centres plus one in-plane voxel (a sphere of diameter D
    measures about D at any voxel size); foci under ``min_size_mm`` are noise.
    """
    region = np.asarray(region, bool)
    if not region.any():
        return []
    sp = np.asarray(spacing, float)
    box = _box(region, pad=[int(np.ceil(30.0 / d)) for d in sp])
    reg = region[box]
    hot = np.asarray(hu)[box] >= threshold_hu
    lab, n = ndi.label(hot, structure=np.ones((3, 3, 3)))
    inside = np.unique(lab[reg & hot])
    out = []
    for i in inside[inside > 0]:
        comp = lab == i
        if (comp & ~reg).any() or any(comp.take(0, a).any() or comp.take(-1, a).any() for a in range(3)):
            continue  # continues outside the kidney: bone or vessel wall, not a stone
        idx = np.argwhere(comp)
        size = _longest_mm(idx, sp) + float(np.mean(sp[1:]))
        if size < min_size_mm:
            continue
        vals = np.asarray(hu)[box][comp]
        cen = idx.mean(0) + [b.start for b in box]
        out.append(Stone(round(size, 1), float(len(idx) * np.prod(sp)), float(vals.max()),
                         float(vals.mean()), tuple(float(v) for v in cen)))
    return sorted(out, key=lambda s: -s.size_mm)


def _box(mask: np.ndarray, pad) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo, hi = idx.min(0), idx.max(0)
    return tuple(slice(max(0, int(a) - p), min(s, int(b) + p + 1)) for a, b, p, s in zip(lo, hi, pad, mask.shape))


def _longest_mm(idx: np.ndarray, sp: np.ndarray) -> float:
    pts = idx * sp
    if len(pts) > 400:  # extreme points suffice for the diameter
        from scipy.spatial import ConvexHull, QhullError

        try:
            pts = pts[ConvexHull(pts).vertices]
        except (QhullError, ValueError):
            pass
    if len(pts) < 2:
        return 0.0
    from scipy.spatial.distance import pdist

    return float(pdist(pts).max())


MUSCLE_HU = (-29.0, 150.0)  # skeletal muscle window at L3 (Mitsiopoulos 1998; used by Prado 2008)


def muscle_area_cm2(hu2d: np.ndarray, compartment2d: np.ndarray, spacing_yx,
                    hu_range=MUSCLE_HU) -> tuple[float, np.ndarray]:
    """Skeletal muscle area (cm2) on one axial slice: compartment voxels within ``hu_range``."""
    m = np.asarray(compartment2d, bool) & (hu2d >= hu_range[0]) & (hu2d <= hu_range[1])
    return float(m.sum() * spacing_yx[0] * spacing_yx[1] / 100.0), m
