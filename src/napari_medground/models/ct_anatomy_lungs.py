"""Lungs in a canonical CT view: air-like regions told apart from bowel gas, split left/right.

The rules, in order (HU values are relative to the scanner's own air reading, measured
outside the body, so they hold on any calibrated CT):

1. Candidates: voxels inside the body below air + 600 HU (-400 HU: midway between aerated
   lung, about -850, and soft tissue, about +40).
2. Airways: a midline pure-air tube tracked down from where it enters the scan
   (:mod:`.ct_anatomy_airways`); kept apart from the lungs.
3. Gas pockets: thick regions of pure air (within 60 HU of air after light smoothing).
   A pocket mostly ringed by lung parenchyma, touching soft tissue over less than a third
   of its surroundings, is lung (a bulla, or emphysema on a coarse grid); any other (bowel,
   stomach, air between arm and chest, a pneumothorax, a subpleural bulla) is removed with
   its partial-volume rim (what a lung then encloses in-plane is filled back in step 6).
   This also cuts a lung base from a stomach bubble that touches it across a thin
   diaphragm.
4. Lung components: what remains, as 6-connected regions. A region is lung when its
   interior is parenchyma-dense (median at least 60 HU above air: lung holds vessels and
   interstitium, about -850 HU, while bowel gas is pure air), it holds at least
   ``MIN_LUNG_ML`` (or one slice of it is lung-sized) and it is thoracic: it is as large
   as a lung (``LARGE_LUNG_ML``), touches the airway, or reaches the top of the scan and
   widens upward (a lung base above the diaphragm dome seen from below), which pockets
   of stool or bowel gas below the diaphragm do not do. Nothing within ``WALL_MM`` of
   the outside air is lung (air between the back and the table pad, or skin folds).
5. Left and right: by the patient's LPS x (canonical axis 2 grows toward the left).
   Lungs that touch (anterior junction) are split where an erosion separates them; if no
   erosion does, at the midline plane.
6. Vessels and nodules enclosed in each lung are filled per axial slice; a small in-plane
   closing takes in juxtapleural nodules and the hilar vessel stumps.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .ct_anatomy_airways import find_airways
from .ct_anatomy_body import air_reference_hu, midline_x
from .ct_anatomy_frame import ball_mm, crop_box, disk_mm, fill_holes_2d, per_slice, smooth_mm

log = logging.getLogger(__name__)

LUNG_ABOVE_AIR_HU = 600.0  # candidate threshold: air + 600 (= -400 HU for air at -1000)
EDGE_ABOVE_AIR_HU = 650.0  # the lung edge may grow to -350 HU within EDGE_MM (dependent lung)
EDGE_MM = 3.0
WALL_MM = 5.0  # lungs lie behind the chest wall: never this close to the outside air
PURE_AIR_MARGIN_HU = 60.0  # smoothed values within this of air are pure air
PARENCHYMA_MARGIN_HU = 60.0  # lung interior median must exceed air by this
MIN_LUNG_ML = 5.0
MIN_LUNG_AREA_MM2 = 1000.0  # or a cross-section this large (one thin CT slice of a lung)
LARGE_LUNG_ML = 150.0
TOP_MM = 6.0  # "reaches the top of the scan": within this distance of the last slice
POCKET_OPEN_MM = 3.0
GAS_CONTACT_FRACTION = 0.1  # air touching bowel gas over this much of its surface is bowel
# a pure-air pocket mostly ringed by parenchyma and touching soft tissue over less than a
# third of its surroundings is lung (a bulla, or emphysema that reads as pure air on a
# coarse grid); bowel gas is ringed by wall and content, a pneumothorax by chest wall too
BULLA_RING_FRACTION = 0.5
BULLA_TISSUE_FRACTION = 0.3
POROUS_FILL_FRACTION = 0.7  # pure air filling less of its closed envelope is porous lung
CLOSE_MM = 4.0
BONE_HU = 200.0  # closing may take in soft tissue (a juxtapleural nodule), never bone


@dataclass
class LungParts:
    """Canonical-view masks and the reasoning notes of one lung segmentation."""

    left: np.ndarray
    right: np.ndarray
    airways: np.ndarray
    confidence: float
    notes: list[str] = field(default_factory=list)
    gas: np.ndarray | None = None  # pure-air pockets excluded (with their rims)
    air_hu: float = -1000.0  # the scanner's air reading used by the rules


def lungs_canonical(hu: np.ndarray, body: np.ndarray, spacing: tuple[float, float, float]) -> LungParts:
    """Left lung, right lung and airways of a canonical CT view (see the module docstring)."""
    notes: list[str] = []
    air = air_reference_hu(hu, body)
    cand = body & (hu < air + LUNG_ABOVE_AIR_HU)
    empty = np.zeros(hu.shape, bool)
    if not cand.any():
        return LungParts(empty, empty.copy(), empty.copy(), 0.9, ["no air-like region inside the body"],
                         empty, air)
    box = crop_box(cand, pad=3 + int(np.ceil(WALL_MM / min(spacing[1:]))))
    h, b = hu[box], body[box]
    c = cand[box] & _deeper_than(b, WALL_MM, spacing)
    smooth = smooth_mm(h, spacing, 1.0)
    mid = midline_x(hu, body, spacing) - box[2].start
    airways, note = find_airways(smooth, c, spacing, air, mid)
    notes.append(note)
    gas, n_gas, bullae = _gas_pockets(smooth, c & ~airways, b, spacing, air)
    if n_gas:
        notes.append(f"{n_gas} pocket(s) of pure air (bowel or stomach gas) excluded")
    lung, conf, sel_notes = _select_lung_components(smooth, c & ~airways & ~gas, airways, spacing, air, gas)
    notes += sel_notes
    if (bullae & lung).any():
        notes.append("pure-air pocket(s) surrounded by lung or porous (bullae, emphysema) kept as lung")
    left, right, how, split_conf = _split_sides(lung, spacing, mid)
    if how:
        notes.append(how)
    edge = (h < air + EDGE_ABOVE_AIR_HU) & b
    dense_ok = (h < BONE_HU) & ~gas
    left, right = (_finish(m, edge & ~gas, dense_ok, airways, spacing) for m in (left, right))
    overlap = left & right
    right &= ~overlap
    out = []
    for m in (left, right, airways, gas):
        full = np.zeros(hu.shape, bool)
        full[box] = m
        out.append(full)
    return LungParts(out[0], out[1], out[2], float(min(conf, split_conf)), notes, out[3], air)


def refine_lungs(parts: LungParts, factors, hu: np.ndarray) -> LungParts:
    """Lung masks found on a coarse grid, returned to the full grid of ``hu`` (edges at
    full resolution with the rules' own edge threshold; enclosed vessels filled)."""
    from scipy import ndimage as ndi

    from .ct_anatomy_scale import refine, upsample

    airways = upsample(parts.airways, factors, hu.shape)
    blocked = airways | upsample(ndi.binary_dilation(parts.gas), factors, hu.shape)
    lo, hi = parts.air_hu + PURE_AIR_MARGIN_HU, parts.air_hu + EDGE_ABOVE_AIR_HU

    def keep(v: np.ndarray, was: np.ndarray) -> np.ndarray:
        # what the coarse rules took in (vessels, juxtapleural nodules) stays unless bone;
        # an added edge voxel is parenchyma-like, never pure air (that is bowel gas)
        return np.where(was, v < BONE_HU, (v < hi) & (v > lo))

    sides = []
    for coarse in (parts.right, parts.left):
        m = refine(coarse, factors, hu, keep) & ~blocked
        if m.any():
            box = crop_box(m, pad=1)
            m[box] = fill_holes_2d(m[box]) & ~airways[box]
        blocked |= m
        sides.append(m)
    return LungParts(sides[1], sides[0], airways, parts.confidence, parts.notes, None, parts.air_hu)


def _gas_pockets(smooth, cand, body, spacing, air) -> tuple[np.ndarray, int, np.ndarray]:
    """Pure-air pockets that are not surrounded by lung, with their partial-volume rim."""
    from scipy import ndimage as ndi

    pure = cand & (smooth < air + PURE_AIR_MARGIN_HU)
    core = ndi.binary_opening(pure, structure=ball_mm(POCKET_OPEN_MM, spacing))
    labels, n = ndi.label(pure)
    keep = np.unique(labels[core])
    keep = keep[keep > 0]
    gas = np.zeros(cand.shape, bool)
    bullae = np.zeros(cand.shape, bool)
    n_gas = 0
    inner_mm = max(spacing)  # the partial-volume rim spans one voxel of the coarsest axis
    objects = ndi.find_objects(labels)
    for lab in keep:
        sl = _pad_slices(objects[lab - 1], 1 + int(np.ceil((inner_mm + 5.0) / min(spacing))), cand.shape)
        pocket = labels[sl] == lab
        inner = ndi.binary_dilation(pocket, structure=ball_mm(inner_mm, spacing))
        outer = ndi.binary_dilation(pocket, structure=ball_mm(inner_mm + 5.0, spacing))
        ring = outer & ~inner & body[sl]
        vals = smooth[sl][ring]
        parenchyma = float(((vals > air + PURE_AIR_MARGIN_HU) & (vals < air + LUNG_ABOVE_AIR_HU)).mean()) \
            if vals.size else 0.0
        tissue = float((vals >= air + LUNG_ABOVE_AIR_HU).mean()) if vals.size else 1.0
        if (parenchyma >= BULLA_RING_FRACTION and tissue <= BULLA_TISSUE_FRACTION) \
                or _porous(pocket, spacing):
            bullae[sl] |= pocket
            continue
        n_gas += 1
        gas[sl] |= inner & cand[sl]
    return gas, n_gas, bullae


def _porous(pocket: np.ndarray, spacing) -> bool:
    """Scattered low-attenuation voxels joined into one region (centrilobular emphysema) fill
    little of their own closed envelope; gas in a bowel loop or a pneumothorax fills it."""
    from scipy import ndimage as ndi

    closed = ndi.binary_closing(pocket, structure=ball_mm(POCKET_OPEN_MM, spacing))
    n = int(closed.sum())
    return n > 0 and float(pocket.sum()) / n < POROUS_FILL_FRACTION


def _pad_slices(sl, pad: int, shape) -> tuple[slice, ...]:
    return tuple(slice(max(0, s.start - pad), min(n, s.stop + pad)) for s, n in zip(sl, shape))


def _select_lung_components(smooth, cand, airways, spacing, air, gas=None
                            ) -> tuple[np.ndarray, float, list[str]]:
    """Keep the components that are lung by density, size and position (rule 4)."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(cand)
    near_gas = ndi.binary_dilation(gas) if gas is not None and gas.any() else None
    wrapped = 0.0
    vox_ml = float(np.prod(spacing)) / 1000.0
    top_k = cand.shape[0] - max(1, int(round(TOP_MM / spacing[0])))
    near_airway = ndi.binary_dilation(airways) if airways.any() else airways
    interior = per_slice(ndi.binary_erosion, cand)
    lung = np.zeros(cand.shape, bool)
    notes, margins, small = [], [], 0.0
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        comp = labels[sl] == lab
        vol = float(comp.sum()) * vox_ml
        inside = comp & interior[sl]
        vals = smooth[sl][inside if inside.sum() >= 0.2 * comp.sum() else comp]
        margin = float(np.median(vals)) - air
        if margin < PARENCHYMA_MARGIN_HU:
            continue
        areas = comp.sum(axis=(1, 2)) * spacing[1] * spacing[2]
        big = vol >= LARGE_LUNG_ML or bool(near_airway[sl][comp].any())
        if not big and not (sl[0].stop > top_k and _widens_upward(areas)):
            continue
        if vol < MIN_LUNG_ML and areas.max() < MIN_LUNG_AREA_MM2:
            small += vol
            continue
        if near_gas is not None and _gas_contact(comp, near_gas[sl]) >= GAS_CONTACT_FRACTION:
            wrapped += vol
            continue
        lung[sl] |= comp
        margins.append(margin)
    if wrapped > 0:
        notes.append(f"{wrapped:.0f} mL of air-and-content wrapped around excluded bowel gas not labelled")
    if small > 0:
        notes.append(f"{small:.1f} mL of lung-like air in pieces under {MIN_LUNG_ML:g} mL not labelled")
    if not lung.any():
        notes.append("no lung in view (no parenchyma-dense air region in the thorax)")
        return lung, 0.85, notes
    total = float(lung.sum()) * vox_ml
    conf = 0.9 if min(margins) >= 2 * PARENCHYMA_MARGIN_HU else 0.7
    if total < LARGE_LUNG_ML:
        notes.append(f"only {total:.0f} mL of lung in view (lung bases or a partial scan)")
        conf = min(conf, 0.8)
    return lung, conf, notes


def _gas_contact(comp: np.ndarray, near_gas: np.ndarray) -> float:
    """Fraction of a component's surface voxels that touch an excluded pure-air pocket.
    Stool and bowel content around gas touch it all round; a lung base meets a stomach
    bubble only across the diaphragm, over a small part of its surface."""
    from scipy import ndimage as ndi

    surface = comp & ~ndi.binary_erosion(comp)
    n = int(surface.sum())
    return float((surface & near_gas).sum()) / n if n else 0.0


def _widens_upward(areas: np.ndarray) -> bool:
    """A lung base seen from below the diaphragm grows toward the top of the scan: its
    upper slices are on average at least as large as its lower ones."""
    nz = np.flatnonzero(areas)
    a = areas[nz[0]:nz[-1] + 1]
    half = len(a) // 2
    return half == 0 or float(a[-half:].mean()) >= float(a[:half].mean())


def _split_sides(lung, spacing, mid_x) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Left and right lung masks (canonical x grows toward the patient's left)."""
    from scipy import ndimage as ndi

    left = np.zeros(lung.shape, bool)
    right = np.zeros(lung.shape, bool)
    labels, n = ndi.label(lung)
    how, conf = "", 0.95
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        comp = labels[sl] == lab
        xs = np.nonzero(comp)[2] + sl[2].start
        frac_left = float((xs > mid_x).mean())
        if min(frac_left, 1 - frac_left) < 0.1:
            (left if frac_left >= 0.5 else right)[sl] |= comp
            continue
        parts = _erosion_split(comp, spacing, mid_x - sl[2].start)
        if parts is None:
            cols = np.arange(sl[2].start, sl[2].stop)[None, None, :] > mid_x
            left[sl] |= comp & cols
            right[sl] |= comp & ~cols
            how, conf = "lungs touching across the midline split at the midline plane", 0.6
        else:
            left[sl] |= parts[0]
            right[sl] |= parts[1]
            how = how or "touching lungs separated where an erosion splits them"
    return left, right, how, conf


def _erosion_split(comp, spacing, mid_x) -> tuple[np.ndarray, np.ndarray] | None:
    """Split one component into left/right parts at its narrowest junction, or None."""
    from scipy import ndimage as ndi

    dist = ndi.distance_transform_edt(comp, sampling=spacing)
    total = float(comp.sum())
    for r in np.arange(1.0, 16.0, 1.0) * min(spacing[1:]):
        labels, n = ndi.label(dist > r)
        if n < 2:
            if n == 0:
                return None
            continue
        sizes = np.bincount(labels.ravel())[1:]
        big = np.flatnonzero(sizes >= 0.05 * total) + 1
        if big.size < 2:
            continue
        cx = ndi.center_of_mass(np.ones_like(labels), labels, big)
        sides = np.array([c[2] > mid_x for c in cx])
        if sides.all() or not sides.any():
            continue
        markers = np.zeros(comp.shape, np.int8)
        markers[np.isin(labels, big[sides])] = 1
        markers[np.isin(labels, big[~sides])] = 2
        _, idx = ndi.distance_transform_edt(markers == 0, sampling=spacing, return_indices=True)
        owner = markers[tuple(idx)]
        return comp & (owner == 1), comp & (owner == 2)
    return None


def _finish(mask, edge, allowed, airways, spacing) -> np.ndarray:
    """Grow the edge into denser dependent lung (within ``EDGE_MM``), close small in-plane
    notches (juxtapleural nodules, hilar vessel stumps) and fill what the lung encloses."""
    from scipy import ndimage as ndi

    if not mask.any():
        return mask
    near = per_slice(ndi.binary_dilation, mask, structure=disk_mm(EDGE_MM, spacing[1:]))
    mask = mask | (near & edge & ~airways)
    closed = per_slice(ndi.binary_closing, mask, structure=disk_mm(CLOSE_MM, spacing[1:]))
    mask = mask | (closed & allowed)
    return fill_holes_2d(mask) & ~airways


def _deeper_than(body: np.ndarray, mm: float, spacing) -> np.ndarray:
    """Voxels of the body more than ``mm`` (in-plane) from the outside air."""
    from scipy import ndimage as ndi

    out = np.zeros(body.shape, bool)
    for k in range(body.shape[0]):
        if body[k].any():
            out[k] = ndi.distance_transform_edt(np.pad(body[k], 1), sampling=spacing[1:])[1:-1, 1:-1] > mm
    return out
