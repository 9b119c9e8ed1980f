"""Vertebrae T12-L5 and the sacrum, each at its level counted from a landmark.

The level is never guessed from height in the scan: the sacrum is identified by its
junction with the iliac bones (:func:`.spine_column.sacral_slices`), and the discs are
counted up the column from it (L5 is the vertebra above the lumbosacral junction, then
L4, L3, ...). When the sacrum is not in the field of view the levels are
``not_assessable`` and say so. A vertebra whose disc-to-disc height is implausible stops
the count (levels above it are not assigned).

Masks: the column's bone (cortex above :data:`.spine_column.BONE_HU`, closed and
filled per axial slice so the trabecular bone is inside, the spinal canal left out by
HU) within :data:`LATERAL_MM` of the centreline, split between levels by a watershed on
the inverted HU from seeds inside each vertebral body (the low-density discs and facet
joints become the borders, so the posterior elements follow their own body).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ....cache import Signature, StudyCache
from ..geometry import Frame, body_mask_canonical, disk_mm, make_frame, midline_x, smooth_mm
from .result import StructureResult, not_assessable
from .spine_column import (BONE_HU, Column, core_box, disc_score, find_column, find_discs,
                           sacral_slices, sacrum_top)

log = logging.getLogger(__name__)

LEVELS = ("L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10")  # counted upward from the sacrum
LATERAL_MM = 45.0  # transverse processes reach about this far from the midline
TRABECULAR_HU = 100.0  # smoothed trabecular bone of adults is above this; muscle and discs below
CANAL_HU = 70.0  # filled pixels below this inside the ring are the canal (CSF, cord, fat)
VERTEBRA_HEIGHT_MM = (18.0, 55.0)  # disc-to-disc distance of an adult T10-L5 vertebra
_METHOD = ("bone by HU, spinal column as the long midline bone, discs as low-density valleys "
           "between the endplates, sacrum by its junction with the iliac bones, levels counted "
           "up from the sacrum; masks split between levels by a watershed from each body")


@dataclass(frozen=True, eq=False)
class SpineLevels:
    """Every vertebra found in one study: ``labels`` canonical int array (0 background,
    ``i + 1`` for ``names[i]``), ``cut`` whether each touches the scan's top or bottom,
    ``reason`` when levels could not be counted."""

    frame: Frame
    names: tuple[str, ...]
    labels: np.ndarray | None
    cut: tuple[bool, ...]
    reason: str
    notes: tuple[str, ...]
    column: Column | None = None
    hu_s: np.ndarray | None = None  # canonical HU smoothed by 1 mm (shared with other locators)
    body: np.ndarray | None = None
    sacrum_top_z: int | None = None
    bounds: tuple[tuple[int, int], ...] = ()  # canonical (z_lo, z_hi) per name, disc to disc


_CACHE = StudyCache("ct_vertebrae", max_items=1)


def spine_levels(study) -> SpineLevels:
    """Locate and number the vertebrae of a CT study (cached per study content)."""
    return _CACHE.get_or_compute(Signature(study.fingerprint, None, ("spine_levels",)),
                                 lambda: _spine_levels(study))


def _spine_levels(study) -> SpineLevels:
    frame = make_frame(study)
    sp = frame.spacing
    hu = frame.to_canonical(np.asarray(study.array)).astype(np.float32)
    hu_s = smooth_mm(hu, sp, 1.0)
    body = body_mask_canonical(hu, sp)
    col = find_column(hu_s, body, sp, midline_x(hu, body, sp))
    ctx = {"hu_s": hu_s, "body": body}
    if col is None:
        return SpineLevels(frame, (), None, (), "no spinal column in the field of view", (), **ctx)
    discs = find_discs(col, sp)
    notes = [f"discs at {', '.join(f'{z * sp[0]:.0f}' for z, _ in discs)} mm up the scan"]
    top = sacrum_top(sacral_slices(hu_s, body, col, sp), col, sp)
    if top is None:
        return SpineLevels(frame, (), None, (), "the sacrum (junction of the spine with the iliac "
                           "bones) is not in the field of view, so the vertebral levels cannot be "
                           "counted", tuple(notes), column=col, **ctx)
    notes.append(f"sacrum top (sacroiliac junction) at {top * sp[0]:.0f} mm")
    bounds = _level_bounds(top, discs, disc_score(col, sp), col, sp, notes)
    labels = _split_levels(hu_s, col, bounds, top, sp)
    names = ("sacrum",) + tuple(LEVELS[: len(bounds) - 1])
    nz = hu.shape[0]
    cut = tuple(bool((labels[0] == i + 1).any() or (labels[nz - 1] == i + 1).any()) for i in range(len(names)))
    return SpineLevels(frame, names, labels, cut, "", tuple(notes), column=col, sacrum_top_z=top,
                       bounds=tuple(bounds), **ctx)


def _level_bounds(top: int, discs, score, col: Column, sp, notes: list) -> list[tuple[int, int]]:
    """(z_lo, z_hi) canonical bounds: the sacrum first, then one per level upward.

    The lumbosacral disc is the strongest disc evidence within 15 mm above the top of the
    sacroiliac junction (the junction ends inside S1, below its upper endplate)."""
    sz = sp[0]
    window = np.arange(top + 1, min(score.size, top + int(round(15.0 / sz)) + 1))
    good = window[score[window] > 0] if window.size else window
    lumbosacral = int(good[np.argmax(score[good])]) if good.size else top + 1
    z_lo_col, z_hi_col = col.z_range
    bounds = [(z_lo_col, lumbosacral)]
    prev = lumbosacral
    for z in [d for d, _ in discs if (d - lumbosacral) * sz >= VERTEBRA_HEIGHT_MM[0]]:
        h = (z - prev) * sz
        if not VERTEBRA_HEIGHT_MM[0] <= h <= VERTEBRA_HEIGHT_MM[1]:
            notes.append(f"vertebra above {prev * sz:.0f} mm is {h:.0f} mm high (implausible): "
                         "the count stops there")
            return bounds
        bounds.append((prev, z))
        prev = z
        if len(bounds) > len(LEVELS):
            return bounds
    if (z_hi_col - prev) * sz >= 0.4 * VERTEBRA_HEIGHT_MM[0] and (z_hi_col - prev) * sz <= VERTEBRA_HEIGHT_MM[1]:
        bounds.append((prev, z_hi_col + 1))  # the top vertebra, cut by the field of view
    return bounds


def _solid_column(hu_s: np.ndarray, col: Column, sp) -> np.ndarray:
    from scipy import ndimage as ndi

    nz, ny, nx = hu_s.shape
    xs = np.arange(nx)
    solid = np.zeros(hu_s.shape, bool)
    disk = disk_mm(2.0, sp[1:])
    for z in np.flatnonzero(np.isfinite(col.ant_y)):
        near = (np.abs(xs - col.cx[z]) * sp[2] < LATERAL_MM)[None, :]
        bone = ((hu_s[z] > BONE_HU) | (hu_s[z] > TRABECULAR_HU)) & near
        bone[: int(max(0, col.ant_y[z] - 5.0 / sp[1]))] = False
        filled = ndi.binary_fill_holes(ndi.binary_closing(bone, structure=disk) | bone)
        solid[z] = filled & (hu_s[z] > CANAL_HU)
    lab, _ = ndi.label(solid)
    keep = np.unique(lab[col.core & solid])
    return np.isin(lab, keep[keep > 0])


def _split_levels(hu_s, col: Column, bounds, top: int, sp) -> np.ndarray:
    """Watershed of the solid column from one seed per level (canonical int labels); the
    sacrum's seed is all of its bone up to the top of the sacroiliac junction ``top``."""
    from skimage.segmentation import watershed

    solid = _solid_column(hu_s, col, sp)
    markers = np.zeros(hu_s.shape, np.int32)
    margin = max(1, int(round(3.0 / sp[0])))
    lo0, hi0 = bounds[0]
    markers[: max(0, min(hi0 - 2 * margin, top)) + 1][solid[: max(0, min(hi0 - 2 * margin, top)) + 1]] = 1
    for i, (lo, hi) in enumerate(bounds):
        zs = range(max(lo + (margin if i else 0), 0), min(hi - margin + 1, hu_s.shape[0]))
        for z in zs:
            if np.isfinite(col.ant_y[z]):
                ys, xs = core_box(hu_s.shape[1:], col.ant_y[z], col.cx[z], sp)
                markers[z, ys, xs] = np.where(solid[z, ys, xs], i + 1, 0)
    return watershed(np.zeros(hu_s.shape, np.float32), markers=markers, mask=solid).astype(np.int16)


