"""Coded concepts for DICOM SEG and SR: SNOMED CT ("SCT"), DICOM ("DCM"), UCUM units.

Findings carry their codes as plain dicts ``{"scheme", "value", "meaning"}`` (from the
vocabulary); this module turns them into the concepts a SEG segment or an SR measurement
needs, and supplies the fall-backs when a finding has no code. The retired "SRT"
designator is never written: SNOMED concept ids given as SRT are rewritten to SCT.
Everything here is plain data plus small pure functions; pydicom/highdicom are imported
inside the functions that build concept objects.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

CodeTuple = tuple[str, str, str]  # (scheme, value, meaning)

# Segmented property categories (DICOM CID 7150).
CATEGORY_ANATOMY: CodeTuple = ("SCT", "123037004", "Anatomical Structure")
CATEGORY_ALTERED: CodeTuple = ("SCT", "49755003", "Morphologically Altered Structure")
# Fall-back property types when a finding carries no code.
TYPE_ANATOMY: CodeTuple = ("SCT", "91723000", "Anatomical Structure")
TYPE_ALTERED: CodeTuple = ("SCT", "49755003", "Morphologically Altered Structure")

# Morphologically altered structures (CID 7159, the dcmqi segmentation context), so that a
# finding named "nodule" gets its SCT type even when the vocabulary gave no code.
ALTERED_STRUCTURES: dict[str, CodeTuple] = {
    "mass": ("SCT", "4147007", "Mass"),
    "nodule": ("SCT", "27925004", "Nodule"),
    "lesion": ("SCT", "52988006", "Lesion"),
    "cyst": ("SCT", "367643001", "Cyst"),
    "blood clot": ("SCT", "75753009", "Blood clot"),
    "thrombus": ("SCT", "75753009", "Blood clot"),
    "embolus": ("SCT", "55584005", "Embolus"),
    "edema": ("SCT", "79654002", "Edema"),
    "oedema": ("SCT", "79654002", "Edema"),
    "hemorrhage": ("SCT", "50960005", "Hemorrhage"),
    "haemorrhage": ("SCT", "50960005", "Hemorrhage"),
    "inflammation": ("SCT", "23583003", "Inflammation"),
    "abscess": ("SCT", "44132006", "Abscess"),
    "necrosis": ("SCT", "6574001", "Necrosis"),
    "neoplasm": ("SCT", "108369006", "Neoplasm"),
    "tumor": ("SCT", "108369006", "Neoplasm"),
    "tumour": ("SCT", "108369006", "Neoplasm"),
    "metastasis": ("SCT", "14799000", "Neoplasm, Secondary"),
}
_ALTERED_VALUES = {c[1] for c in ALTERED_STRUCTURES.values()} | {TYPE_ALTERED[1]}

LATERALITY: dict[str, CodeTuple] = {
    "left": ("SCT", "7771000", "Left"),
    "right": ("SCT", "24028007", "Right"),
    "bilateral": ("SCT", "51440002", "Right and left"),
}

# Finding status -> qualitative evaluation value (concept name: DCM 121052 "Presence of
# property"; not DCM 121071 "Finding", which TID 1501 uses for the finding type).
STATUS_CONCEPT_NAME: CodeTuple = ("DCM", "121052", "Presence of property")
STATUS_CODES: dict[str, CodeTuple] = {
    "present": ("DCM", "121053", "Present"),
    "absent": ("DCM", "121054", "Absent"),
    "uncertain": ("SCT", "82334004", "Indeterminate"),
    "not_assessable": ("DCM", "121059", "Presence Undetermined"),
}
STATUS_BY_CODE = {v[1]: k for k, v in STATUS_CODES.items()}

# Our own coding scheme for measurement names without a standard concept. Declared in
# the SR's Coding Scheme Identification Sequence (PS3.3 C.12.1.1.2).
LOCAL_SCHEME = "99MEDGROUND"
LOCAL_SCHEME_NAME = "napari-medground local measurement codes"


@dataclass(frozen=True)
class MeasurementConcept:
    """How one measurement name is coded in SR: the concept, and a derivation if any."""

    name: CodeTuple
    derivation: CodeTuple | None = None


# Measurement names of the Result contract -> SR concepts (TID 300 style).
_MEASUREMENTS: dict[str, MeasurementConcept] = {
    "volume": MeasurementConcept(("SCT", "118565006", "Volume")),
    "long_axis": MeasurementConcept(("SCT", "103339001", "Long axis")),
    "short_axis": MeasurementConcept(("SCT", "103340004", "Short axis")),
    "max_diameter": MeasurementConcept(("SCT", "81827009", "Diameter"), ("SCT", "56851009", "Maximum")),
    "diameter": MeasurementConcept(("SCT", "81827009", "Diameter")),
    "length": MeasurementConcept(("SCT", "410668003", "Length")),
    "area": MeasurementConcept(("SCT", "42798000", "Area")),
    "ratio": MeasurementConcept(("SCT", "118586006", "Ratio")),
    "perimeter": MeasurementConcept(("SCT", "131191004", "Perimeter")),
}
_STATISTICS: dict[str, CodeTuple] = {
    "mean": ("SCT", "373098007", "Mean"),
    "std": ("SCT", "386136009", "Standard Deviation"),
    "median": ("SCT", "373099004", "Median"),
    "p50": ("SCT", "373099004", "Median"),
    "min": ("SCT", "255605001", "Minimum"),
    "max": ("SCT", "56851009", "Maximum"),
}
_ATTENUATION: CodeTuple = ("DCM", "112031", "Attenuation Coefficient")

# Unit strings used in Measurement.unit -> UCUM (value, meaning).
_UNITS: dict[str, tuple[str, str]] = {
    "ml": ("ml", "milliliter"),
    "mm": ("mm", "millimeter"),
    "cm": ("cm", "centimeter"),
    "mm2": ("mm2", "square millimeter"),
    "mm^2": ("mm2", "square millimeter"),
    "mm3": ("mm3", "cubic millimeter"),
    "cm3": ("cm3", "cubic centimeter"),
    "hu": ("[hnsf'U]", "Hounsfield unit"),
    "1": ("1", "no units"),
    "": ("1", "no units"),
    "ratio": ("1", "no units"),
    "%": ("%", "Percent"),
    "percent": ("%", "Percent"),
    "voxels": ("{voxels}", "voxels"),
}


def measurement_concept(name: str, modality: str = "") -> MeasurementConcept:
    """The SR concept of a Measurement name; CT intensity statistics become attenuation.

    Unknown names get a code of the local scheme :data:`LOCAL_SCHEME` (value = the name).
    """
    key = name.strip().lower()
    if key in _MEASUREMENTS:
        return _MEASUREMENTS[key]
    if key in _STATISTICS:
        if modality.upper() == "CT":
            return MeasurementConcept(_ATTENUATION, _STATISTICS[key])
        return MeasurementConcept(_STATISTICS[key])
    if re.fullmatch(r"p\d{1,2}", key):
        return MeasurementConcept((LOCAL_SCHEME, key, f"{int(key[1:])}th percentile"))
    return MeasurementConcept((LOCAL_SCHEME, key[:16] or "value", name or "value"))


def unit_code(unit: str) -> CodeTuple:
    """UCUM code of a unit string ("mL", "mm", "HU", "1", "%", ...)."""
    key = unit.strip().lower()
    if key in _UNITS:
        value, meaning = _UNITS[key]
    else:  # UCUM annotation syntax keeps an unknown unit readable and valid
        value, meaning = "{" + unit.strip().replace("}", "") + "}", unit.strip()
    return ("UCUM", value, meaning)


def normalise_code(code: dict[str, Any] | None) -> CodeTuple | None:
    """A finding's code dict -> (scheme, value, meaning), with SRT rewritten to SCT.

    Legacy SNOMED-RT ids ("T-62000") have no SCT equivalent here: they are dropped (None)
    with a log message, so that the caller falls back to a generic SCT type.
    """
    if not code or not code.get("value"):
        return None
    scheme = str(code.get("scheme") or code.get("scheme_designator") or "SCT").strip()
    value = str(code["value"]).strip()
    meaning = str(code.get("meaning") or value).strip()
    if scheme.upper() in ("SRT", "SNM3", "SNOMED", "SNOMED-CT", "SNOMEDCT"):
        if not value.isdigit():
            log.info("dropping legacy SNOMED-RT code %s (%s): no SCT id", value, meaning)
            return None
        scheme = "SCT"
    return (scheme, value, meaning)


@dataclass(frozen=True)
class SegmentCodes:
    """The coded description of one segment (DICOM SEG) or ROI (SR)."""

    category: CodeTuple
    type: CodeTuple
    anatomic_region: CodeTuple | None
    laterality: CodeTuple | None

    @property
    def is_altered_structure(self) -> bool:
        return self.category == CATEGORY_ALTERED


def segment_codes(finding: Any, query: dict[str, Any] | None = None) -> SegmentCodes:
    """Category, type, anatomic region and laterality of a Finding.

    A morphologically altered structure (nodule, lesion, mass...: by its code or its
    words) is typed by the finding code under "Morphologically Altered Structure", with
    the anatomy as its anatomic region; anything else is the anatomy itself under
    "Anatomical Structure". Laterality modifies the type (anatomy) or region (lesions).
    """
    anatomy = normalise_code(getattr(finding, "anatomy_code", None))
    fcode = normalise_code(getattr(finding, "finding_code", None))
    words = _words(getattr(finding, "name", ""))
    altered = _altered_from_words(words)
    if fcode is not None and (fcode[1] in _ALTERED_VALUES or altered is not None):
        ftype: CodeTuple | None = fcode
    else:
        ftype = altered if fcode is None else None
    side = finding_side(finding, query)
    lat = LATERALITY.get(side) if side else None
    if ftype is not None:
        return SegmentCodes(CATEGORY_ALTERED, ftype, anatomy, lat)
    if anatomy is not None:
        return SegmentCodes(CATEGORY_ANATOMY, anatomy, None, lat)
    if fcode is not None:  # a finding code we do not know as a structure, no anatomy
        return SegmentCodes(CATEGORY_ALTERED, fcode, None, lat)
    return SegmentCodes(CATEGORY_ANATOMY, TYPE_ANATOMY, None, lat)


def finding_side(finding: Any, query: dict[str, Any] | None = None) -> str | None:
    """ "left", "right", "bilateral" or None: from the code dict, the query, or the name."""
    for code in (getattr(finding, "anatomy_code", None), getattr(finding, "finding_code", None)):
        if code and code.get("side") in LATERALITY:
            return str(code["side"])
    words = _words(getattr(finding, "name", ""))
    for side in ("bilateral", "left", "right"):
        if side in words:
            return side
    queries = (query or {}).get("queries") or []
    qi = int(getattr(finding, "query_index", 0) or 0)
    if 0 <= qi < len(queries):
        q = queries[qi] or {}
        sides = {a.get("side") for a in q.get("anatomy") or [] if a.get("side")}
        if len(sides) == 1 and next(iter(sides)) in LATERALITY:
            return str(next(iter(sides)))
        if q.get("laterality") in LATERALITY:
            return str(q["laterality"])
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", str(text).lower())


def _altered_from_words(words: list[str]) -> CodeTuple | None:
    for w in words:
        singular = w[:-1] if w.endswith("s") and w[:-1] in ALTERED_STRUCTURES else w
        if singular in ALTERED_STRUCTURES:
            return ALTERED_STRUCTURES[singular]
    return None


def coded(code: CodeTuple) -> Any:
    """highdicom CodedConcept of a (scheme, value, meaning) tuple."""
    from highdicom.sr import CodedConcept

    scheme, value, meaning = code
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning[:64])


def code_item(code: CodeTuple) -> Any:
    """A plain pydicom code sequence item (for modifier sequences highdicom does not set)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.CodeValue = code[1]
    ds.CodingSchemeDesignator = code[0]
    ds.CodeMeaning = code[2][:64]
    return ds


