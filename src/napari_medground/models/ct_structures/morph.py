"""Ball-shaped morphology in millimetres through Euclidean distance maps: the cost does not
grow with the radius (a 10 mm ball on 0.8 mm voxels would be 25 x 25 x 13 elements)."""
from __future__ import annotations

import numpy as np


def dilate_mm(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Voxels within ``radius_mm`` of ``mask`` (spacing in mm per axis)."""
    from scipy import ndimage as ndi

    if not mask.any():
        return np.zeros(mask.shape, bool)
    return ndi.distance_transform_edt(~mask, sampling=spacing) <= radius_mm


def erode_mm(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from its outside."""
    from scipy import ndimage as ndi

    if not mask.any():
        return np.zeros(mask.shape, bool)
    return ndi.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1] > radius_mm


def open_mm(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Opening by a ball of ``radius_mm``: what a ball of that size can reach inside ``mask``."""
    return dilate_mm(erode_mm(mask, radius_mm, spacing), radius_mm, spacing) & mask