def locate_vertebra(study, level: str) -> StructureResult:
    """One vertebra ("L1".."L5", "T12", "sacrum") on the study grid, at its counted level."""
    key = level.strip().upper().replace("VERTEBRAE_", "").replace("VERTEBRA ", "")
    name = "sacrum" if key == "SACRUM" else f"vertebrae_{key}"
    lv = spine_levels(study)
    if lv.labels is None:
        return not_assessable(name, lv.reason, _METHOD)
    want = "sacrum" if key == "SACRUM" else key
    if want not in lv.names:
        return not_assessable(name, f"{want} was not reached counting up from the sacrum "
                              f"(found {', '.join(lv.names)}); " + "; ".join(lv.notes), _METHOD)
    i = lv.names.index(want)
    mask = lv.frame.to_study(lv.labels == i + 1)
    vol_ml = float(mask.sum()) * float(np.prod(lv.frame.spacing)) / 1000.0
    status, reason, conf = "present", "", 0.8
    if lv.cut[i]:
        status, reason, conf = "uncertain", "partial: cut by the field of view", 0.5
    elif not (10.0 <= vol_ml <= 150.0) and want != "sacrum":
        status, reason, conf = "uncertain", f"volume {vol_ml:.0f} mL outside 10-150 mL", 0.4
    return StructureResult(name=name, mask=mask, confidence=conf, method=_METHOD, status=status,
                           reason=reason, cut_by_fov=lv.cut[i], notes=lv.notes,
                           extra={"level_landmark": "counted up from the sacrum",
                                  "volume_ml": round(vol_ml, 1)})


