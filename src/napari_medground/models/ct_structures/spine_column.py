"""The spinal column of a CT and its landmarks, in the canonical (S, P, L) view.

Steps (all sizes in mm, so the same rule works from 0.5 to 5 mm voxels):

1. bone = smoothed HU above :data:`BONE_HU` inside the body; the column is the bone in a
   midline slab (the body's midline from :func:`..ct_anatomy_body.midline_x`) that is
   connected over the longest craniocaudal extent once gaps of a disc's height are
   bridged (the pubic symphysis and the sternum are short, the spine is long);
2. the anterior edge of the column and its left-right centre, per axial slice, smoothed by
   a running median over +/- 10 mm, give the centreline of the vertebral bodies;
3. the intervertebral discs are the valleys of the mean HU in a box inside the vertebral
   body along that centreline: lower than the bright endplates on both sides within
   :data:`ENDPLATE_MM`; accepted from the deepest down, at least :data:`MIN_LEVEL_MM` apart;
4. the sacrum is where the column's bone meets the iliac bones (the sacral alae and the
   sacroiliac joints): bone connected to the column, after bridging a joint space, that
   reaches far lateral with an iliac cross-section beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ct_anatomy_frame import disk_mm

BONE_HU = 180.0  # cortical bone and endplates; trabecular bone is filled in from them
SLAB_MM = 30.0  # half-width of the midline slab that holds vertebral bodies and spinous processes
CORE_HALF_WIDTH_MM = 12.0  # half-width of the box sampled inside the vertebral body
CORE_DEPTH_MM = 25.0  # depth of that box behind the anterior cortex
ENDPLATE_MM = 7.0  # a disc's centre lies within this of the endplates on both sides
MIN_LEVEL_MM = 20.0  # adjacent discs are at least this far apart (vertebral body + disc)
MIN_DISC_SCORE = 40.0  # disc evidence: HU below the endplates + GAP_WEIGHT x missing anterior cortex (mm)
GAP_WEIGHT = 4.0  # HU of evidence per mm of missing anterior cortex (a 10 mm gap weighs 40 HU)
MAX_GAP_MM = 15.0
MAX_LEVEL_MM = 55.0  # adjacent discs at most this far apart (a T10-L5 vertebra + disc)
HEIGHT_CHANGE_PENALTY = 2.0  # HU of evidence lost per mm of change between consecutive heights
JOINT_BRIDGE_MM = 3.0  # closing radius that bridges a sacroiliac joint space
ALA_REACH_MM = 60.0  # column bone reaching this far lateral joins the ilium
ILIUM_MIN_AREA_MM2 = 600.0  # iliac bone beyond 40 mm of the midline in one slice (a rib is smaller)
MIN_JUNCTION_MM = 3.0  # craniocaudal extent of the junction seen (one 3 mm slice, two 1.5 mm slices)


@dataclass(frozen=True, eq=False)
class Column:
    """The column in the canonical view: ``core`` is its bone in the midline slab (bool,
    canonical shape); ``ant_y``/``cx`` the smoothed anterior edge and centre per slice
    (canonical indices, NaN where there is no column); ``profile`` the mean HU inside the
    vertebral body box per slice; ``cortex_gap_mm`` how far behind the anterior cortex of
    the slices on both sides the slice's first bone lies (a disc has no anterior cortex)."""

    core: np.ndarray
    ant_y: np.ndarray
    cx: np.ndarray
    profile: np.ndarray
    cortex_gap_mm: np.ndarray

    @property
    def z_range(self) -> tuple[int, int]:
        z = np.flatnonzero(np.isfinite(self.ant_y))
        return (int(z[0]), int(z[-1])) if z.size else (0, -1)


