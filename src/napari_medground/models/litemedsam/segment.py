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
from ...progress import CancelFn, ProgressFn, check_cancel, report
from ...result import Box, ModelUse
from .infer import Session
from .propagate import Box2D, PropagationLimits, box_mask_2d, propagate
from .runtime import MODEL_NAME, load_model, resolve_window

log = logging.getLogger(__name__)

class BoxError(MedgroundError, ValueError):
    """A box prompt that does not fit the study (outside it, wrong dimension, inverted)."""


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
    agreement = _mean_dice_to_others([w[1] for w in walks])
    longest = max(len(w[2]) for w in walks)
    ok = [i for i, w in enumerate(walks) if w[2] and 2 * len(w[2]) >= longest]
    return max(ok, key=lambda i: agreement[i] * min(walks[i][2].values()))


def _medoid(masks: list[np.ndarray]) -> tuple[int, float]:
    """Index of the mask with the highest mean Dice to the others, and that mean.

    Walks from different start slices that agree are more likely the object than one that
    followed a leak or stopped early from a poor start: the medoid is a robust choice
    where the model's own confidence is not (it rates leaks highly)."""
    if len(masks) == 1:
        return 0, 1.0
    agreement = _mean_dice_to_others(masks)
    best = int(np.argmax(agreement))
    return best, agreement[best]


def _mean_dice_to_others(masks: list[np.ndarray]) -> list[float]:
    """Each mask's mean Dice with every other mask of the list."""
    sizes = [float(m.sum()) for m in masks]
    return [float(np.mean([2.0 * float((m & o).sum()) / max(1.0, sizes[i] + sizes[j])
                           for j, o in enumerate(masks) if j != i]))
            for i, m in enumerate(masks)]


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
