"""LiteMedSAM refinement of a classical organ candidate, slice by slice, with a cross-check.

Works on the full-resolution canonical array (axial slices, axes toward S, P, L). The
organ is tracked from its largest axial section outwards: on each visited slice the
prompt box is the box of the classical candidate's pieces that touch the previous
LiteMedSAM mask, so a structure that only joins the candidate elsewhere (a vessel, a
muscle strip) is left out; a gap in the candidate that it resumes after (within 45 mm)
is bridged with the previous mask's box and the propagation guards. The walk starts on
the largest section of the candidate's main body and ends where the candidate ends or
dwindles to a thin tube. Slices are visited every ``stride`` (about 6 mm) and the ones
between are filled by interpolating signed distances. Where LiteMedSAM and the
classical candidate disagree on a slice (Dice < 0.5), the classical section is kept
and counted.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...progress import CancelFn, ProgressFn, check_cancel, report
from .geometry import largest_component
from ...measure import dice
from ..litemedsam.propagate import box_mask_2d, box_padding
from ..litemedsam.segment import model_use, open_session

log = logging.getLogger(__name__)

STEP_MM = 6.0  # distance between prompted slices
MAX_PROMPTED = 40  # cap on encoder runs per organ (time on a CPU: ~1.2 s each)
BRIDGE_MM = 45.0  # the longest gap in a candidate that the walk crosses
TIP_FRACTION = 0.03  # a section this small (of the largest) twice in a row ends the walk
AGREE_DICE = 0.5  # per-slice Dice below which LiteMedSAM and the candidate disagree


@dataclass
class Refinement:
    """The refined mask (canonical grid) and how it was made."""

    mask: np.ndarray
    slice_iou: dict[int, float] = field(default_factory=dict)  # prompted slice -> predicted IoU
    slice_agreement: dict[int, float] = field(default_factory=dict)  # prompted slice -> Dice with candidate
    disagreed: list[int] = field(default_factory=list)
    model: Any = None  # ModelUse
    slices_encoded: int = 0
    notes: list[str] = field(default_factory=list)


def refine(canon_study: Any, candidate: np.ndarray, *, exclude: np.ndarray | None = None, device: str = "auto", progress: ProgressFn = None,
           cancel: CancelFn = None) -> Refinement:
    """LiteMedSAM masks along the candidate (see module doc); arrays on the canonical grid.

    Each prompt box comes from the candidate's pieces near the previous mask; the walk
    ends where the candidate ends (gaps it resumes after are bridged, see ``_Walk.visit``).
    ``exclude``: voxels that belong to other organs, removed from every mask.
    """
    from scipy import ndimage

    zs = np.flatnonzero(candidate.any(axis=(1, 2)))
    if len(zs) == 0:
        return Refinement(mask=np.zeros_like(candidate))
    main = largest_component(candidate)  # start on the main body, not on a piece joined to it
    start = int(np.argmax(main.sum(axis=(1, 2))))
    thick = float(canon_study.spacing_mm[0])
    stride = max(1, int(round(STEP_MM / thick)), math.ceil(len(zs) / MAX_PROMPTED))
    session = open_session(canon_study, window="soft_tissue", device=device, zoom=False)
    walk = _Walk(session, candidate, exclude, stride, pad=box_padding(candidate.shape[1:]),
                 near=max(1, int(round(STEP_MM / min(canon_study.spacing_mm[1:])))), spacing_z=thick)
    out = Refinement(mask=np.zeros_like(candidate))
    planned = max(1, len(zs) // stride + 1)
    visited: list[int] = []
    for direction in (1, -1):
        prev = out.mask[start] if direction == -1 and out.mask[start].any() else None
        z = start if direction == 1 else start - stride
        small = 0
        while 0 <= z < candidate.shape[0]:
            check_cancel(cancel, "organ refinement")
            section = walk.visit(z, prev, out, direction)
            if section is None:
                break
            out.mask[z] = prev = section
            visited.append(z)
            # an organ's tip shrinks away; a thin tube (a vessel) that goes on is not the organ
            small = small + 1 if section.sum() < TIP_FRACTION * out.mask[start].sum() else 0
            if small >= 2:
                walk.notes.append(f"slice {z}: stopped (section under {TIP_FRACTION:.0%} of the largest)")
                break
            report(progress, len(visited) / planned, f"LiteMedSAM slice {z} (IoU {out.slice_iou[z]:.2f})")
            z += direction * stride
    _fill_between(out.mask, sorted(visited), candidate, walk.near, stride)
    if exclude is not None:
        out.mask &= ~exclude
    out.mask = ndimage.binary_fill_holes(out.mask) if out.mask.any() else out.mask
    out.model = model_use(session)
    out.slices_encoded = session.encoded
    out.notes.append(f"LiteMedSAM on {len(visited)} axial slices (every {stride})"
                     + (f", {len(out.disagreed)} replaced by the classical section" if out.disagreed else ""))
    out.notes += walk.notes
    return out


@dataclass
class _Walk:
    """One slice of the walk: choose the box, run LiteMedSAM, check the answer."""

    session: Any
    candidate: np.ndarray
    exclude: np.ndarray | None
    stride: int
    pad: int
    near: int
    spacing_z: float = 1.0
    first: tuple[float, float] | None = None  # (IoU, mean density 0..1) on the first slice
    notes: list[str] = field(default_factory=list)

    def visit(self, z: int, prev: np.ndarray | None, out: Refinement, step: int) -> np.ndarray | None:
        """The section kept on slice ``z``, or None where the walk ends.

        The box comes from the candidate's pieces near the previous section. Where the
        candidate has a gap but goes on beyond it (a kidney broken at its hilum, an organ
        against a neighbour of the same density), the box of the previous section bridges
        the gap, with the propagation guards.
        """
        from ..litemedsam.propagate import mean_unit

        pieces = _pieces(self.candidate[z], prev, self.near)
        if pieces is None and (prev is None or not self._continues(z, prev, step)):
            return None
        box = _box(prev, self.pad) if pieces is None else _box(pieces, self.pad)
        sam, iou = self.session.segment(z, box)
        sam &= box_mask_2d(sam.shape, box)
        if self.exclude is not None:
            sam &= ~self.exclude[z]
        out.slice_iou[z] = iou
        if prev is None:
            self.first = (iou, mean_unit(self.session, z, sam) if sam.any() else 0.0)
        if pieces is None:
            return self._checked(z, prev, sam, iou)
        out.slice_agreement[z] = dice(sam, pieces)
        if out.slice_agreement[z] < AGREE_DICE or not sam.any():
            out.disagreed.append(z)
            return pieces
        return sam

    def _continues(self, z: int, prev: np.ndarray, step: int) -> bool:
        """Whether the candidate resumes near ``prev`` within BRIDGE_MM further on."""
        from scipy import ndimage

        n = max(1, int(round(BRIDGE_MM / self.spacing_z)))
        idx = [k for k in range(z + step, z + step * (n + 1), step) if 0 <= k < self.candidate.shape[0]]
        if not idx or not self.candidate[idx].any():
            return False
        reach = ndimage.binary_dilation(prev, iterations=2 * self.near)
        return bool((self.candidate[idx] & reach[None]).any())

    def _checked(self, z: int, prev: np.ndarray, sam: np.ndarray, iou: float) -> np.ndarray | None:
        """A section found without the candidate's support: kept unless a guard trips."""
        from ..litemedsam.propagate import PropagationLimits, stop_reason

        limits = PropagationLimits(max_growth=1.5 + 0.5 * self.stride)
        why = stop_reason(prev, sam, iou, limits, reach=self.pad + self.near) or self._drift(z, sam, iou, limits)
        if why:
            self.notes.append(f"slice {z}: stopped ({why})")
            return None
        return sam

    def _drift(self, z: int, sam: np.ndarray, iou: float, limits: Any) -> str:
        from ..litemedsam.propagate import drift_reason

        return drift_reason(self.session, z, sam, iou, self.first, limits) if self.first else ""