BODY_MARGIN_MM = 1.0  # the posterior cortex of the body lies this far in front of the canal
BODY_FRACTION = (0.35, 0.9)  # share of an adult lumbar vertebra's volume that is its body


def locate_vertebral_body(study, level: str) -> StructureResult:
    """The body of one vertebra ("L1".."L5", "T12"): the vertebra at its counted level
    (:func:`locate_vertebra`) with the spinal canal and the posterior elements removed per
    axial slice (:func:`napari_medground.measure.ct_quant.body_only`). Uncertain when the
    canal is closed by bone on too few slices to place the cut, or when the body's share
    of the vertebra is implausible."""
    from ....measure.ct_quant import body_cut_rows, body_only

    key = level.strip().upper().replace("VERTEBRAL_BODY_", "")
    name = f"vertebral_body_{key}"
    whole = locate_vertebra(study, key)
    if whole.mask is None:
        return not_assessable(name, whole.reason, _METHOD_BODY)
    lv = spine_levels(study)
    vert = lv.labels == lv.names.index(key) + 1
    sp = lv.frame.spacing
    cuts = body_cut_rows(vert, sp, BODY_MARGIN_MM)
    closed = sum(c is not None for c in cuts.values()) / max(len(cuts), 1)
    body = body_only(vert, sp, BODY_MARGIN_MM)
    share = float(body.sum()) / max(float(vert.sum()), 1.0)
    vol_ml = float(body.sum()) * float(np.prod(sp)) / 1000.0
    status, reason, conf = whole.status, whole.reason, whole.confidence
    if status == "present" and closed < 0.3:
        status, reason, conf = "uncertain", (f"the spinal canal is closed by bone on {closed:.0%} of the "
                                             f"{key} slices: the body may include posterior elements"), 0.45
    elif status == "present" and not BODY_FRACTION[0] <= share <= BODY_FRACTION[1]:
        status, reason, conf = "uncertain", (f"the body is {share:.0%} of the {key} vertebra "
                                             f"(expected {BODY_FRACTION[0]:.0%}-{BODY_FRACTION[1]:.0%})"), 0.45
    notes = whole.notes + (f"vertebral body = {share:.0%} of the {key} vertebra; canal closed on "
                           f"{closed:.0%} of its slices",)
    return StructureResult(name=name, mask=lv.frame.to_study(body), confidence=conf, method=_METHOD_BODY,
                           status=status, reason=reason, cut_by_fov=whole.cut_by_fov, notes=notes,
                           extra={**whole.extra, "volume_ml": round(vol_ml, 1), "body_share": round(share, 3)})


_METHOD_BODY = _METHOD + "; the body is the vertebra in front of the spinal canal (posterior elements removed)"
