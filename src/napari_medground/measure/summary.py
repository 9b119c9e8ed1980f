"""One call that measures a mask the way DESIGN.md names the numbers."""
from __future__ import annotations

import math

import numpy as np

from ..result import Measurement
from .geometry import area_mm2, as_mask, max_diameter, volume_ml
from .intensity import intensity_stats
from .recist import recist_axes


def measure_mask(mask: np.ndarray, study, *, label: str = "", intensity_unit: str | None = None,
                 recist: bool = True) -> list[Measurement]:
    """Measurements of one mask on the study grid.

    3D: ``volume`` (mL), ``max_diameter`` (mm); 2D: ``area`` (mm2), ``length`` (mm,
    maximal in-plane diameter). With ``recist``: ``long_axis``/``short_axis`` (mm) on
    the axial slice (RECIST 1.1). Intensity of ``study.array`` inside the mask:
    ``mean``, ``std``, ``p05``, ``p50``, ``p95`` in ``intensity_unit`` (default "HU" for
    CT, "a.u." otherwise). An empty mask gives only a zero volume (or area).
    """
    mask = as_mask(mask, study)
    prefix = f"{label} " if label else ""
    size = (Measurement("area", area_mm2(mask, study), "mm2", f"{prefix}area", "pixel count x pixel area")
            if study.is_2d else
            Measurement("volume", volume_ml(mask, study), "mL", f"{prefix}volume",
                        "voxel count x voxel volume (|det| of the affine)"))
    if not mask.any():
        return [size]
    out = [size]
    if recist:
        ax = recist_axes(mask, study)
        if ax is not None:
            out.append(Measurement("long_axis", ax.long_axis.length_mm, "mm", f"{prefix}long axis",
                                   "RECIST 1.1: longest diameter on the axial slice"))
            out.append(Measurement("short_axis", ax.short_axis.length_mm, "mm", f"{prefix}short axis",
                                   "RECIST 1.1: longest diameter perpendicular to the long axis"))
    diam = max_diameter(mask, study)
    if study.is_2d:
        out.append(Measurement("length", diam.length_mm, "mm", f"{prefix}length",
                               "maximal in-plane diameter"))
    else:
        out.append(Measurement("max_diameter", diam.length_mm, "mm", f"{prefix}maximal diameter",
                               "maximal 3D (Feret) diameter"))
    unit = intensity_unit or ("HU" if str(study.modality).upper() == "CT" else "a.u.")
    stats = intensity_stats(study.array, mask)
    for name, value, words in (("mean", stats.mean, "mean"), ("std", stats.std, "standard deviation"),
                               ("p05", stats.p05, "5th percentile"), ("p50", stats.p50, "median"),
                               ("p95", stats.p95, "95th percentile")):
        if math.isfinite(value):
            out.append(Measurement(name, value, unit, f"{prefix}{words}", f"{stats.n} voxels"))
    return out
