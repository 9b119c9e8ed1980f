"""One clinician interaction on an existing mask: a point or a scribble, positive or negative.

Pure functions (no Qt): the study, the current mask (``study.shape``, bool) and a prompt
in study array indices — (z, y, x) on a volume, (row, col) on a 2D study, the order of
``--box`` — give a new mask and a one-line description. The caller applies the new mask
as one ``edit_mask`` on the Grounding, so every interaction is recorded in the audit and
undoable and redoable to any depth. Every interaction changes one slice only (the slice
the clinician looks at); a new finding from a point goes through ``ground(points=...)``.

- positive point outside the mask: LiteMedSAM on that slice, prompted with the box the
  model rates best around the click (:func:`..models.litemedsam.points.box_from_point`),
  added; inside the mask: nothing to add;
- negative point on the mask: on that slice, the mask pixels nearer (mm) to the click than
  to the mask's most interior pixel away from it are removed
  (:func:`..models.litemedsam.points.carve`), then only the part holding that interior
  pixel is kept; off the mask: nothing to remove;
- positive scribble: its pixels plus LiteMedSAM's mask in the scribble's bounding box
  (padded), added;
- negative scribble: a closed lasso (3+ vertices, ``closed=True``) removes the pixels
  inside it; an open path removes the pixels within one pixel of it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..result import ModelUse

Point = tuple[int, ...]


@dataclass(frozen=True)
class PromptEdit:
    """The mask after one interaction (``study.shape``, bool), what was done in words, how
    many voxels changed, the LiteMedSAM use when the model ran (device, seconds) and the
    wall-clock seconds."""

    mask: np.ndarray
    description: str
    changed: int
    model: ModelUse | None
    seconds: float


def apply_point(study: Any, mask: np.ndarray, point: Sequence[int], *, positive: bool,
                device: str = "auto") -> PromptEdit:
    """One click (see the module docstring); ``point`` in study array indices."""
    from ..models.litemedsam.points import check_points

    t0 = time.perf_counter()
    p = check_points([point], study.shape, study.name, "point")[0]
    z, rc = _plane(study, p)
    cur = _slice(mask, z)
    use = None
    if positive:
        if cur[rc]:
            return _edit(mask, mask, f"positive point {list(p)} already inside the mask: nothing added", None, t0)
        from ..models.litemedsam.points import box_from_point

        session = _session(study, device)
        _, add, iou = box_from_point(session, z, rc)
        use = _use(session)
        new2d = cur | add
        what = f"positive point {list(p)}: LiteMedSAM region (predicted IoU {iou:.2f}) added"
    else:
        if not cur[rc]:
            return _edit(mask, mask, f"negative point {list(p)} outside the mask: nothing removed", None, t0)
        new2d = _carve_slice(study, cur, rc)
        what = f"negative point {list(p)}: the part nearer to it removed"
    return _edit(mask, _put(mask, z, new2d), what, use, t0)


def apply_scribble(study: Any, mask: np.ndarray, path: Sequence[Sequence[float]], *, positive: bool,
                   closed: bool = False, device: str = "auto") -> PromptEdit:
    """One scribble or lasso on one slice (vertices in study array indices, all on the
    same slice of a volume); see the module docstring."""
    t0 = time.perf_counter()
    pts = np.asarray(path, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(study.shape) or len(pts) < 2:
        raise ValueError(f"{study.name}: a scribble needs at least 2 vertices of {len(study.shape)} "
                         f"coordinates, got {pts.shape}")
    z = None
    if len(study.shape) == 3:
        zs = np.unique(np.round(pts[:, 0]).astype(int))
        if len(zs) != 1:
            raise ValueError(f"{study.name}: a scribble lies on one slice; got slices {zs.tolist()}")
        z = int(np.clip(zs[0], 0, study.shape[0] - 1))
        pts = pts[:, 1:]
    shape2d = study.shape[-2:]
    cur = _slice(mask, z)
    lasso = closed and len(pts) >= 3
    drawn = _lasso(pts, shape2d) if lasso else _path(pts, shape2d)
    use = None
    if positive:
        from ..models.litemedsam.propagate import box_padding

        session = _session(study, device)
        rows, cols = np.flatnonzero(drawn.any(1)), np.flatnonzero(drawn.any(0))
        pad = box_padding(shape2d)
        box = (max(0, rows[0] - pad), max(0, cols[0] - pad), min(shape2d[0] - 1, rows[-1] + pad),
               min(shape2d[1] - 1, cols[-1] + pad))
        sam_mask, iou = session.segment(z, tuple(int(v) for v in box))
        box_m = np.zeros(shape2d, bool)
        box_m[box[0]:box[2] + 1, box[1]:box[3] + 1] = True
        use = _use(session)
        new2d = cur | drawn | (sam_mask & box_m)
        what = f"positive {'lasso' if lasso else 'scribble'}: it and LiteMedSAM's region in its box (IoU {iou:.2f}) added"
    else:
        new2d = cur & ~drawn
        what = f"negative {'lasso' if lasso else 'scribble'}: the pixels {'inside it' if lasso else 'under it'} removed"
    return _edit(mask, _put(mask, z, new2d), what, use, t0)


# ---------------------------------------------------------------------- helpers
def _plane(study: Any, p: Point) -> tuple[int | None, tuple[int, int]]:
    return (None, (p[0], p[1])) if len(study.shape) == 2 else (p[0], (p[1], p[2]))


def _slice(mask: np.ndarray, z: int | None) -> np.ndarray:
    return np.asarray(mask if z is None else mask[z], dtype=bool)


def _put(mask: np.ndarray, z: int | None, new2d: np.ndarray) -> np.ndarray:
    out = np.array(mask, dtype=bool, copy=True)
    if z is None:
        out[...] = new2d
    else:
        out[z] = new2d
    return out


def _edit(old: np.ndarray, new: np.ndarray, what: str, use: ModelUse | None, t0: float) -> PromptEdit:
    diff = int(np.count_nonzero(np.asarray(old, bool) != new))
    return PromptEdit(mask=new, description=f"{what} ({diff} voxels changed)", changed=diff, model=use,
                      seconds=time.perf_counter() - t0)


def _session(study: Any, device: str):
    from ..models.litemedsam.segment import open_session

    return open_session(study, device=device, zoom=False)  # a click costs decoder runs only


def _use(session: Any) -> ModelUse:
    from ..models.litemedsam.segment import model_use

    return model_use(session)


def _carve_slice(study: Any, cur: np.ndarray, rc: tuple[int, int]) -> np.ndarray:
    """``cur`` without the part a negative click at ``rc`` claims: the anchor is the most
    interior mask pixel outside a disc around the click (the body of the structure)."""
    from scipy import ndimage

    from ..models.litemedsam.points import carve

    sp = tuple(float(v) for v in getattr(study, "spacing_mm", (1.0,) * len(study.shape)))[-2:]
    depth = ndimage.distance_transform_edt(cur, sampling=sp)
    yy, xx = np.indices(cur.shape)
    near = np.hypot((yy - rc[0]) * sp[0], (xx - rc[1]) * sp[1]) <= max(2.0 * depth[rc], 2.0 * max(sp))
    candidates = np.where(near, 0.0, depth)
    if candidates.max() <= 0:  # the click's part is all there is: it goes
        return np.zeros_like(cur)
    anchor = tuple(int(v) for v in np.unravel_index(np.argmax(candidates), cur.shape))
    return carve(cur, [anchor], [rc], sp)


def _path(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a polyline and those touching it (one-pixel dilation)."""
    from scipy import ndimage
    from skimage.draw import line

    out = np.zeros(shape, bool)
    q = np.clip(np.round(pts).astype(int), 0, np.array(shape) - 1)
    for (r0, c0), (r1, c1) in zip(q[:-1], q[1:]):
        rr, cc = line(r0, c0, r1, c1)
        out[rr, cc] = True
    return ndimage.binary_dilation(out)


def _lasso(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels inside a closed polygon (and on its outline)."""
    from skimage.draw import polygon, polygon_perimeter

    out = np.zeros(shape, bool)
    rr, cc = polygon(pts[:, 0], pts[:, 1], shape=shape)
    out[rr, cc] = True
    rr, cc = polygon_perimeter(np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int), shape=shape,
                               clip=True)
    out[rr, cc] = True
    return out
