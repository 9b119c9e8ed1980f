"""Measurements in physical units: volume, diameters (RECIST long/short, maximal 3D),
centroid and boxes, extents, intensity statistics, asymmetry and Evans index.

Voxel coordinates are array indices in the study's axis order; physical ones are
patient LPS mm through ``study.affine_lps`` (anisotropic and oblique grids included).
"""
from .geometry import (
    area_mm2,
    boundary_points,
    bounding_box,
    box_lps_mm,
    centroid,
    extent_mm,
    max_diameter,
    volume_ml,
)
from .intensity import IntensityStats, intensity_stats
from .planes import SlicePlane, axial_plane, si_axis
from .ratios import EvansIndex, asymmetry_index, dice, evans_index
from .recist import RecistAxes, abc2_volume_ml, recist_axes
from .summary import measure_mask

__all__ = [
    "EvansIndex",
    "IntensityStats",
    "RecistAxes",
    "SlicePlane",
    "abc2_volume_ml",
    "area_mm2",
    "asymmetry_index",
    "dice",
    "axial_plane",
    "boundary_points",
    "bounding_box",
    "box_lps_mm",
    "centroid",
    "evans_index",
    "extent_mm",
    "intensity_stats",
    "max_diameter",
    "measure_mask",
    "recist_axes",
    "si_axis",
    "volume_ml",
]
