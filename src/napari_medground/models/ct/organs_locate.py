"""Classical localisation of abdominal organs on CT (coarse canonical grid, HU rules).

All arrays here are on the coarse canonical grid of :mod:`organs_frame` (axes toward
patient Superior, Posterior, Left; about 2 mm voxels). Positions are compared with the
spine (a patient landmark), never with array halves alone.

Method: light Gaussian smoothing; homogeneous soft tissue (local SD under 1.5x the
scan's 20th percentile of local SD) eroded by 6 mm gives one *core* per organ-sized
homogeneous structure; a watershed on the gradient magnitude, seeded by all cores plus
a background seed (air, fat, bone), gives each core the tissue up to its edges, so a
core competes with its neighbours instead of leaking into them. Organs are then chosen
among the cores by size, density and position relative to the spine.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .geometry import ball, largest_component
from .geometry import body_mask_per_slice as body_mask

log = logging.getLogger(__name__)

SOFT_HU = (-30.0, 300.0)  # smoothed HU of non-fat, non-bone tissue (enhanced kidneys reach ~250)
BONE_HU = 300.0
MIN_CORE_ML = 1.0


@dataclass(frozen=True)
class Region:
    """One watershed region grown from one homogeneous core."""

    label: int
    core_ml: float
    region_ml: float
    hu_median: float
    hu_sd: float  # robust (MAD) spread inside the core
    centroid: tuple[float, float, float]  # of the core, coarse voxel (z, y, x)
    dx_mm: float  # centroid's lateral offset from the spine, + toward patient left
    dy_mm: float  # centroid's offset from the spine centre, + toward posterior
    z_range: tuple[int, int]
    thin: bool = False  # seeded by a thin structure (3 mm erosion), not an organ-sized core


@dataclass
class Abdomen:
    """What the organ finders share for one study (coarse canonical grid)."""

    spacing: tuple[float, float, float]
    hu: np.ndarray  # smoothed HU
    body: np.ndarray
    spine_yx: np.ndarray  # (z, 2) spine centre per slice (row, col), interpolated
    spine_found: bool
    labels: np.ndarray  # watershed labels; 0 = background/outside
    cores: np.ndarray  # core labels (same numbering)
    regions: list[Region] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    candidates: dict = field(default_factory=dict)  # organ -> Candidate, filled by organs_select.find

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def region(self, label: int) -> Region:
        return next(r for r in self.regions if r.label == label)


def analyse_abdomen(hu: np.ndarray, spacing: tuple[float, float, float]) -> Abdomen:
    """Body, spine and organ-sized regions of a coarse canonical CT (HU)."""
    from scipy import ndimage
    from skimage.segmentation import watershed

    sm = ndimage.gaussian_filter(hu.astype(np.float32), [max(0.5, 1.5 / s) for s in spacing])
    body = body_mask(hu, spacing)
    spine, found = _spine(sm, body, spacing)
    notes = [] if found else ["spine not found: left/right and front/back judged from the body outline"]
    soft = body & (sm > SOFT_HU[0]) & (sm < SOFT_HU[1])
    lstd = _local_sd(sm, spacing, 7.0)
    if not soft.any():
        empty = np.zeros(hu.shape, dtype=np.int32)
        return Abdomen(spacing, sm, body, spine, found, empty, empty, [], notes + ["no soft tissue"])
    homogeneous = soft & (lstd < 1.5 * float(np.percentile(lstd[soft], 20)))
    cores, n, n_big = _cores(homogeneous, spacing)
    markers = cores.copy()
    background = ~body | (sm <= SOFT_HU[0]) | (sm >= BONE_HU)
    markers[background & (cores == 0)] = n + 1
    grad = ndimage.gaussian_gradient_magnitude(sm, [1.0 / s for s in spacing])
    labels = watershed(grad, markers).astype(np.int32)
    labels[labels == n + 1] = 0
    regions = _describe(labels, cores, sm, spine, spacing, n, n_big)
    return Abdomen(spacing, sm, body, spine, found, labels, cores, regions, notes)


def _cores(homogeneous: np.ndarray, spacing) -> tuple[np.ndarray, int, int]:
    """Organ cores (homogeneous tissue eroded by 6 mm, >= 1 mL), plus thinner structures
    (eroded by 3 mm, >= 0.2 mL) that hold no organ core: wall muscles, vessels, bowel.
    Without their own seeds those would be flooded by the nearest organ."""
    from scipy import ndimage

    vox_ml = float(np.prod(spacing)) / 1000.0
    big, nb = ndimage.label(ndimage.binary_erosion(homogeneous, ball(6.0, spacing)))
    big = _drop_small(big, nb, MIN_CORE_ML / vox_ml)
    thin, nt = ndimage.label(ndimage.binary_erosion(homogeneous, ball(3.0, spacing)))
    holds = np.unique(thin[big > 0])
    thin[np.isin(thin, holds)] = 0
    thin = _drop_small(thin, nt, 0.2 / vox_ml)
    n_big = int(big.max())
    out = big.copy()
    out[thin > 0] = thin[thin > 0] + n_big
    return out, n_big + int(thin.max()), n_big


def _drop_small(lab: np.ndarray, n: int, min_voxels: float) -> np.ndarray:
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    renum = np.zeros(n + 1, dtype=np.int32)
    renum[keep] = np.arange(1, int(keep.sum()) + 1)
    return renum[lab]


def _local_sd(sm: np.ndarray, spacing, size_mm: float) -> np.ndarray:
    from scipy import ndimage

    w = [max(3, int(round(size_mm / s)) | 1) for s in spacing]
    m1 = ndimage.uniform_filter(sm, w)
    m2 = ndimage.uniform_filter(sm * sm, w)
    return np.sqrt(np.clip(m2 - m1 * m1, 0.0, None))


def _spine(sm: np.ndarray, body: np.ndarray, spacing) -> tuple[np.ndarray, bool]:
    """Per slice (row, col) of the spine: the largest bone blob in the central posterior body."""
    from scipy import ndimage

    nz = sm.shape[0]
    out = np.full((nz, 2), np.nan)
    for z in range(nz):
        rows = np.flatnonzero(body[z].any(axis=1))
        cols = np.flatnonzero(body[z].any(axis=0))
        if len(rows) < 3 or len(cols) < 3:
            continue
        mid, half = (cols[0] + cols[-1]) / 2.0, (cols[-1] - cols[0]) / 2.0
        zone = np.zeros(body[z].shape, dtype=bool)
        zone[int((rows[0] + rows[-1]) / 2 - 0.1 * (rows[-1] - rows[0])):, int(mid - half / 3):int(mid + half / 3) + 1] = True
        lab, n = ndimage.label(zone & body[z] & (sm[z] >= 200.0))
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        if sizes.max() * spacing[1] * spacing[2] < 150.0:  # < 1.5 cm2: not a vertebra
            continue
        out[z] = ndimage.center_of_mass(lab == int(np.argmax(sizes)))
    found = np.isfinite(out[:, 0])
    if found.sum() == 0:
        for z in range(nz):  # body outline: centre column, posterior third
            rows = np.flatnonzero(body[z].any(axis=1))
            cols = np.flatnonzero(body[z].any(axis=0))
            if len(rows):
                out[z] = (rows[0] + 0.7 * (rows[-1] - rows[0]), (cols[0] + cols[-1]) / 2.0)
        return _fill_nan(out), False
    return _fill_nan(out), True


def _fill_nan(a: np.ndarray) -> np.ndarray:
    idx = np.arange(len(a))
    for k in range(a.shape[1]):
        ok = np.isfinite(a[:, k])
        if ok.any():
            a[:, k] = np.interp(idx, idx[ok], a[ok, k])
        else:
            a[:, k] = 0.0
    return a


def _describe(labels, cores, sm, spine, spacing, n, n_big) -> list[Region]:
    from scipy import ndimage

    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    vox_ml = float(np.prod(spacing)) / 1000.0
    core_n = ndimage.sum(np.ones_like(cores), cores, idx)
    reg_n = ndimage.sum(np.ones_like(labels), labels, idx)
    cents = ndimage.center_of_mass(np.ones_like(cores), cores, idx)  # the core: robust to floods
    objs = ndimage.find_objects(labels, max_label=n)
    out = []
    for i, lab in enumerate(idx):
        if reg_n[i] == 0 or objs[i] is None:
            continue
        vals = sm[cores == lab]
        med = float(np.median(vals))
        mad = float(1.4826 * np.median(np.abs(vals - med)))
        c = cents[i]
        sy, sx = spine[int(round(c[0]))]
        out.append(Region(label=int(lab), core_ml=float(core_n[i]) * vox_ml, region_ml=float(reg_n[i]) * vox_ml,
                          hu_median=med, hu_sd=mad, centroid=tuple(float(v) for v in c),
                          dx_mm=float((c[2] - sx) * spacing[2]), dy_mm=float((c[1] - sy) * spacing[1]),
                          z_range=(objs[i][0].start, objs[i][0].stop - 1), thin=bool(lab > n_big)))
    return out


def clean_region(ab: Abdomen, labels: list[int], open_mm: float = 7.0) -> np.ndarray:
    """The regions' union without thin attachments (wall muscle strips, vessels).

    An opening of ``open_mm`` cuts strips thinner than twice that; the part linked to
    the cores is kept, then vessels/fissures inside are filled slice by slice.
    """
    from scipy import ndimage

    reg = np.isin(ab.labels, labels)
    for r in (ab.region(k) for k in labels):  # the organ's own density band
        band = max(5.0 * r.hu_sd, 35.0)
        reg &= ~((ab.labels == r.label) & (np.abs(ab.hu - r.hu_median) > band))
    opened = ndimage.binary_opening(reg, ball(open_mm, ab.spacing))
    lab, n = ndimage.label(opened)
    hit = np.unique(lab[np.isin(ab.cores, labels) & opened])
    hit = hit[hit > 0]
    keep = np.isin(lab, hit) if len(hit) else largest_component(opened)
    return np.stack([ndimage.binary_fill_holes(s) for s in keep])
