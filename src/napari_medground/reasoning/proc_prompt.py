"""Box prompts on any modality (LiteMedSAM), and the honest answers: out of scope and
not understood (one step that says what is missing; never a made-up mask)."""
from __future__ import annotations

import numpy as np

from ..language.query import Query
from ..result import Box, FindingStatus, Step, StepKind
from .chains import add_conclude_step, add_measure_step, add_segment_step, fmt, key, segment_confidence
from .graph import Grounding
from .planner import Plan


def _window(study) -> tuple[float, float] | None:
    """Soft-tissue window for CT; None (percentiles) for other modalities."""
    return (40.0, 400.0) if study.modality == "CT" else None


def build_prompt(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step, box: Box) -> None:
    a = plan.anatomy
    label = query.text.strip() or "prompted region"
    f = g.add_finding(label, qi, anatomy_code=a.code.to_dict() if a and a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)

    def locate(g: Grounding, step: Step) -> None:
        b = g.boxes.get(step.id) or box
        step.evidence.boxes = [b]
        step.confidence = 1.0
        step.detail = f"{plan.reason} Box {list(b.min_voxel)}-{list(b.max_voxel)} (array indices)."

    pos, neg = g.values.get("prompt_points", ((), ()))
    title = "Box drawn by the clinician" if box is not None else "Points clicked by the clinician"
    loc = g.add_step(StepKind.LOCATE, title, inputs=[parse.id], run=locate if box is not None else
                     _locate_points(plan, pos, neg), finding=f)

    def compute(g: Grounding, step: Step):
        from ..models import litemedsam, litemedsam_points

        b = g.boxes.get(loc.id) or box
        if pos or neg:
            sam = litemedsam_points.segment_points(g.study, pos, neg, box=b, window=_window(g.study),
                                                   device=g.options.device, progress=g.options.progress,
                                                   cancel=g.options.cancel)
        elif g.study.is_2d:
            sam = litemedsam.segment_box_2d(g.study, b, window=_window(g.study), device=g.options.device)
        else:
            sam = litemedsam.segment_box_3d(g.study, b, window=_window(g.study), device=g.options.device,
                                            progress=g.options.progress, cancel=g.options.cancel)
        g.use_model(sam.model)
        step.device = sam.model.device
        iou = float(np.mean(list(sam.iou_by_slice.values()))) if sam.iou_by_slice else 0.0
        notes = (" " + "; ".join(sam.notes[:2]) + ".") if (pos or neg) and sam.notes else ""
        return (sam.mask, iou, f"LiteMedSAM: {sam.slices_encoded} slice(s) encoded, mean predicted IoU "
                f"{iou:.2f} ({sam.model.device}, {sam.model.precision}, {sam.model.seconds:.1f} s).{notes}")

    seg_title = "Segment inside the box (LiteMedSAM)" if box is not None else "Segment from the clicks (LiteMedSAM)"
    seg = add_segment_step(g, f, loc, seg_title, compute)
    meas = add_measure_step(g, f, seg, title="Measure the segmented region", recist=True)

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.ABSENT, 0.5, "Nothing was segmented inside the box."
        size = m.get("volume") if not g.study.is_2d else m.get("area")
        unit = "mL" if not g.study.is_2d else "mm2"
        text = (f"{label.capitalize()}: {fmt(size)} {unit}, long axis {fmt(m.get('long_axis'))} mm, "
                f"short axis {fmt(m.get('short_axis'))} mm.")
        return FindingStatus.PRESENT, segment_confidence(g, f), text

    add_conclude_step(g, f, [meas], title=f"Conclude on {label}", decide=decide)


def _locate_points(plan: Plan, pos, neg):
    """The locate step of a point prompt: it records the clicks (array indices)."""
    def locate(g: Grounding, step: Step) -> None:
        step.confidence = 1.0
        step.evidence.points_voxel = [tuple(float(v) for v in p) for p in list(pos) + list(neg)]
        step.detail = (f"{plan.reason} Positive point(s) {[list(p) for p in pos]}, negative point(s) "
                       f"{[list(p) for p in neg]} (array indices); LiteMedSAM needs a box, so the box "
                       "around the first positive point is the one the model rates best among several sizes.")
    return locate


def build_cannot_assess(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """One step that says why this query cannot be judged here; status not_assessable."""
    name = query.text.strip() or "(empty text)"
    f = g.add_finding(name, qi, finding_code=query.finding_code.to_dict() if query.finding_code else None)

    def run(g: Grounding, step: Step) -> None:
        step.detail = plan.reason
        step.confidence = 1.0
        f.status = FindingStatus.NOT_ASSESSABLE
        f.confidence = 0.0
        g.values[key(f, "conclusion")] = plan.reason
        from .chains import update_conclusion

        update_conclusion(g)

    title = "Not understood" if plan.procedure == "not_understood" else "Outside what this tool can judge"
    g.add_step(StepKind.LOCATE, title, inputs=[parse.id], run=run, finding=f)