def code_dict(code: CodeTuple | None) -> dict[str, str] | None:
    """(scheme, value, meaning) -> the Finding code dict form."""
    return None if code is None else {"scheme": code[0], "value": code[1], "meaning": code[2]}


def concept_tuple(item: Any) -> CodeTuple | None:
    """A pydicom code item (CodeValue/CodingSchemeDesignator/CodeMeaning) -> tuple."""
    if item is None:
        return None
    value = (
        getattr(item, "CodeValue", None)
        or getattr(item, "LongCodeValue", None)
        or getattr(item, "value", None)
    )
    scheme = getattr(item, "CodingSchemeDesignator", None) or getattr(item, "scheme_designator", None)
    meaning = getattr(item, "CodeMeaning", None) or getattr(item, "meaning", "")
    if value is None or scheme is None:
        return None
    return (str(scheme), str(value), str(meaning))


# Distinct default colours (RGB 0..1) for findings that have none: a qualitative palette.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.894, 0.102, 0.110),
    (0.216, 0.494, 0.722),
    (0.302, 0.686, 0.290),
    (0.596, 0.306, 0.639),
    (1.000, 0.498, 0.000),
    (1.000, 1.000, 0.200),
    (0.651, 0.337, 0.157),
    (0.969, 0.506, 0.749),
    (0.400, 0.761, 0.647),
    (0.988, 0.553, 0.384),
    (0.553, 0.627, 0.796),
    (0.906, 0.541, 0.765),
)


def finding_color(finding: Any, index: int) -> tuple[float, float, float]:
    """The finding's own colour, or a palette colour chosen by its label value / position."""
    if getattr(finding, "color", None):
        return tuple(float(c) for c in finding.color)  # type: ignore[return-value]
    key = getattr(finding, "label_value", None) or (index + 1)
    return PALETTE[(int(key) - 1) % len(PALETTE)]
