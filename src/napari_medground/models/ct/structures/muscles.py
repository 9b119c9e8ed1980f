"""Psoas (iliopsoas) muscles: muscle density beside the lumbar vertebral bodies, followed
into the pelvis (canonical S, P, L view; patient left/right from the affine).

Seeds: muscle-density voxels (:data:`MUSCLE_HU`) beside each lumbar vertebral body (L1-L5
from :mod:`.vertebrae`), lateral to the body and in front of the transverse processes.
The muscle is the seeded component of the muscle-density voxels on that side after an
in-plane opening by :data:`OPEN_MM` (which cuts thin fat-and-fascia bridges), propagated
slice by slice up to L1 and down into the pelvis, each slice kept near the previous one
(:func:`_propagate`) so that it cannot jump into the back muscles, the quadratus lumborum
or the abdominal wall it touches; kept in front of the column's anterior edge +
:data:`BEHIND_MM`.
"""
from __future__ import annotations

import numpy as np

from .morph import dilate_mm
from .pelvis import locate_bladder
from .result import StructureResult, not_assessable
from .vertebrae import spine_levels

MUSCLE_HU = (5.0, 110.0)
OPEN_MM = 3.0
GROW_MM = 3.0  # a muscle's outline moves at most this (+ 1.5 slice thicknesses) between slices
SEED_X_MM = (18.0, 55.0)  # lateral distance of the seed from the midline
SEED_Y_MM = (-15.0, 30.0)  # seed depth relative to the vertebral body's anterior edge
BEHIND_MM = 45.0
PELVIS_IN_VIEW_MM = 60.0  # the scan reaches this far below the sacroiliac junction: pelvic course in view
_METHOD = ("muscle density (5..110 HU) beside the lumbar vertebral bodies (levels counted "
           "from the sacrum), followed as one opened component into the pelvis")


def locate_psoas(study, side: str) -> StructureResult:
    """The left or right iliopsoas on the study grid (``side`` "left"/"right")."""
    from scipy import ndimage as ndi

    name = f"iliopsoas_{side}"
    lv = spine_levels(study)
    lumbar = [n for n in ("L1", "L2", "L3", "L4", "L5") if n in lv.names]
    if lv.column is None or len(lumbar) < 3:
        return not_assessable(name, "the lumbar vertebrae are not located (they place the psoas): "
                              + (lv.reason or "fewer than three lumbar levels"), _METHOD)
    sp, hs, col = lv.frame.spacing, lv.hu_s, lv.column
    sign = 1.0 if side == "left" else -1.0  # canonical x grows toward the patient's left
    z_top = lv.bounds[lv.names.index(lumbar[0])][1]  # upper disc of the highest lumbar level found
    z_l5 = lv.bounds[lv.names.index(lumbar[-1])]
    muscle = (hs > MUSCLE_HU[0]) & (hs < MUSCLE_HU[1]) & lv.body
    bladder = locate_bladder(study)  # urine overlaps the muscle window: keep it out
    if bladder.mask is not None:
        from scipy import ndimage as ndi

        muscle &= ~dilate_mm(lv.frame.to_canonical(bladder.mask), 3.0, sp)
    muscle[z_top + 1:] = False
    xs = np.arange(hs.shape[2])
    seeds = np.zeros(hs.shape, bool)
    known = np.flatnonzero(np.isfinite(col.ant_y))
    for z in range(hs.shape[0]):
        k = known[np.argmin(np.abs(known - z))]
        ant, cx = col.ant_y[k], col.cx[k]
        dx = sign * (xs - cx) * sp[2]
        muscle[z, int(min(hs.shape[1], ant + BEHIND_MM / sp[1])):, :] = False
        muscle[z][:, dx < 3.0] = False  # its own side of the midline
        if z_l5[0] <= z <= z_top and np.isfinite(col.ant_y[z]):
            ys = (np.arange(hs.shape[1]) - ant) * sp[1]
            box = ((ys >= SEED_Y_MM[0]) & (ys <= SEED_Y_MM[1]))[:, None] & ((dx >= SEED_X_MM[0]) & (dx <= SEED_X_MM[1]))[None, :]
            seeds[z] = box
    canon = _propagate(muscle, seeds, z_l5, z_top, sp)
    if canon is None:
        return not_assessable(name, "no muscle-density tissue beside the lumbar vertebrae", _METHOD)
    vol = float(canon.sum()) * float(np.prod(sp)) / 1000.0
    areas = canon.sum(axis=(1, 2))
    cut = bool(areas[-1] > 0) or (bool(areas[0] > 0.25 * areas.max()) and lv.sacrum_top_z is not None
                                   and lv.sacrum_top_z * sp[0] < PELVIS_IN_VIEW_MM)
    notes = (f"volume {vol:.0f} mL",)
    if areas[0] > 0 and not cut:
        notes += ("the pelvis is in view; the distal tendon to the lesser trochanter may lie below the scan",)
    status, reason, conf = "present", "", 0.65
    if not 40.0 <= vol <= 1200.0:
        status, reason, conf = "uncertain", f"volume {vol:.0f} mL outside 40-1200 mL", 0.35
    elif cut:
        status, reason, conf = "uncertain", "partial: cut by the field of view", 0.45
    return StructureResult(name=name, mask=lv.frame.to_study(canon), confidence=conf, method=_METHOD,
                           status=status, reason=reason, cut_by_fov=cut, notes=notes,
                           extra={"volume_ml": round(vol, 1)})


