"""Derive new grids from a real study inside a test (nothing is written to disk):
resample to another voxel size, store in another axis order / direction, and carry
reference labels onto any study grid through both affines (world space)."""
from __future__ import annotations

import dataclasses

import numpy as np

from napari_medground.study.model import Study


def resample(study: Study, spacing_mm) -> Study:
    """``study`` on a grid of ``spacing_mm`` (array axis order), same origin and direction;
    separable linear interpolation of the voxels, the affine scaled to match."""
    old = np.asarray(study.spacing_mm, float)
    step = np.asarray(spacing_mm, float) / old
    arr = study.array.astype(np.float32)
    for ax, (n, s) in enumerate(zip(study.shape, step)):
        pos = np.arange(int(np.floor((n - 1) / s + 1e-9)) + 1) * s
        i0 = np.minimum(np.floor(pos).astype(int), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w = (pos - i0).astype(np.float32).reshape([-1 if a == ax else 1 for a in range(arr.ndim)])
        arr = np.take(arr, i0, axis=ax) * (1 - w) + np.take(arr, i1, axis=ax) * w
    affine = study.affine_lps @ np.diag(list(step) + [1.0])
    return dataclasses.replace(study, array=arr, affine_lps=affine, metadata={}, source_paths=())


def crop(study: Study, box) -> Study:
    """The sub-volume ``study.array[box]`` (a tuple of slices with steps of 1), its affine
    moved so every voxel keeps its patient position (a smaller field of view)."""
    start = [s.start or 0 for s in box]
    affine = study.affine_lps.copy()
    affine[:3, 3] = study.affine_lps[:3, :3] @ np.asarray(start, float) + study.affine_lps[:3, 3]
    return dataclasses.replace(study, array=np.ascontiguousarray(study.array[box]), affine_lps=affine,
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
    m = np.linalg.inv(ref.affine_lps) @ study.affine_lps  # study index -> ref index
    axes = [np.arange(n, dtype=np.float32).reshape([-1 if a == b else 1 for b in range(3)])
            for a, n in enumerate(study.shape)]
    out = np.zeros(study.shape, ref.array.dtype)
    idx, ok = [], np.ones(study.shape, bool)
    for c in range(3):
        j = np.rint(m[c, 0] * axes[0] + m[c, 1] * axes[1] + m[c, 2] * axes[2] + m[c, 3]).astype(np.int32)
        j = np.broadcast_to(j, study.shape)
        ok &= (j >= 0) & (j < ref.shape[c])
        idx.append(j)
    out[ok] = ref.array[tuple(j[ok] for j in idx)]
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    s = float(a.sum() + b.sum())
    return 2.0 * float((a & b).sum()) / s if s else 1.0
