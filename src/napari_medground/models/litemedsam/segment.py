"""LiteMedSAM box prompts: a box on a 2D image or a volume -> a mask on the study grid.

Coordinates: boxes are :class:`~napari_medground.result.Box` in array indices,
inclusive; (row, col) for a 2D study, (z, y, x) for a volume, where the slice plane is
the array's last two axes (y, x) whatever the patient orientation. Masks are boolean
arrays with ``study.array.shape``.

Image embeddings are cached (``runtime.EMBEDDINGS``, keyed by study
fingerprint, weights sha256, slice, window, device and precision), so a second box on a slice already
seen costs only the prompt encoder and mask decoder.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import MedgroundError
from ...progress import CancelFn, ProgressFn, check_cancel, report, sub_progress
from ...result import Box, ModelUse
from .infer import Session
from .intensity import learn as learn_intensity
from .runtime import INPUT_SIZE, MODEL_NAME, load_model, resolve_window

log = logging.getLogger(__name__)

Box2D = tuple[int, int, int, int]  # (row0, col0, row1, col1), inclusive


class BoxError(MedgroundError, ValueError):
    """A box prompt that does not fit the study (outside it, wrong dimension, inverted)."""


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


@dataclass(frozen=True)
class SamResult:
    """A LiteMedSAM mask on the study grid.

    ``iou_by_slice`` maps the slice index (first array axis; 0 for a 2D study) to the
    model's predicted IoU there; ``slices_encoded`` counts encoder runs, ``cache_hits``
    the slices whose embedding came from the cache; ``notes`` says why propagation stopped.
    """

    mask: np.ndarray
    iou_by_slice: dict[int, float]
    model: ModelUse
    slices_encoded: int
    cache_hits: int
    notes: tuple[str, ...] = ()


def open_session(study: Any, *, window: Any = None, device: str = "auto", zoom: bool = True) -> Session:
    """A LiteMedSAM session on a study: the model on ``device`` and the intensity window;
    ``zoom``: small boxes are segmented on a zoomed crop (``infer.ZOOM_BELOW``)."""
    lo, hi = resolve_window(study.array, study.modality, window)
    return Session(model=load_model(device), study=study, lo=lo, hi=hi, zoom=zoom)


def model_use(session: Session) -> ModelUse:
    """The ModelUse record of what a session did (time spent in the network)."""
    m = session.model
    return ModelUse(name=MODEL_NAME, version=m.version, sha256=m.sha256, device=m.device,
                    seconds=session.seconds, precision=session.precision)


def segment_box_2d(study: Any, box: Box, *, window: Any = None, device: str = "auto") -> SamResult:
    """Segment the object in a box on a 2D study.

    Parameters
    ----------
    study : Study
        A 2D study (rows, cols).
    box : Box
        (row, col) array indices, inclusive.
    window : (level, width) | str | None
        Intensity window; None: soft tissue for CT, 0.5-99.5 percentiles otherwise.

    Raises
    ------
    BoxError
        The study is not 2D or the box lies outside it.
    """
    if study.array.ndim != 2:
        raise BoxError(f"{study.name}: segment_box_2d needs a 2D study, got shape {study.shape}; "
                       "use segment_box_3d")
    b = _clip_box(box, study.shape, study.name)
    session = open_session(study, window=window, device=device)
    mask, iou = session.segment(None, (b[0][0], b[0][1], b[1][0], b[1][1]))
    return SamResult(mask=mask, iou_by_slice={0: iou}, model=model_use(session),
                     slices_encoded=session.encoded, cache_hits=session.cache_hits)


def segment_box_3d(study: Any, box: Box, *, window: Any = None, device: str = "auto",
                   progress: ProgressFn = None, cancel: CancelFn = None,
                   limits: PropagationLimits = PropagationLimits()) -> SamResult:
    """Segment the object in a box on a volume, slice by slice in the (y, x) plane.

    A box on one slice (``box.min_voxel[0] == box.max_voxel[0]``) is segmented there and
    propagated in both directions, each slice prompted by the previous slice's mask box
    (padded by 3 pixels of the 256-pixel network input), until the mask vanishes or a
    guard in ``limits`` trips. A box over several slices is walked from several of its
    central slices the same way, only within its slice range and its (y, x) extent, and the
    walks' consensus is kept (``_segment_range``); when its (y, x) extent is small in the
    network input (``infer.ZOOM_BELOW``), all its slices are segmented on one zoomed crop.
    """
    if study.array.ndim != 3:
        raise BoxError(f"{study.name}: segment_box_3d needs a 3D study, got shape {study.shape}; "
                       "use segment_box_2d")
    (z0, y0, x0), (z1, y1, x1) = _clip_box(box, study.shape, study.name)
    session = open_session(study, window=window, device=device, zoom=False)
    if z1 > z0:
        # a small object: every slice of the box is segmented on one zoomed crop around it.
        # Not for a one-slice box, whose walk may go anywhere in the volume (and on a
        # 3-pixel phantom nodule the zoomed walk leaked through 25 slices).
        session.crop = session.zoom_crop((y0, x0, y1, x1))
        mask, ious, notes = _segment_range(session, range(z0, z1 + 1), (y0, x0, y1, x1),
                                           progress=progress, cancel=cancel)
        if session.crop is not None:
            r0, c0, r1, c1 = session.crop
            notes = [f"small box: segmented on a {r1 - r0}x{c1 - c0} pixel crop around it, zoomed to "
                     f"the network input"] + list(notes)
    else:
        mask, ious, notes = propagate(session, z0, (y0, x0, y1, x1), range(study.shape[0]),
                                      bound=(0, 0, study.shape[1] - 1, study.shape[2] - 1), limits=limits,
                                      progress=progress, cancel=cancel)
    return SamResult(mask=mask, iou_by_slice=ious, model=model_use(session),
                     slices_encoded=session.encoded, cache_hits=session.cache_hits, notes=tuple(notes))


# Inside a clinician's box every slice belongs to the object: only a vanishing or leaking
# mask stops the walk, not the model's confidence.
RANGE_LIMITS = PropagationLimits(min_iou=0.0, max_iou_drop=1.0, max_mean_shift=1.0, max_growth=3.0,
                                 min_coverage=0.3)
#: Walks started within a 3D box (evenly over its central half, and its best-fitting slice).
MAX_ANCHORS = 5
#: Mean Dice at which three walks (two: AGREE_TWO) are taken to agree: no more are run.
AGREE = 0.9
AGREE_TWO = 0.95
#: The box scan visits every slice of the central half up to this many, every other beyond.
SCAN_ALL_UP_TO = 12
#: A mask whose object-like core (intensity model) is under this share of it is re-prompted
#: with the core's box: the model took in surrounding tissue that the box allowed.
TIGHTEN_BELOW = 0.8


def _segment_range(session: Session, zs: range, box: Box2D, *, progress: ProgressFn = None,
                   cancel: CancelFn = None) -> tuple[np.ndarray, dict[int, float], list[str]]:
    """A box over several slices: walks from the central slices; the best-supported walk wins.

    The box is the object's 3D extent, padded: the slices near the ends of the range may
    hold no object at all. On most
    slices the box is looser than the object's section, and the model may take in
    neighbouring tissue; on the slice of the largest section it fits. The slices of the central half (every
    other one in a long box) are prompted with the box and scored by the model's
    predicted IoU times how much of the box the mask's own bounding box fills. Walks start
    from the best-fitting slice and from up to ``MAX_ANCHORS`` evenly spaced slices of the
    central half of the range (an end slice may be padding), each re-prompting with the
    object-like core's box where the mask took in surround, tightening the box from slice
    to slice and stopping where the object ends; the walk that agrees best with the
    others (``_medoid``) is kept, or, when they disagree, the one whose weakest slice the
    model rates best (``_steadiest``).
    """
    best_z, best_score = zs[len(zs) // 2], -1.0
    area = float((box[2] - box[0] + 1) * (box[3] - box[1] + 1))
    quarter = len(zs) // 4
    central = zs[quarter:len(zs) - quarter] or zs
    scan = central if len(central) <= SCAN_ALL_UP_TO else central[::2]
    for k, z in enumerate(scan):
        check_cancel(cancel, "LiteMedSAM")
        report(progress, 0.5 * k / len(scan), f"LiteMedSAM: box on slice {z}")
        m, iou = session.segment(z, box)
        m &= box_mask_2d(m.shape, box)
        if m.sum() < RANGE_LIMITS.min_pixels:
            continue
        r, c = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        score = iou * (r[-1] - r[0] + 1) * (c[-1] - c[0] + 1) / area
        if score > best_score:
            best_z, best_score = z, score
    n = min(MAX_ANCHORS, len(central))
    anchors = sorted({best_z} | {central[int(round(k * (len(central) - 1) / max(1, n - 1)))] for k in range(n)})
    # the best-fitting slice first, then the others from the middle outwards
    anchors = [best_z] + sorted(set(anchors) - {best_z}, key=lambda z: abs(z - zs[len(zs) // 2]))
    walks = []
    for k, a in enumerate(anchors):  # walks are decoder runs on cached embeddings
        report(progress, 0.5 + 0.5 * k / len(anchors), f"LiteMedSAM: walk {k + 1}/{len(anchors)} from slice {a}")
        walks.append((a, *propagate(session, a, box, zs, bound=box, limits=RANGE_LIMITS, cancel=cancel,
                                    tighten=True)))
        agree = _medoid([w[1] for w in walks])[1] if len(walks) > 1 else 0.0
        if (len(walks) == 2 and agree >= AGREE_TWO) or (len(walks) == 3 and agree >= AGREE):
            break  # walks from different slices agree: the others would not change the choice
    k, agreement = _medoid([w[1] for w in walks])
    how = "agreeing best with"
    if agreement < AGREE:
        k = _steadiest(walks)
        how = "the steadiest of"
    a, vol, ious, notes = walks[k]
    return vol, ious, notes + [f"walk from slice {a} ({len(ious)} slices; {how} the walks, mean Dice {agreement:.2f} with the "
                               f"{len(walks) - 1} walks from slices {', '.join(str(w[0]) for w in walks if w[0] != a)}; "
                               f"best box fit on slice {best_z}, {best_score:.2f})"]


def _steadiest(walks: list[tuple]) -> int:
    """Index of the walk to keep when the walks disagree: among those covering at least half
    as many slices as the longest, the best product of its agreement with the others (mean
    Dice) and its weakest slice's predicted IoU. A walk that went through a leak or onto
    other tissue has a poorly rated slice; one from a slice without the object (the padding
    of the box) agrees with no other."""
    masks = [w[1] for w in walks]
    longest = max(len(w[2]) for w in walks)
    ok = [i for i, w in enumerate(walks) if w[2] and 2 * len(w[2]) >= longest]
    sizes = [float(m.sum()) for m in masks]

    def score(i: int) -> float:
        d = [2.0 * float((masks[i] & masks[j]).sum()) / max(1.0, sizes[i] + sizes[j])
             for j in range(len(masks)) if j != i]
        return float(np.mean(d)) * min(walks[i][2].values())
    return max(ok, key=score)


def _medoid(masks: list[np.ndarray]) -> tuple[int, float]:
    """Index of the mask with the highest mean Dice to the others, and that mean.

    Walks from different start slices that agree are more likely the object than one that
    followed a leak or stopped early from a poor start: the medoid is a robust choice
    where the model's own confidence is not (it rates leaks highly)."""
    if len(masks) == 1:
        return 0, 1.0
    sizes = [float(m.sum()) for m in masks]
    best, best_mean = 0, -1.0
    for i, m in enumerate(masks):
        d = [2.0 * float((m & o).sum()) / max(1.0, sizes[i] + sizes[j]) for j, o in enumerate(masks) if j != i]
        if np.mean(d) > best_mean:
            best, best_mean = i, float(np.mean(d))
    return best, best_mean


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


def _clip_box(box: Box, shape: tuple[int, ...], name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The box clipped to the array, or BoxError when it has the wrong size or misses it."""
    lo, hi = tuple(box.min_voxel), tuple(box.max_voxel)
    if len(lo) != len(shape) or len(hi) != len(shape):
        raise BoxError(f"{name}: box {lo}-{hi} has {len(lo)} coordinates, the study has {len(shape)} axes "
                       f"(shape {shape})")
    if any(a > b for a, b in zip(lo, hi)):
        raise BoxError(f"{name}: box min {lo} exceeds max {hi}; give (min, max) per axis, inclusive")
    if any(b < 0 or a > s - 1 for a, b, s in zip(lo, hi, shape)):
        raise BoxError(f"{name}: box {lo}-{hi} lies outside the image (shape {shape})")
    lo_c = tuple(max(0, int(a)) for a in lo)
    hi_c = tuple(min(s - 1, int(b)) for b, s in zip(hi, shape))
    return lo_c, hi_c
