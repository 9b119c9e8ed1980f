"""Abdominal aorta and inferior vena cava: round blood-density tubes in front of the spine,
tracked slice by slice (canonical S, P, L view; patient left from the affine).

Per axial slice, inside a window placed from the spinal column (:mod:`.spine_column`),
blood-density voxels (unenhanced -20..120 HU, or enhanced 120..700 HU) give the
candidates: the centres of the largest discs of a vessel's calibre that fit in them
(maxima of the distance map), so a tube touching the crura, the psoas or bowel is still
seen as a disc. Each of the :data:`N_SEEDS` best-placed candidates seeds a track that
follows the nearest candidate up and down while the centre moves less than
:data:`MAX_STEP_MM` and the area stays within a factor of three; the track gathering the
most evidence is kept. The aorta is searched anterior-left of the vertebral body (from
the L4/L5 disc up: it divides at L4), the IVC anterior-right (from the sacroiliac
junction up). The centreline is the list of slice centres in patient LPS mm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .result import StructureResult, not_assessable
from .vertebrae import spine_levels

MAX_STEP_MM = 10.0
N_SEEDS = 12  # best-placed candidates tried as seeds; the longest, best-placed track is kept
BLOOD_WINDOWS = ((-20.0, 120.0), (120.0, 700.0))  # unenhanced, enhanced (HU)


@dataclass(frozen=True)
class VesselSpec:
    """Where and what to look for, relative to the column's anterior edge and midline (mm;
    x positive toward the patient's left, y positive toward posterior)."""

    name: str
    x_mm: tuple[float, float]
    y_mm: tuple[float, float]
    expect: tuple[float, float]  # expected centre (x, y)
    diameter_mm: tuple[float, float]
    min_roundness: float


SPECS = {
    "aorta": VesselSpec("aorta", (-10.0, 45.0), (-50.0, 2.0), (10.0, -15.0), (12.0, 40.0), 0.55),
    "inferior_vena_cava": VesselSpec("inferior_vena_cava", (-55.0, -3.0), (-55.0, 2.0), (-25.0, -20.0),
                                     (10.0, 40.0), 0.35),
}


def _candidates(hs_z, ant, cx, spec: VesselSpec, sp):
    """[(score, centre_yx, area_mm2, mask_2d)] of one slice."""
    from scipy import ndimage as ndi

    _, sy, sx = sp
    ny, nx = hs_z.shape
    y0, y1 = int(max(0, ant + spec.y_mm[0] / sy)), int(min(ny, ant + spec.y_mm[1] / sy + 1))
    x0, x1 = int(max(0, cx + spec.x_mm[0] / sx)), int(min(nx, cx + spec.x_mm[1] / sx + 1))
    if y1 <= y0 or x1 <= x0:
        return []
    out = []
    yy, xx = np.mgrid[0:ny, 0:nx]
    for lo, hi in BLOOD_WINDOWS:
        win = np.zeros(hs_z.shape, bool)
        win[y0:y1, x0:x1] = (hs_z[y0:y1, x0:x1] > lo) & (hs_z[y0:y1, x0:x1] < hi)
        if not win.any():
            continue
        edt = ndi.distance_transform_edt(win, sampling=(sy, sx))
        size = max(3, int(2 * round(0.5 * spec.diameter_mm[0] / min(sy, sx)) + 1))
        peaks = np.argwhere((edt == ndi.maximum_filter(edt, size=size)) & (edt >= 0.5 * spec.diameter_mm[0]))
        for py, px in peaks[np.argsort(-edt[tuple(peaks.T)])][:6]:
            r = float(edt[py, px])
            if 2.0 * r > spec.diameter_mm[1]:
                continue
            disk = (((yy - py) * sy) ** 2 + ((xx - px) * sx) ** 2 <= (r + 0.5 * max(sy, sx)) ** 2) & win
            area = float(disk.sum()) * sy * sx
            dist = np.hypot((px - cx) * sx - spec.expect[0], (py - ant) * sy - spec.expect[1])
            out.append((1.0 - dist / 30.0, (float(py), float(px)), area, disk))
    return out


def _track(hs, col, spec, sp, z_lo, z_hi):
    """Per-slice chosen masks {z: mask2d} following the best seed up and down."""
    zs = [z for z in range(z_lo, z_hi + 1) if np.isfinite(col.ant_y[z])]
    cands = {z: _candidates(hs[z], col.ant_y[z], col.cx[z], spec, sp) for z in zs}
    seeds = sorted(((c[0], z, k) for z in zs for k, c in enumerate(cands[z])), reverse=True)
    best: dict = {}
    for _, z0, k in seeds[:N_SEEDS]:  # the seed whose track gathers the most evidence wins
        track = _follow(cands, z0, cands[z0][k], sp)
        if sum(c[0] + 1.0 for c in track.values()) > sum(c[0] + 1.0 for c in best.values()):
            best = track
    return best


def _follow(cands, z0, seed, sp):
    chosen = {z0: seed}
    for step in (1, -1):
        prev, z = seed, z0 + step
        while z in cands:
            near = [c for c in cands[z] if np.hypot((c[1][0] - prev[1][0]) * sp[1], (c[1][1] - prev[1][1]) * sp[2])
                    <= MAX_STEP_MM and 1.0 / 3.0 <= c[2] / prev[2] <= 3.0]
            if not near:
                break
            prev = min(near, key=lambda c: np.hypot(c[1][0] - prev[1][0], c[1][1] - prev[1][1]))
            chosen[z] = prev
            z += step
    return chosen


