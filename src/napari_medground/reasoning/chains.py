"""Step builders shared by the procedures: segment, measure, compare, conclude.

Each builder adds one step to a :class:`Grounding` with the function that computes it
from the current state, so that the same function serves the first run and every
re-run after a clinician's edit. Shared state lives in ``g.values`` under keys made by
:func:`key`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..result import (
    Box,
    Finding,
    FindingStatus,
    Measurement,
    Step,
    StepKind,
    StepStatus,
)
from .graph import Grounding

CONFIDENCE_FLOOR = 0.5  # below this a "present" finding is reported as "uncertain"

# Distinct colours (RGB 0..1) for findings, in label order.
PALETTE = (
    (0.90, 0.30, 0.25), (0.20, 0.60, 0.90), (0.30, 0.80, 0.35), (0.95, 0.75, 0.20),
    (0.70, 0.40, 0.85), (0.10, 0.80, 0.80), (0.95, 0.50, 0.10), (0.85, 0.45, 0.65),
)


def key(finding: Finding | str, what: str) -> str:
    name = finding.name if isinstance(finding, Finding) else finding
    return f"{name}::{what}"


def assign_label(g: Grounding, finding: Finding) -> None:
    """Give a finding that has a mask the next free label value and a colour."""
    if finding.label_value is None:
        used = [f.label_value for f in g.result.findings if f.label_value]
        finding.label_value = (max(used) if used else 0) + 1
        finding.color = PALETTE[(finding.label_value - 1) % len(PALETTE)]
        finding.mask_id = f"mask-{finding.label_value}"


# ---------------------------------------------------------------------- segment
def add_segment_step(g: Grounding, finding: Finding, locate: Step, title: str,
                     compute: Callable[[Grounding, Step], tuple[np.ndarray | None, float, str]]) -> Step:
    """A segment step: ``compute`` returns (mask or None, confidence, detail).

    A box edited on the locate step restricts the mask to that box (the procedure's
    ``compute`` may instead re-run its model inside the box: it can read
    ``g.boxes.get(locate.id)``).
    """
    assign_label(g, finding)

    def run(g: Grounding, step: Step) -> None:
        if step.status == StepStatus.EDITED and finding.mask_id in g.result.masks:
            return  # the clinician's painted mask stands
        if g.upstream_rejected(step) is not None:
            g.set_mask(finding.mask_id, None)
            step.detail = "Not computed: an earlier step was rejected."
            return
        mask, confidence, detail = compute(g, step)
        box = g.boxes.get(locate.id)
        if mask is not None and box is not None:
            mask = mask & box_mask(mask.shape, box)
        g.set_mask(finding.mask_id, mask)
        step.confidence = float(confidence)
        step.detail = detail
        step.evidence.mask_ids = [finding.mask_id]

    return g.add_step(StepKind.SEGMENT, title, inputs=[locate.id], run=run, finding=finding)


def box_mask(shape: tuple[int, ...], box: Box) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[tuple(slice(int(a), int(b) + 1) for a, b in zip(box.min_voxel, box.max_voxel))] = True
    return m


# ---------------------------------------------------------------------- measure
def add_measure_step(g: Grounding, finding: Finding, segment: Step, *, title: str,
                     extra: Callable[[Grounding, np.ndarray], tuple[list[Measurement], list]] | None = None,
                     recist: bool = False, mask_id: str | None = None, set_finding: bool = True,
                     label: str | None = None) -> Step:
    """Measure the finding's mask: volume/area, centroid, box, diameters, intensity.

    ``extra`` adds procedure-specific numbers and line segments. Numbers typed by the
    clinician (``g.overrides``) replace the measured ones and say so.
    """
    from .. import measure

    def run(g: Grounding, step: Step) -> None:
        mid = mask_id or finding.mask_id
        mask = g.result.masks.get(mid)
        if mask is None or not mask.any():
            step.detail = "Nothing to measure: the mask is empty."
            step.evidence.measurements = []
            g.values[key(finding, "m")] = {}
            return
        study = g.study
        unit = "HU" if study.modality == "CT" else "a.u."
        ms = measure.measure_mask(mask, study, label=label or finding.name, intensity_unit=unit, recist=recist)
        lines = []
        if recist:
            ax = measure.recist_axes(mask, study)
            if ax is not None:
                lines += [ax.long_axis, ax.short_axis]
        if extra is not None:
            more, more_lines = extra(g, mask)
            ms += more
            lines += more_lines
        ms = [_override(g, step, m) for m in ms]
        step.evidence.measurements = ms
        step.evidence.lines = lines
        step.evidence.mask_ids = [mid]
        g.values[key(finding, "m")] = {m.name: m.value for m in ms}
        g.values[key(finding, "units")] = {m.name: m.unit for m in ms}
        step.detail = "; ".join(f"{m.label or m.name} {fmt(m.value)}{'' if m.unit == '1' else ' ' + m.unit}"
                                for m in ms if m.name in _SHOWN)
        step.confidence = 1.0
        if set_finding:
            _update_geometry(g, finding, mask, ms)

    return g.add_step(StepKind.MEASURE, title, inputs=[segment.id], run=run, finding=finding)


_SHOWN = {"volume", "area", "long_axis", "short_axis", "max_diameter", "mean", "length", "ratio",
          "volume_left", "volume_right", "asymmetry", "evans_index", "cardiac_width", "thoracic_width"}


def _override(g: Grounding, step: Step, m: Measurement) -> Measurement:
    v = g.overrides.get((step.id, m.name))
    if v is None:
        return m
    return Measurement(m.name, v, m.unit, m.label, f"entered by clinician (measured {fmt(m.value)})")


def _update_geometry(g: Grounding, finding: Finding, mask: np.ndarray, ms: list[Measurement]) -> None:
    from .. import measure

    study = g.study
    cv, cl = measure.centroid(mask, study)
    finding.centroid_voxel = tuple(float(v) for v in cv)
    finding.centroid_lps_mm = tuple(float(v) for v in cl)
    finding.box = measure.bounding_box(mask)
    lo, hi = measure.box_lps_mm(finding.box, study)
    finding.box_lps_mm = (tuple(float(v) for v in lo), tuple(float(v) for v in hi))
    finding.measurements = ms


def sentence(text: str) -> str:
    """Capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    v = float(v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


# ---------------------------------------------------------------------- compare
def add_compare_step(g: Grounding, finding: Finding, measure_step: Step, criterion_id: str,
                     measurement: str, *, title: str, value_label: str = "") -> Step:
    """Compare one measured number with a published criterion (resources/criteria)."""
    from .. import criteria

    crit = criteria.get_criterion(criterion_id)

    def run(g: Grounding, step: Step) -> None:
        value = g.values.get(key(finding, "m"), {}).get(measurement)
        step.evidence.criterion = crit
        if value is None:
            step.detail = f"No {value_label or measurement} to compare with {crit.name}."
            step.confidence = 0.0
            g.values[key(finding, f"outcome:{criterion_id}")] = None
            g.values[key(finding, f"outcome:{criterion_id}:{measurement}")] = None
            return
        unit = g.values.get(key(finding, "units"), {}).get(measurement, crit.unit)
        outcome = criteria.evaluate(crit, float(value), unit=unit)
        value = criteria.convert(float(value), unit, crit.unit)
        step.evidence.measurements = [Measurement(measurement, value, crit.unit, value_label or measurement)]
        step.evidence.extra["outcome"] = {"meets": outcome.meets, "band": outcome.band,
                                          "margin": outcome.margin}
        step.detail = sentence(outcome.text) + ("" if crit.confirmed else " (Criterion not confirmed in a primary source.)")
        step.confidence = compare_confidence(outcome.margin, crit.confirmed)
        g.values[key(finding, f"outcome:{criterion_id}")] = outcome
        g.values[key(finding, f"outcome:{criterion_id}:{measurement}")] = outcome

    return g.add_step(StepKind.COMPARE, title, inputs=[measure_step.id], run=run, finding=finding)


def compare_confidence(margin: float | None, confirmed: bool) -> float:
    """Confidence from the relative distance to the threshold: 0.5 at it, 1.0 at >= 20%."""
    if margin is None:
        return 0.5
    c = 0.5 + 0.5 * min(1.0, abs(float(margin)) / 0.2)
    return min(c, 0.7) if not confirmed else c


def outcome(g: Grounding, finding: Finding, criterion_id: str, step_id: str | None = None,
            measurement: str | None = None):
    """The stored outcome of a compare step, or None when missing or rejected by the clinician.

    ``measurement`` tells apart two compares of one criterion (left and right volume)."""
    if step_id is not None and g.nodes[step_id].step.status == StepStatus.REJECTED:
        return None
    if measurement is not None:
        return g.values.get(key(finding, f"outcome:{criterion_id}:{measurement}"))
    return g.values.get(key(finding, f"outcome:{criterion_id}"))


# ---------------------------------------------------------------------- conclude
Decision = tuple[FindingStatus, float, str]


def add_conclude_step(g: Grounding, finding: Finding, inputs: list[Step], *, title: str,
                      decide: Callable[[Grounding, Step], Decision]) -> Step:
    """The conclusion for one finding; rejected locate/segment steps make it not assessable."""

    def run(g: Grounding, step: Step) -> None:
        rejected = g.upstream_rejected(step)
        if rejected is not None and rejected.kind in (StepKind.LOCATE, StepKind.SEGMENT, StepKind.PARSE):
            status, conf, text = (FindingStatus.NOT_ASSESSABLE, 0.0,
                                  f"Not assessable: the clinician rejected '{rejected.title}'.")
        elif step.status == StepStatus.REJECTED:
            status, conf, text = FindingStatus.UNCERTAIN, 0.0, "Conclusion rejected by the clinician."
        else:
            status, conf, text = decide(g, step)
        if status == FindingStatus.PRESENT and conf < CONFIDENCE_FLOOR:
            text += f" Confidence {conf:.2f} is below {CONFIDENCE_FLOOR:.2f}: reported as uncertain."
            status = FindingStatus.UNCERTAIN
        finding.status = status
        finding.confidence = round(float(conf), 3)
        step.confidence = finding.confidence
        step.detail = text
        g.values[key(finding, "conclusion")] = text
        update_conclusion(g)

    return g.add_step(StepKind.CONCLUDE, title, inputs=[s.id for s in inputs], run=run, finding=finding)


_RANK = {FindingStatus.PRESENT: 3, FindingStatus.UNCERTAIN: 2, FindingStatus.ABSENT: 1,
         FindingStatus.NOT_ASSESSABLE: 0}


def update_conclusion(g: Grounding) -> None:
    """The overall conclusion: one sentence per finding; status of the most significant."""
    if g.result.conclusion.edited:
        return
    fs = g.result.findings
    texts = [_answer(g, f) for f in fs]
    status = max((f.status for f in fs), key=lambda s: _RANK[s]) if fs else FindingStatus.NOT_ASSESSABLE
    if len(fs) == 1:
        status = fs[0].status
    g.result.conclusion.text = " ".join(texts)
    g.result.conclusion.status = status


_NEGATED_ANSWER = {
    FindingStatus.ABSENT: "confirmed, not found.",
    FindingStatus.PRESENT: "contradicted, found.",
    FindingStatus.UNCERTAIN: "cannot be confirmed either way.",
    FindingStatus.NOT_ASSESSABLE: "cannot be assessed here.",
}


def _answer(g: Grounding, f: Finding) -> str:
    """One finding's sentence; a negated query ("no pneumothorax") is answered as asked."""
    text = g.values.get(key(f, "conclusion")) or f"{f.name}: {f.status.value}."
    queries = g.values.get("queries") or []
    q = queries[f.query_index] if f.query_index < len(queries) else None
    if q is not None and q.negated:
        return f"'{q.text}': {_NEGATED_ANSWER[f.status]} {text}"
    if q is not None and q.uncertain:
        return f"'{q.text}' (asked as a question): {text}"
    return text


def segment_confidence(g: Grounding, finding: Finding) -> float:
    """The confidence of the finding's segment step (1.0 when edited by the clinician)."""
    for sid in finding.steps:
        s = g.nodes[sid].step
        if s.kind == StepKind.SEGMENT:
            if s.status == StepStatus.EDITED:
                return 1.0
            return float(s.confidence if s.confidence is not None else 0.5)
    return 0.5
