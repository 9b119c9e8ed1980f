"""The axial plane of a study: which array axis runs head-to-foot, and an in-plane
frame in mm aligned with the patient's left-right direction.

Used by RECIST (longest in-plane diameter per axial slice) and the Evans index (left-
right widths). Plane coordinates are mm in an orthonormal basis of the slice plane:
``u`` along the patient's left (+L) projected onto the plane, ``v`` perpendicular to
it within the plane. In-plane indices are the two array indices of a slice, in array
order. Everything goes through the study's affine, so oblique grids are handled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class SlicePlane:
    """Geometry shared by all slices perpendicular to one array axis.

    axis : the array axis perpendicular to the plane (None for a 2D study).
    in_plane : the two array axes within the plane, in array order.
    to_plane : 2x2, in-plane index offsets -> plane mm (u, v).
    from_plane : its inverse.
    """

    axis: int | None
    in_plane: tuple[int, int]
    to_plane: np.ndarray
    from_plane: np.ndarray

    @property
    def pixel_extent_mm(self) -> tuple[float, float]:
        """Width of one pixel's parallelogram along u and along v (mm)."""
        return float(np.abs(self.to_plane[0]).sum()), float(np.abs(self.to_plane[1]).sum())

    @property
    def min_spacing_mm(self) -> float:
        return float(np.linalg.norm(self.to_plane, axis=0).min())

    def coords(self, idx2: np.ndarray) -> np.ndarray:
        """In-plane indices (N, 2) -> plane mm (N, 2)."""
        return np.asarray(idx2, dtype=float) @ self.to_plane.T

    def index(self, uv: np.ndarray) -> np.ndarray:
        """Plane mm (N, 2) -> in-plane indices (N, 2)."""
        return np.asarray(uv, dtype=float) @ self.from_plane.T

    def full_index(self, slice_index: int | None, idx2) -> tuple[float, ...]:
        """An in-plane index pair as a full array index (slice coordinate inserted)."""
        a, b = (float(v) for v in idx2)
        if self.axis is None:
            return (a, b)
        out = [0.0, 0.0, 0.0]
        out[self.axis] = float(slice_index)
        out[self.in_plane[0]], out[self.in_plane[1]] = a, b
        return tuple(out)


def si_axis(study) -> int | None:
    """The array axis whose direction is closest to the patient's S-I axis (None in 2D)."""
    if study.is_2d:
        return None
    d = np.asarray(study.affine_lps, dtype=float)[:3, :3]
    d = d / np.linalg.norm(d, axis=0)
    return int(np.argmax(np.abs(d[2])))


def axial_plane(study) -> SlicePlane:
    """The plane of the slices perpendicular to :func:`si_axis` (the image plane in 2D)."""
    axis = si_axis(study)
    in_plane = (0, 1) if axis is None else tuple(k for k in range(3) if k != axis)
    m = np.asarray(study.affine_lps, dtype=float)[:3, list(in_plane)]  # 3 x 2, mm per index
    normal = np.cross(m[:, 0], m[:, 1])
    normal /= np.linalg.norm(normal)
    e1 = None
    for patient_axis in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])):
        proj = patient_axis - normal * float(normal @ patient_axis)
        if np.linalg.norm(proj) > 1e-3:  # the L axis unless the plane is (nearly) sagittal
            e1 = proj / np.linalg.norm(proj)
            break
    e2 = np.cross(normal, e1)
    basis = np.stack([e1, e2], axis=1)  # 3 x 2 orthonormal
    to_plane = basis.T @ m
    return SlicePlane(axis, in_plane, to_plane, np.linalg.inv(to_plane))


def iter_slices(mask: np.ndarray, plane: SlicePlane) -> Iterator[tuple[int | None, np.ndarray]]:
    """(slice index, 2D mask) for each slice of ``plane.axis`` that holds mask voxels."""
    if plane.axis is None:
        if mask.any():
            yield None, mask
        return
    other = tuple(k for k in range(mask.ndim) if k != plane.axis)
    occupied = np.flatnonzero(mask.any(axis=other))
    for s in occupied:
        yield int(s), np.take(mask, int(s), axis=plane.axis)
