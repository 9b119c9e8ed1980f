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
# which window a grounding calls for: by the root of its anatomy term (vocabulary parents)
LUNG_ROOTS = frozenset({"lung", "airways", "trachea", "pleura"})
# findings read in the lung window when no anatomy is named ("nodule", "pneumothorax")
LUNG_FINDINGS = frozenset({"nodule", "pneumothorax", "emphysema", "ground-glass", "consolidation",
                           "bronchiectasis", "atelectasis", "pneumonia", "fibrosis", "opacity"})
BRAIN_FINDINGS = frozenset({"atrophy", "hydrocephalus", "small vessel disease", "mass effect"})
MR_BRAIN = "brain"
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
    if napari_has_units():
        kwargs["units"] = ("mm",) * geo.ndim
        kwargs["axis_labels"] = ("row", "col") if geo.ndim == 2 else ("S", "P", "L")
    return kwargs


def napari_has_units() -> bool:
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


# ---------------------------------------------------------------------- presets per finding
def window_for_result(result: Any) -> str | None:
    """The window a grounding calls for, from its study's modality and the parsed text.

    CT: "lung" for the lungs, lobes, airways and lung findings (nodule, pneumothorax, ...)
    named without an organ; "bone" for bones; "brain" for the brain; "soft tissue" for
    other organs, vessels and regions (abdomen, heart). MR: "brain" for brain anatomy or
    brain findings. None: keep the current window (other modalities, nothing recognised).
    The first query that decides wins.
    """
    study = getattr(result, "study", None)
    modality = getattr(study, "modality", None)
    for q in (result.query or {}).get("queries", []):
        choice = _window_for_query(q, modality)
        if choice is not None:
            return choice
    return None


def _window_for_query(q: dict, modality: str | None) -> str | None:
    anatomy = q.get("anatomy") or []
    finding = q.get("finding")
    if modality == "MR":
        brainy = any(a.get("category") == "brain" for a in anatomy)
        return MR_BRAIN if brainy or (not anatomy and finding in BRAIN_FINDINGS) else None
    if modality != "CT":
        return None
    for a in anatomy:
        cat = a.get("category", "")
        if _anatomy_root(a.get("term", "")) in LUNG_ROOTS:
            return "lung"
        if cat == "bone":
            return "bone"
        if cat == "brain":
            return "brain"
        if cat in ("organ", "vessel", "region", "tissue"):
            return "soft tissue"
    return "lung" if finding in LUNG_FINDINGS else None


def _anatomy_root(term: str) -> str:
    """The top of a term's parent chain in the vocabulary ("upper lobe of lung" -> "lung")."""
    try:
        from ..language.vocabulary import load_vocabulary

        entries = load_vocabulary().anatomy
    except Exception:  # noqa: BLE001 - without the vocabulary the term is its own root
        return term
    seen = set()
    while term in entries and entries[term].parent and term not in seen:
        seen.add(term)
        term = entries[term].parent
    return term


def preset_limits(study: Any, preset: str) -> tuple[float, float]:
    """Contrast limits of a preset: CT presets in HU; the MR brain window from the image."""
    if study.modality == "CT":
        return window_to_limits(*CT_PRESETS[preset])
    if preset == MR_BRAIN:
        return foreground_limits(study.array)
    return default_contrast(study)


def foreground_limits(array: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """Percentiles of the voxels above Otsu's threshold (the head, not the air around it):
    MR units are arbitrary, so the brain window is taken from the tissue itself."""
    from skimage.filters import threshold_otsu

    flat = np.asarray(array).reshape(-1)
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE + 1]
    flat = flat[np.isfinite(flat)].astype(np.float64)
    if flat.size == 0 or flat.min() == flat.max():
        return percentile_limits(array)
    tissue = flat[flat > threshold_otsu(flat)]
    return percentile_limits(tissue if tissue.size > 100 else flat, percentiles)


def window_words(study: Any, preset: str) -> str:
    """How the status line names a window: "lung window (L -600 / W 1500 HU)"."""
    if study.modality == "CT":
        level, width = CT_PRESETS[preset]
        return f"{preset} window (L {level:g} / W {width:g} HU)"
    return f"{preset} window"
