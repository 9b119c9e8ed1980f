"""Kidney localisation: soft-tissue islands in retroperitoneal fat beside the spine.

A kidney's axial section is a compact soft-tissue blob (4-70 cm2) wrapped in perirenal
fat, 2-13 cm lateral of the spine and level with or slightly in front of it; stacked
over slices it makes a body 3-15 cm long. This holds with or without contrast (the
parenchyma's density changes, the fat around it does not), so density is used only to
tell soft tissue from fat and bone. The kidney's side is the patient's, from the
canonical frame (axis 2 toward patient left).
"""
from __future__ import annotations

import numpy as np

from .geometry import disk
from .organs_locate import Abdomen

SECTION_CM2 = (3.0, 45.0)  # axial section of an adult kidney (about 6 x 5 cm at most)
LATERAL_MM = (20.0, 130.0)
DEPTH_MM = (-55.0, 30.0)  # section centroid offset from the spine (bone) centre, + posterior
MIN_FAT_RING = 0.35  # fraction of a 5 mm ring around the section that is fat
STACK_LATERAL_MM = (35.0, 115.0)  # where a kidney's centre lies (hilum ~5 cm from the midline)
STACK_DEPTH_MM = (-50.0, 25.0)  # kidneys lie level with the vertebral body
MIN_LENGTH_MM = 20.0
JOIN_GAP_MM = 45.0  # stacks this close in z and JOIN_XY_MM in plane are one kidney
JOIN_XY_MM = 30.0
VOLUME_ML = (15.0, 600.0)
MAX_LENGTH_MM = 150.0  # an adult kidney is 9-13 cm long
WHOLE_LENGTH_MM = 70.0  # a stack shorter than this is part of a kidney
ROI_MARGIN_MM = 40.0  # in-plane search around the clean sections
PEAK_SEPARATION_MM = 15.0  # basin centres at least this far apart
MIN_RADIUS_MM = 4.0  # thinner soft tissue makes no basin of its own
MERGE_NECK = 0.6  # neck radius / thinner basin's radius at which two basins are one body


def find_kidney(ab: Abdomen, side: str, *, organ: str | None = None, keep_out: tuple[str, ...] = ()):
    """The kidney candidate on the patient's ``side`` ("left" or "right"), outside the
    candidates of the catalogue ids in ``keep_out`` (the entry's ``locator_args``)."""
    from .organs_select import Candidate, find

    organ = organ or f"kidney_{side}"
    exclude = np.zeros(ab.hu.shape, dtype=bool)
    for other in keep_out:
        c = find(ab, other)
        if c.mask is not None:
            exclude |= c.mask
    islands, soft = _islands(ab, exclude, side)
    best, why = _best_body(ab, islands)
    if best is None:
        return Candidate(organ, None, reason=f"no fat-wrapped soft-tissue body beside the spine on the "
                                             f"patient's {side} ({why})")
    best = _whole_kidney(ab, soft, best)
    vol = float(best.sum()) * ab.voxel_ml
    return Candidate(organ, best, reason=f"soft-tissue body in the {side} perirenal fat ({vol:.0f} mL, "
                                         f"median {float(np.median(ab.hu[best])):.0f} HU)",
                     hu_median=float(np.median(ab.hu[best])))


