"""The working frame for CT organ localisation: reorient, coarsen, body and spine.

Every organ finder works in one canonical frame, whatever the study's orientation:
array axes (z, y, x) point toward patient Superior, Posterior and Left (orientation
code "SPL", a standard axial DICOM series). The study array is transposed and flipped
into it using the affine (nearest patient axis per array axis, so an oblique series is
handled as its nearest axial one, by the same rule as the anatomy frame:
:func:`.frame.canonical_axes`) and masks go back by the inverse. Classical steps
run on a coarser grid (about 2 mm) made by block means; masks return to full
resolution by repetition.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frame import canonical_axes

WORK_SPACING_MM = 2.0  # coarse-grid target: fine enough for organs, cheap for morphology


@dataclass(frozen=True)
class Frame:
    """How the study array maps to the canonical SPL array (and back)."""

    perm: tuple[int, int, int]  # canonical axis k is study axis perm[k]
    flips: tuple[bool, bool, bool]  # flip canonical axis k after the transpose
    spacing_mm: tuple[float, float, float]  # canonical (z, y, x) voxel size

    @classmethod
    def from_affine(cls, affine_lps: np.ndarray) -> "Frame":
        perm, flips, spacing = canonical_axes(np.asarray(affine_lps, dtype=float)[:3, :3])
        return cls(perm=perm, flips=flips, spacing_mm=spacing)

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        out = np.transpose(array, self.perm)
        for ax, f in enumerate(self.flips):
            if f:
                out = np.flip(out, ax)
        return out

    def to_study(self, array: np.ndarray) -> np.ndarray:
        out = array
        for ax, f in enumerate(self.flips):
            if f:
                out = np.flip(out, ax)
        return np.ascontiguousarray(np.transpose(out, np.argsort(self.perm)))

    def canonical_affine(self, affine_lps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Affine of the canonical array (index in SPL order -> LPS mm)."""
        a = np.asarray(affine_lps, dtype=float)
        m = np.zeros((4, 4))
        m[3, 3] = 1.0
        for k, (ax, f) in enumerate(zip(self.perm, self.flips)):
            # canonical index i_k -> study index (n-1-i_k if flipped)
            n = shape[ax]
            m[ax, k] = -1.0 if f else 1.0
            m[ax, 3] = (n - 1) if f else 0.0
        return a @ m


@dataclass(frozen=True)
class Grid:
    """Block-mean coarsening of the canonical array by integer factors."""

    factors: tuple[int, int, int]
    shape: tuple[int, int, int]  # full canonical shape

    @classmethod
    def for_spacing(cls, spacing: tuple[float, float, float], shape: tuple[int, ...]) -> "Grid":
        f = tuple(max(1, int(round(WORK_SPACING_MM / s))) if s < WORK_SPACING_MM * 0.75 else 1
                  for s in spacing)
        return cls(factors=f, shape=tuple(int(s) for s in shape))

    def coarse_spacing(self, spacing: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(s * f for s, f in zip(spacing, self.factors))

    def down(self, array: np.ndarray) -> np.ndarray:
        """Block means (float32); edges padded by repetition to whole blocks."""
        a = np.asarray(array, dtype=np.float32)
        if self.factors == (1, 1, 1):
            return np.ascontiguousarray(a)
        pad = [(0, (-s) % f) for s, f in zip(a.shape, self.factors)]
        a = np.pad(a, pad, mode="edge")
        fz, fy, fx = self.factors
        z, y, x = (s // f for s, f in zip(a.shape, self.factors))
        return a.reshape(z, fz, y, fy, x, fx).mean(axis=(1, 3, 5))

    def up(self, mask: np.ndarray) -> np.ndarray:
        """A coarse mask back at full canonical resolution."""
        out = mask
        for ax, f in enumerate(self.factors):
            if f > 1:
                out = np.repeat(out, f, axis=ax)
        return np.ascontiguousarray(out[: self.shape[0], : self.shape[1], : self.shape[2]])


def ball(radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Boolean ellipsoidal structuring element of a radius in mm on an anisotropic grid."""
    r = [max(0, int(np.floor(radius_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    dist = sum((g * s / max(radius_mm, 1e-6)) ** 2 for g, s in zip(grids, spacing))
    return dist <= 1.0


def disk(radius_mm: float, spacing: tuple[float, float]) -> np.ndarray:
    """In-plane (y, x) structuring element of a radius in mm, shaped (1, h, w) for 3D arrays."""
    return ball(radius_mm, (1e9, spacing[0], spacing[1]))


def largest_component(mask: np.ndarray, structure: np.ndarray | None = None) -> np.ndarray:
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=structure)
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def body_mask(hu: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Patient body per axial slice: the largest non-air region, holes filled.

    Per slice, so arms and the table (separate in the axial plane) stay out.
    """
    from scipy import ndimage

    raw = hu > -400
    raw = ndimage.binary_opening(raw, structure=disk(3.0, spacing[1:]))
    out = np.zeros_like(raw)
    for z in range(raw.shape[0]):
        lab, n = ndimage.label(raw[z])
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        out[z] = ndimage.binary_fill_holes(lab == int(np.argmax(sizes)))
    return out
