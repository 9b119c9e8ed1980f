"""A canonical view of a CT for the classical HU-rule methods, and mm-sized morphology.

Whatever the study's orientation, the HU rules work on a view of the array whose axes
point, as nearly as the affine allows, toward patient Superior, Posterior and Left (LPS
letters "SPL"): axis 0 is the superior-inferior axis (index grows toward the head), so an
"axial slice" is ``view[k]`` and the top of the scan is the last slice; axis 2 grows
toward the patient's left. The view is a transposed/flipped numpy view (no copy); masks
computed in it go back to the study grid with :meth:`Frame.to_study`. A 2D study is
treated as one axial slice (its normal becomes axis 0).

Structuring elements are sized in millimetres from the spacing, so the same rule behaves
the same at 0.6 mm and at 5 mm voxels.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

# LPS component that each canonical axis follows: axis 0 -> S (z), axis 1 -> P (y), axis 2 -> L (x).
_CANON_LPS = (2, 1, 0)


@dataclass(frozen=True, eq=False)
class Frame:
    """How a study's array maps onto the canonical (S, P, L) view.

    Attributes
    ----------
    perm : tuple of int
        Canonical axis ``i`` is array axis ``perm[i]`` (of the 3D, possibly promoted, array).
    flip : tuple of bool
        Whether canonical axis ``i`` is reversed so that its index grows toward S, P or L.
    spacing : tuple of float
        Voxel size in mm along the canonical axes.
    is_2d : bool
        The study was 2D and was promoted to one slice.
    affine3 : np.ndarray
        4x4 affine of the (promoted) 3D array: index -> LPS mm.
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    spacing: tuple[float, float, float]
    is_2d: bool
    affine3: np.ndarray
    shape3: tuple[int, int, int]

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """Study-grid array -> canonical view (a numpy view, no copy)."""
        a = array[None] if self.is_2d else array
        a = np.transpose(a, self.perm)
        return a[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]

    def to_study(self, canon: np.ndarray) -> np.ndarray:
        """Canonical-view array -> study grid (contiguous copy)."""
        a = canon[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]
        a = np.transpose(a, np.argsort(self.perm))
        a = a[0] if self.is_2d else a
        return np.ascontiguousarray(a)

    @property
    def canonical_shape(self) -> tuple[int, int, int]:
        return tuple(int(self.shape3[a]) for a in self.perm)  # type: ignore[return-value]


def make_frame(study) -> Frame:
    """The canonical frame of a study (see the module docstring)."""
    if study.is_2d:
        a2 = np.asarray(study.affine_lps, dtype=float)
        affine3 = np.eye(4)
        affine3[:, 0] = a2[:, 2]  # promoted axis 0 = the image normal (unit length)
        affine3[:, 1] = a2[:, 0]
        affine3[:, 2] = a2[:, 1]
        affine3[3] = (0, 0, 0, 1)
        affine3[:3, 3] = a2[:3, 3]
        shape3 = (1, *study.array.shape)
    else:
        affine3 = np.asarray(study.affine_lps, dtype=float)
        shape3 = tuple(study.array.shape)
    best, flip, spacing = canonical_axes(affine3[:3, :3], keep_axis0=study.is_2d)
    return Frame(best, flip, spacing, study.is_2d, affine3, shape3)


def canonical_axes(cols: np.ndarray, *, keep_axis0: bool = False
                   ) -> tuple[tuple[int, int, int], tuple[bool, bool, bool], tuple[float, float, float]]:
    """The one rule of every CT method: which array axis becomes canonical S, P and L.

    ``cols`` is the 3x3 direction-times-spacing part of an LPS affine (column = array axis).
    The permutation maximises the summed |cosines| between each canonical axis and the
    patient axis it stands for (the nearest axial view of an oblique series); ``flip`` makes
    each index grow toward S, P or L; ``spacing`` is the voxel size (mm) per canonical axis.
    ``keep_axis0`` keeps array axis 0 as S (a 2D image promoted to one slice).
    """
    norms = np.linalg.norm(cols, axis=0)
    unit = cols / np.where(norms > 0, norms, 1.0)
    candidates = [(0,) + p for p in permutations((1, 2))] if keep_axis0 else list(permutations((0, 1, 2)))
    best = max(candidates, key=lambda p: sum(abs(unit[_CANON_LPS[c], p[c]]) for c in range(3)))
    flip = tuple(bool(unit[_CANON_LPS[c], best[c]] < 0) for c in range(3))
    spacing = tuple(float(norms[best[c]]) for c in range(3))
    return tuple(best), flip, spacing  # type: ignore[return-value]


