"""Window/level per modality, and the image layer-data tuple of a study (no Qt).

CT values are HU: the default window is soft tissue (level 40, width 400), unless the
DICOM file carries its own window; presets (lung -600/1500, bone, brain) are offered by
the widget. MR and X-ray have arbitrary units: the file's window when it has one, else
the 1st-99.5th percentiles of the voxels.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .layers import display_geometry

# (level, width) in HU
CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
PERCENTILES = (1.0, 99.5)
_SAMPLE = 2_000_000  # voxels looked at for percentiles (a strided subsample above this)


def window_to_limits(level: float, width: float) -> tuple[float, float]:
    """(level, width) -> (low, high) contrast limits in the image's units."""
    return float(level - width / 2.0), float(level + width / 2.0)


def study_window(study: Any) -> tuple[float, float] | None:
    """The window stored in the file (DICOM WindowCenter/Width), or None."""
    w = (getattr(study, "metadata", None) or {}).get("window")
    try:
        level, width = float(w[0]), float(w[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (level, width) if np.isfinite(level) and np.isfinite(width) and width > 0 else None


def default_contrast(study: Any, preset: str | None = None) -> tuple[float, float]:
    """Contrast limits for a study: a CT preset, the file's window, or percentiles."""
    if study.modality == "CT":
        if preset is not None:
            return window_to_limits(*CT_PRESETS[preset])
        stored = study_window(study)
        return window_to_limits(*(stored or CT_PRESETS["soft tissue"]))
    stored = study_window(study)
    return window_to_limits(*stored) if stored is not None else percentile_limits(study.array)


def percentile_limits(array: np.ndarray,
                      percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
    """The given percentiles of the finite voxels (a strided subsample of big arrays)."""
    flat = np.asarray(array).reshape(-1)
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE + 1]
    flat = flat[np.isfinite(flat)] if np.issubdtype(flat.dtype, np.floating) else flat
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, percentiles))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def data_range(array: np.ndarray) -> tuple[float, float]:
    a = np.asarray(array)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def transform_kwargs(study: Any) -> dict[str, Any]:
    """The layer transform shared by the image and every overlay: scale/translate (or the
    full affine for oblique data), plus mm units and S/P/L axis labels where napari has them."""
    geo = display_geometry(study)
    kwargs = geo.layer_kwargs()
    if _napari_has_units():
        kwargs["units"] = ("mm",) * geo.ndim
        kwargs["axis_labels"] = ("row", "col") if geo.ndim == 2 else ("S", "P", "L")
    return kwargs


def _napari_has_units() -> bool:
    """Layers take ``units``/``axis_labels`` since napari 0.6."""
    try:
        from importlib.metadata import version

        major, minor = (int(v) for v in version("napari").split(".")[:2])
        return (major, minor) >= (0, 6)
    except Exception:  # noqa: BLE001 - unknown version: leave the optional keywords out
        return False


def image_layer_data(study: Any, name: str | None = None) -> tuple[np.ndarray, dict[str, Any], str]:
    """``(data, kwargs, "image")`` for napari: reoriented voxels in physical space.

    ``kwargs["metadata"]["study"]`` keeps the Study itself, so the widget can ground on
    the layer and map edits back to the study grid.
    """
    geo = display_geometry(study)
    lo, hi = default_contrast(study)
    rlo, rhi = data_range(study.array)
    kwargs: dict[str, Any] = {
        "name": name or study.name,
        "colormap": "gray",
        "contrast_limits": (lo, hi),
        "metadata": {
            "study": study,
            "modality": study.modality,
            "orientation": study.orientation,
            "spacing_mm": study.spacing_mm,
            "contrast_range": (min(rlo, lo), max(rhi, hi)),
            "warnings": list(study.warnings),
        },
        **transform_kwargs(study),
    }
    if study.is_2d or study.modality not in ("CT", "MR"):
        kwargs["interpolation2d"] = "linear"
    return geo.to_display(study.array), kwargs, "image"
