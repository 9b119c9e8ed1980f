"""Brain MRI segmentation with the brainchop MeshNet models, exact and fast.

``segment_brain(study, "model21_104class", regions=["Left-Hippocampus"])`` conforms the
T1 study to the model grid (``conform.py``), runs the network only on a region of
interest around the requested regions (``roi.py`` gives the prior; the ROI grows
until no requested region touches its border, so the labels are those of a full run),
and maps the labels back to the study grid by nearest neighbour. ``regions=None`` runs
the brain's box (every label; ``whole_volume=True`` computes all 256^3 voxels). Results
are cached per study (fingerprint), model, device and precision, so a second finding on
the same study costs nothing; :func:`prefetch_brain` starts an every-label run in the
background that yields to foreground requests.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...cache import Signature, StudyCache
from ...errors import ModelUnavailable
from ...progress import CancelFn, ProgressFn, report, sub_progress
from ...result import Box, ModelUse
from ...study.model import Study
from . import conform as bc
from .regions import incomplete_faces, label_names, postprocess, region_ids
from .roi import Box3, HeadFrame, brain_box, brain_frame, grow_box, prior_box

log = logging.getLogger(__name__)

DEFAULT_MODEL = "model21_104class"
_MAX_STUDIES = 3


@dataclass(frozen=True, eq=False)
class BrainSegmentation:
    """Labels of one brain model on the study grid.

    Attributes
    ----------
    labels : np.ndarray
        uint8 label ids on the study grid (array order of ``study.array``).
    names : dict[int, str]
        Label id -> name, from the model's ``colormap.json``.
    valid_box : Box or None
        Study-grid box (array indices, inclusive) where ``labels`` are exactly those of a
        whole-volume run; outside it they are 0 (not computed). With ``regions`` it holds
        the regions' ROI; without, the brain's box (grown until no label piece touches
        it). None: computed everywhere (``whole_volume=True``).
    model : ModelUse
        Model name, version, weights sha256, device, seconds and precision.
    notes : tuple of str
        What the user should know (ROI size, resampling, fallbacks).
    complete : tuple of int or None
        Label ids whose structure is whole: no piece of 8 voxels or more (and 0.5% of the
        region) touches a face of ``valid_box`` inside the volume; only isolated specks of
        such a label could lie outside. None: every label (``regions=None``).
    """

    labels: np.ndarray
    names: dict[int, str]
    valid_box: Box | None
    model: ModelUse
    notes: tuple[str, ...] = ()
    complete: tuple[int, ...] | None = None

    def label_id(self, name: str) -> int:
        """Id of a label name (case, spaces, '-' and '_' ignored)."""
        return region_ids(self.names, [name])[0]

    def mask(self, region: str | int) -> np.ndarray:
        """Boolean mask of one region (name or id) on the study grid."""
        rid = region if isinstance(region, (int, np.integer)) else self.label_id(region)
        return self.labels == rid


@dataclass
class _StudyEntry:
    """Per-study cache: the conformed volume, its brain frame, and results per
    (model, device, precision): ``full`` (every label) and ``rois`` (lists of region runs),
    each result ``(labels, box, complete ids, device, precision, notes, sha256)``."""

    conformed: bc.Conformed
    frame: HeadFrame
    full: dict = field(default_factory=dict)
    rois: dict = field(default_factory=dict)


_CACHE = StudyCache("brain", max_items=_MAX_STUDIES)
_CACHE_LOCK = threading.RLock()  # guards _INFLIGHT and each entry's ``full``/``rois`` tables
_INFLIGHT: dict[tuple, Future] = {}
_EXECUTOR: ThreadPoolExecutor | None = None


class _Activity:
    """Counts foreground runs; background runs wait between slabs while any is active."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._n = 0

    @contextmanager
    def foreground(self):
        with self._cv:
            self._n += 1
        try:
            yield
        finally:
            with self._cv:
                self._n -= 1
                self._cv.notify_all()

    def wait_idle(self) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self._n == 0)


_ACTIVITY = _Activity()


