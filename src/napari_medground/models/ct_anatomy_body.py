"""Body outline of a CT in the canonical (S, P, L) view: HU threshold, table removal, fills.

Works on the canonical arrays of :mod:`.ct_anatomy_frame` (axis 0 = superior-inferior).
"""
from __future__ import annotations

import logging

import numpy as np

from .ct_anatomy_frame import disk_mm, per_slice

log = logging.getLogger(__name__)

TISSUE_HU = -500.0  # between air (-1000) and fat (-100): anything denser is patient or table
BRIDGE_MM = 3.0  # in-plane opening radius that cuts the table and pads off the body
MIN_PART_THICKNESS_MM = 12.0  # arms and legs are thicker than this; table shells are not
CUT_AIR_MIN_ML = 20.0  # a lung cut by the field of view is larger than this
CUT_AIR_ABOVE_AIR_HU = 80.0  # outside air reads within this of -1000 HU; lung does not
AIR_BIN_HU = 5.0  # histogram bin of the outside-air reading
MIN_PART_FRACTION = 0.02  # separate body parts (arms) kept when >= 2% of the trunk


def body_mask_canonical(hu: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Patient body in a canonical CT view: tissue denser than -500 HU, the largest part
    plus thick separate parts (arms), without the scanner table, holes filled per axial
    slice (so the lungs, airways and bowel gas lie inside it).

    Parameters
    ----------
    hu : (z, y, x) array in Hounsfield units, canonical orientation.
    spacing : voxel size in mm along the canonical axes.
    """
    from scipy import ndimage as ndi

    tissue = hu > TISSUE_HU
    disk = disk_mm(BRIDGE_MM, spacing[1:])
    opened = per_slice(ndi.binary_opening, tissue, structure=disk)
    labels, n = ndi.label(opened)
    if n == 0:
        return np.zeros(hu.shape, bool)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    largest = int(np.argmax(sizes))
    keep = [largest]
    objects = ndi.find_objects(labels)
    for lab in np.flatnonzero(sizes >= MIN_PART_FRACTION * sizes[largest]):
        if lab == largest:
            continue
        part = labels[objects[lab - 1]] == lab
        if _max_inscribed_radius_mm(part, spacing[1:]) >= MIN_PART_THICKNESS_MM:
            keep.append(int(lab))
    kept = np.isin(labels, keep)
    body = tissue & per_slice(ndi.binary_dilation, kept, structure=disk)
    body = per_slice(ndi.binary_fill_holes, body)
    return body | _cut_internal_air(hu, body, spacing)


def _cut_internal_air(hu: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    """Air-like regions that the field of view cuts open (a lung touching the crop edge,
    so the per-slice fill cannot close it): not-body regions below -500 HU that touch the
    array edge, hold at least ``CUT_AIR_MIN_ML`` and are parenchyma-dense (median more
    than ``CUT_AIR_ABOVE_AIR_HU`` above the nominal air reading), which the air around a
    patient never is. Empty when the patient is wholly in view."""
    from scipy import ndimage as ndi

    open_air = ~body & (hu <= TISSUE_HU)
    out = np.zeros(hu.shape, bool)
    if not body.any() or not open_air.any():
        return out
    labels, n = ndi.label(open_air)
    edge = np.zeros(hu.shape, bool)
    edge[:, [0, -1], :] = True
    edge[:, :, [0, -1]] = True
    touching = np.unique(labels[edge & open_air])
    vox_ml = float(np.prod(spacing)) / 1000.0
    for lab in touching[touching > 0]:
        comp = labels == lab
        if comp.sum() * vox_ml < CUT_AIR_MIN_ML:
            continue
        if float(np.median(hu[comp])) > -1000.0 + CUT_AIR_ABOVE_AIR_HU:
            out |= comp
    return out


def _max_inscribed_radius_mm(part: np.ndarray, spacing_yx) -> float:
    """Largest in-plane distance (mm) from inside ``part`` to its edge, over its slices."""
    from scipy import ndimage as ndi

    step = max(1, part.shape[0] // 8)  # a few slices are enough to tell an arm from a table
    best = 0.0
    for k in range(0, part.shape[0], step):
        if part[k].any():
            padded = np.pad(part[k], 1)
            best = max(best, float(ndi.distance_transform_edt(padded, sampling=spacing_yx).max()))
    return best


def air_reference_hu(hu: np.ndarray, body: np.ndarray) -> float:
    """The scanner's reading of air: the median HU of the air outside the patient.

    Padding outside the reconstruction circle (-2048, -3024) is ignored, and so is air
    that the scanner wrote as one fill value (-1024 everywhere outside the body is not a
    measurement); then, or without enough outside air, the nominal -1000 HU is used.
    The reading is the peak of the outside-air histogram (``AIR_BIN_HU`` bins), so that
    foam pads and skin partial volume do not shift it. The result is kept within
    -1040..-960 HU.
    """
    outside = ~body
    sample = hu[outside][:: max(1, int(outside.sum()) // 500_000)]
    air = sample[(sample > -1150) & (sample < -850)]
    if air.size < 100:
        return -1000.0
    values, counts = np.unique(air, return_counts=True)
    if counts.max() > 0.5 * air.size:
        return -1000.0
    # the peak of the histogram, not the median: foam pads, blankets and the partial-volume
    # rim of the skin (-990..-850 HU) lie outside the body too and pull a median upward
    hist, edges = np.histogram(air, bins=np.arange(-1150.0, -849.0, AIR_BIN_HU))
    peak = float(edges[int(np.argmax(hist))]) + AIR_BIN_HU / 2.0
    near = air[np.abs(air - peak) <= 2 * AIR_BIN_HU]
    return float(np.clip(np.median(near), -1040.0, -960.0))


def midline_x(hu: np.ndarray, body: np.ndarray, spacing) -> float:
    """Canonical x index (toward patient left) of the body's midline.

    The median left-right position of bone inside the body (spine and sternum sit on the
    midline and the ribs are symmetric), falling back to the body centroid when there is
    little bone in view.
    """
    bone = body & (hu > 300)
    if bone.sum() * float(np.prod(spacing)) > 5_000.0:  # at least 5 mL of bone
        return float(np.median(np.nonzero(bone)[2]))
    if body.any():
        return float(np.nonzero(body)[2].mean())
    return (hu.shape[2] - 1) / 2.0
