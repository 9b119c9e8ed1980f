"""Slice-to-slice propagation of a LiteMedSAM mask and the rules that stop it.

A slice is the study array's last two axes at one index of the first axis; boxes are
slice pixel indices ``(row0, col0, row1, col1)``, inclusive; masks are boolean, per slice
(rows, cols) or for the volume (``study.array.shape``). Intensities are compared on the
session window's 0..1 scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...progress import CancelFn, ProgressFn, check_cancel, report
from .infer import Session
from .intensity import learn as learn_intensity
from .runtime import INPUT_SIZE

Box2D = tuple[int, int, int, int]  # (row0, col0, row1, col1), inclusive


@dataclass(frozen=True)
class PropagationLimits:
    """When slice-by-slice propagation stops (the slice that fails is not kept).

    ``min_iou``: predicted IoU below this; ``max_iou_drop``: IoU this much below the
    first slice's; ``max_growth``: area more than this times the previous slice's;
    ``min_coverage``: less than this fraction of the new mask lies within the previous
    mask dilated by the box padding (a leak into a neighbour); ``max_mean_shift``: mean
    intensity differs from the first slice's by more than this fraction of the window
    (the mask moved onto other tissue); ``min_pixels``: the mask has vanished.
    """

    min_iou: float = 0.5
    max_iou_drop: float = 0.2
    max_mean_shift: float = 0.25
    max_growth: float = 1.8
    min_coverage: float = 0.7
    min_pixels: int = 4


#: A mask whose object-like core (intensity model) is under this share of it is re-prompted
#: with the core's box: the model took in surrounding tissue that the box allowed.
TIGHTEN_BELOW = 0.8


def box_padding(shape: tuple[int, int]) -> int:
    """Pixels added around a mask's box for the next slice: 3 px of the 256 input."""
    return max(1, int(round(3 * max(shape) / INPUT_SIZE)))


def _tightened(session: Session, z: int, mask: np.ndarray, iou: float, look: Any, bound: Box2D,
               limits: PropagationLimits) -> tuple[np.ndarray, float, bool]:
    """Re-prompt slice ``z`` with the box of the mask's object-like core when the model took
    in surround: over ``1 - TIGHTEN_BELOW`` of the mask lies farther than the box padding
    from the core (a region of other tissue, not a partial-volume rim, which would only
    shrink the walk slice by slice); (mask, IoU, re-prompted)."""
    from scipy import ndimage

    if look is None:
        return mask, iou, False
    core = look.core(unit_slice(session, z), mask)
    if core.sum() < limits.min_pixels:
        return mask, iou, False
    pad = box_padding(mask.shape)
    away = mask & ~ndimage.binary_dilation(core, iterations=pad)
    if away.sum() < (1.0 - TIGHTEN_BELOW) * mask.sum():
        return mask, iou, False
    nbox = _padded_box(core, pad, bound)
    again, iou2 = session.segment(z, nbox)
    again &= box_mask_2d(again.shape, nbox)
    if again.sum() < limits.min_pixels:
        return mask, iou, False
    return again, iou2, True


