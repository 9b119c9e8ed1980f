"""Chest radiograph procedures: lung fields, and cardiomegaly by the cardiothoracic ratio
(maximal heart width over maximal internal thoracic width, both drawn as lines)."""
from __future__ import annotations

import numpy as np

from ..language.query import Query
from ..result import FindingStatus, LineSegment, Measurement, Step, StepKind
from .chains import (
    sentence,
    add_compare_step,
    add_conclude_step,
    add_measure_step,
    add_segment_step,
    fmt,
    key,
    outcome,
    segment_confidence,
)
from .graph import Grounding
from .planner import Plan


def _anatomy_step(g: Grounding, f, plan: Plan, parse: Step, title: str) -> Step:
    def run(g: Grounding, step: Step) -> None:
        from ..measure import bounding_box
        from ..models.cxr_anatomy import analyse_chest_xray

        from ..catalogue import classical_use
        from ..catalogue.locators import Timer

        with Timer() as t:
            cxr = analyse_chest_xray(g.study, device=g.options.device)
        g.use_model(classical_use("cxr_classical", t.seconds))
        step.evidence.extra["models"] = ["cxr_classical"]
        g.values["cxr"] = cxr
        lungs = cxr.lung_left | cxr.lung_right if cxr.lung_left is not None else None
        step.confidence = float(cxr.confidence)
        step.device = "cpu"
        notes = " ".join([cxr.view_note or ""] + list(cxr.notes)).strip()
        if lungs is not None and lungs.any():
            step.evidence.boxes = [g.boxes.get(step.id) or bounding_box(lungs)]
            step.detail = f"{plan.reason} Lung fields found ({cxr.timing_s:.1f} s). {notes}".strip()
        else:
            step.detail = f"{plan.reason} The lung fields were not found: {notes or 'not a frontal chest film?'}"

    return g.add_step(StepKind.LOCATE, title, inputs=[parse.id], run=run, finding=f)


def build_cxr_heart(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    a = plan.anatomy
    name = "cardiomegaly" if query.finding in ("enlargement", "cardiomegaly") or not a else "heart"
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a and a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)
    loc = _anatomy_step(g, f, plan, parse, "Find the lung fields and the heart shadow")

    def compute(g: Grounding, step: Step):
        cxr = g.values.get("cxr")
        if cxr is None or cxr.heart_width is None:
            return None, 0.0, "The heart borders could not be found."
        mask = cxr.heart if cxr.heart is not None and cxr.heart.any() else _between_lungs(cxr)
        return mask, float(cxr.confidence), "Heart shadow between the medial borders of the lungs."

    seg = add_segment_step(g, f, loc, "Outline the heart shadow", compute)

    def widths(g: Grounding, mask: np.ndarray):
        cxr = g.values["cxr"]
        hw, tw = cxr.heart_width, cxr.thorax_width
        if g.nodes[seg.id].step.status.value == "edited":
            hw = mask_width(mask, g.study, "cardiac_width")  # the clinician's outline decides
        ratio = hw.length_mm / tw.length_mm if tw.length_mm > 0 else float("nan")
        return ([Measurement("cardiac_width", hw.length_mm, "mm", "maximal horizontal heart width"),
                 Measurement("thoracic_width", tw.length_mm, "mm", "maximal internal thoracic width"),
                 Measurement("ratio", ratio, "1", "cardiothoracic ratio", "cardiac width / thoracic width")],
                [hw, tw])

    meas = add_measure_step(g, f, seg, title="Measure heart and thorax widths", extra=widths)
    cmp_ = add_compare_step(g, f, meas, "ctr_cardiomegaly", "ratio",
                            title="Compare the cardiothoracic ratio with 0.5", value_label="cardiothoracic ratio")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m or m.get("ratio") is None:
            return FindingStatus.NOT_ASSESSABLE, 0.0, "The cardiothoracic ratio could not be measured."
        o = outcome(g, f, "ctr_cardiomegaly", cmp_.id)
        conf = segment_confidence(g, f) * (g.nodes[cmp_.id].step.confidence or 0.5) ** 0.5
        text = f"Cardiothoracic ratio {m['ratio']:.2f} (heart {fmt(m.get('cardiac_width'))} / thorax " \
               f"{fmt(m.get('thoracic_width'))})."
        if o is None:
            return FindingStatus.UNCERTAIN, 0.3, text + " The criterion step was rejected."
        cxr = g.values.get("cxr")
        note = (cxr.view_note or "").strip() if cxr is not None else ""
        caveat = f" Film: {note[0].lower() + note[1:].rstrip('.')}." if note else ""
        status = FindingStatus.PRESENT if o.meets else FindingStatus.ABSENT
        if name == "heart":
            status = FindingStatus.PRESENT
        return status, conf, f"{text} {sentence(o.text)}{caveat}"

    add_conclude_step(g, f, [cmp_], title=f"Conclude on {name}", decide=decide)


def mask_width(mask: np.ndarray, study, name: str) -> LineSegment:
    """Maximal horizontal (column-direction) extent of a 2D mask, as a line in mm."""
    rows, cols = np.nonzero(mask)
    c0, c1 = float(cols.min()) - 0.5, float(cols.max()) + 0.5
    row = float(np.median(rows))
    col_mm = float(np.linalg.norm(study.affine_lps[:3, 1]))
    return LineSegment(name, (row, c0), (row, c1), (c1 - c0) * col_mm)


def _between_lungs(cxr) -> np.ndarray:
    """Fallback heart outline: the box between the two width lines' heart end points."""
    shape = cxr.lung_left.shape
    hw = cxr.heart_width
    rows = sorted([hw.start_voxel[0], hw.end_voxel[0]])
    cols = sorted([hw.start_voxel[1], hw.end_voxel[1]])
    m = np.zeros(shape, bool)
    r0 = int(max(0, rows[0] - 0.15 * shape[0]))
    r1 = int(min(shape[0] - 1, rows[1] + 0.08 * shape[0]))
    m[r0:r1 + 1, int(cols[0]):int(cols[1]) + 1] = True
    return m & ~(cxr.lung_left | cxr.lung_right)


def build_cxr_lungs(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    a = plan.anatomy
    side = a.side if a and a.side in ("left", "right") else None
    name = f"{side} lung" if side else "lungs"
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a and a.code else None)
    loc = _anatomy_step(g, f, plan, parse, "Find the lung fields")

    def compute(g: Grounding, step: Step):
        cxr = g.values.get("cxr")
        if cxr is None or cxr.lung_left is None:
            return None, 0.0, "No lung fields."
        mask = {"left": cxr.lung_left, "right": cxr.lung_right}.get(side, cxr.lung_left | cxr.lung_right)
        return mask, float(cxr.confidence), f"{name.capitalize()} field(s) by intensity and shape."

    seg = add_segment_step(g, f, loc, f"Segment the {name}", compute)
    meas = add_measure_step(g, f, seg, title=f"Measure the {name}")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, "The lung fields were not found."
        return FindingStatus.PRESENT, segment_confidence(g, f), f"{name.capitalize()}: {fmt(m.get('area'))} mm2."

    add_conclude_step(g, f, [meas], title=f"Conclude on the {name}", decide=decide)
