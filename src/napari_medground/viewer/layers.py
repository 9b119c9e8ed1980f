"""Display geometry: a :class:`~napari_medground.study.Study` shown in physical space.

Pure numpy (no Qt, no napari), so that it is unit-testable and shared by the reader,
the overlays, the box prompts and the writer.

Frames
------
* **study index**: an index into ``study.array`` ((z, y, x) or (row, col)).
* **display index**: an index into the reoriented array that napari shows. For a
  volume the study array is only transposed and flipped (numpy views, no
  resampling) so that display axis 0 points Superior (the slider), axis 1 Posterior
  (rows, anterior at the top) and axis 2 patient Left (columns, so the patient's left
  is on the screen's right: the radiological convention). 2D images stay (row, col).
* **world**: napari's world coordinates in mm. For a volume world = (S, P, L) =
  LPS (z, y, x): the study's ``affine_lps`` with its output permuted, composed with the
  reorientation. Non-oblique data need only ``scale`` + ``translate``; oblique data keep
  the full affine. For a 2D image world = (row, col) * pixel spacing.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..result import Box

# LPS (x, y, z) -> world (z, y, x): display axis j shows LPS component 2 - j.
_LPS_TO_WORLD = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
_OBLIQUE_TOL = 1e-6


@dataclass(frozen=True)
class DisplayGeometry:
    """How one study is reoriented for display and where it sits in world mm.

    ``perm[j]`` is the study axis shown on display axis ``j``; ``flip[j]`` says the
    display axis runs opposite to that study axis. ``affine`` ((ndim+1) square) maps a
    display index to world mm.
    """

    shape: tuple[int, ...]
    perm: tuple[int, ...]
    flip: tuple[bool, ...]
    affine: np.ndarray

    # ---------------------------------------------------------------- building
    @classmethod
    def from_study(cls, study: Any) -> "DisplayGeometry":
        """The display geometry of a study (see the module docstring)."""
        shape = tuple(int(s) for s in study.array.shape)
        if len(shape) == 2:
            sp = np.asarray(study.spacing_mm, dtype=float)
            affine = np.diag([sp[0], sp[1], 1.0])
            return cls(shape, (0, 1), (False, False), affine)
        a = np.asarray(study.affine_lps, dtype=float)
        perm, flip = _patient_axes(a[:3, :3])
        h = np.eye(4)
        h[:3, :3] = 0.0
        for j, (ax, f) in enumerate(zip(perm, flip)):
            h[ax, j] = -1.0 if f else 1.0
            if f:
                h[ax, 3] = shape[ax] - 1
        w = np.eye(4)
        w[:3, :3] = _LPS_TO_WORLD
        return cls(shape, perm, flip, w @ a @ h)

    # ---------------------------------------------------------------- properties
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def display_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[ax] for ax in self.perm)

    @property
    def is_oblique(self) -> bool:
        """True when the display axes are not parallel to the world axes."""
        m = self.affine[: self.ndim, : self.ndim]
        return bool(np.any(np.abs(m - np.diag(np.diag(m))) > _OBLIQUE_TOL * np.abs(m).max()))

    @property
    def scale(self) -> tuple[float, ...]:
        """mm per display index along each display axis (column norms of the affine)."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[: self.ndim, : self.ndim], axis=0))

    @property
    def translate(self) -> tuple[float, ...]:
        """World mm of display index 0."""
        return tuple(float(v) for v in self.affine[: self.ndim, self.ndim])

    def layer_kwargs(self) -> dict[str, Any]:
        """napari layer transform: ``scale`` + ``translate``, or ``affine`` when oblique."""
        if self.is_oblique:
            return {"affine": self.affine.copy()}
        return {"scale": self.scale, "translate": self.translate}

    # ---------------------------------------------------------------- arrays
    def to_display(self, array: np.ndarray) -> np.ndarray:
        """Study-grid array -> display array (a numpy view: transpose and flips only)."""
        out = np.transpose(np.asarray(array), self.perm)
        return out[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]

    def from_display(self, array: np.ndarray) -> np.ndarray:
        """Display array -> study-grid array (exact inverse of :meth:`to_display`)."""
        a = np.asarray(array)
        if a.shape != self.display_shape:
            raise ValueError(f"array of shape {a.shape} is not on the display grid {self.display_shape}")
        a = a[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]
        return np.transpose(a, np.argsort(self.perm))

    # ---------------------------------------------------------------- points
    def display_to_study(self, points: np.ndarray) -> np.ndarray:
        """Display indices (N, ndim) or (ndim,) -> study indices (float, same shape)."""
        p = np.asarray(points, dtype=float)
        out = np.empty_like(np.atleast_2d(p))
        q = np.atleast_2d(p)
        for j, (ax, f) in enumerate(zip(self.perm, self.flip)):
            out[:, ax] = (self.shape[ax] - 1 - q[:, j]) if f else q[:, j]
        return out[0] if p.ndim == 1 else out

    def study_to_display(self, points: np.ndarray) -> np.ndarray:
        """Study indices (N, ndim) or (ndim,) -> display indices (float, same shape)."""
        p = np.asarray(points, dtype=float)
        q = np.atleast_2d(p)
        out = np.empty_like(q)
        for j, (ax, f) in enumerate(zip(self.perm, self.flip)):
            out[:, j] = (self.shape[ax] - 1 - q[:, ax]) if f else q[:, ax]
        return out[0] if p.ndim == 1 else out

    def display_to_world(self, points: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=float))
        n = self.ndim
        out = p @ self.affine[:n, :n].T + self.affine[:n, n]
        return out[0] if np.asarray(points).ndim == 1 else out

    def world_to_display(self, points: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=float))
        n = self.ndim
        inv = np.linalg.inv(self.affine)
        out = p @ inv[:n, :n].T + inv[:n, n]
        return out[0] if np.asarray(points).ndim == 1 else out

    def world_to_study(self, points: np.ndarray) -> np.ndarray:
        """World mm -> study indices (continuous)."""
        return self.display_to_study(self.world_to_display(points))

    def study_to_world(self, points: np.ndarray) -> np.ndarray:
        return self.display_to_world(self.study_to_display(points))

    def box_from_display(self, points: np.ndarray) -> Box:
        """The study-grid Box (inclusive, clipped) that encloses display-index points.

        Used for rectangles drawn in napari: their vertices are display indices (the
        overlay layers share the image's transform).
        """
        idx = self.display_to_study(np.atleast_2d(points))
        lo = np.clip(np.floor(idx.min(axis=0) + 0.5), 0, np.asarray(self.shape) - 1).astype(int)
        hi = np.clip(np.floor(idx.max(axis=0) + 0.5), 0, np.asarray(self.shape) - 1).astype(int)
        return Box(tuple(int(v) for v in lo), tuple(int(v) for v in hi))

    def box_corners_display(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """A study Box -> (min, max) display indices (inclusive corners)."""
        a = self.study_to_display(np.asarray(box.min_voxel, dtype=float))
        b = self.study_to_display(np.asarray(box.max_voxel, dtype=float))
        return np.minimum(a, b), np.maximum(a, b)


def _patient_axes(direction: np.ndarray) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Which study axis to show on each display axis (S, P, L), and whether to flip it.

    The permutation that best aligns the study axes with the patient axes (largest sum
    of |cosines|) is used, so that oblique data still get one study axis per display axis.
    """
    d = direction / np.linalg.norm(direction, axis=0)
    world = _LPS_TO_WORLD @ d  # rows: S, P, L components of each study axis (columns)
    best = max(itertools.permutations(range(3)), key=lambda p: sum(abs(world[j, p[j]]) for j in range(3)))
    flip = tuple(bool(world[j, best[j]] < 0) for j in range(3))
    return tuple(int(v) for v in best), flip


def display_geometry(study: Any) -> DisplayGeometry:
    """The :class:`DisplayGeometry` of a study (cheap: a few 4x4 products)."""
    return DisplayGeometry.from_study(study)


def to_display(array: np.ndarray, study: Any) -> np.ndarray:
    """Study-grid array -> the display array of ``study`` (a view)."""
    return display_geometry(study).to_display(array)


def from_display(array: np.ndarray, study: Any) -> np.ndarray:
    """Display array -> the study grid of ``study`` (a view; exact inverse of to_display)."""
    return display_geometry(study).from_display(array)