# ------------------------------------------------------------------ mm-sized morphology
def disk_mm(radius_mm: float, spacing_yx: tuple[float, float]) -> np.ndarray:
    """2D elliptic structuring element of ``radius_mm`` in-plane (at least a 3x3 cross)."""
    ry, rx = (max(1, int(round(radius_mm / s))) for s in spacing_yx)
    y, x = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return (y / ry) ** 2 + (x / rx) ** 2 <= 1.0 + 1e-6


def ball_mm(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """3D ellipsoidal structuring element of ``radius_mm``.

    Along an axis whose spacing is coarser than the radius the element is one voxel thick,
    so a 3 mm ball on 5 mm slices acts in-plane only; never smaller than a cross in the
    finest axes.
    """
    r = [int(np.floor(radius_mm / s + 1e-6)) for s in spacing]
    if max(r) == 0:
        r = [1 if s == min(spacing) else 0 for s in spacing]
    grids = np.mgrid[tuple(slice(-ri, ri + 1) for ri in r)]
    d2 = sum((g / ri) ** 2 for g, ri in zip(grids, r) if ri > 0)
    return d2 <= 1.0 + 1e-6


def smooth_mm(hu: np.ndarray, spacing, mm: float = 1.0) -> np.ndarray:
    """Gaussian smoothing of ``mm`` (sigma), float32, skipping axes coarser than 2 x ``mm``."""
    from scipy import ndimage as ndi

    sigma = [mm / s if s < 2.0 * mm else 0.0 for s in spacing]
    return ndi.gaussian_filter(hu.astype(np.float32), sigma=sigma)


def per_slice(fn, mask: np.ndarray, structure: np.ndarray | None = None, **kwargs) -> np.ndarray:
    """Apply a 2D binary morphology operation to every axial slice (axis 0) of a mask.

    scipy's binary_* operations run once over the volume with a flat (1, h, w)
    structuring element, which is the same as slice by slice; ``binary_fill_holes`` goes
    through :func:`fill_holes_2d`; anything else runs in a loop over the slices.
    """
    from scipy import ndimage as ndi

    if fn is ndi.binary_fill_holes:
        return fill_holes_2d(mask)
    if fn in (ndi.binary_opening, ndi.binary_closing, ndi.binary_dilation, ndi.binary_erosion):
        st = ndi.generate_binary_structure(2, 1) if structure is None else np.asarray(structure, bool)
        return fn(mask, structure=st[None], **kwargs)
    out = np.zeros_like(mask, dtype=bool)
    for k in range(mask.shape[0]):
        if mask[k].any():
            extra = {} if structure is None else {"structure": structure}
            out[k] = fn(mask[k], **extra, **kwargs)
    return out


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes in each axial slice (structures enclosed in-plane, e.g. lung vessels):
    background not connected in-plane to the slice's edge becomes foreground."""
    from scipy import ndimage as ndi

    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask.copy()
    flat = np.zeros((3, 3, 3), bool)
    flat[1] = ndi.generate_binary_structure(2, 1)
    labels, n = ndi.label(~mask, structure=flat)
    edge = np.concatenate([labels[:, 0, :].ravel(), labels[:, -1, :].ravel(),
                           labels[:, :, 0].ravel(), labels[:, :, -1].ravel()])
    outside = np.zeros(n + 1, bool)
    outside[edge] = True
    outside[0] = True
    return mask | ~outside[labels]


def crop_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, ...]:
    """Slices of the bounding box of ``mask`` (padded, clipped); the full array when empty."""
    if not mask.any():
        return tuple(slice(0, s) for s in mask.shape)
    idx = [np.flatnonzero(mask.any(axis=tuple(j for j in range(mask.ndim) if j != i)))
           for i in range(mask.ndim)]
    return tuple(slice(max(0, int(ix[0]) - pad), min(s, int(ix[-1]) + pad + 1))
                 for ix, s in zip(idx, mask.shape))