def find_column(hu_s: np.ndarray, body: np.ndarray, spacing, mid_x: float) -> Column | None:
    """The spinal column (see the module docstring); None when no long midline bone exists."""
    from scipy import ndimage as ndi

    sz, sy, sx = spacing
    dx_mm = np.abs(np.arange(hu_s.shape[2]) - mid_x) * sx
    slab = (hu_s > BONE_HU) & body & (dx_mm < SLAB_MM)[None, None, :]
    if not slab.any():
        return None
    zc = max(1, int(round(0.5 * MIN_LEVEL_MM / sz)))
    closed = ndi.binary_closing(slab, structure=np.ones((2 * zc + 1, 1, 1), bool)) | slab
    lab, n = ndi.label(closed)
    objs = ndi.find_objects(lab)
    best = max(range(n), key=lambda i: (objs[i][0].stop - objs[i][0].start, objs[i][0].stop))
    core = (lab == best + 1) & slab
    if (objs[best][0].stop - objs[best][0].start) * sz < 2.0 * MIN_LEVEL_MM:
        return None
    raw_ant, cx = _anterior_edge(core, dx_mm)
    w = max(1, int(round(10.0 / sz)))
    ant, cx = _running_median(raw_ant, w), _running_median(cx, w)
    gap_mm = _cortex_gap_mm(raw_ant, max(1, int(round(ENDPLATE_MM / sz))), sy)
    return Column(core=core, ant_y=ant, cx=cx, profile=_core_profile(hu_s, ant, cx, spacing),
                  cortex_gap_mm=gap_mm)


