"""Pleural fluid on CT: a fluid-density collection between the lung and the chest wall.

Rules (all distances in mm, computed with the voxel size, so they hold from 0.5 to 5 mm):
fluid window ``FLUID_HU`` after a 3-voxel median (noise), inside the body, outside the
lungs; a piece counts when it touches a lung (within ``CONTACT_MM``), is at least
``MIN_THICKNESS_MM`` thick (so the lung/soft-tissue partial-volume rim is not fluid) and
lies in the dependent half of its lung (patient posterior, LPS +y, supine). Its side is
the lung it touches (the lungs are split on the patient's LPS x by the lung locator).
The pleural space counts as "in view" for a side when that lung's base (its inferior end,
LPS -z) is inside the scan: the costophrenic recess is where small effusions collect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FLUID_HU = (-10.0, 35.0)  # simple fluid 0-20 HU, with noise margin; blood and muscle lie above
CONTACT_MM = 4.0
MIN_THICKNESS_MM = 6.0  # full thickness: a piece whose inner distance to its edge reaches half this
MIN_VOLUME_ML = 5.0
MIN_LUNG_FACE = 0.10  # share of a piece's surface on the lung (a crescent: 0.15-0.5; gut under the diaphragm: ~0)


@dataclass(frozen=True)
class PleuralFluid:
    """Per side ("left", "right"): fluid mask (study grid), volume mL, and whether the base is in view."""

    masks: dict
    volume_ml: dict
    base_in_view: dict
    notes: tuple[str, ...]


def _lps(study, axis: int) -> np.ndarray:
    """LPS coordinate ``axis`` (0 x, 1 y, 2 z) of every voxel centre, mm."""
    idx = np.indices(study.shape).reshape(3, -1).astype(np.float32)
    a = study.affine_lps
    return (a[axis, :3] @ idx + a[axis, 3]).reshape(study.shape)


def _base_in_view(lung: np.ndarray, z: np.ndarray) -> bool:
    """The lung's inferior end is inside the scan: not on the array face of lowest LPS z."""
    if not lung.any():
        return False
    return bool(z[lung].min() > z.min() + 1e-3)


def segment_pleural_fluid(study, lungs: dict, body: np.ndarray) -> PleuralFluid:
    """Fluid pieces in the dependent pleural space of each lung in ``lungs`` ({"left": mask, ...})."""
    sp = np.asarray(study.spacing_mm, dtype=float)
    hu = ndimage.median_filter(np.asarray(study.array, dtype=np.float32), size=3)
    lung_any = np.logical_or.reduce([m for m in lungs.values()])
    cand = (hu >= FLUID_HU[0]) & (hu <= FLUID_HU[1]) & body & ~lung_any
    depth = ndimage.distance_transform_edt(cand, sampling=sp)
    core = depth >= MIN_THICKNESS_MM / 2.0
    # keep the parts of candidates reachable from a thick core (conditional dilation by the rim)
    thick = ndimage.binary_dilation(core, iterations=max(1, int(np.ceil(MIN_THICKNESS_MM / 2 / sp.min()))),
                                    mask=cand)
    y, z = _lps(study, 1), _lps(study, 2)
    labels, n = ndimage.label(thick)
    masks, vols, view, notes = {}, {}, {}, []
    near = {s: ndimage.distance_transform_edt(~m, sampling=sp) <= CONTACT_MM for s, m in lungs.items()}
    for side, lung in lungs.items():
        ys = y[lung]
        dependent = (ys.min() + ys.max()) / 2.0 if ys.size else np.inf
        touching = np.unique(labels[near[side] & thick])
        keep = np.zeros(study.shape, bool)
        for lab in touching[touching > 0]:
            piece = labels == lab
            surface = piece & ~ndimage.binary_erosion(piece)
            on_lung = float((surface & near[side]).sum()) / max(1, int(surface.sum()))
            if on_lung >= MIN_LUNG_FACE and np.median(y[piece]) >= dependent:  # posterior half (LPS +y)
                keep |= piece & near_side(piece, near, side)
        vol = float(keep.sum()) * study.voxel_volume_ml
        masks[side] = keep if vol >= MIN_VOLUME_ML else np.zeros(study.shape, bool)
        vols[side] = vol if vol >= MIN_VOLUME_ML else 0.0
        view[side] = _base_in_view(lung, z)
        if not view[side]:
            notes.append(f"the {side} lung base is outside the scan")
    return PleuralFluid(masks, vols, view, tuple(notes))


def near_side(piece: np.ndarray, near: dict, side: str) -> np.ndarray:
    """The whole piece when it touches only this lung; else the voxels closer to this side's contact."""
    others = [m for s, m in near.items() if s != side and (m & piece).any()]
    if not others:
        return piece
    return piece & ~np.logical_or.reduce(others)
