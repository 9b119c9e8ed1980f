"""Cardiac and thoracic widths from the lung fields of a frontal chest radiograph.

Works in the canonical frame of :mod:`napari_medground.models.cxr.lungs` (rows head to
feet, columns from the patient's right to the patient's left, square pixels); every
position here is a (row, col) float in that frame and every width is in its pixels.

* Heart width (the cardiothoracic ratio's numerator, as radiologists measure it): in the
  cardiac zone (the lower half of the lung fields, down to each cardiophrenic angle),
  the medial edges of the lungs are the heart borders. Each border's extreme is its
  first bulge above the cardiophrenic angle (the right atrium, the left ventricle), so
  that the hila and the aortic knob higher up do not count. The width is the
  horizontal distance from the rightmost point of the right heart border to the
  leftmost point of the left heart border (= right extent + left extent from the
  midline, which may lie on different rows).
* Thoracic width (the denominator): the largest horizontal distance between the lateral
  lung edges (the inner rib margins), on the rows where both lungs are present, i.e. at
  or above the diaphragm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ZONE_TOP = 0.5  # the cardiac zone starts halfway down the lung fields (below the aortic knob)


@dataclass(frozen=True)
class Widths:
    """Measured lines in canonical-frame pixels (see the module docstring).

    ``heart_right``/``heart_left`` are the (row, col) of the heart border points farthest
    to the patient's right and left; ``thorax_right``/``thorax_left`` the inner rib
    margins of the widest row; ``zone`` the rows of the cardiac zone (first, last).
    """

    heart_right: tuple[float, float]
    heart_left: tuple[float, float]
    thorax_right: tuple[float, float]
    thorax_left: tuple[float, float]
    zone: tuple[int, int]
    heart_mask: np.ndarray

    @property
    def heart_px(self) -> float:
        return self.heart_left[1] - self.heart_right[1]

    @property
    def thorax_px(self) -> float:
        return self.thorax_left[1] - self.thorax_right[1]

    @property
    def ctr(self) -> float:
        return cardiothoracic_ratio(self.heart_px, self.thorax_px)


def cardiothoracic_ratio(heart_width: float, thorax_width: float) -> float:
    """Heart width / internal thoracic width (both in the same unit, px or mm); NaN without a thorax.

    The one cardiothoracic ratio: the widths' own, the reported one and the one after an edit.
    """
    return heart_width / thorax_width if thorax_width > 0 else float("nan")


def _edges(mask: np.ndarray, rows: np.ndarray, *, lowest: bool) -> np.ndarray:
    """Per row, the smallest (``lowest``) or largest column of ``mask``; NaN where empty."""
    sub = mask[rows]
    idx = np.arange(mask.shape[1], dtype=float)
    if lowest:
        e = np.where(sub, idx, np.inf).min(1)
    else:
        e = np.where(sub, idx, -np.inf).max(1)
    e[~np.isfinite(e)] = np.nan
    return e


def _smoothed(edge: np.ndarray, h: int) -> np.ndarray:
    """Running median of an edge profile over ~2% of the image height, NaN-aware (rows
    without lung stay NaN): removes single-row spikes of the segmentation."""
    import warnings

    k = max(1, round(0.01 * h))
    padded = np.pad(edge, k, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        out = np.nanmedian(windows, axis=1)
    out[~np.isfinite(edge)] = np.nan
    return out


def _cardiophrenic_corner(edge: np.ndarray, outward: float) -> int:
    """Index (into ``edge``) of the cardiophrenic angle: the lowest and most medial point
    of the medial lung edge (the maximum of row - lateral position, i.e. the extreme
    point towards down-and-medial at 45 degrees). Below it the medial edge belongs to the
    diaphragm, which runs on laterally down to the costophrenic angle."""
    lateral = outward * edge
    score = np.arange(edge.size) - lateral
    score[~np.isfinite(score)] = -np.inf
    return int(np.argmax(score))


def _first_bulge(edge: np.ndarray, outward: float, tol: float) -> int:
    """Index of the heart border's greatest lateral extent: walking up from the
    cardiophrenic angle (the last entry), the running maximum of the lateral position
    until the border has turned back medially by more than ``tol`` pixels. This stops
    below the hilum and the aortic knob, which bulge again higher up."""
    lateral = outward * edge
    best, best_i = -np.inf, None
    for i in range(edge.size - 1, -1, -1):
        v = lateral[i]
        if not np.isfinite(v):
            continue
        if v > best:
            best, best_i = v, i
        elif v < best - tol:
            break
    return int(best_i) if best_i is not None else int(np.nanargmax(lateral))


def measure_widths(right: np.ndarray, left: np.ndarray) -> Widths | None:
    """Heart and thorax widths from the two lung masks (canonical frame), or None when
    the lungs leave no cardiac zone or no common row to measure on."""
    h, w = right.shape
    r_rows, l_rows = np.flatnonzero(right.any(1)), np.flatnonzero(left.any(1))
    if r_rows.size < 5 or l_rows.size < 5:
        return None
    apex, base = min(r_rows[0], l_rows[0]), max(r_rows[-1], l_rows[-1])
    z0 = int(apex + _ZONE_TOP * (base - apex))
    rows = np.arange(z0, base + 1)
    e_right = _smoothed(_edges(right, rows, lowest=False), h)
    e_left = _smoothed(_edges(left, rows, lowest=True), h)
    cut_r = _cardiophrenic_corner(e_right, -1.0) + 1
    cut_l = _cardiophrenic_corner(e_left, +1.0) + 1
    if not (np.isfinite(e_right[:cut_r]).any() and np.isfinite(e_left[:cut_l]).any()):
        return None
    tol = 0.02 * w
    i_r = _first_bulge(e_right[:cut_r], -1.0, tol)
    i_l = _first_bulge(e_left[:cut_l], +1.0, tol)
    thorax = _thorax(right, left, max(r_rows[0], l_rows[0]), min(r_rows[-1], l_rows[-1]))
    if thorax is None:
        return None
    heart = _heart_mask((h, w), rows, e_right, e_left, cut_r, cut_l) & ~(right | left)
    return Widths(
        heart_right=(float(rows[i_r]), float(e_right[i_r]) + 0.5),
        heart_left=(float(rows[i_l]), float(e_left[i_l]) - 0.5),
        thorax_right=thorax[0], thorax_left=thorax[1],
        zone=(int(z0), int(rows[max(cut_r, cut_l) - 1])), heart_mask=heart,
    )


def _thorax(right: np.ndarray, left: np.ndarray, top: int, bottom: int):
    """Widest row between the lateral lung edges (inner rib margins), rows top..bottom."""
    if bottom - top < 5:
        return None
    rows = np.arange(top, bottom + 1)
    lat_r = _smoothed(_edges(right, rows, lowest=True), right.shape[0])
    lat_l = _smoothed(_edges(left, rows, lowest=False), right.shape[0])
    width = lat_l - lat_r
    if not np.isfinite(width).any():
        return None
    i = int(np.nanargmax(width))
    r = float(rows[i])
    return (r, float(lat_r[i]) - 0.5), (r, float(lat_l[i]) + 0.5)


def _heart_mask(shape, rows, e_right, e_left, cut_r: int, cut_l: int) -> np.ndarray:
    """The mediastinal shadow between the medial lung edges in the cardiac zone, down to
    the lower cardiophrenic angle (each border held at its own angle below it): an
    approximation of the heart shadow (its upper limit is the zone's, not anatomy's)."""
    mask = np.zeros(shape, bool)
    n = max(cut_r, cut_l)
    k = np.arange(n)
    borders = []
    for edge, cut in ((e_right, cut_r), (e_left, cut_l)):
        e = edge[:cut]
        ok = np.isfinite(e)
        if ok.sum() < 2:
            return mask
        borders.append(np.interp(k, k[:cut][ok], e[ok]))  # constant beyond the cut
    idx = np.arange(shape[1])[None, :]
    mask[rows[:n]] = (idx > borders[0][:, None]) & (idx < borders[1][:, None])
    return mask
