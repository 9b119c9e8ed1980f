"""Data contracts of a grounding: `Step`, `Finding`, `Result` (DESIGN.md).

This module sits at the bottom of the layers (numpy only) so that models, measure,
export and reasoning can all use these types.

Coordinates: every voxel coordinate is an array index in the study's axis order
((z, y, x) or (y, x)); every ``*_lps_mm`` value is patient LPS millimetres. Masks are
boolean arrays on the study grid, kept in ``Result.masks`` under their id; steps and
findings refer to them by id. ``Result.to_dict()`` is the ``result.json`` object.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class StepKind(str, Enum):
    PARSE = "parse"
    LOCATE = "locate"
    SEGMENT = "segment"
    MEASURE = "measure"
    COMPARE = "compare"
    CONCLUDE = "conclude"


class StepStatus(str, Enum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"


class FindingStatus(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"
    NOT_ASSESSABLE = "not_assessable"


@dataclass(frozen=True)
class Measurement:
    """A number with its unit. Names: volume (mL), long_axis/short_axis/max_diameter/length
    (mm), mean/std/p05/p50/p95 (HU for CT), ratio (1), area (mm2), count (1), ..."""

    name: str
    value: float
    unit: str
    label: str = ""  # human wording, e.g. "left hippocampus volume"
    method: str = ""  # how it was measured

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _num(self.value), "unit": self.unit,
                "label": self.label, "method": self.method}


@dataclass(frozen=True)
class LineSegment:
    """A measured distance drawn on the image: two points as array indices (float)."""

    name: str  # e.g. "long_axis", "frontal_horn_width", "cardiac_width"
    start_voxel: tuple[float, ...]
    end_voxel: tuple[float, ...]
    length_mm: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start_voxel": [_num(v) for v in self.start_voxel],
                "end_voxel": [_num(v) for v in self.end_voxel], "length_mm": _num(self.length_mm)}


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in array indices, inclusive on both ends."""

    min_voxel: tuple[int, ...]
    max_voxel: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"min": list(self.min_voxel), "max": list(self.max_voxel)}


@dataclass(frozen=True)
class Criterion:
    """A published threshold as used by a compare step (loaded from resources/criteria)."""

    id: str
    name: str
    threshold: float | None
    unit: str
    comparison: str  # ">", ">=", "<", "<=", "range", "bands"
    source: str  # citation
    population: str = ""
    method: str = ""
    confirmed: bool = True
    normal_range: tuple[float, float] | None = None
    bands: tuple[dict[str, Any], ...] = ()
    # added for criteria.py (all optional): which Measurement name it compares, the
    # terms it applies to, a caution shown to the user (unconfirmed thresholds), the
    # rounding step applied before comparing, and short wording for outcome texts.
    measurement: str = ""
    applies_to: tuple[str, ...] = ()
    caution: str = ""
    round_to: float | None = None
    short_name: str = ""
    short_source: str = ""
    finding: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["bands"] = list(self.bands)
        d["normal_range"] = list(self.normal_range) if self.normal_range else None
        d["applies_to"] = list(self.applies_to)
        return d


@dataclass
class Evidence:
    """What a step shows: masks, boxes, points, lines, numbers, and the criterion used."""

    mask_ids: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    points_voxel: list[tuple[float, ...]] = field(default_factory=list)
    lines: list[LineSegment] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    criterion: Criterion | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"slice": 120, "model": "..."}

    def to_dict(self) -> dict[str, Any]:
        return {
            "mask_ids": list(self.mask_ids),
            "boxes": [b.to_dict() for b in self.boxes],
            "points_voxel": [[_num(v) for v in p] for p in self.points_voxel],
            "lines": [ln.to_dict() for ln in self.lines],
            "numbers": [m.to_dict() for m in self.measurements],
            "criterion": self.criterion.to_dict() if self.criterion else None,
            **{k: _jsonable(v) for k, v in self.extra.items()},
        }


@dataclass
class Step:
    """One reasoning step the clinician can accept, edit or reject."""

    id: str
    kind: StepKind
    title: str
    detail: str = ""
    inputs: list[str] = field(default_factory=list)
    status: StepStatus = StepStatus.PROPOSED
    confidence: float | None = None
    evidence: Evidence = field(default_factory=Evidence)
    finding: str | None = None  # name of the finding this step serves
    timing_s: float = 0.0
    device: str | None = None
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "title": self.title,
            "detail": self.detail,
            "status": self.status.value,
            "confidence": _num(self.confidence),
            "inputs": list(self.inputs),
            "evidence": self.evidence.to_dict(),
            "finding": self.finding,
            "timing_s": round(float(self.timing_s), 4),
            "device": self.device,
            "stale": self.stale,
        }


