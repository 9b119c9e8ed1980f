"""Density-based focal lesion candidates inside an organ mask (classical, no weights).

* ``"nodule"`` (lungs): compact soft-tissue blobs in aerated lung. Soft tissue is what is
  denser than the midpoint between the lung's own median and soft tissue (+40 HU), the
  partial-volume boundary of a solid nodule. Vessels are that dense too; a blob is told
  from a vessel by its shape: at each centre of an inscribed ball (radius R, from the
  distance transform in mm) the dense tissue crossing a shell at 1.5R..2.5R is measured
  in units of the ball's cross-section (a "tube index": about 2 for a vessel passing
  through, 0 for an isolated nodule, small for a nodule with thin vessels attached), and
  the candidate's elongation (principal axes of its voxels in mm) must be low. Its score
  also weighs how solid its densest voxels are and its size (partial-volume specks of
  vessels cut by thick slices score low); blobs lying mostly on the lung's edge layer are
  chest wall or diaphragm, not nodules (a juxtapleural nodule has an interior).
* ``"hypodense"`` / ``"hyperdense"`` (solid organs such as the liver): regions markedly
  darker/brighter than the organ's robust mean (median, 1.4826 x MAD), measured on an
  image smoothed at the lesion scale: seeds beyond max(z sd, 20 HU) inside the organ
  (eroded 3 mm against partial volume at its edge) and at least a minimal lesion in size,
  grown (within a few mm) to the midpoint between the organ and the lesion's own core
  value. z is the chance level of the organ's most extreme noise blob, sqrt(2 ln N) over
  its N resolution elements, so a large organ does not fill with noise candidates; the
  score rises with the contrast beyond it.
* ``"any"``: nodules in an aerated organ (median below -500 HU), else both densities.

Masks are on the study grid (boolean, built on access from a stored crop).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ...result import Box
from .geometry import ball_mm, crop_box, make_frame, smooth_mm

log = logging.getLogger(__name__)

SOFT_TISSUE_HU = 40.0
MIN_CONTRAST_HU = 20.0
AERATED_HU = -500.0
MAX_TUBE_INDEX = 0.6  # a vessel as wide as the blob scores 2; a vessel half as wide, 0.5
MIN_SCORE = 0.2
MAX_ON_BORDER = 0.6  # partial-volume specks of the chest wall lie wholly on the lung's edge
MAX_PEAKS = 400
EDGE_ERODE_MM = 3.0
MIN_SEED_VOXELS = 4


@dataclass(frozen=True, eq=False)
class LesionCandidate:
    """One focal lesion candidate.

    Attributes
    ----------
    crop_mask, crop_slices : the candidate's voxels inside a box of the study grid;
        :attr:`mask` builds the full study-grid mask from them.
    box : inclusive voxel box (array indices) of the candidate.
    centroid_voxel : centroid in array indices (float).
    mean_hu : mean HU of the candidate's voxels.
    volume_ml : voxel count x voxel volume.
    equivalent_diameter_mm : diameter of the sphere of the same volume.
    score : 0..1, how lesion-like (shape, contrast); candidates are sorted by it.
    reason : plain-language account of why it is a candidate.
    kind : "nodule", "hypodense" or "hyperdense".
    """

    crop_mask: np.ndarray
    crop_slices: tuple[slice, ...]
    shape: tuple[int, ...]
    box: Box
    centroid_voxel: tuple[float, ...]
    mean_hu: float
    volume_ml: float
    equivalent_diameter_mm: float
    score: float
    reason: str
    kind: str

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask on the study grid."""
        out = np.zeros(self.shape, bool)
        out[self.crop_slices] = self.crop_mask
        return out


