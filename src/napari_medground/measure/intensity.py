"""Intensity statistics inside a mask (HU for CT; arbitrary units otherwise)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntensityStats:
    """Statistics of the image values inside a mask, in the image's units.

    ``std`` is the population standard deviation (ddof=0); percentiles use linear
    interpolation. With ``n == 0`` every statistic is NaN.
    """

    mean: float
    std: float
    min: float
    max: float
    p05: float
    p25: float
    p50: float
    p75: float
    p95: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def intensity_stats(image: np.ndarray, mask: np.ndarray) -> IntensityStats:
    """Mean, std, min, max, 5/25/50/75/95th percentiles and voxel count of ``image[mask]``.

    Raises ValueError when the shapes differ. NaN image values are ignored.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape:
        raise ValueError(f"intensity_stats: image shape {image.shape} != mask shape {mask.shape}")
    vals = image[mask].astype(np.float64, copy=False)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        nan = float("nan")
        return IntensityStats(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    p05, p25, p50, p75, p95 = (float(v) for v in np.percentile(vals, [5, 25, 50, 75, 95]))
    return IntensityStats(float(vals.mean()), float(vals.std()), float(vals.min()), float(vals.max()),
                          p05, p25, p50, p75, p95, int(vals.size))
