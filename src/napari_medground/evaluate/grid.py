"""Put one label volume onto another's grid in patient space (nearest neighbour).

Both grids are given by their ``affine_lps`` (array index -> patient LPS mm), so
reoriented, resampled, cropped or oblique files line up in world space. The
label of a target voxel is the label of the source voxel whose centre is nearest
(index rounded half up); target voxels outside the source grid get 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Resampled:
    """A source label array on the target grid.

    ``inside`` is the number of target voxels whose centre falls in the source grid;
    ``identical_grid`` says no resampling was needed (same shape and affine).
    """

    array: np.ndarray
    inside: int
    identical_grid: bool


def same_grid(shape_a, affine_a: np.ndarray, shape_b, affine_b: np.ndarray, atol_mm: float = 1e-4) -> bool:
    """Same array shape and the same index -> LPS mapping (within ``atol_mm``)."""
    return tuple(shape_a) == tuple(shape_b) and bool(np.allclose(affine_a, affine_b, atol=atol_mm, rtol=0))


def resample_labels_nearest(source: np.ndarray, source_affine: np.ndarray,
                            target_shape: tuple[int, ...], target_affine: np.ndarray) -> Resampled:
    """``source`` (integer labels, 3D) resampled onto the target grid by nearest neighbour.

    Parameters
    ----------
    source, source_affine
        The labels and their 4x4 affine (array index -> LPS mm).
    target_shape, target_affine
        The grid to put them on (3D shape, 4x4 affine in the same convention).

    Works slab by slab along the target's first axis, so memory stays at one slab
    of coordinates whatever the volume size.
    """
    source = np.asarray(source)
    if same_grid(source.shape, source_affine, target_shape, target_affine):
        return Resampled(source.copy(), int(np.prod(source.shape)), True)
    m = np.linalg.inv(np.asarray(source_affine, float)) @ np.asarray(target_affine, float)
    out = np.zeros(tuple(target_shape), dtype=source.dtype)
    ny, nx = target_shape[1], target_shape[2]
    jj, ii = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    plane = jj[..., None] * m[:3, 1] + ii[..., None] * m[:3, 2] + m[:3, 3]  # (ny, nx, 3)
    limits = np.asarray(source.shape)
    inside = 0
    for k in range(target_shape[0]):
        idx = np.floor(plane + k * m[:3, 0] + 0.5).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < limits), axis=-1)
        n = int(ok.sum())
        if n:
            sel = idx[ok]
            out[k][ok] = source[sel[:, 0], sel[:, 1], sel[:, 2]]
            inside += n
    return Resampled(out, inside, False)


def world_corners(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """The 8 outer corners (voxel edges) of a 3D grid in LPS mm, shape (8, 3)."""
    lo, hi = -0.5, np.asarray(shape, float) - 0.5
    corners = np.array([[a, b, c] for a in (lo, hi[0]) for b in (lo, hi[1]) for c in (lo, hi[2])])
    return corners @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


__all__ = ["Resampled", "resample_labels_nearest", "same_grid", "world_corners"]