def segment_brain(study: Study, model: str = DEFAULT_MODEL, *, regions: Sequence[str | int] | None = None,
                  device: str = "auto", progress: ProgressFn = None, cancel: CancelFn = None,
                  precision: str | None = None, whole_volume: bool = False) -> BrainSegmentation:
    """Segment a T1 brain MRI with a brainchop MeshNet model (see the module docstring).

    Parameters
    ----------
    study : Study
        A 3D T1-weighted MRI of the head, any orientation and spacing.
    model : str
        ``model21_104class`` (104 regions), ``model30chan50cls``, ``subcortical``,
        ``model5_gw_ae`` (grey/white matter) or ``mindgrab`` (brain mask).
    regions : sequence of str or int, optional
        Label names (as in ``names``; case, '-', '_' and spaces ignored) or ids. Only an
        ROI around them is computed; they are guaranteed whole. None: every label.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see ``device.resolve_device``).
    precision : str, optional
        ``"fp32"`` or ``"fp16"``; default fp16 on CUDA, fp32 on the CPU.
    whole_volume : bool
        With ``regions=None``, compute every voxel of the 256^3 model grid instead of the
        brain's box (labels outside the box are background in practice; this proves it).

    Raises
    ------
    ModelUnavailable
        Unknown model, missing/corrupt weights, or a study that is not 3D.
    QueryError
        A region name the model does not have.
    """
    t0 = time.perf_counter()
    from ..device import default_precision, resolve_device
    from ..registry import get_manifest

    manifest = get_manifest(model)
    if manifest.backend != "meshnet":
        raise ModelUnavailable(f"model {model!r} is not a brain MeshNet model (backend {manifest.backend})")
    if study.ndim != 3:
        raise ModelUnavailable(f"{study.name}: the brain models need a 3D MRI volume; "
                               f"this study is {study.ndim}D")
    dev = resolve_device(device)
    prec = precision or default_precision(dev)
    names = label_names(model)
    ids = None if regions is None else region_ids(names, regions)
    key = (model, dev, prec)
    full = _wait_for_background(study, key, progress) if ids is None and not whole_volume else None
    with _ACTIVITY.foreground() if ids is not None else _nullcontext():
        entry = _entry(study)
        report(progress, 0.05, "brain MRI conformed to the model grid")
        labels, box, complete, used_dev, used_prec, notes, sha = full or _run(
            entry, model, key, ids, sub_progress(progress, 0.05, 0.95), cancel, whole=whole_volume)
    out = bc.labels_to_study(entry.conformed, labels, box)
    notes = list(notes) + _conform_notes(study, entry.conformed)
    valid = _study_box(entry.conformed, box, study.shape) if box is not None else None
    use = ModelUse(model, manifest.version, sha, used_dev, time.perf_counter() - t0, used_prec)
    report(progress, 1.0, f"{model}: labels on the study grid")
    return BrainSegmentation(out, names, valid, use, tuple(notes), complete)


def prefetch_brain(study: Study, model: str = DEFAULT_MODEL, *, device: str = "auto") -> Future:
    """Start an every-label run (``regions=None``) in the background; returns its Future.

    One background run at a time. It pauses between convolution slabs while a foreground
    :func:`segment_brain` call is busy, and stores its labels in the per-study cache, so a
    later finding on this study needs no model run at all.
    """
    from ..device import default_precision, resolve_device

    global _EXECUTOR
    dev = resolve_device(device)
    key = (model, dev, default_precision(dev))
    fkey = (study.fingerprint,) + key
    with _CACHE_LOCK:
        if fkey in _INFLIGHT:
            return _INFLIGHT[fkey]
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medground-brain")

        def job():
            try:
                entry = _entry(study)
                return _run(entry, model, key, None, None, None, pause=_ACTIVITY.wait_idle)
            finally:
                with _CACHE_LOCK:
                    _INFLIGHT.pop(fkey, None)

        fut = _EXECUTOR.submit(job)
        _INFLIGHT[fkey] = fut
    return fut


def warm_up(model: str = DEFAULT_MODEL, *, device: str = "auto") -> threading.Thread:
    """Import torch and load (and verify) the model's weights in a background thread.

    A command line can start it before reading the study, so that the ~1.5 s of torch
    import and weight loading overlap with file reading.
    """
    def job():
        try:
            from ..device import default_precision, resolve_device
            from .meshnet import get_runner

            dev = resolve_device(device)
            get_runner(model, dev, default_precision(dev))
        except Exception as exc:  # noqa: BLE001 - the foreground call reports real errors
            log.debug("warm-up of %s failed: %s", model, exc)

    t = threading.Thread(target=job, name="medground-warm-up", daemon=True)
    t.start()
    return t


def clear_brain_cache() -> None:
    """Forget cached conformed studies and labels (models stay loaded)."""
    _CACHE.clear()