def lesion_candidates(
    study, organ_mask: np.ndarray, *, kind: str = "any", min_diameter_mm: float = 3.0,
    max_candidates: int = 20,
) -> list[LesionCandidate]:
    """Focal lesion candidates inside ``organ_mask`` (see the module docstring), best first.

    Parameters
    ----------
    study : a CT Study (HU).
    organ_mask : boolean mask on the study grid (e.g. a lung from ``segment_lungs``, with
        enclosed and juxtapleural nodules filled in, or a liver).
    kind : "nodule", "hypodense", "hyperdense" or "any".
    min_diameter_mm : smallest equivalent diameter kept.
    """
    kind = str(kind).lower()
    if kind not in ("nodule", "hypodense", "hyperdense", "any"):
        raise ValueError(f"lesion kind {kind!r}: use 'nodule', 'hypodense', 'hyperdense' or 'any'")
    organ_mask = np.asarray(organ_mask, bool)
    if organ_mask.shape != study.array.shape:
        raise ValueError(f"organ mask shape {organ_mask.shape} does not match the study grid "
                         f"{study.array.shape}")
    if not organ_mask.any():
        return []
    frame = make_frame(study)
    organ = frame.to_canonical(organ_mask)
    box = crop_box(organ, pad=3)
    hu = frame.to_canonical(study.array)[box].astype(np.float32)
    org = np.ascontiguousarray(organ[box])
    median = float(np.median(hu[org]))
    if kind == "any":
        kinds = ["nodule"] if median < AERATED_HU else ["hypodense", "hyperdense"]
    else:
        kinds = [kind]
    found: list[tuple[np.ndarray, float, str, str]] = []
    for k in kinds:
        if k == "nodule":
            found += _nodules(hu, org, frame.spacing, median, min_diameter_mm)
        else:
            found += _density_regions(hu, org, frame.spacing, k, min_diameter_mm)
    found.sort(key=lambda t: -t[1])
    return [_candidate(study, frame, box, m, s, r, k) for m, s, r, k in found[:max_candidates]]


# ------------------------------------------------------------------ nodules
def _nodules(hu, organ, spacing, median, min_d) -> list[tuple[np.ndarray, float, str, str]]:
    from scipy import ndimage as ndi

    thr = (median + SOFT_TISSUE_HU) / 2.0
    dense = organ & (smooth_mm(hu, spacing, 0.5) > thr)
    if not dense.any():
        return []
    dist = ndi.distance_transform_edt(dense, sampling=spacing)
    foot = ball_mm(max(2.0, min_d / 2.0), spacing)
    peaks = (dist == ndi.maximum_filter(dist, footprint=foot)) & (dist >= min(spacing))
    coords = np.argwhere(peaks)
    coords = coords[np.argsort(-dist[peaks], kind="stable")][:MAX_PEAKS]
    border = organ & ~ndi.binary_erosion(organ)
    taken = np.zeros(dense.shape, bool)
    out = []
    for c in coords:
        c = tuple(int(v) for v in c)
        if taken[c]:
            continue
        region, tube = _blob_at(dense, c, float(dist[c]), spacing)
        taken |= region
        d_eq = _eq_diameter(region, spacing)
        on_border = float(border[region].mean())
        if d_eq < min_d or tube > MAX_TUBE_INDEX or on_border > MAX_ON_BORDER:
            continue
        elong = _elongation(region, spacing)
        p90 = float(np.percentile(hu[region], 90))
        density = float(np.clip((p90 - thr) / (SOFT_TISSUE_HU - thr), 0, 1))
        size = float(np.clip(d_eq / (2.0 * min_d), 0.5, 1.0))
        shape = float(np.clip(1.0 - tube / (1.25 * MAX_TUBE_INDEX), 0, 1) * np.clip(1.5 - elong / 2.0, 0, 1))
        score = shape * density * size * (1.0 - 0.5 * on_border)
        if score < MIN_SCORE:
            continue
        reason = (f"compact soft-tissue blob in the lung, {d_eq:.1f} mm across, mean "
                  f"{float(hu[region].mean()):.0f} HU (vessel-attachment index {tube:.2f}, "
                  f"elongation {elong:.1f})")
        out.append((region, score, reason, "nodule"))
    return out


