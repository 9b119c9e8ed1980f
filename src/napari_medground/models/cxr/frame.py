"""The canonical frame for chest radiographs, and the way back to the study grid.

A Study's 2D array may be stored in any orientation; its ``affine_lps`` says where each
array axis points in the patient (LPS: +x = patient left, +z = head). The canonical
frame puts the patient upright as on a standard display: rows run from head to feet,
columns from the patient's right to the patient's left. Analysis runs on a reduced
copy of it with square pixels (the *working grid*, about ``WORK_SIZE`` pixels on its
longer side); results map back to study indices (row, col) through :class:`Frame`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORK_SIZE = 256  # pixels on the longer side of the working grid


@dataclass(frozen=True)
class Frame:
    """How the study array maps to the canonical frame and the working grid.

    ``transpose`` swaps the study axes first, then ``flip_rows``/``flip_cols`` reverse
    the canonical axes. ``canon_shape`` is the full-resolution canonical shape,
    ``canon_spacing_mm`` its (row, col) pixel size, ``work_shape`` the working grid.
    ``frontal`` is False when the image plane does not contain the patient's
    left-right axis (then the canonical frame is a guess).
    """

    transpose: bool
    flip_rows: bool
    flip_cols: bool
    canon_shape: tuple[int, int]
    canon_spacing_mm: tuple[float, float]
    work_shape: tuple[int, int]
    frontal: bool = True

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """Study-grid array -> canonical frame (full resolution); a view, no copy."""
        a = array.T if self.transpose else array
        if self.flip_rows:
            a = a[::-1]
        if self.flip_cols:
            a = a[:, ::-1]
        return a

    def from_canonical(self, array: np.ndarray) -> np.ndarray:
        """Canonical-frame array (full resolution) -> study grid (contiguous copy)."""
        a = array
        if self.flip_cols:
            a = a[:, ::-1]
        if self.flip_rows:
            a = a[::-1]
        return np.ascontiguousarray(a.T if self.transpose else a)

    def work_to_study(self, row: float, col: float) -> tuple[float, float]:
        """Working-grid position (row, col) -> study array index (row, col), floats."""
        (hc, wc), (hw, ww) = self.canon_shape, self.work_shape
        r = (row + 0.5) * hc / hw - 0.5
        c = (col + 0.5) * wc / ww - 0.5
        if self.flip_rows:
            r = hc - 1 - r
        if self.flip_cols:
            c = wc - 1 - c
        return (c, r) if self.transpose else (r, c)

    def mask_to_study(self, mask: np.ndarray) -> np.ndarray:
        """Boolean working-grid mask -> boolean mask on the study grid (linear
        interpolation then 0.5, so edges stay smooth at full resolution)."""
        from skimage.transform import resize

        if not mask.any():
            return self.from_canonical(np.zeros(self.canon_shape, bool))
        full = resize(mask.astype(np.float32), self.canon_shape, order=1, anti_aliasing=False) > 0.5
        return self.from_canonical(full)


def build_frame(shape: tuple[int, int], affine_lps: np.ndarray, work_size: int = WORK_SIZE) -> Frame:
    """The :class:`Frame` of a 2D study of ``shape`` with ``affine_lps`` (index (row, col, 0))."""
    a = np.asarray(affine_lps, dtype=float)[:3, :2]
    spacing = np.linalg.norm(a, axis=0)
    spacing = np.where(spacing > 0, spacing, 1.0)
    u = a / spacing  # unit directions of array axes 0 and 1
    frontal = bool(max(abs(u[0, 0]), abs(u[0, 1])) >= 0.5)
    transpose = bool(abs(u[0, 0]) > abs(u[0, 1]))  # axis 0 runs left-right: make it the column axis
    if transpose:
        u, spacing, shape = u[:, ::-1], spacing[::-1], (shape[1], shape[0])
    flip_cols = bool(u[0, 1] < 0)  # columns must run towards the patient's left (+x)
    flip_rows = bool(u[2, 0] > 0)  # rows must run towards the feet (-z)
    extent = (shape[0] * spacing[0], shape[1] * spacing[1])
    pixel = max(extent) / work_size
    work = (max(8, round(extent[0] / pixel)), max(8, round(extent[1] / pixel)))
    return Frame(transpose, flip_rows, flip_cols, (int(shape[0]), int(shape[1])),
                 (float(spacing[0]), float(spacing[1])), (int(work[0]), int(work[1])), frontal)


def working_image(array: np.ndarray, frame: Frame) -> np.ndarray:
    """The study's pixels on the working grid (float, canonical orientation), averaged
    over blocks first so that large detectors are reduced quickly and without aliasing."""
    from skimage.transform import downscale_local_mean, resize

    img = np.asarray(frame.to_canonical(np.asarray(array)), dtype=np.float32)
    (hc, wc), (hw, ww) = frame.canon_shape, frame.work_shape
    fr, fc = max(1, hc // (2 * hw)), max(1, wc // (2 * ww))
    if fr > 1 or fc > 1:
        # whole blocks only: the few rows/columns left off shift the grid by far less
        # than one working pixel
        img = downscale_local_mean(img[: hc - hc % fr, : wc - wc % fc], (fr, fc))
    return resize(img, (hw, ww), order=1, anti_aliasing=True, preserve_range=True).astype(np.float64)