# ----------------------------------------------------------------- internals
def _run(entry: _StudyEntry, model: str, key: tuple, ids: list[int] | None, progress: ProgressFn,
         cancel: CancelFn, pause=None, whole: bool = False):
    """Labels on the model grid: (labels, box or None, complete ids, device, precision, notes, sha).

    ``ids=None``: every label, computed on the brain's box (grown until no label piece
    touches it) or, with ``whole``, on the whole volume.
    """
    from .meshnet import get_runner, predict_with_fallback

    conf = entry.conformed
    shape = conf.volume.shape
    with _CACHE_LOCK:
        cached = entry.full.get(key)
        rois = list(entry.rois.get(key, []))
    if cached is not None and (not whole or cached[1] is None):
        return cached
    for result in rois:
        if ids is not None and set(ids) <= set(result[2]):
            return result
    runner, sha = get_runner(model, key[1], key[2])
    if whole:
        box = None
    elif ids is None:
        box = brain_box(entry.frame)
    else:
        box = prior_box(entry.frame, model, [label_names(model)[i] for i in ids]) or brain_box(entry.frame)
    notes: list[str] = []
    grown = 0
    while True:
        box = runner.effective_roi(shape, box)
        labels, dev, prec, run_notes = predict_with_fallback(
            model, key[1], key[2], conf.volume, box, transform=conf.network_input,
            progress=progress, cancel=cancel, pause=pause)
        notes += run_notes
        if _is_whole(box, shape):
            box = None
            break
        faces, absent = incomplete_faces(labels, box, shape, ids)
        brain = brain_box(entry.frame)
        if not faces and (not absent or _contains(box, brain)):
            break  # whole regions, or a region absent from the whole brain box
        grown += 1
        if absent:
            box = _union(box, brain)
        box = grow_box(box, faces, shape, everywhere=grown >= 3) if faces else box
    labels = postprocess(model, labels)
    labels.setflags(write=False)
    if box is not None:
        size = np.prod([h - l for l, h in zip(*box)])
        notes.append(f"computed a {'x'.join(str(h - l) for l, h in zip(*box))} voxel region "
                     f"({100 * size / np.prod(shape):.0f}% of the conformed volume)"
                     + (f" after growing it {grown} time(s)" if grown else ""))
    result = (labels, box, None if ids is None else tuple(sorted(ids)), dev, prec, tuple(notes), sha)
    with _CACHE_LOCK:
        if ids is None:
            entry.full[key] = result
        else:
            entry.rois.setdefault(key, []).append(result)
    return result


def _contains(outer: Box3, inner: Box3) -> bool:
    return all(a <= b for a, b in zip(outer[0], inner[0])) and all(a >= b for a, b in zip(outer[1], inner[1]))


def _union(a: Box3, b: Box3) -> Box3:
    return (tuple(min(x, y) for x, y in zip(a[0], b[0])),  # type: ignore[return-value]
            tuple(max(x, y) for x, y in zip(a[1], b[1])))


def _is_whole(box: Box3, shape) -> bool:
    return tuple(box[0]) == (0, 0, 0) and tuple(box[1]) == tuple(shape)


def _entry(study: Study) -> _StudyEntry:
    key = Signature(study.fingerprint, None, ("conformed",))
    entry = _CACHE.get(key)
    if entry is not None:
        return entry
    conf = bc.conform(study)
    entry = _StudyEntry(conf, brain_frame(conf.volume, conf.lut))
    return _CACHE.put(key, entry)


def _wait_for_background(study: Study, key: tuple, progress: ProgressFn):
    """If a background whole-volume run of this study and model is under way, wait for it."""
    with _CACHE_LOCK:
        fut = _INFLIGHT.get((study.fingerprint,) + key)
    if fut is None:
        return None
    report(progress, 0.05, "waiting for the background brain segmentation")
    return fut.result()


def _study_box(conf: bc.Conformed, box: Box3, shape) -> Box | None:
    b = bc.study_box(conf, box)
    return None if b is None else Box(tuple(b[0]), tuple(b[1]))


def _conform_notes(study: Study, conf: bc.Conformed) -> list[str]:
    notes = []
    if study.modality not in ("MR", "OT"):
        notes.append(f"the study's modality is {study.modality}: these models expect a T1-weighted MRI")
    if not conf.exact:
        sp = "x".join(f"{s:.2g}" for s in study.spacing_mm)
        notes.append(f"resampled from {sp} mm ({study.orientation}) to the 1 mm LIA model grid; "
                     "labels mapped back by nearest neighbour")
    return notes


@contextmanager
def _nullcontext():
    yield