def _blob_at(dense, c, dist_mm, spacing) -> tuple[np.ndarray, float]:
    """The dense blob around centre ``c`` and its tube index.

    The blob is the dense tissue connected to ``c`` within the inscribed ball grown by a
    voxel; R is its equivalent-sphere radius. The tube index is the volume of the dense
    tissue, connected to the blob, in a shell from max(1.5R, R + a voxel) outward over a
    thickness R, divided by pi R^2 x thickness: 2 (r/R)^2 for a vessel of radius r passing
    through, 0 for an isolated nodule. Vessels passing by without touching do not count.
    """
    from scipy import ndimage as ndi

    vox = float(np.prod(spacing))
    guess = dist_mm + max(spacing)
    reach = [int(np.ceil(3.5 * guess / s)) + 1 for s in spacing]
    sl = tuple(slice(max(0, ci - r), min(n, ci + r + 1)) for ci, r, n in zip(c, reach, dense.shape))
    cl = tuple(ci - s.start for ci, s in zip(c, sl))
    grids = np.ogrid[sl]
    d = np.sqrt(sum(((g - ci) * s) ** 2 for g, ci, s in zip(grids, c, spacing)))
    local = dense[sl]
    labels, _ = ndi.label(local & (d <= guess))
    blob = labels == labels[cl]
    radius = (3.0 * float(blob.sum()) * vox / (4.0 * np.pi)) ** (1.0 / 3.0)
    inner = max(1.5 * radius, radius + max(spacing))
    thick = max(radius, max(spacing))
    # diagonal neighbours count: a thin oblique vessel seen on thick slices is a chain of
    # specks that touch only at their corners
    clabels, _ = ndi.label(local & (d <= inner + thick), structure=np.ones((3, 3, 3), bool))
    attached = clabels == clabels[cl]
    shell = attached & (d >= inner)
    tube = float(shell.sum()) * vox / (np.pi * radius ** 2 * thick)
    region = np.zeros(dense.shape, bool)
    region[sl] = blob
    return region, tube


