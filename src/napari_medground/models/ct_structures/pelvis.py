"""Urinary bladder: the fluid-density (urine) body in the anterior midline of the pelvis.

Canonical (S, P, L) view. The pelvis is placed from the spine: slices below the top of
the sacroiliac junction plus :data:`ABOVE_SACRUM_MM` (a full bladder rises above the pelvic
brim). Urine-density voxels (:data:`URINE_HU`) inside the body, in front of the sacrum and
within :data:`MIDLINE_MM` of the midline, are opened by a :data:`OPEN_MM` ball to cut the
bladder from fluid-filled bowel; the largest opened component whose centre lies within
:data:`CENTRE_MM` of the midline is the bladder, grown back within the urine window.
Excreted contrast (bright urine) is not handled: such a bladder is reported not found.
"""
from __future__ import annotations

import numpy as np

from .morph import dilate_mm, open_mm
from .result import StructureResult, not_assessable
from .vertebrae import spine_levels

URINE_HU = (-30.0, 50.0)  # urine ~0-20 HU; smoothed edges and noise widen it
ABOVE_SACRUM_MM = 60.0
MIDLINE_MM = 80.0
CENTRE_MM = 35.0
OPEN_MM = 8.0  # a bladder is wider than 16 mm; bowel loops touching it are cut off
VOLUME_ML = (15.0, 1500.0)
_METHOD = ("urine-density body (-30..50 HU) in the anterior midline of the pelvis, below the "
           "sacroiliac junction, cut from bowel by an 8 mm opening")


def locate_bladder(study) -> StructureResult:
    """The urinary bladder on the study grid (see the module docstring)."""
    from scipy import ndimage as ndi

    name = "urinary_bladder"
    lv = spine_levels(study)
    if lv.column is None or lv.sacrum_top_z is None:
        return not_assessable(name, "the pelvis (sacrum and iliac bones) is not in the field of view", _METHOD)
    sp, hs, col = lv.frame.spacing, lv.hu_s, lv.column
    z_hi = min(hs.shape[0], lv.sacrum_top_z + int(round(ABOVE_SACRUM_MM / sp[0])) + 1)
    mid = float(np.nanmedian(col.cx))
    xs = np.abs(np.arange(hs.shape[2]) - mid) * sp[2]
    fluid = np.zeros(hs.shape, bool)
    fluid[:z_hi] = (hs[:z_hi] > URINE_HU[0]) & (hs[:z_hi] < URINE_HU[1]) & lv.body[:z_hi]
    fluid &= (xs < MIDLINE_MM)[None, None, :]
    known = np.flatnonzero(np.isfinite(col.ant_y))
    for z in range(z_hi):  # in front of the sacrum / lumbar column (nearest known slice below it)
        fluid[z, int(col.ant_y[known[np.argmin(np.abs(known - z))]]):, :] = False
    lab, n = ndi.label(open_mm(fluid, OPEN_MM, sp))
    if n == 0:
        return not_assessable(name, "no urine-density body in the pelvis (empty bladder, or excreted contrast)",
                              _METHOD)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    coms = ndi.center_of_mass(np.ones_like(lab), lab, range(1, n + 1))
    vox_ml = float(np.prod(sp)) / 1000.0
    best = 0
    for i in np.argsort(-sizes):
        if i == 0 or sizes[i] == 0:
            break
        if abs(coms[i - 1][2] - mid) * sp[2] <= CENTRE_MM:
            best = int(i)
            break
    if not best:
        return not_assessable(name, "no midline urine-density body in the pelvis", _METHOD)
    canon = dilate_mm(lab == best, OPEN_MM, sp) & fluid
    vol = float(canon.sum()) * vox_ml
    areas = canon.sum(axis=(1, 2))
    cut = bool(areas[0] > 0.25 * areas.max())  # a sliver on the first slice is not a cut bladder
    status, reason, conf = "present", "", 0.75
    if not VOLUME_ML[0] <= vol <= VOLUME_ML[1]:
        status, reason, conf = "uncertain", f"volume {vol:.0f} mL outside {VOLUME_ML[0]:.0f}-{VOLUME_ML[1]:.0f} mL", 0.4
    elif cut:
        status, reason, conf = "uncertain", "partial: cut by the field of view", 0.5
    return StructureResult(name=name, mask=lv.frame.to_study(canon), confidence=conf, method=_METHOD,
                           status=status, reason=reason, cut_by_fov=cut,
                           notes=(f"volume {vol:.0f} mL",), extra={"volume_ml": round(vol, 1)})