def locate_vessel(study, name: str, segment: str | None = None) -> StructureResult:
    """The abdominal aorta or the IVC ("aorta", "inferior_vena_cava") on the study grid.

    ``segment="thoracic"`` (aorta only): the descending thoracic aorta, the tracked tube
    above the aortic hiatus (taken at the middle of T12, counted from the sacrum); the arch
    and the ascending aorta are not tracked, so the answer says it is the descending part.
    """
    if segment == "thoracic":
        return _thoracic(study, locate_vessel(study, name))
    spec = SPECS[name]
    method = (f"blood-density round tube {'anterior-left' if name == 'aorta' else 'anterior-right'} "
              "of the vertebral bodies, tracked slice by slice from the spinal column")
    lv = spine_levels(study)
    col = lv.column
    if col is None:
        return not_assessable(name, "no spinal column in the field of view to place the search", method)
    z_lo, z_hi = col.z_range
    if lv.sacrum_top_z is not None:
        z_lo = max(z_lo, lv.sacrum_top_z)  # below the sacral promontory the vessels are iliac
    if name == "aorta" and "L5" in lv.names:
        z_lo = max(z_lo, lv.bounds[lv.names.index("L5")][1])  # the aorta divides at L4 (L3-L5)
    chosen = _track(lv.hu_s, col, spec, lv.frame.spacing, z_lo, z_hi)
    sz = lv.frame.spacing[0]
    if len(chosen) * sz < 30.0:
        return not_assessable(name, f"no {spec.name.replace('_', ' ')} tube over 30 mm found in front of the spine",
                              method)
    canon = np.zeros(lv.hu_s.shape, bool)
    for z, c in chosen.items():
        canon[z] = c[3]
    mask = lv.frame.to_study(canon)
    zs = sorted(chosen)
    cut = zs[0] == 0 or zs[-1] == canon.shape[0] - 1
    notes_extra = ()
    if cut and zs[0] > 0 and "T12" in lv.names and (name != "aorta" or "L4" in lv.names):
        # the abdominal segment (from the T12 hiatus down) is complete; only the thoracic part is out
        cut = False
        notes_extra = ("abdominal segment complete from T12 down; the thoracic part is outside the field of view",)
    line = _centreline_lps(lv.frame, chosen)
    diam = [2.0 * np.sqrt(c[2] / np.pi) for c in chosen.values()]
    notes = (f"tracked over {len(zs) * sz:.0f} mm, calibre {min(diam):.0f}-{max(diam):.0f} mm",) + notes_extra
    status, reason = ("uncertain", "partial: cut by the field of view") if cut else ("present", "")
    return StructureResult(name=name, mask=mask, confidence=0.5 if cut else 0.7, method=method, status=status,
                           reason=reason, cut_by_fov=cut, notes=notes,
                           extra={"centreline_lps_mm": line, "max_diameter_mm": round(max(diam), 1)})


THORACIC_NAME = "thoracic_aorta"
_THORACIC_METHOD = "; the thoracic part is the tube above the aortic hiatus (mid T12, counted from the sacrum)"


def _thoracic(study, aorta: StructureResult) -> StructureResult:
    """The part of a located aorta above the middle of T12 (see :func:`locate_vessel`)."""
    method = aorta.method + _THORACIC_METHOD
    if aorta.mask is None:
        return not_assessable(THORACIC_NAME, aorta.reason, method)
    lv = spine_levels(study)
    if "T12" not in lv.names:
        return not_assessable(THORACIC_NAME, "the aortic hiatus level (T12) is not counted in this scan ("
                              + "; ".join(lv.notes) + ")", method)
    lo, hi = lv.bounds[lv.names.index("T12")]
    hiatus = 0.5 * (lo + hi)
    canon = lv.frame.to_canonical(aorta.mask)
    canon[: int(np.ceil(hiatus))] = False
    zs = np.flatnonzero(canon.any(axis=(1, 2)))
    if zs.size * lv.frame.spacing[0] < 10.0:
        return not_assessable(THORACIC_NAME, "the aorta tracked along the spine does not reach above the "
                              "aortic hiatus (mid T12) in this field of view", method)
    cut = bool(zs[-1] >= canon.shape[0] - 1)
    line = [p for p in aorta.extra.get("centreline_lps_mm", []) if _canon_z(lv.frame, p) >= hiatus]
    length = zs.size * lv.frame.spacing[0]
    reason = "descending thoracic aorta only (the arch and the ascending aorta are not located)"
    if cut:
        reason = f"partial: cut by the top of the field of view ({length:.0f} mm above the hiatus); " + reason
    notes = aorta.notes + (f"thoracic part: {length:.0f} mm above the aortic hiatus (mid T12)",)
    return StructureResult(name=THORACIC_NAME, mask=lv.frame.to_study(canon), confidence=0.5, method=method,
                           status="uncertain", reason=reason, cut_by_fov=cut, notes=notes,
                           extra={"centreline_lps_mm": line, "segment": "descending thoracic"})


def _canon_z(frame, p_lps) -> float:
    """Canonical slice (axis 0, toward S) of one LPS point (mm)."""
    idx = np.linalg.solve(frame.affine3, np.append(np.asarray(p_lps, float), 1.0))[:3]
    ax, f = frame.perm[0], frame.flip[0]
    return float(frame.shape3[ax] - 1 - idx[ax] if f else idx[ax])


def _centreline_lps(frame, chosen) -> list[list[float]]:
    pts = []
    for z in sorted(chosen):
        cy, cx = chosen[z][1]
        canon_idx = np.array([z, cy, cx], float)
        idx = np.empty(3)
        for k, (ax, f) in enumerate(zip(frame.perm, frame.flip)):
            idx[ax] = frame.shape3[ax] - 1 - canon_idx[k] if f else canon_idx[k]
        pts.append([round(float(v), 2) for v in (frame.affine3 @ np.append(idx, 1.0))[:3]])
    return pts
