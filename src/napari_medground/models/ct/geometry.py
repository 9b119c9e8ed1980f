"""The CT geometry layer: every CT method takes its frame, grid, body mask and morphology here.

* Canonical frame: array axes toward patient Superior, Posterior, Left (index grows toward
  S, P, L), chosen by one rule, :func:`canonical_axes`. :class:`Frame`/:func:`make_frame`
  (anatomy rules, lesions; 2D promoted to one slice, views without copies) and
  :class:`OrganFrame` (organ finders; 3D, with ``canonical_affine``) both use it.
* Coarse grids, both about 2 mm: :func:`coarse_factors` + :func:`block_mean` +
  :func:`refine` (anatomy: ``floor(2 mm / spacing)`` blocks, edges refined at full
  resolution) and :class:`Grid` (organs: ``round(2 mm / spacing)`` blocks below 1.5 mm,
  masks back by repetition).
* Body masks: :func:`body_mask_canonical` (anatomy, tissue above ``TISSUE_HU`` = -500 HU)
  and :func:`body_mask_per_slice` (organs, above -400 HU, largest region per axial slice).
* Morphology sized in mm: :func:`ball_mm`, :func:`disk_mm`, :func:`smooth_mm`,
  :func:`per_slice`, :func:`fill_holes_2d`, :func:`crop_box` (anatomy) and :func:`ball`,
  :func:`disk`, :func:`largest_component` (organs).

The pairs differ in thresholds and rounding, and the methods' tested results depend on
them; they are kept side by side here, named, until one calibration serves both.
"""
from __future__ import annotations

from .body import TISSUE_HU, air_reference_hu, body_mask_canonical, midline_x
from .frame import (
    Frame,
    ball_mm,
    canonical_axes,
    crop_box,
    disk_mm,
    fill_holes_2d,
    make_frame,
    per_slice,
    smooth_mm,
)
from .organs_frame import WORK_SPACING_MM, Grid, ball, disk, largest_component
from .organs_frame import Frame as OrganFrame
from .organs_frame import body_mask as body_mask_per_slice
from .scale import TARGET_MM, block_mean, coarse_factors, refine, upsample

__all__ = ["Frame", "Grid", "OrganFrame", "TARGET_MM", "TISSUE_HU", "WORK_SPACING_MM", "air_reference_hu",
           "ball", "ball_mm", "block_mean", "body_mask_canonical", "body_mask_per_slice", "canonical_axes",
           "coarse_factors", "crop_box", "disk", "disk_mm", "fill_holes_2d", "largest_component",
           "make_frame", "midline_x", "per_slice", "refine", "smooth_mm", "upsample"]
