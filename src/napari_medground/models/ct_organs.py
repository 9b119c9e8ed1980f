"""CT organ segmentation: liver, spleen, left and right kidney, on any CT orientation.

``segment_organ(study, organ)`` returns the organ's mask on the study grid with a
confidence and the method in words for the reasoning panel. Three stages:

1. classical localisation (:mod:`ct_organs_locate`, :mod:`ct_organs_select`) on a
   coarse canonical grid (axes toward patient S, P, L found from the affine; patient
   left/right always from the affine in LPS, never from array position);
2. LiteMedSAM refinement on axial slices, prompted by the candidate's per-slice boxes
   (:mod:`ct_organs_refine`);
3. a cross-check: Dice between the two methods and the model's predicted IoU give the
   confidence. An organ that is not found gives ``mask=None``, confidence 0 and the reason.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..measure import dice
from ..progress import CancelFn, ProgressFn, check_cancel, report, sub_progress
from ..result import ModelUse
from .ct_organs_frame import Frame, Grid
from .ct_organs_locate import Abdomen, analyse_abdomen
from .ct_organs_select import find, organs

log = logging.getLogger(__name__)

_ABDOMEN_CACHE: OrderedDict[str, tuple[Frame, Grid, Abdomen, Any]] = OrderedDict()


@dataclass(frozen=True)
class OrganSegmentation:
    """One organ on the study grid.

    ``mask``: bool array of ``study.shape``, or None when the organ was not found.
    ``confidence``: 0..1 (0 when not found). ``method``: plain words for the reasoning
    panel. ``agreement``: Dice between the classical candidate and the final mask.
    ``volume_ml``: the mask's volume. ``notes``: what happened, in order.
    """

    organ: str
    mask: np.ndarray | None
    confidence: float
    method: str
    notes: tuple[str, ...] = ()
    models: list[ModelUse] = field(default_factory=list)
    agreement: float | None = None
    volume_ml: float = 0.0
    seconds: float = 0.0


def segment_organ(study: Any, organ: str, *, device: str = "auto", progress: ProgressFn = None,
                  cancel: CancelFn = None, refine: bool = True) -> OrganSegmentation:
    """Segment ``organ`` (a catalogue id with locator "ct.organ": "liver", "spleen",
    "kidney_left", "kidney_right", or its name "left kidney") on a CT volume.

    The plausible volume and length come from the catalogue entry
    (``resources/catalogue/ct.json``).

    ``refine=False`` skips LiteMedSAM (classical mask only, lower confidence).

    Raises
    ------
    ValueError
        Unknown organ name, or a study that is not a 3D CT.
    """
    t0 = time.perf_counter()
    entry = _entry(organ)
    if entry is None:
        raise ValueError(f"unknown organ {organ!r}; segment_organ knows {', '.join(organs())}")
    name = entry.id
    if study.array.ndim != 3 or str(study.modality).upper() != "CT":
        raise ValueError(f"{study.name}: organ segmentation needs a 3D CT, got a {study.array.ndim}D "
                         f"{study.modality} image")
    report(progress, 0.0, f"{name}: locating")
    frame, grid, ab, canon_study = _abdomen(study)
    check_cancel(cancel, "organ segmentation")
    cand = find(ab, name)
    notes = list(ab.notes)
    if cand.mask is None or not cand.mask.any():
        report(progress, 1.0, f"{name}: not found")
        return OrganSegmentation(organ=name, mask=None, confidence=0.0,
                                 method=f"{_method(name, False)}; not found: {cand.reason}",
                                 notes=tuple(notes + [f"not found: {cand.reason}"]),
                                 seconds=time.perf_counter() - t0)
    notes.append(f"candidate: {cand.reason}")
    classical = grid.up(cand.mask)
    report(progress, 0.1, f"{name}: candidate found")
    models: list[ModelUse] = []
    final, agreement, mean_iou = classical, None, None
    if refine:
        from .ct_organs_refine import refine as sam_refine

        keep_out = tuple(entry.locator_args.get("keep_out", ()))
        exclude = _neighbours(ab, grid, keep_out) if keep_out else None
        ref = sam_refine(canon_study, classical, exclude=exclude,
                         device=device,
                         progress=sub_progress(progress, 0.1, 0.95), cancel=cancel)
        final = ref.mask
        models.append(ref.model)
        notes += ref.notes
        agreement = dice(final, classical)
        mean_iou = float(np.mean(list(ref.slice_iou.values()))) if ref.slice_iou else None
    volume = float(final.sum()) * float(np.prod(frame.spacing_mm)) / 1000.0
    conf, why = _confidence(entry.plausibility, volume, agreement, mean_iou, ab.spine_found, final, refine,
                            frame.spacing_mm[0])
    notes += why
    report(progress, 1.0, f"{name}: {volume:.0f} mL")
    return OrganSegmentation(organ=name, mask=frame.to_study(final), confidence=conf,
                             method=_method(name, refine), notes=tuple(notes), models=models,
                             agreement=agreement, volume_ml=volume, seconds=time.perf_counter() - t0)


def _entry(organ: str):
    """The catalogue entry of an organ named by id ("kidney_left") or in words ("left kidney")."""
    from ..catalogue import get, structures

    words = organ.strip().lower().replace("_", " ").split()
    entry = get("_".join(words), "CT")
    if entry is None:
        entry = next((e for e in structures("CT") if e.name == " ".join(words)
                      or "_".join(reversed(words)) == e.id), None)
    return entry if entry is not None and entry.locator == "ct.organ" else None


def _neighbours(ab: Abdomen, grid: Grid, keep_out: tuple[str, ...]) -> np.ndarray:
    """Full-resolution canonical mask of the candidates of ``keep_out`` (kept out of the organ)."""
    out = np.zeros(ab.hu.shape, dtype=bool)
    for other in keep_out:
        c = find(ab, other)
        if c.mask is not None:
            out |= c.mask
    return grid.up(out)


def _abdomen(study: Any) -> tuple[Frame, Grid, Abdomen, Any]:
    """Frame, coarse grid, abdominal analysis and canonical Study, cached per study."""
    from ..study.model import Study

    key = study.fingerprint
    if key in _ABDOMEN_CACHE:
        _ABDOMEN_CACHE.move_to_end(key)
        return _ABDOMEN_CACHE[key]
    frame = Frame.from_affine(study.affine_lps)
    canon = np.ascontiguousarray(frame.to_canonical(study.array))
    grid = Grid.for_spacing(frame.spacing_mm, canon.shape)
    ab = analyse_abdomen(grid.down(canon), grid.coarse_spacing(frame.spacing_mm))
    canon_study = Study(array=canon, affine_lps=frame.canonical_affine(study.affine_lps, study.shape),
                        modality="CT", description=f"{study.name} (axial, canonical)")
    _ABDOMEN_CACHE[key] = (frame, grid, ab, canon_study)
    while len(_ABDOMEN_CACHE) > 2:
        _ABDOMEN_CACHE.popitem(last=False)
    return _ABDOMEN_CACHE[key]


def _confidence(plaus, volume: float, agreement: float | None, mean_iou: float | None,
                spine_found: bool, mask: np.ndarray, refined: bool,
                slice_mm: float) -> tuple[float, list[str]]:
    """0..1 from the cross-check, the model's IoU and plausibility; with the reasons."""
    why = []
    if refined and agreement is not None and mean_iou is not None:
        conf = 0.5 * agreement + 0.5 * mean_iou
        why.append(f"classical and LiteMedSAM agree (Dice {agreement:.2f}); mean predicted IoU {mean_iou:.2f}")
    else:
        conf = 0.6
        why.append("classical rules only (no LiteMedSAM cross-check)")
    lo, hi = plaus.volume_ml or (0.0, float("inf"))
    min_length = plaus.min_length_mm or 0.0
    touches = bool(mask[0].any() or mask[-1].any())
    if not lo <= volume <= hi and not (touches and volume < lo):
        conf *= 0.6
        why.append(f"volume {volume:.0f} mL is outside the usual {lo:.0f}-{hi:.0f} mL")
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    length = (zs[-1] - zs[0] + 1) * slice_mm if len(zs) else 0.0
    if touches:
        why.append("the organ reaches the edge of the scan: volume is partial")
    elif length < min_length:
        conf *= 0.5
        why.append(f"only {length:.0f} mm long head to foot (usually over {min_length:.0f} mm): "
                   "probably only part of the organ was found")
    if not spine_found:
        conf *= 0.7
    return float(np.clip(conf, 0.0, 1.0)), why


def _method(organ: str, refined: bool) -> str:
    text = (f"{organ.replace('_', ' ')}: located by density and position (homogeneous soft tissue, "
            "watershed against neighbouring structures, position relative to the spine)")
    if refined:
        text += "; outlined by LiteMedSAM on axial slices prompted with the located boxes; cross-checked"
    return text


def clear_cache() -> None:
    """Forget cached abdominal analyses (they are also evicted after two studies)."""
    _ABDOMEN_CACHE.clear()
