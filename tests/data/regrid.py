"""Derive new grids from a real study inside a test (nothing is written to disk):
resample to another voxel size, store in another axis order / direction, and carry
reference labels onto any study grid through both affines (world space)."""
from __future__ import annotations

import dataclasses

import numpy as np

from napari_medground.study.model import Study


def resample(study: Study, spacing_mm, order: int = 1) -> Study:
    """``study`` on a grid of ``spacing_mm`` (array axis order), same origin and direction;
    linear interpolation of the voxels (``order``), the affine scaled to match."""
    from scipy import ndimage as ndi

    old = np.asarray(study.spacing_mm, float)
    new = np.asarray(spacing_mm, float)
    step = new / old
    shape = tuple(int(np.floor((n - 1) / s + 1e-9)) + 1 for n, s in zip(study.shape, step))
    coords = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, step)], indexing="ij", sparse=True)
    coords = np.broadcast_arrays(*coords)
    arr = ndi.map_coordinates(study.array.astype(np.float32), coords, order=order, mode="nearest")
    affine = study.affine_lps @ np.diag(list(step) + [1.0])
    return dataclasses.replace(study, array=arr.astype(np.float32), affine_lps=affine,
                               metadata={}, source_paths=())


def reorient(study: Study, perm=(1, 2, 0), flips=(True, False, True)) -> Study:
    """The same voxels stored with axes permuted by ``perm`` and then flipped per ``flips``;
    the affine changes so every voxel keeps its patient LPS position."""
    arr = np.transpose(study.array, perm)
    aff = study.affine_lps.copy()
    cols = aff[:, list(perm) + [3]]
    for ax, f in enumerate(flips):
        if f:
            n = arr.shape[ax]
            cols[:, 3] = cols[:, 3] + cols[:, ax] * (n - 1)
            cols[:, ax] = -cols[:, ax]
            arr = np.flip(arr, ax)
    return dataclasses.replace(study, array=np.ascontiguousarray(arr), affine_lps=cols,
                               metadata={}, source_paths=())


def labels_on(study: Study, ref: Study) -> np.ndarray:
    """Labels of ``ref`` (a loaded label study) at each voxel of ``study`` by nearest
    neighbour in world space (as the contract check computes them)."""
    grids = np.meshgrid(*[np.arange(s) for s in study.shape], indexing="ij")
    idx = np.stack([g.ravel() for g in grids], 1)
    j = np.rint(ref.lps_to_index(study.index_to_lps(idx))).astype(int)
    ok = np.all((j >= 0) & (j < np.array(ref.shape)), 1)
    out = np.zeros(len(idx), ref.array.dtype)
    out[ok] = ref.array[tuple(j[ok].T)]
    return out.reshape(study.shape)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    s = float(a.sum() + b.sum())
    return 2.0 * float((a & b).sum()) / s if s else 1.0