def walk_padding(mask: np.ndarray) -> int:
    """Pixels added around the previous slice's mask box inside a 3D box: the box padding,
    or a tenth of the mask's long side when larger (a large section may widen by more
    than a few pixels from one slice to the next)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    long_side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) if rows.size else 0
    return max(box_padding(mask.shape), int(round(0.1 * long_side)))


def propagate(session: Session, start: int, box: Box2D, zs: range, *, bound: Box2D,
              limits: PropagationLimits = PropagationLimits(), progress: ProgressFn = None,
              cancel: CancelFn = None, tighten: bool = False
              ) -> tuple[np.ndarray, dict[int, float], list[str]]:
    """Segment slice ``start`` with ``box``, then walk up and down ``zs`` (see segment_box_3d).

    ``tighten`` (a box known to hold the object, which it may fit loosely): a mask that
    took in surrounding tissue is re-prompted with its object-like core's box
    (``_tightened``), the intensity model is then learned again on the re-prompted start
    mask, and each next slice's box is widened by ``walk_padding``.
    """
    vol = np.zeros(session.study.shape, dtype=bool)
    seed, iou = session.segment(start, box)
    seed &= box_mask_2d(seed.shape, box)
    notes: list[str] = []
    if seed.sum() < limits.min_pixels:
        notes.append(f"slice {start}: no object found in the box")
        return vol, {}, notes
    u0 = unit_slice(session, start)
    # a mask from a loose box may be half surround: its model is only used to find the core
    look = learn_intensity(u0, seed, box_mask_2d(seed.shape, box), min_share=0.3 if tighten else 0.6)
    if tighten:
        seed, iou, again = _tightened(session, start, seed, iou, look, bound, limits)
        if again:
            notes.append(f"slice {start}: re-prompted with the object-like core's box")
        look = learn_intensity(u0, seed, box_mask_2d(seed.shape, box))
    vol[start] = seed
    ious = {start: iou}
    ref = (iou, mean_unit(session, start, seed))
    total = max(1, len(zs) - 1)
    done = 0
    for step in (1, -1):
        prev = seed
        z = start + step
        while z in zs:
            check_cancel(cancel, "LiteMedSAM propagation")
            nbox = _padded_box(prev, walk_padding(prev) if tighten else box_padding(prev.shape), bound)
            cur, iou = session.segment(z, nbox)
            cur &= box_mask_2d(prev.shape, nbox)
            if tighten and cur.sum() >= limits.min_pixels:
                cur, iou, _ = _tightened(session, z, cur, iou, look, bound, limits)
            why = stop_reason(prev, cur, iou, limits) or drift_reason(session, z, cur, iou, ref, limits)
            if not why and look is not None:
                u = unit_slice(session, z)
                why = look.reason(u[cur])
                if not why and iou < ref[0]:  # the model is less sure than on the prompted slice
                    cur = look.fuse(u, cur)
            if why:
                notes.append(f"slice {z}: stopped ({why})")
                break
            vol[z], ious[z], prev = cur, iou, cur
            done += 1
            report(progress, done / total, f"LiteMedSAM slice {z} (IoU {iou:.2f})")
            z += step
    return vol, ious, notes


def stop_reason(prev: np.ndarray, cur: np.ndarray, iou: float, limits: PropagationLimits,
                reach: int | None = None) -> str:
    """Why the walk stops at a slice whose mask is ``cur`` ("" when it goes on).

    ``reach``: pixels by which the previous mask is dilated for the coverage check
    (default: the box padding).
    """
    from scipy import ndimage

    area = int(cur.sum())
    if area < limits.min_pixels:
        return "mask vanished"
    if iou < limits.min_iou:
        return f"predicted IoU {iou:.2f} < {limits.min_iou}"
    prev_area = int(prev.sum())
    if area > limits.max_growth * prev_area + limits.min_pixels:
        return f"area grew {area / max(prev_area, 1):.1f}x"
    grown = ndimage.binary_dilation(prev, iterations=reach or box_padding(prev.shape))
    coverage = float((cur & grown).sum()) / area
    if coverage < limits.min_coverage:
        return f"only {coverage:.0%} of the mask near the previous slice's"
    return ""


def unit_slice(session: Session, z: int) -> np.ndarray:
    """Slice ``z`` on the window's 0..1 scale (float32)."""
    a = np.asarray(session.study.array[z], dtype=np.float32)
    return np.clip((a - session.lo) / (session.hi - session.lo), 0.0, 1.0)


def mean_unit(session: Session, z: int, mask: np.ndarray) -> float:
    """Mean intensity inside a slice mask, on the window's 0..1 scale."""
    vals = np.asarray(session.study.array[z][mask], dtype=np.float64)
    return float(np.clip((vals - session.lo) / (session.hi - session.lo), 0.0, 1.0).mean())


def drift_reason(session: Session, z: int, cur: np.ndarray, iou: float, ref: tuple[float, float],
                 limits: PropagationLimits) -> str:
    """Why the mask no longer looks like the first slice's (IoU fell, density moved), or ""."""
    if iou < ref[0] - limits.max_iou_drop:
        return f"predicted IoU {iou:.2f} fell from {ref[0]:.2f}"
    shift = abs(mean_unit(session, z, cur) - ref[1])
    if shift > limits.max_mean_shift:
        return f"mean intensity moved {shift:.0%} of the window from the first slice"
    return ""


def _padded_box(mask: np.ndarray, pad: int, bound: Box2D) -> Box2D:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (max(bound[0], int(rows[0]) - pad), max(bound[1], int(cols[0]) - pad),
            min(bound[2], int(rows[-1]) + pad), min(bound[3], int(cols[-1]) + pad))


def box_mask_2d(shape: tuple[int, int], box: Box2D) -> np.ndarray:
    """A (rows, cols) mask that is True inside the inclusive box (r0, c0, r1, c1)."""
    m = np.zeros(shape, dtype=bool)
    m[box[0]:box[2] + 1, box[1]:box[3] + 1] = True
    return m
