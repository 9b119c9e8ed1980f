"""Lung fields on a frontal chest radiograph, by classical image processing.

Everything in this module works in the *canonical frame* that
:mod:`napari_medground.models.cxr.anatomy` builds from a Study: a 2D float image with
square pixels, rows running from head to feet, columns running from the patient's right
to the patient's left (the standard display), values scaled to 0..1 with higher meaning
denser. Distances here are in canonical pixels.

Method (no trained weights):

1. Midline: the spine and mediastinum form the brightest vertical band between the
   lungs; a straight line (it may tilt) is fitted through its per-row maxima.
2. Lung cores: the darkest large regions on each side of the midline that do not touch
   the image border (outside air does), picked by size and position.
3. Watershed on the smoothed intensity from three kinds of markers (right core, left
   core, and "not lung": the image border and the midline) splits the image along the
   bright ridges between them: the chest wall, the clavicles, the mediastinum. Air
   outside the body can therefore never join a lung.
4. Inside each lung's watershed region, lung = darker than a threshold that varies
   from apex to base (a two-class fit per row band), because the lower zones are
   brighter (soft tissue, breasts, diaphragm domes overlap them).
5. Clean-up: keep the component that holds the core (drops most bowel gas and the
   trachea), fill it row by row after smoothing away the notches that ribs and hilar
   vessels cut into its edges, then move its boundary onto the strongest edge within a
   narrow band (the threshold stops short where the lung brightens at its margins).

Known limits: a hemidiaphragm too thin to survive the reduction to the working grid can
let gas in the stomach or colon join the left lung (the quality checks flag the uneven
bases); apices above dense clavicles may be left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Fractions of the image size; anatomical proportions, not fitted to any image.
_CORE_PERCENTILES = (25.0, 35.0, 45.0)  # dark-core thresholds tried in turn (central region)
_MIN_CORE_FRACTION = 0.004  # smallest lung core, as a fraction of the image area
_MIDLINE_BAND = 0.03  # half-width of the "not lung" band around the midline (x image width)
_SNAP_BAND = 0.03  # how far (x image width) edge snapping may move a lung boundary


@dataclass(frozen=True)
class LungFields:
    """Lung fields in the canonical frame (see the module docstring).

    ``right``/``left`` are the patient's right (image left) and left lung; ``midline_col``
    gives, per row, the column of the spine/mediastinum axis; ``regions`` is the
    watershed partition (1 right, 2 left, 3 not lung); ``notes`` says what went wrong
    when a lung was not found.
    """

    right: np.ndarray
    left: np.ndarray
    midline_col: np.ndarray
    regions: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.right.any() and self.left.any())


def normalise(image: np.ndarray) -> np.ndarray:
    """Scale to 0..1 by robust percentiles of the central region (borders, labels and
    shutters left out), clipping outliers such as wires and markers."""
    img = np.asarray(image, dtype=float)
    h, w = img.shape
    centre = img[h // 8: h - h // 8, w // 8: w - w // 8]
    lo, hi = np.percentile(centre, [1.0, 99.0])
    if not np.isfinite(hi - lo) or hi - lo <= 1e-6 * max(1.0, abs(hi)):
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0)


def find_midline(smooth: np.ndarray) -> np.ndarray:
    """Column of the spine/mediastinum axis per row: a straight line through the
    brightest column of each row band, searched in the central 40% of the width."""
    from scipy import ndimage as ndi

    h, w = smooth.shape
    c0, c1 = int(0.3 * w), int(0.7 * w)
    band = ndi.gaussian_filter(smooth, (h / 40.0, w / 60.0))[:, c0:c1]
    rows = np.arange(int(0.12 * h), int(0.65 * h))  # above the heart, which is bright off-centre
    cols = c0 + np.argmax(band[rows], axis=1).astype(float)
    # a robust straight line: fit, drop the rows far from it (trachea, heart), refit
    fit = np.polyfit(rows, cols, 1)
    for _ in range(2):
        resid = np.abs(cols - np.polyval(fit, rows))
        keep = resid <= max(2.0, np.percentile(resid, 70))
        if keep.sum() < 10:
            break
        fit = np.polyfit(rows[keep], cols[keep], 1)
    # a patient is rarely tilted by more than ~10 degrees on a frontal film
    if abs(fit[0]) > 0.18:
        fit = np.array([0.0, float(np.median(cols))])
    return np.clip(np.polyval(fit, np.arange(h)), 0, w - 1)


def _pick_core(labels: np.ndarray, side_mask: np.ndarray, min_area: int) -> np.ndarray | None:
    """The largest labelled component inside ``side_mask`` (most of its area), or None."""
    ids, counts = np.unique(labels[side_mask & (labels > 0)], return_counts=True)
    if ids.size == 0:
        return None
    totals = np.bincount(labels.ravel(), minlength=labels.max() + 1)
    best, best_area = None, min_area
    for i, c in zip(ids, counts):
        if c >= 0.8 * totals[i] and c > best_area:
            best, best_area = i, c
    return None if best is None else labels == best


def lung_cores(smooth: np.ndarray, midline: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Dark regions that are surely lung, one per side (right, left), or None."""
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    h, w = smooth.shape
    centre = smooth[h // 6: h - h // 6, w // 6: w - w // 6]
    cols = np.arange(w)[None, :]
    gap = 0.04 * w
    right_side = cols < midline[:, None] - gap
    left_side = cols > midline[:, None] + gap
    rows = np.arange(h)[:, None]
    plausible = (rows > 0.08 * h) & (rows < 0.85 * h)
    min_area = int(_MIN_CORE_FRACTION * h * w)
    radius = max(1, round(0.012 * w))
    cores: list[np.ndarray | None] = [None, None]
    for pct in _CORE_PERCENTILES:
        dark = (smooth < np.percentile(centre, pct)) & plausible
        dark = ndi.binary_opening(dark, structure=disk(radius))
        labels, n = ndi.label(dark)
        if n == 0:
            continue
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        labels[np.isin(labels, border[border > 0])] = 0
        for k, side in enumerate((right_side, left_side)):
            if cores[k] is None:
                cores[k] = _pick_core(labels, side, min_area)
        if cores[0] is not None and cores[1] is not None:
            break
    return cores[0], cores[1]


def _row_threshold(smooth: np.ndarray, region: np.ndarray, offset: float) -> np.ndarray:
    """Per-row threshold between lung and other tissue inside ``region``: a two-class
    fit whose class means vary smoothly from apex to base."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    h = smooth.shape[0]
    values = smooth[region]
    t = np.full(h, threshold_otsu(values) if np.ptp(values) > 0 else values.mean())
    sigma = h / 14.0
    for _ in range(4):
        lung = region & (smooth < t[:, None])
        tissue = region & ~lung
        means = []
        for cls in (lung, tissue):
            s = ndi.gaussian_filter1d((smooth * cls).sum(1), sigma)
            n = ndi.gaussian_filter1d(cls.sum(1).astype(float), sigma)
            means.append(np.where(n > 1e-3, s / np.maximum(n, 1e-9), np.nan))
        mid = 0.5 * (means[0] + means[1])
        ok = np.isfinite(mid)
        if ok.sum() < 2:
            break
        t = np.interp(np.arange(h), np.flatnonzero(ok), mid[ok])
    contrast = np.nanmedian(np.abs(means[1] - means[0])) if ok.any() else 0.0
    return t + offset * contrast


def _clean_lung(
    mask: np.ndarray, core: np.ndarray, midline: np.ndarray, smooth: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """Keep the component holding the core, fill it row by row, snap it to the edges."""
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    h, w = mask.shape
    cols = np.arange(w)[None, :]
    mask = mask & (np.abs(cols - midline[:, None]) > _MIDLINE_BAND * w)
    mask = ndi.binary_opening(mask, structure=disk(max(1, round(0.008 * w))))
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    overlap = np.bincount(labels[core], minlength=n + 1)
    overlap[0] = 0
    if overlap.max() == 0:
        return np.zeros_like(mask)
    lung = labels == int(np.argmax(overlap))
    lateral_low = bool(np.mean(np.nonzero(lung)[1]) < np.mean(midline))  # the right lung
    lung = _snap_to_edges(_row_intervals(lung, lateral_low=lateral_low), smooth, region)
    return _row_intervals(lung, lateral_low=lateral_low) if lung.any() else lung


def _snap_to_edges(lung: np.ndarray, smooth: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Move the boundary onto the strongest edge within a band around it: a watershed
    on the gradient magnitude between the eroded lung and the outside of the dilated
    lung. A threshold alone stops short where the lung brightens towards its margins."""
    from scipy import ndimage as ndi
    from skimage.filters import sobel
    from skimage.segmentation import watershed

    h, w = lung.shape
    b = max(2, round(_SNAP_BAND * w))
    rows, cols = np.flatnonzero(lung.any(1)), np.flatnonzero(lung.any(0))
    if rows.size == 0:
        return lung
    box = (slice(max(rows[0] - b - 1, 0), min(rows[-1] + b + 2, h)),
           slice(max(cols[0] - b - 1, 0), min(cols[-1] + b + 2, w)))
    sub = lung[box]
    inside = ndi.distance_transform_edt(sub)  # distance to the nearest non-lung pixel
    outside = ndi.distance_transform_edt(~sub)
    markers = np.zeros(sub.shape, np.int32)
    markers[(outside > b) | ~region[box]] = 2
    markers[inside > b] = 1
    if not (markers == 1).any():
        return lung
    out = np.zeros_like(lung)
    out[box] = watershed(sobel(smooth[box]), markers) == 1
    return out


def _row_intervals(lung: np.ndarray, *, lateral_low: bool) -> np.ndarray:
    """Fill each row between the lung's lateral and medial edges, after removing the
    notches that ribs (lateral edge) and hilar vessels (medial edge) cut into them:
    a 1D morphological opening/closing of the edge positions along the rows."""
    from scipy import ndimage as ndi

    h, w = lung.shape
    rows = np.flatnonzero(lung.any(1))
    if rows.size < 3:
        return lung
    r0, r1 = rows[0], rows[-1] + 1
    sub = lung[r0:r1]
    has = sub.any(1)
    idx = np.arange(w)
    lo = np.where(has, np.where(sub, idx, w).min(1), np.nan)
    hi = np.where(has, np.where(sub, idx, -1).max(1), np.nan)
    ok = np.flatnonzero(has)
    lo = np.interp(np.arange(r1 - r0), ok, lo[ok])
    hi = np.interp(np.arange(r1 - r0), ok, hi[ok])
    rib = max(3, round(0.06 * h))
    vessel = max(3, round(0.03 * h))
    # notches in ``lo`` are peaks (opening removes them), in ``hi`` dips (closing);
    # beyond the apex and base there is no lung (lo = w, hi = -1), so the ends keep their taper
    lo_size, hi_size = (rib, vessel) if lateral_low else (vessel, rib)
    lo = ndi.grey_opening(lo, size=lo_size, mode="constant", cval=float(w))
    hi = ndi.grey_closing(hi, size=hi_size, mode="constant", cval=-1.0)
    out = np.zeros_like(lung)
    out[r0:r1] = (idx[None, :] >= lo[:, None]) & (idx[None, :] <= hi[:, None])
    # a clavicle or first rib can cut a notch into the apex from above; filling rows
    # across it would square the apex off, so the upper half is also kept column-convex
    top = np.where(lung.any(0), np.argmax(lung, axis=0), h)
    upper = np.arange(h)[:, None] < (r0 + r1) // 2
    return out & (~upper | (np.arange(h)[:, None] >= top[None, :]))


def content_box(image01: np.ndarray, tol: float = 0.01) -> tuple[slice, slice]:
    """Rows and columns left after trimming flat bands at the image edges (collimator
    shutters, burnt-in frames, padding): edge rows/columns whose values barely vary.
    Air outside the body that such a frame encloses would otherwise look like lung."""
    def keep(std: np.ndarray) -> slice:
        live = np.flatnonzero(std > tol)
        if live.size == 0:
            return slice(0, std.size)
        return slice(int(live[0]), int(live[-1]) + 1)

    return keep(image01.std(axis=1)), keep(image01.std(axis=0))


def segment_lung_fields(image01: np.ndarray, *, offset: float = 0.0) -> LungFields:
    """Right and left lung fields of a normalised canonical-frame image (0..1).

    Flat bands at the image edges are trimmed first (:func:`content_box`). ``offset``
    moves the lung/tissue threshold by that fraction of the local contrast (negative =
    stricter); the caller uses it to get alternative estimates.
    """
    rows, cols = content_box(image01)
    sub = image01[rows, cols]
    if min(sub.shape) < 0.5 * min(image01.shape):
        rows, cols, sub = slice(0, image01.shape[0]), slice(0, image01.shape[1]), image01
    inner = _segment(normalise(sub), offset)
    if sub is image01:
        return inner
    h, w = image01.shape

    def paste(mask: np.ndarray, fill) -> np.ndarray:
        out = np.full((h, w), fill, dtype=mask.dtype)
        out[rows, cols] = mask
        return out

    midline = np.empty(h)
    midline[rows] = inner.midline_col + cols.start
    midline[: rows.start] = midline[rows.start]
    midline[rows.stop:] = midline[rows.stop - 1]
    return LungFields(right=paste(inner.right, False), left=paste(inner.left, False), midline_col=midline,
                      regions=paste(inner.regions, 3), notes=inner.notes)


def _segment(image01: np.ndarray, offset: float) -> LungFields:
    """:func:`segment_lung_fields` on an image without flat edge bands."""
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    h, w = image01.shape
    smooth = ndi.gaussian_filter(image01, max(0.6, w / 170.0))
    midline = find_midline(smooth)
    empty = np.zeros((h, w), bool)
    right_core, left_core = lung_cores(smooth, midline)
    notes = []
    markers = np.zeros((h, w), np.int32)
    markers[[0, -1], :] = 3
    markers[:, [0, -1]] = 3
    mid_int = np.round(midline).astype(int)
    for d in (-1, 0, 1):
        markers[np.arange(h), np.clip(mid_int + d, 0, w - 1)] = 3
    for label, core, name in ((1, right_core, "right"), (2, left_core, "left")):
        if core is None:
            notes.append(f"no {name} lung field found (no dark region of lung size on the patient's {name})")
        else:
            markers[core & (markers == 0)] = label
    regions = watershed(smooth, markers)
    lungs = []
    for label, core in ((1, right_core), (2, left_core)):
        if core is None:
            lungs.append(empty)
            continue
        region = regions == label
        t = _row_threshold(smooth, region, offset)
        lungs.append(_clean_lung(region & (smooth < t[:, None]), core & region, midline, smooth, region))
    return LungFields(right=lungs[0], left=lungs[1], midline_col=midline, regions=regions, notes=tuple(notes))