def _anterior_edge(core: np.ndarray, dx_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nz = core.shape[0]
    ant, cx = np.full(nz, np.nan), np.full(nz, np.nan)
    near = (dx_mm < 15.0)[None, :]
    for z in range(nz):
        c = core[z] & near
        if c.any():
            yy, xx = np.nonzero(c)
            ant[z], cx[z] = yy.min(), np.median(xx)
    return ant, cx


def _cortex_gap_mm(raw_ant: np.ndarray, w: int, sy: float) -> np.ndarray:
    """How far (mm) a slice's first bone lies behind the anterior cortex seen within ``w``
    slices on BOTH sides (a disc between two endplates), clipped to 0..MAX_GAP_MM."""
    gap = np.zeros(raw_ant.size)
    for z in range(raw_ant.size):
        lo, hi = raw_ant[max(0, z - w): z], raw_ant[z + 1: z + w + 1]
        if np.isfinite(raw_ant[z]) and np.isfinite(lo).any() and np.isfinite(hi).any():
            gap[z] = (raw_ant[z] - max(np.nanmin(lo), np.nanmin(hi))) * sy
    return np.clip(gap, 0.0, MAX_GAP_MM)


def _running_median(v: np.ndarray, w: int) -> np.ndarray:
    out = np.full_like(v, np.nan)
    for z in range(v.size):
        win = v[max(0, z - w): z + w + 1]
        if np.isfinite(v[z]) and np.isfinite(win).any():
            out[z] = np.nanmedian(win)
    return out


def core_box(shape_yx, ant_y: float, cx: float, spacing) -> tuple[slice, slice]:
    """The box inside the vertebral body of one slice (canonical y, x slices)."""
    _, sy, sx = spacing
    y0 = int(max(0, round(ant_y - 2.0 / sy)))
    y1 = int(min(shape_yx[0], round(ant_y + CORE_DEPTH_MM / sy) + 1))
    hw = CORE_HALF_WIDTH_MM / sx
    return slice(y0, y1), slice(int(max(0, round(cx - hw))), int(min(shape_yx[1], round(cx + hw) + 1)))


def _core_profile(hu_s, ant, cx, spacing) -> np.ndarray:
    prof = np.full(hu_s.shape[0], np.nan)
    for z in np.flatnonzero(np.isfinite(ant)):
        ys, xs = core_box(hu_s.shape[1:], ant[z], cx[z], spacing)
        prof[z] = float(hu_s[z, ys, xs].mean())
    return prof


def disc_score(col: Column, spacing) -> np.ndarray:
    """Evidence of a disc per canonical slice: how much darker the body box is than the
    endplates on both sides (HU), plus :data:`GAP_WEIGHT` per mm of missing anterior cortex."""
    sz = spacing[0]
    p = col.profile
    w = max(1, int(round(ENDPLATE_MM / sz)))
    depth = np.full(p.size, -np.inf)
    for z in np.flatnonzero(np.isfinite(p)):
        lo, hi = p[max(0, z - w): z], p[z + 1: z + w + 1]
        if np.isfinite(lo).any() and np.isfinite(hi).any():
            depth[z] = min(np.nanmax(lo), np.nanmax(hi)) - p[z]
    return depth + GAP_WEIGHT * col.cortex_gap_mm


def find_discs(col: Column, spacing) -> list[tuple[int, float]]:
    """Disc centres (canonical z, evidence), sorted by z.

    Candidates are the local maxima of :func:`disc_score` above :data:`MIN_DISC_SCORE`;
    the discs are the chain of candidates that maximises the summed evidence minus
    :data:`HEIGHT_CHANGE_PENALTY` per mm of change between consecutive vertebral heights,
    each height within :data:`MIN_LEVEL_MM` .. :data:`MAX_LEVEL_MM` (neighbouring
    vertebrae have similar heights; a dark spot inside a body breaks that rhythm)."""
    sz = spacing[0]
    score = disc_score(col, spacing)
    w = max(1, int(round(0.5 * MIN_LEVEL_MM / sz)))
    cand = [z for z in np.flatnonzero(score >= MIN_DISC_SCORE)
            if score[z] >= np.max(score[max(0, z - w): z + w + 1])]
    if not cand:
        return []
    # best[i][k]: best value of a chain ending at cand[i] whose previous disc is cand[k] (-1: none)
    best: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {}
    for i, zi in enumerate(cand):
        best[(i, -1)] = (float(score[zi]), (i,))
        for k in range(i):
            h = (zi - cand[k]) * sz
            if not MIN_LEVEL_MM <= h <= MAX_LEVEL_MM:
                continue
            options = []
            for (kk, prev), (val, path) in list(best.items()):
                if kk != k:
                    continue
                pen = 0.0 if prev < 0 else HEIGHT_CHANGE_PENALTY * abs(h - (cand[k] - cand[prev]) * sz)
                options.append((val + float(score[zi]) - pen, path + (i,)))
            if options:
                best[(i, k)] = max(options)
    _, path = max(best.values())
    return [(int(cand[i]), float(score[cand[i]])) for i in path]


def sacral_slices(hu_s: np.ndarray, body: np.ndarray, col: Column, spacing) -> np.ndarray:
    """Bool per canonical slice: the column's bone joins an iliac bone there (sacrum)."""
    from scipy import ndimage as ndi

    sz, sy, sx = spacing
    out = np.zeros(hu_s.shape[0], bool)
    disk = disk_mm(JOINT_BRIDGE_MM, spacing[1:])
    xs = np.arange(hu_s.shape[2])
    for z in np.flatnonzero(np.isfinite(col.ant_y)):
        bone = (hu_s[z] > BONE_HU) & body[z]
        lab, n = ndi.label(ndi.binary_closing(bone, structure=disk) | bone)
        hits = lab[col.core[z]]
        hits = hits[hits > 0]
        if not hits.size:
            continue
        comp = lab == np.bincount(hits).argmax()
        dx = (xs - col.cx[z]) * sx
        cols_x = np.flatnonzero(comp.any(0))
        reach = max(dx[cols_x].max(), -dx[cols_x].min())
        lateral_mm2 = float((comp & (np.abs(dx) > 40.0)[None, :]).sum()) * sy * sx
        out[z] = reach >= ALA_REACH_MM and lateral_mm2 >= ILIUM_MIN_AREA_MM2
    return out


def sacrum_top(sacral: np.ndarray, col: Column, spacing) -> int | None:
    """Canonical z of the top of the sacrum: the top of the longest run of sacral slices
    (gaps up to 6 mm bridged), None when there is none or it reaches the column's top."""
    z = np.flatnonzero(sacral)
    if not z.size:
        return None
    gap = max(1, int(round(6.0 / spacing[0])))
    runs, start = [], z[0]
    for a, b in zip(z[:-1], z[1:]):
        if b - a > gap + 1:
            runs.append((start, a))
            start = b
    runs.append((start, z[-1]))
    lo, hi = max(runs, key=lambda r: (r[1] - r[0], r[1]))
    if (hi - lo + 1) * spacing[0] < MIN_JUNCTION_MM or hi >= col.z_range[1] - max(1, int(round(MIN_LEVEL_MM / spacing[0]))):
        return None
    return int(hi)
