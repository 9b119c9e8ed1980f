"""Lung densitometry: low-attenuation area below a HU threshold (LAA-950) per lung.

Units: HU for thresholds, percent of lung voxels for the fractions, mL for volumes.
Masks are boolean arrays on the study grid (z, y, x); sides come from the caller's masks
(already split on the patient's LPS x by the lung locator), never from array positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAA_THRESHOLD_HU = -950.0  # Gevenois 1996 / COPDGene convention (resources/criteria/chest.json)


@dataclass(frozen=True)
class LowAttenuation:
    """Fraction of lung voxels below ``threshold_hu`` in one lung region.

    ``percent``: 0..100 of the region's voxels; ``volume_ml``: the region's volume;
    ``low_ml``: the low-attenuation volume; ``voxels``: the region's voxel count.
    """

    region: str
    threshold_hu: float
    percent: float
    volume_ml: float
    low_ml: float
    voxels: int


def low_attenuation(hu: np.ndarray, mask: np.ndarray, voxel_ml: float, *, region: str,
                    threshold_hu: float = LAA_THRESHOLD_HU) -> LowAttenuation | None:
    """LAA below ``threshold_hu`` (strictly below, HU) inside ``mask``; None when the mask is empty."""
    n = int(np.count_nonzero(mask))
    if n == 0:
        return None
    low = int(np.count_nonzero(hu[mask] < threshold_hu))
    return LowAttenuation(region, float(threshold_hu), 100.0 * low / n, n * voxel_ml, low * voxel_ml, n)


def laa_per_side(hu: np.ndarray, masks: dict[str, np.ndarray], voxel_ml: float,
                 threshold_hu: float = LAA_THRESHOLD_HU) -> dict[str, LowAttenuation]:
    """LAA for each named lung mask and for their union under the key ``"total"``."""
    out: dict[str, LowAttenuation] = {}
    for side, m in masks.items():
        r = low_attenuation(hu, m, voxel_ml, region=side, threshold_hu=threshold_hu)
        if r is not None:
            out[side] = r
    if masks:
        union = np.logical_or.reduce(list(masks.values()))
        r = low_attenuation(hu, union, voxel_ml, region="total", threshold_hu=threshold_hu)
        if r is not None:
            out["total"] = r
    return out