@dataclass
class Finding:
    """One answer: where the finding is (or that it is absent / cannot be assessed)."""

    name: str
    status: FindingStatus
    label_value: int | None = None
    mask_id: str | None = None
    confidence: float | None = None
    box: Box | None = None
    box_lps_mm: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    centroid_lps_mm: tuple[float, float, float] | None = None
    centroid_voxel: tuple[float, ...] | None = None
    measurements: list[Measurement] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    anatomy_code: dict[str, str] | None = None  # {"scheme","value","meaning"}
    finding_code: dict[str, str] | None = None
    query_index: int = 0
    color: tuple[float, float, float] | None = None  # RGB 0..1 for display/export
    edited: bool = False  # a clinician changed its mask (MANUAL in DICOM SEG)

    def measurement(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "label_value": self.label_value,
            "mask_id": self.mask_id,
            "confidence": _num(self.confidence),
            "box_voxel": [list(self.box.min_voxel), list(self.box.max_voxel)] if self.box else None,
            "box_lps_mm": [[_num(v) for v in c] for c in self.box_lps_mm] if self.box_lps_mm else None,
            "centroid_lps_mm": [_num(v) for v in self.centroid_lps_mm] if self.centroid_lps_mm else None,
            "centroid_voxel": [_num(v) for v in self.centroid_voxel] if self.centroid_voxel else None,
            "measurements": [m.to_dict() for m in self.measurements],
            "steps": list(self.steps),
            "anatomy_code": self.anatomy_code,
            "finding_code": self.finding_code,
            "query_index": self.query_index,
            "color": list(self.color) if self.color else None,
            "edited": self.edited,
        }


@dataclass(frozen=True)
class ModelUse:
    """A model that contributed: name, version, weights hash, device and time."""

    name: str
    version: str
    sha256: str | None
    device: str
    seconds: float = 0.0
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["seconds"] = round(float(self.seconds), 4)
        return d


@dataclass(frozen=True)
class EditRecord:
    """One entry of the edit log: who changed what, when, before and after."""

    step_id: str
    action: str  # "accept", "reject", "edit_mask", "edit_box", "edit_number", "edit_conclusion", "undo", "redo"
    before: Any
    after: Any
    user: str = "clinician"
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"step_id": self.step_id, "action": self.action, "before": _jsonable(self.before),
                "after": _jsonable(self.after), "user": self.user,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time)) + "Z"}


@dataclass
class Conclusion:
    text: str
    status: FindingStatus
    edited: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "status": self.status.value, "edited": self.edited}


@dataclass(eq=False)
class Result:
    """Everything one grounding produced; ``to_dict()`` is ``result.json``.

    ``study_info`` is ``Study.info()``; the Study itself is kept in ``study`` (not
    serialised) so exports can reach the voxels and the DICOM sources.
    """

    study_info: dict[str, Any]
    query: dict[str, Any]  # ParsedText.to_dict()
    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    conclusion: Conclusion = field(default_factory=lambda: Conclusion("", FindingStatus.NOT_ASSESSABLE))
    models: list[ModelUse] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    edit_log: list[EditRecord] = field(default_factory=list)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    study: Any = None  # napari_medground.study.Study
    version: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"no step {step_id!r} in this result")

    def finding(self, name: str) -> Finding:
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding {name!r} in this result")

    def label_array(self) -> np.ndarray:
        """Integer labels on the study grid: each finding's mask painted with its label value.

        Findings are painted in order, so a later finding wins where masks overlap.
        """
        shape = tuple(self.study_info["shape"])
        labels = np.zeros(shape, dtype=np.uint16)
        for f in self.findings:
            if f.label_value and f.mask_id in self.masks:
                labels[self.masks[f.mask_id]] = f.label_value
        return labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "study": self.study_info,
            "query": self.query,
            "findings": [f.to_dict() for f in self.findings],
            "steps": [s.to_dict() for s in self.steps],
            "conclusion": self.conclusion.to_dict(),
            "models": [m.to_dict() for m in self.models],
            "timings_s": {k: round(float(v), 4) for k, v in self.timings_s.items()},
            "edit_log": [e.to_dict() for e in self.edit_log],
            "labels": [
                {"value": f.label_value, "name": f.name, "status": f.status.value}
                for f in self.findings if f.label_value
            ],
            # clinician edits versus the AI masks (Dice, HD95 mm, volume change mL), per edited step
            "agreement": [
                {"step_id": s.id, "finding": s.finding, **_jsonable(s.evidence.extra["agreement"])}
                for s in self.steps if "agreement" in s.evidence.extra
            ],
        }


def _num(v: Any) -> Any:
    """Plain float/int for JSON (numpy scalars, NaN -> None)."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    return None if not np.isfinite(f) else round(f, 6)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 64 else f"<array {v.shape}>"
    if isinstance(v, (np.generic, float, int)) and not isinstance(v, bool):
        return _num(v)
    if isinstance(v, Enum):
        return v.value
    if hasattr(v, "to_dict"):
        return v.to_dict()
    return v
