"""Click prompts for LiteMedSAM: positive points (with or without a box) and negative points.

LiteMedSAM was trained with boxes only, so a point is turned into a box first. Chosen
way (``box_from_point``): square boxes of several sizes centred on the point are decoded
from the one cached embedding of its slice (decoder runs only, ≈60 ms each); a box is
scored by the model's predicted IoU times the fraction of the mask's outline that stays
off the box border (a mask that fills its box means the structure is larger than the
box), and the mask must contain the point. The best box starts the usual slice-to-slice
propagation (``litemedsam.propagate.propagate``).

Negative points carve: mask voxels nearer (in mm) to a negative point than to every
positive point are removed, then only the connected parts that hold a positive point
are kept. Points are array indices in the order of ``--box``: (row, col) on a 2D study,
(z, y, x) on a volume; masks have ``study.shape``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ...progress import CancelFn, ProgressFn
from ...result import Box
from . import segment as sam
from .propagate import Box2D, propagate
from .runtime import INPUT_SIZE

Point = tuple[int, ...]
#: Half sizes of the candidate boxes, in pixels of the 256-pixel network input.
HALF_SIZES_256 = (5, 8, 12, 18, 27, 40, 60)


def check_points(points: Sequence[Sequence[int]], shape: tuple[int, ...], name: str, what: str) -> list[Point]:
    """Points as int tuples inside the study, or BoxError naming the bad one."""
    out = []
    for p in points:
        q = tuple(int(v) for v in p)
        if len(q) != len(shape):
            raise sam.BoxError(f"{name}: {what} {list(q)} has {len(q)} coordinates, the study has "
                               f"{len(shape)} axes (shape {shape})")
        if any(v < 0 or v >= s for v, s in zip(q, shape)):
            raise sam.BoxError(f"{name}: {what} {list(q)} lies outside the image (shape {shape})")
        out.append(q)
    return out


def box_from_point(session: Any, z: int | None, rc: tuple[int, int]) -> tuple[Box2D, np.ndarray, float]:
    """The box around a clicked pixel whose mask the model rates best (see module doc).

    Returns the box (r0, c0, r1, c1) inclusive slice pixels, its mask and predicted IoU.
    """
    shape = session.slice_shape()
    scale = INPUT_SIZE / max(shape)
    best: tuple[float, Box2D, np.ndarray, float] | None = None
    for h256 in HALF_SIZES_256:
        h = max(2, int(round(h256 / scale)))
        box = (max(0, rc[0] - h), max(0, rc[1] - h), min(shape[0] - 1, rc[0] + h), min(shape[1] - 1, rc[1] + h))
        mask, iou = session.segment(z, box)
        mask = _component_at(mask, rc)
        if not mask.any():
            continue
        score = iou * (1.0 - _border_fraction(mask, box, shape))
        if best is None or score > best[0]:
            best = (score, box, mask, iou)
        if h >= max(shape):
            break
    if best is None:
        return (rc[0], rc[1], rc[0], rc[1]), np.zeros(shape, bool), 0.0
    return best[1], best[2], best[3]


def _component_at(mask: np.ndarray, at: tuple[int, ...]) -> np.ndarray:
    from scipy import ndimage

    if not mask[at]:
        return np.zeros_like(mask)
    lab, _ = ndimage.label(mask)
    return lab == lab[at]


def _border_fraction(mask: np.ndarray, box: Box2D, shape: tuple[int, int]) -> float:
    """Fraction of the box's inner border pixels (not on the image edge) the mask covers."""
    r0, c0, r1, c1 = box
    edges = []
    if r0 > 0:
        edges.append(mask[r0, c0:c1 + 1])
    if r1 < shape[0] - 1:
        edges.append(mask[r1, c0:c1 + 1])
    if c0 > 0:
        edges.append(mask[r0:r1 + 1, c0])
    if c1 < shape[1] - 1:
        edges.append(mask[r0:r1 + 1, c1])
    if not edges:
        return 0.0
    cat = np.concatenate(edges)
    return float(cat.mean()) if cat.size else 0.0


