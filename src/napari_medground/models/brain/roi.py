"""Where a brain region is likely to be, before running the model (the ROI prior).

Positions are data (``resources/models/meshnet/region_priors.json``), expressed in a
brain frame measured on the conformed volume in about 0.1 s (:func:`brain_frame`): the
extent of a rough brain mask along each model axis (i toward Left, j toward Inferior,
k toward Anterior).

* left-right: ``u = (i - centre) / half-width`` (-1 right edge of the brain, +1 left edge);
* superior-inferior: ``v = (j - top) / length``, from the vertex downward, in units of
  the brain's anterior-posterior length (the lower end varies with the coverage of the
  brainstem and spinal cord, so it is not used);
* anterior-posterior: ``w = (k - back) / length`` (0 at the occipital pole, 1 frontal).

The prior is only a starting guess: ``brain.py`` checks after the run that the region
does not touch the ROI border and grows the ROI when it does, so the labels returned
are exact whatever the prior.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...resources import resource_path

Box3 = tuple[tuple[int, int, int], tuple[int, int, int]]
PRIORS_FILE = ("models", "meshnet", "region_priors.json")


@dataclass(frozen=True)
class HeadFrame:
    """Foreground extents on the model grid, in voxels (= mm), ``hi`` inclusive."""

    lr: tuple[int, int]  # along i
    si: tuple[int, int]  # along j (top of the head = lower index)
    ap: tuple[int, int]  # along k (back of the head = lower index)
    shape: tuple[int, int, int]

    @property
    def length(self) -> float:
        return float(max(1, self.ap[1] - self.ap[0] + 1))

    @property
    def half_width(self) -> float:
        return max(1.0, (self.lr[1] - self.lr[0] + 1) / 2.0)

    @property
    def centre_lr(self) -> float:
        return (self.lr[0] + self.lr[1]) / 2.0

    def to_voxels(self, u: tuple[float, float], v: tuple[float, float], w: tuple[float, float]) -> Box3:
        """Normalised frame ranges -> a box of model indices (``hi`` exclusive), clipped."""
        i = (self.centre_lr + u[0] * self.half_width, self.centre_lr + u[1] * self.half_width)
        j = (self.si[0] + v[0] * self.length, self.si[0] + v[1] * self.length)
        k = (self.ap[0] + w[0] * self.length, self.ap[0] + w[1] * self.length)
        lo = tuple(max(0, int(np.floor(a))) for a, _ in (i, j, k))
        hi = tuple(min(s, int(np.ceil(b)) + 1) for s, (_, b) in zip(self.shape, (i, j, k)))
        return lo, hi  # type: ignore[return-value]

    def to_frame(self, lo, hi) -> tuple[tuple[float, float], ...]:
        """Inverse of :meth:`to_voxels` for a box (used to build the priors file)."""
        u = ((lo[0] - self.centre_lr) / self.half_width, (hi[0] - 1 - self.centre_lr) / self.half_width)
        v = ((lo[1] - self.si[0]) / self.length, (hi[1] - 1 - self.si[0]) / self.length)
        w = ((lo[2] - self.ap[0]) / self.length, (hi[2] - 1 - self.ap[0]) / self.length)
        return u, v, w


def head_frame(volume: np.ndarray, lut: np.ndarray, threshold: float = 0.1) -> HeadFrame:
    """Foreground extents: slices holding at least 0.5% of the busiest slice's voxels.

    ``threshold`` is on the network-input scale (0..1); ignoring thin slices keeps noise
    specks and ghosting from stretching the frame.
    """
    return _extents((lut > threshold)[volume], volume.shape, step=1)


def brain_frame(volume: np.ndarray, lut: np.ndarray) -> HeadFrame:
    """Extents of a rough brain mask (scalp and skull excluded), about 0.1 s.

    At 2 mm: tissue brighter than 0.4 on the network-input scale (grey and white
    matter, also scalp fat), eroded by 6 mm so that the brain separates from the scalp
    through the dark skull, largest component, dilated back. Skull-stripped and whole-head
    images thus give the same frame. Falls back to :func:`head_frame` when the mask is
    implausibly small.
    """
    from scipy import ndimage

    small = (lut > 0.4)[volume[::2, ::2, ::2]]
    ball = ndimage.generate_binary_structure(3, 1)
    core = ndimage.binary_erosion(small, ball, iterations=3)
    comp, n = ndimage.label(core)
    if n == 0:
        return head_frame(volume, lut)
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    brain = ndimage.binary_dilation(comp == int(np.argmax(sizes)), ball, iterations=3) & small
    if brain.sum() * 8 < 400_000:  # < 0.4 L: not a brain-sized object
        return head_frame(volume, lut)
    return _extents(brain, volume.shape, step=2)


def _extents(mask: np.ndarray, shape, step: int) -> HeadFrame:
    ext = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        counts = mask.sum(axis=other)
        if counts.max() == 0:
            ext.append((0, shape[axis] - 1))
            continue
        idx = np.flatnonzero(counts >= 0.005 * counts.max())
        ext.append((int(idx[0]) * step, min(shape[axis] - 1, int(idx[-1]) * step + step - 1)))
    return HeadFrame(ext[0], ext[1], ext[2], tuple(int(s) for s in shape))  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _priors() -> dict:
    p = resource_path(*PRIORS_FILE)
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {"models": {}}


def prior_box(frame: HeadFrame, model: str, names: list[str]) -> Box3 | None:
    """Union of the prior boxes of ``names`` (with the file's margins), or None if any is unknown."""
    data = _priors()
    table = data.get("models", {}).get(model, {})
    margin = data.get("margin", {"frame": 0.05, "min_mm": 8})
    boxes = []
    for name in names:
        entry = table.get(name)
        if not entry:
            return None
        u, v, w = (tuple(x) for x in entry)
        mu = max(margin["frame"] * frame.length / frame.half_width, margin["min_mm"] / frame.half_width)
        mv = max(margin["frame"], margin["min_mm"] / frame.length)
        boxes.append(frame.to_voxels((u[0] - mu, u[1] + mu), (v[0] - mv, v[1] + mv), (w[0] - mv, w[1] + mv)))
    lo = tuple(min(b[0][a] for b in boxes) for a in range(3))
    hi = tuple(max(b[1][a] for b in boxes) for a in range(3))
    if any(h <= l for l, h in zip(lo, hi)):
        return None
    return lo, hi  # type: ignore[return-value]


def brain_box(frame: HeadFrame, margin: int = 8) -> Box3:
    """The brain's box on the model grid grown by ``margin`` voxels (mm), clipped."""
    lo = (frame.lr[0] - margin, frame.si[0] - margin, frame.ap[0] - margin)
    hi = (frame.lr[1] + margin + 1, frame.si[1] + margin + 1, frame.ap[1] + margin + 1)
    return (tuple(max(0, v) for v in lo),  # type: ignore[return-value]
            tuple(min(s, v) for s, v in zip(frame.shape, hi)))


def touching_faces(mask: np.ndarray, box: Box3, shape, min_piece: int = 1) -> list[tuple[int, int]]:
    """Faces (axis, 0 = low / 1 = high) of ``box`` that ``mask`` touches, volume borders excepted.

    With ``min_piece`` > 1, connected pieces of ``mask`` smaller than that many voxels
    are ignored (isolated specks of a label, not the structure).
    """
    if min_piece > 1 and mask.any():
        from scipy import ndimage

        comp, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        mask = (sizes >= min_piece)[comp]
    faces = []
    for a in range(3):
        first = np.take(mask, 0, axis=a)
        last = np.take(mask, mask.shape[a] - 1, axis=a)
        if box[0][a] > 0 and first.any():
            faces.append((a, 0))
        if box[1][a] < shape[a] and last.any():
            faces.append((a, 1))
    return faces


def grow_box(box: Box3, faces: list[tuple[int, int]], shape, *, everywhere: bool = False) -> Box3:
    """Move the given faces (or all of them) outward by a third of the box extent, at least 20 voxels."""
    lo, hi = list(box[0]), list(box[1])
    for a in range(3):
        step = max(20, (hi[a] - lo[a]) // 3)
        if everywhere or (a, 0) in faces:
            lo[a] = max(0, lo[a] - step)
        if everywhere or (a, 1) in faces:
            hi[a] = min(shape[a], hi[a] + step)
    return tuple(lo), tuple(hi)  # type: ignore[return-value]