def _islands(ab: Abdomen, exclude: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice sections that look like a kidney's (size, place, fat around), and the
    soft-tissue mask they were cut from."""
    from scipy import ndimage

    sp = ab.spacing
    sm = ab.hu
    inplane = disk(4.0, sp[1:])
    bone = ndimage.binary_dilation(sm >= 300.0, disk(4.0, sp[1:]))
    inner = ndimage.binary_erosion(ab.body, disk(10.0, sp[1:]))
    soft = (sm > -20.0) & (sm < 300.0) & inner & ~bone & ~ndimage.binary_dilation(exclude, disk(2.0, sp[1:]))
    soft = ndimage.binary_opening(soft, inplane)
    fat = (sm < -40.0) & (sm > -300.0)
    flat = np.zeros((3, 3, 3), dtype=bool)
    flat[1] = ndimage.generate_binary_structure(2, 1)  # components within each slice
    lab, n = ndimage.label(soft, structure=flat)
    if n == 0:
        return np.zeros_like(soft), soft
    idx = np.arange(1, n + 1)
    area_cm2 = ndimage.sum(soft, lab, idx) * sp[1] * sp[2] / 100.0
    cz, cy, cx = (np.asarray(v) for v in zip(*ndimage.center_of_mass(soft, lab, idx)))
    zi = np.clip(np.rint(cz).astype(int), 0, sm.shape[0] - 1)
    sign = 1.0 if side == "left" else -1.0
    lateral = sign * (cx - ab.spine_yx[zi, 1]) * sp[2]
    depth = (cy - ab.spine_yx[zi, 0]) * sp[1]
    ring_lab = ndimage.grey_dilation(lab, footprint=disk(5.0, sp[1:]))
    ring_lab[lab > 0] = 0
    ring_n = np.bincount(ring_lab.ravel(), minlength=n + 1)[1:]
    ring_fat = np.bincount(ring_lab[fat], minlength=n + 1)[1:]
    fat_frac = ring_fat / np.maximum(ring_n, 1)
    ok = ((area_cm2 >= SECTION_CM2[0]) & (area_cm2 <= SECTION_CM2[1])
          & (lateral >= LATERAL_MM[0]) & (lateral <= LATERAL_MM[1])
          & (depth >= DEPTH_MM[0]) & (depth <= DEPTH_MM[1]) & (fat_frac >= MIN_FAT_RING))
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = ok
    return keep[lab], soft


def _whole_kidney(ab: Abdomen, soft: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The whole kidney from the part found as clean sections (``seed``).

    At thick voxels a kidney touches the liver, bowel, psoas or the renal vein / IVC
    through partial-volume voxels, so many of its sections fail the section test. In 3D the
    kidney is a thick body and those contacts are necks: soft tissue is split into basins
    by a watershed on its distance to the nearest non-soft voxel (mm, so the same at any
    voxel size); basins joined to the kidney through a neck at least ``MERGE_NECK`` of the
    thinner side's thickness are the kidney too (its poles); thin necks (a vein, a contact)
    are not crossed."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    sp = np.asarray(ab.spacing, float)
    zs = np.flatnonzero(seed.any(axis=(1, 2)))
    if (zs[-1] - zs[0] + 1) * sp[0] >= WHOLE_LENGTH_MM:
        # A whole kidney's length: gaps (the hilum) are bridged by LiteMedSAM's boxes, which
        # outline whole sections better than basins that cut them.
        return seed
    pad = np.ceil(np.array([MAX_LENGTH_MM, ROI_MARGIN_MM, ROI_MARGIN_MM]) / sp).astype(int)
    zz, yy, xx = (np.flatnonzero(seed.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    roi = tuple(slice(max(0, int(v[0]) - p), min(n, int(v[-1]) + p + 1))
                for v, p, n in zip((zz, yy, xx), pad, seed.shape))
    s, sd = soft[roi] | seed[roi], seed[roi]
    dist = ndimage.distance_transform_edt(s, sampling=sp)
    peaks = peak_local_max(dist, min_distance=max(1, int(round(PEAK_SEPARATION_MM / sp.min()))),
                           threshold_abs=MIN_RADIUS_MM, labels=s.astype(np.int32), exclude_border=False)
    markers = np.zeros(s.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(2, len(peaks) + 2)
    markers[ndimage.binary_erosion(sd) | (sd & ~ndimage.binary_erosion(s))] = 0
    markers[sd & (dist >= min(MIN_RADIUS_MM, float(dist[sd].max())))] = 1
    basins = watershed(-dist, markers, mask=s)
    kidney = _merge_thick_necks(basins, dist, sp, ab.voxel_ml)
    out = np.zeros_like(seed)
    out[roi] = kidney | sd
    return out


def _merge_thick_necks(basins: np.ndarray, dist: np.ndarray, sp: np.ndarray, voxel_ml: float) -> np.ndarray:
    """Basin 1 (the seed) grown by the basins that continue it head- or footward: centred
    beyond the kidney's current ends, within ``JOIN_XY_MM`` of its axis in plane, met
    through a neck whose radius (the highest distance value on the shared boundary) is at
    least ``MERGE_NECK`` of the thinner basin's greatest radius; within the kidney's length
    and volume limits. Neighbours beside the kidney (psoas, bowel, liver) are never merged."""
    from scipy import ndimage

    n = int(basins.max())
    idx = np.arange(1, n + 1)
    peak = np.zeros(n + 1)
    np.maximum.at(peak, basins.ravel(), dist.ravel())
    neck = np.zeros((n + 1, n + 1))
    for ax in range(3):
        a, d = np.moveaxis(basins, ax, 0), np.moveaxis(dist, ax, 0)
        la, lb, da = a[:-1].ravel(), a[1:].ravel(), np.minimum(d[:-1], d[1:]).ravel()
        m = (la != lb) & (la > 0) & (lb > 0)
        np.maximum.at(neck, (la[m], lb[m]), da[m])
        np.maximum.at(neck, (lb[m], la[m]), da[m])
    size = np.bincount(basins.ravel(), minlength=n + 1) * voxel_ml
    centre = np.full((n + 1, 3), np.nan)
    present = idx[size[1:] > 0]
    centre[present] = np.asarray(ndimage.center_of_mass(basins > 0, basins, present)) * sp
    zext = np.zeros((n + 1, 2))
    for b, sl in zip(idx, ndimage.find_objects(basins)):
        if sl is not None:
            zext[b] = (sl[0].start * sp[0], (sl[0].stop - 1) * sp[0])
    covered = basins == 1
    keep, vol, (z0, z1) = [1], size[1], zext[1]
    axis = centre[1, 1:]
    grew = True
    while grew:
        grew = False
        for b in present[1:]:
            if b in keep or vol + size[b] > VOLUME_ML[1]:
                continue
            zc = int(round(centre[b, 0] / sp[0]))
            missing = not covered[min(zc, covered.shape[0] - 1)].any()  # a gap or beyond the ends
            near = np.linalg.norm(centre[b, 1:] - axis) <= JOIN_XY_MM
            length = max(z1, zext[b, 1]) - min(z0, zext[b, 0]) + sp[0]
            k = max(keep, key=lambda k: neck[k, b])
            thick = neck[k, b] > 0 and neck[k, b] >= MERGE_NECK * min(peak[k], peak[b])
            if missing and near and thick and length <= MAX_LENGTH_MM:
                keep.append(b)
                covered |= basins == b
                vol, z0, z1 = vol + size[b], min(z0, zext[b, 0]), max(z1, zext[b, 1])
                grew = True
    return np.isin(basins, keep)


def _best_body(ab: Abdomen, islands: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The stack of sections most like a kidney (long in z, of kidney volume, level with
    the spine), joined with stacks right above or below it (a kidney broken where it
    touches the liver or at its hilum)."""
    from scipy import ndimage

    lab, n = ndimage.label(islands)
    if n == 0:
        return None, "no candidate section"
    stacks = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        part = lab[sl] == i
        vol = float(part.sum()) * ab.voxel_ml
        cz, cy, cx = (c + s.start for c, s in zip(ndimage.center_of_mass(part), sl))
        sy, sx = ab.spine_yx[int(round(cz))]
        lateral, depth = abs(cx - sx) * ab.spacing[2], (cy - sy) * ab.spacing[1]
        if (VOLUME_ML[0] <= vol <= VOLUME_ML[1] and STACK_LATERAL_MM[0] <= lateral <= STACK_LATERAL_MM[1]
                and STACK_DEPTH_MM[0] <= depth <= STACK_DEPTH_MM[1]):
            stacks.append((i, sl[0].start, sl[0].stop - 1, vol, np.array([cy, cx]) * ab.spacing[1:],
                           vol / (sl[0].stop - sl[0].start)))  # last: mean volume per slice
    long = [t for t in stacks if (t[2] - t[1] + 1) * ab.spacing[0] >= MIN_LENGTH_MM]
    if not long:
        return None, f"no stack of sections at least {MIN_LENGTH_MM:.0f} mm long"
    best = max(long, key=lambda t: (t[2] - t[1] + 1) * t[3])  # the longest, fullest stack
    keep, z0, z1, vol = [best[0]], best[1], best[2], best[3]
    for t in sorted(stacks, key=lambda t: -t[3]):
        gap = max(t[1] - z1, z0 - t[2]) * ab.spacing[0]
        if (t[0] != best[0] and gap <= JOIN_GAP_MM and np.linalg.norm(t[4] - best[4]) <= JOIN_XY_MM
                and t[5] <= 1.5 * best[5] and vol + t[3] <= VOLUME_ML[1]):
            keep.append(t[0])
            z0, z1, vol = min(z0, t[1]), max(z1, t[2]), vol + t[3]
    return np.isin(lab, keep), ""
