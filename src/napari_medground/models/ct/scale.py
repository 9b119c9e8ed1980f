"""Coarse-to-fine: run the HU rules on a block-averaged grid of ~2 mm voxels (``TARGET_MM``),
then put the edges back at full resolution.

Fine CT grids (0.6 mm pixels, 512 x 512 x 400) cost the morphology 10-20x more than the
rules need: lungs, body and bowel gas are centimetres across. The rules run on block means
(factor ``floor(TARGET_MM / spacing)`` per axis), and each mask returns to the full grid by
nearest neighbour except within one coarse voxel of its edge, where the full-resolution
HU decide with the same threshold the rule used.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TARGET_MM = 2.0


def coarse_factors(spacing, target_mm: float = TARGET_MM) -> tuple[int, int, int]:
    """Integer block size per axis so that blocks are about ``target_mm`` (1 = keep)."""
    return tuple(max(1, int(np.floor(target_mm / s + 1e-6))) for s in spacing)  # type: ignore[return-value]


def block_mean(a: np.ndarray, factors) -> np.ndarray:
    """Mean over blocks of ``factors`` voxels (edge-padded to whole blocks), float32."""
    pad = [(0, (-n) % f) for n, f in zip(a.shape, factors)]
    if any(p[1] for p in pad):
        a = np.pad(a, pad, mode="edge")
    shape = []
    for n, f in zip(a.shape, factors):
        shape += [n // f, f]
    return a.reshape(shape).mean(axis=(1, 3, 5), dtype=np.float32)


def upsample(mask: np.ndarray, factors, shape) -> np.ndarray:
    """Nearest-neighbour copy of a coarse mask onto the full grid ``shape``."""
    out = mask
    for axis, f in enumerate(factors):
        if f > 1:
            out = np.repeat(out, f, axis=axis)
    return np.ascontiguousarray(out[tuple(slice(0, n) for n in shape)])


def refine(coarse: np.ndarray, factors, hu: np.ndarray, keep: Callable[[np.ndarray, np.ndarray], np.ndarray]
           ) -> np.ndarray:
    """Full-resolution mask from a coarse one: the coarse interior as is, and within one
    coarse voxel of the edge what ``keep(hu_values, coarse_values)`` says (both 1D, over
    the edge band; ``coarse_values`` is the coarse mask there)."""
    from scipy import ndimage as ndi

    inner = upsample(ndi.binary_erosion(coarse), factors, hu.shape)
    band = upsample(ndi.binary_dilation(coarse), factors, hu.shape) & ~inner
    idx = np.nonzero(band)
    was = upsample(coarse, factors, hu.shape)[idx]
    inner[idx] = keep(hu[idx], was)
    return inner