def carve(mask: np.ndarray, positive: Sequence[Point], negative: Sequence[Point],
          spacing: Sequence[float]) -> np.ndarray:
    """Remove what negative points claim (nearer to them than to any positive point, in mm)
    and keep only the connected parts that hold a positive point (all parts when none)."""
    from scipy import ndimage

    out = mask.copy()
    if negative and out.any():
        idx = np.argwhere(out)
        sp = np.asarray(spacing, dtype=float)
        d_neg = np.min([np.linalg.norm((idx - np.asarray(n)) * sp, axis=1) for n in negative], axis=0)
        if positive:
            d_pos = np.min([np.linalg.norm((idx - np.asarray(p)) * sp, axis=1) for p in positive], axis=0)
            drop = d_neg < d_pos
        else:  # no positive point: the negative point's own connected part goes
            lab, _ = ndimage.label(out)
            ids = {int(lab[tuple(n)]) for n in negative} - {0}
            drop = np.isin(lab[tuple(idx.T)], list(ids))
        out[tuple(idx[drop].T)] = False
    if positive and out.any():
        lab, _ = ndimage.label(out)
        ids = {int(lab[tuple(p)]) for p in positive} - {0}
        if ids:
            out = np.isin(lab, list(ids))
    return out


def segment_points(study: Any, positive: Sequence[Sequence[int]], negative: Sequence[Sequence[int]] = (),
                   *, box: Box | None = None, window: Any = None, device: str = "auto",
                   progress: ProgressFn = None, cancel: CancelFn = None) -> sam.SamResult:
    """Segment from clicks (and an optional box) on a 2D study or a volume.

    With a box, the box path runs (``segment_box_2d``/``segment_box_3d``) and the points
    then constrain its mask (``carve``). Without one, the first positive point's slice is
    prompted with ``box_from_point`` and propagated through the volume. Raises BoxError
    for points outside the study or of the wrong length, and when there is neither a
    positive point nor a box.
    """
    pos = check_points(positive, study.shape, study.name, "point")
    neg = check_points(negative, study.shape, study.name, "negative point")
    if box is not None:
        res = (sam.segment_box_2d(study, box, window=window, device=device) if study.array.ndim == 2 else
               sam.segment_box_3d(study, box, window=window, device=device, progress=progress, cancel=cancel))
    elif not pos:
        raise sam.BoxError(f"{study.name}: a negative point needs a positive point or a box to start from")
    else:
        res = _from_point(study, pos[0], window=window, device=device, progress=progress, cancel=cancel)
    if not pos and not neg:
        return res
    mask = carve(res.mask, pos, neg, _spacing(study))
    notes = res.notes + (f"{len(pos)} positive / {len(neg)} negative point(s) applied "
                         f"({int(res.mask.sum())} -> {int(mask.sum())} voxels)",)
    ious = {z: v for z, v in res.iou_by_slice.items() if study.array.ndim == 2 or mask[z].any()}
    return replace(res, mask=mask, iou_by_slice=ious, notes=notes)


def _spacing(study: Any) -> tuple[float, ...]:
    sp = getattr(study, "spacing_mm", None)
    if sp is not None:
        return tuple(float(v) for v in sp)
    return tuple(float(np.linalg.norm(study.affine_lps[:3, k])) for k in range(study.array.ndim))


def _from_point(study: Any, p: Point, *, window: Any, device: str, progress: ProgressFn,
                cancel: CancelFn) -> sam.SamResult:
    # no zoom: the candidate boxes of a click are compared on one embedding, and a click
    # on an encoded slice costs decoder runs only
    session = sam.open_session(study, window=window, device=device, zoom=False)
    if study.array.ndim == 2:
        box, mask, iou = box_from_point(session, None, (p[0], p[1]))
        return sam.SamResult(mask=mask, iou_by_slice={0: iou}, model=sam.model_use(session),
                             slices_encoded=session.encoded, cache_hits=session.cache_hits,
                             notes=(f"point {list(p)} -> box {list(box)} (best predicted IoU {iou:.2f})",))
    box, _, iou = box_from_point(session, p[0], (p[1], p[2]))
    vol, ious, notes = propagate(session, p[0], box, range(study.shape[0]),
                                     bound=(0, 0, study.shape[1] - 1, study.shape[2] - 1),
                                     progress=progress, cancel=cancel)
    notes = [f"point {list(p)} -> box {list(box)} on slice {p[0]} (predicted IoU {iou:.2f})"] + notes
    return sam.SamResult(mask=vol, iou_by_slice=ious, model=sam.model_use(session),
                         slices_encoded=session.encoded, cache_hits=session.cache_hits, notes=tuple(notes))
