"""An intensity model learned on the prompted slice, object against its surround.

Used as a stopping rule for slice-to-slice propagation: on the first (prompted) slice the
mask's intensities and those of its surround (the box, or a ring around the mask, minus
the mask dilated by a pixel) give two histograms on the window's 0..1 scale. On a later
slice, the share of mask pixels that are more likely object than surround is compared
with that share on the first slice; when it falls below half of it, the mask sits on
tissue that looks like the surround (the structure has ended), whatever the modality.
Self-calibrating: no intensity constant is tied to a case.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...masks import label_mask

BINS = 32
#: The walk stops when the object-like share falls below this fraction of the first slice's.
MIN_RELATIVE_SHARE = 0.5


@dataclass(frozen=True)
class IntensityModel:
    """Smoothed object and surround histograms (``BINS`` bins over 0..1) and the first
    slice's object-like share of mask pixels."""

    log_ratio: np.ndarray  # log p(object) - log p(surround) per bin
    ref_share: float

    def share(self, unit: np.ndarray) -> float:
        """Fraction of these pixel values (0..1 scale) that are more likely object."""
        if unit.size == 0:
            return 0.0
        b = np.clip((unit * BINS).astype(int), 0, BINS - 1)
        return float((self.log_ratio[b] > 0).mean())

    def object_like(self, unit_slice: np.ndarray) -> np.ndarray:
        """Pixels (0..1 scale) more likely object than surround (bool, same shape)."""
        b = np.clip((unit_slice * BINS).astype(int), 0, BINS - 1)
        return self.log_ratio[b] > 0

    def core(self, unit_slice: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The object-like part of a mask as regions: opened by a pixel (noise speckle
        goes), holes filled (a necrotic or cystic centre enclosed by object stays), pieces
        under a tenth of the largest dropped."""
        from scipy import ndimage

        keep = ndimage.binary_opening(mask & self.object_like(unit_slice))
        keep = ndimage.binary_fill_holes(keep)
        lab, n = ndimage.label(keep)
        if n > 1:
            sizes = np.bincount(lab.ravel())[1:]
            keep = label_mask(lab, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
        return keep

    def fuse(self, unit_slice: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The mask's object-like regions (``core``; used where the model is weak: its
        predicted IoU below the prompted slice's); the mask itself when that would leave
        under half of it."""
        keep = self.core(unit_slice, mask)
        return keep if keep.sum() >= 0.5 * mask.sum() else mask

    def reason(self, unit: np.ndarray) -> str:
        """Why the mask no longer looks like the object ("" when it does)."""
        s = self.share(unit)
        if s < MIN_RELATIVE_SHARE * self.ref_share:
            return (f"only {s:.0%} of the mask looks like the object's intensity on the prompted slice "
                    f"(there {self.ref_share:.0%})")
        return ""


def _hist(values: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    h = np.bincount(np.clip((values * BINS).astype(int), 0, BINS - 1), minlength=BINS).astype(float)
    h = gaussian_filter1d(h, 1.0) + 0.5  # smoothing and a floor: no empty bin decides alone
    return h / h.sum()


def learn(unit_slice: np.ndarray, mask: np.ndarray, box_mask: np.ndarray,
          min_share: float = 0.6) -> IntensityModel | None:
    """The model from one slice on the 0..1 scale, its mask and the prompt's box (bool).

    The surround is the box outside the mask dilated by one pixel, widened to a ring of
    half the mask's radius when the box is tight. None when either side has under 8
    pixels or under ``min_share`` of the mask looks like object (intensity cannot tell the
    two apart). A mask from a loose box may be half surround: where the model only serves
    to find that mask's object-like core, a lower ``min_share`` is passed.
    """
    from scipy import ndimage

    grown = ndimage.binary_dilation(mask, iterations=1)
    ring = box_mask & ~grown
    if ring.sum() < mask.sum():
        r = max(2, int(np.sqrt(mask.sum() / np.pi) / 2))
        ring = ndimage.binary_dilation(mask, iterations=r + 1) & ~grown
    if mask.sum() < 8 or ring.sum() < 8:
        return None
    lr = np.log(_hist(unit_slice[mask])) - np.log(_hist(unit_slice[ring]))
    model = IntensityModel(log_ratio=lr, ref_share=0.0)
    share = model.share(unit_slice[mask])
    if share < min_share:  # most of the object looks like its surround: intensity cannot stop the walk
        return None
    return IntensityModel(log_ratio=lr, ref_share=share)