def _propagate(muscle: np.ndarray, seeds: np.ndarray, z_l5, z_top: int, sp) -> np.ndarray | None:
    """Slice-to-slice propagation from the seeded component at mid-lumbar level: each slice
    keeps the opened muscle components that overlap the previous slice's mask, within
    :data:`GROW_MM` + 1.5 slice thicknesses of it (so the muscle cannot jump into a
    neighbour it touches), and stops when little overlaps."""
    from scipy import ndimage as ndi

    from ..geometry import disk_mm

    disk = disk_mm(OPEN_MM, sp[1:])
    zs = [z for z in range(z_l5[0], z_top + 1) if seeds[z].any()]
    if not zs:
        return None
    z0 = zs[len(zs) // 2]
    out = np.zeros_like(muscle)
    grow = disk_mm(GROW_MM + 1.5 * sp[0], sp[1:])
    # each slice is worked on a window around the previous mask: what lies farther than the
    # growth radius cannot be kept, and the margin keeps the opening exact inside it
    margin = grow.shape[0] // 2 + 2 * disk.shape[0] + 2

    def comps(z, around):
        ys, xs = np.nonzero(around)
        win = (slice(max(0, ys.min() - margin), ys.max() + margin + 1),
               slice(max(0, xs.min() - margin), xs.max() + margin + 1))
        lab, n = ndi.label(ndi.binary_opening(muscle[z][win], structure=disk))
        return win, lab, n

    win, lab, n = comps(z0, seeds[z0])
    hits = np.bincount(lab[seeds[z0][win]], minlength=n + 1)
    hits[0] = 0
    if hits.max() == 0:
        return None
    out[z0][win] = lab == int(np.argmax(hits))
    for step, end in ((1, z_top), (-1, 0)):
        prev, z = out[z0], z0 + step
        while (z <= end if step > 0 else z >= end):
            win, lab, n = comps(z, prev)
            p_win = prev[win]
            near = ndi.binary_dilation(p_win, structure=grow)
            ov = np.bincount(lab[p_win], minlength=n + 1)
            ov[0] = 0
            keep = np.flatnonzero(ov >= 0.2 * max(1, ov.sum()))
            cur_win = np.isin(lab, keep) & near if keep.size else np.zeros_like(p_win)
            if cur_win.sum() < 0.3 * prev.sum():
                break
            out[z][win] = cur_win
            prev, z = out[z], z + step
    return out