def _pieces(section: np.ndarray, prev: np.ndarray | None, near: int) -> np.ndarray | None:
    """Candidate pieces on this slice: the largest at the start, else those near the previous mask."""
    from scipy import ndimage

    lab, n = ndimage.label(section)
    if n == 0:
        return None
    if prev is None:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        return lab == int(np.argmax(sizes))
    reach = ndimage.binary_dilation(prev, iterations=near)
    hit = np.unique(lab[reach & section])
    hit = hit[hit > 0]
    return np.isin(lab, hit) if len(hit) else None


def _box(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, int(rows[0]) - pad), max(0, int(cols[0]) - pad),
            min(h - 1, int(rows[-1]) + pad), min(w - 1, int(cols[-1]) + pad))


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _sdf(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    if not m.any():
        return np.full(m.shape, 1e3, dtype=np.float32)
    return (ndimage.distance_transform_edt(~m) - ndimage.distance_transform_edt(m)).astype(np.float32)


def _fill_between(mask: np.ndarray, visited: list[int], candidate: np.ndarray | None, near: int,
                  stride: int) -> None:
    """Slices between prompted ones: signed-distance interpolation; up to ``stride - 1``
    slices beyond the last prompted one at each end: the candidate's pieces that continue
    the mask."""
    for a, b in zip(visited[:-1], visited[1:]):
        if b - a < 2:
            continue
        sa, sb = _sdf(mask[a]), _sdf(mask[b])
        for z in range(a + 1, b):
            w = (z - a) / (b - a)
            mask[z] = ((1 - w) * sa + w * sb) < 0
    if not visited:
        return
    for end, step in ((visited[-1], 1), (visited[0], -1)):
        z, prev = end + step, mask[end]
        while candidate is not None and 0 <= z < mask.shape[0] and abs(z - end) < stride:
            pieces = _pieces(candidate[z], prev, near) if prev.any() else None
            if pieces is None:
                break
            mask[z] = pieces
            prev = pieces
            z += step
