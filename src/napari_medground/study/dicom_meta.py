"""Small DICOM header helpers: numbers, window, patient age/sex, shared study fields.

Patient age and sex are kept in ``Study.metadata`` for normative criteria; they are
never logged. Names and IDs are never read at all.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dicom_scan import DicomHeader

PROJECTION_MODALITIES = {"CR", "DX", "MG", "RG", "IO", "PX", "XA", "RF", "XC", "US", "ES", "GM", "SM", "OP"}
_AGE_UNIT_YEARS = {"Y": 1.0, "M": 1.0 / 12.0, "W": 7.0 / 365.25, "D": 1.0 / 365.25}


def floats(value: Any, n: int | None = None) -> tuple[float, ...] | None:
    """A multi-valued DS as floats (``n`` values when given), or None when absent/invalid."""
    if value is None or value == "":
        return None
    items = [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else list(value)
    try:
        seq = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    if n is not None and len(seq) < n:
        return None
    if not all(np.isfinite(seq)):
        return None
    return tuple(seq[:n] if n else seq)


def first_float(value: Any, default: float | None = None) -> float | None:
    vals = floats(value)
    return vals[0] if vals else default


def patient_age_years(value: Any) -> float | None:
    """DICOM AS ("045Y", "006M", "003W", "010D") -> years; None when absent or malformed."""
    text = str(value or "").strip().upper()
    if len(text) < 2 or text[-1] not in _AGE_UNIT_YEARS or not text[:-1].isdigit():
        return None
    return round(int(text[:-1]) * _AGE_UNIT_YEARS[text[-1]], 3)


def window_of(ds: Any) -> tuple[float, float] | None:
    """The first (center, width) of WindowCenter/WindowWidth, from the dataset or a VOI item."""
    center, width = first_float(ds.get("WindowCenter")), first_float(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return (center, width)


def _height_m(value) -> float | None:
    """PatientSize (0010,1020) is in metres; None when absent or implausible (0.5-2.5 m)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if 0.5 <= v <= 2.5 else None


def common_metadata(h: DicomHeader) -> dict[str, Any]:
    """The metadata keys every DICOM-derived Study carries."""
    ds = h.ds
    sex = str(ds.get("PatientSex") or "").strip().upper()
    return {
        "window": window_of(ds),
        "sop_class_uid": h.sop_class_uid,
        "transfer_syntax": h.transfer_syntax,
        "body_part": str(ds.get("BodyPartExamined") or "") or None,
        "manufacturer": str(ds.get("Manufacturer") or "") or None,
        "patient_age_years": patient_age_years(ds.get("PatientAge")),
        "patient_sex": sex if sex in ("M", "F", "O") else None,
        "patient_height_m": _height_m(ds.get("PatientSize")),
        "contrast_agent": str(ds.get("ContrastBolusAgent") or "").strip() or None,
        "image_type": list(h.image_type),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation") or "") or None,
    }


def identity_fields(h: DicomHeader) -> dict[str, Any]:
    """Study constructor keywords shared by every DICOM loader (UIDs, modality, description)."""
    ds = h.ds
    return {
        "modality": h.modality,
        "series_uid": h.series_uid,
        "study_uid": str(ds.get("StudyInstanceUID") or "") or None,
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID") or "") or None,
        "description": str(ds.get("SeriesDescription") or ""),
        "source_format": "dicom",
    }


def is_two_dimensional(h: DicomHeader) -> bool:
    """Projection images, and images with no patient geometry, load as 2D."""
    if h.n_frames > 1 or h.is_enhanced:
        return False
    has_geometry = floats(h.ds.get("ImageOrientationPatient"), 6) and floats(h.ds.get("ImagePositionPatient"), 3)
    return h.modality in PROJECTION_MODALITIES or not has_geometry


def pixel_spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None]:
    """(row spacing, column spacing) in mm and the attribute it came from."""
    for key in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        sp = floats(ds.get(key), 2)
        if sp and sp[0] > 0 and sp[1] > 0:
            return (sp[0], sp[1]), key
    return None, None


def short_uid(uid: str | None) -> str:
    """A UID shortened for messages (UIDs are not patient identifiers, but are long)."""
    if not uid:
        return "(no SeriesInstanceUID)"
    return uid if len(uid) <= 24 else "..." + uid[-20:]