# ------------------------------------------------------------------ solid organs
def _density_regions(hu, organ, spacing, kind, min_d) -> list[tuple[np.ndarray, float, str, str]]:
    from scipy import ndimage as ndi

    fine = smooth_mm(hu, spacing, 1.0)
    sigma = max(1.5, min_d / 3.0)
    detect = smooth_mm(hu, spacing, sigma)  # averages noise over the lesion scale
    inner = ndi.binary_erosion(organ, structure=ball_mm(EDGE_ERODE_MM, spacing))
    if inner.sum() < 50:
        inner = organ
    med, sd = _robust_stats(detect[inner])
    fine_med, fine_sd = _robust_stats(fine[inner])
    z_crit = _expected_max_z(int(inner.sum()), spacing, sigma)
    sign = -1.0 if kind == "hypodense" else 1.0
    labels, _ = ndi.label(inner & (sign * (detect - med) > max(z_crit * sd, MIN_CONTRAST_HU)))
    min_seed = max(MIN_SEED_VOXELS, np.pi / 6.0 * min_d ** 3 / float(np.prod(spacing)))
    reach = ball_mm(max(3.0, 2.0 * max(spacing)), spacing)
    out = []
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None or (labels[sl] == lab).sum() < min_seed:
            continue
        # grown to the partial-volume midpoint, but only near the seed: in noise, a
        # midpoint a few sd from the organ's mean would percolate through the organ
        pad = tuple(slice(max(0, s.start - r), s.stop + r) for s, r in zip(sl, np.array(reach.shape) // 2))
        seed = labels[pad] == lab
        core = float(np.median(fine[pad][seed]))
        grow = ndi.binary_dilation(seed, structure=reach) & organ[pad]
        grow &= sign * (fine[pad] - (fine_med + core) / 2.0) > 0
        glab, _ = ndi.label(grow)
        ids = np.unique(glab[seed])
        region = np.zeros(organ.shape, bool)
        region[pad] = np.isin(glab, ids[ids > 0])
        d_eq = _eq_diameter(region, spacing)
        if d_eq < min_d:
            continue
        contrast = abs(float(np.median(detect[pad][seed])) - med) / max(sd, 1.0)
        elong = _elongation(region, spacing)
        edge = float((region & ~inner).sum()) / max(1, int(region.sum()))
        score = float(np.clip((contrast - z_crit + 1.0) / 3.0, 0, 1) * np.clip(1.5 - elong / 2.0, 0, 1)
                      * (1.0 - 0.5 * edge))
        if score < MIN_SCORE:
            continue
        word = "darker" if sign < 0 else "brighter"
        reason = (f"{kind} region {d_eq:.1f} mm across, mean {float(hu[region].mean()):.0f} HU, "
                  f"{abs(core - fine_med):.0f} HU {word} than the organ ({fine_med:.0f} HU, "
                  f"sd {fine_sd:.0f}; "
                  f"{contrast:.1f} sd at the lesion scale, chance level {z_crit:.1f})")
        out.append((region, score, reason, kind))
    return _dedupe(out)


def _expected_max_z(n_voxels: int, spacing, sigma_mm: float) -> float:
    """How many sd the most extreme noise blob in the organ reaches by chance: sqrt(2 ln N)
    over N independent resolution elements (FWHM of the smoothing and the voxel)."""
    fwhm = 2.355 * float(np.sqrt(sigma_mm ** 2 + np.mean(spacing) ** 2))
    n_resel = n_voxels * float(np.prod(spacing)) / fwhm ** 3
    return float(np.sqrt(2.0 * np.log(max(n_resel, 2.0))))


def _robust_stats(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 x median absolute deviation)."""
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med)))


def _dedupe(found):
    """Seeds grown into the same region give one candidate (the best-scored)."""
    found = sorted(found, key=lambda t: -t[1])
    kept: list = []
    for item in found:
        if not any((item[0] & k[0]).any() for k in kept):
            kept.append(item)
    return kept


# ------------------------------------------------------------------ measures
def _eq_diameter(region: np.ndarray, spacing) -> float:
    vol = float(region.sum()) * float(np.prod(spacing))
    return float((6.0 * vol / np.pi) ** (1.0 / 3.0))


def _elongation(region: np.ndarray, spacing) -> float:
    """Ratio of the longest to the shortest principal axis (mm; 1 for a ball)."""
    pts = np.argwhere(region) * np.asarray(spacing)
    if len(pts) < 4:
        return 1.0
    cov = np.cov(pts.T) + np.diag(np.asarray(spacing) ** 2 / 12.0)  # a voxel's own extent
    ev = np.clip(np.linalg.eigvalsh(cov), 1e-9, None)
    return float(np.sqrt(ev[-1] / ev[0]))


def _candidate(study, frame, box, region_c, score, reason, kind) -> LesionCandidate:
    canon = np.zeros(frame.canonical_shape, bool)
    canon[box] = region_c
    full = frame.to_study(canon)
    sl = crop_box(full)
    idx = np.argwhere(full[sl]) + np.array([s.start for s in sl])
    vals = study.array[full]
    vol = float(full.sum()) * study.voxel_volume_ml
    return LesionCandidate(
        crop_mask=np.ascontiguousarray(full[sl]), crop_slices=sl, shape=tuple(full.shape),
        box=Box(tuple(int(v) for v in idx.min(0)), tuple(int(v) for v in idx.max(0))),
        centroid_voxel=tuple(float(v) for v in idx.mean(0)), mean_hu=float(vals.mean()),
        volume_ml=vol, equivalent_diameter_mm=float((6.0 * vol * 1000.0 / np.pi) ** (1 / 3)),
        score=round(score, 3), reason=reason, kind=kind,
    )
