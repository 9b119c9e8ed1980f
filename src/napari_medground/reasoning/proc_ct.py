"""CT procedures: organs (liver, spleen, kidneys), classical structures (lungs, body,
bone, fat, airways), and their size criteria (hepatomegaly, splenomegaly)."""
from __future__ import annotations

import numpy as np

from ..language.query import Query
from ..result import FindingStatus, Measurement, Step, StepKind
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
from .planner import ENLARGEMENT, Plan

# Size criteria per organ for "enlargement" queries and for context on anatomy queries.
SIZE_CRITERIA = {
    "liver": [("hepatomegaly_volume", "volume", "liver volume")],
    "spleen": [("splenic_volume", "volume", "splenic volume"), ("spleen_length_ct", "length", "spleen length")],
}


def anatomy_name(a) -> str:
    """"right lung", "liver", "lungs": the structure with its side, as the clinician reads it."""
    if a.side in ("left", "right"):
        return f"{a.side} {a.term}"
    return f"{a.term} (both sides)" if a.side == "bilateral" else a.term


def _finding_name(plan: Plan, query: Query) -> str:
    a = plan.anatomy
    base = anatomy_name(a) if a else "structure"
    if (query.finding or "") in ENLARGEMENT:
        return {"liver": "hepatomegaly", "spleen": "splenomegaly"}.get(a.term if a else "", f"enlarged {base}")
    return base


def structure_masks(g: Grounding, names: list[str]) -> tuple[np.ndarray | None, float, str, list]:
    """Masks of classical CT structures (HU rules) or organs (localisation + LiteMedSAM)."""
    from ..models import ct_anatomy

    study = g.study
    masks, confs, notes, uses = [], [], [], []
    lungs = None
    for n in names:
        if n in ("lung_left", "lung_right", "airways", "trachea"):
            lungs = lungs or ct_anatomy.segment_lungs(study)
            m = {"lung_left": lungs.left, "lung_right": lungs.right}.get(n, lungs.airways)
            masks.append(m)
            confs.append(lungs.confidence)
            notes += list(lungs.notes)
        elif n in ("body", "bone", "fat"):
            fn = {"body": ct_anatomy.segment_body, "bone": ct_anatomy.segment_bone, "fat": ct_anatomy.segment_fat}[n]
            masks.append(fn(study))
            confs.append(0.9)
        else:
            from ..models.ct_organs import segment_organ

            org = segment_organ(study, n, device=g.options.device, progress=g.options.progress,
                                cancel=g.options.cancel)
            masks.append(org.mask)
            confs.append(org.confidence)
            notes.append(org.method)
            uses += list(org.models)
    present = [m for m in masks if m is not None]
    if not present:
        return None, 0.0, "; ".join(n for n in notes if n), uses
    text = "; ".join(n.strip().rstrip(".") for n in dict.fromkeys(notes) if n and n.strip())
    return np.logical_or.reduce(present), float(min(confs)), (text[:1].upper() + text[1:] + ".") if text else "", uses


def build_ct_structure(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """Anatomy or organ-size query on CT: locate -> segment -> measure -> compare -> conclude."""
    a = plan.anatomy
    names = plan.organ.split("+")
    name = _finding_name(plan, query)
    enlargement = (query.finding or "") in ENLARGEMENT
    organ_name = anatomy_name(a) if a else name
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a and a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)

    def locate(g: Grounding, step: Step) -> None:
        from ..measure import bounding_box

        mask, conf, notes, uses = structure_masks(g, names)
        for u in uses:
            g.use_model(u)
        step.device = uses[0].device if uses else "cpu"
        g.values[key(f, "region")] = mask
        g.values[key(f, "conf")] = conf
        if mask is not None and mask.any():
            step.evidence.boxes = [g.boxes.get(step.id) or bounding_box(mask)]
            step.confidence = conf
            step.detail = f"{plan.reason} {notes}".strip()
        else:
            step.confidence = 0.0
            step.detail = f"{plan.reason} Not found in this scan: {notes or 'outside the field of view?'}"

    loc = g.add_step(StepKind.LOCATE, f"Locate the {organ_name}", inputs=[parse.id],
                     run=locate, finding=f)

    def compute(g: Grounding, step: Step):
        mask = g.values.get(key(f, "region"))
        if mask is None or not mask.any():
            return None, 0.0, "Nothing segmented."
        vol = float(mask.sum()) * g.study.voxel_volume_ml
        return mask, g.values.get(key(f, "conf"), 0.5), f"{int(mask.sum())} voxels, {fmt(vol)} mL."

    seg = add_segment_step(g, f, loc, f"Segment the {organ_name}", compute)

    def extent(g: Grounding, mask: np.ndarray):
        from ..measure import extent_mm

        return [Measurement("length", extent_mm(mask, g.study, "SI"), "mm", "craniocaudal extent",
                            "projection on the patient's superior-inferior axis")], []

    meas = add_measure_step(g, f, seg, title=f"Measure the {organ_name}", extra=extent)
    compares = [add_compare_step(g, f, meas, cid, mname, title=f"Compare the {label} with the published range",
                                 value_label=label)
                for cid, mname, label in SIZE_CRITERIA.get(a.term if a else "", [])]

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        term = a.term if a else name
        if not m:
            return (FindingStatus.NOT_ASSESSABLE, 0.0,
                    f"The {term} was not found in this scan (outside the field of view or not segmentable).")
        conf = segment_confidence(g, f)
        text = f"{name.capitalize()}: {fmt(m.get('volume'))} mL, mean {fmt(m.get('mean'))} HU."
        if not enlargement:
            return FindingStatus.PRESENT, conf, text
        outs = [o for c, (cid, _, _) in zip(compares, SIZE_CRITERIA.get(term, []))
                if (o := outcome(g, f, cid, c.id)) is not None]
        if not outs:
            return FindingStatus.UNCERTAIN, 0.3, text + " No size criterion could be applied."
        crit_conf = max(g.nodes[c.id].step.confidence or 0.5 for c in compares)
        if any(o.meets for o in outs):
            return FindingStatus.PRESENT, conf * crit_conf, text + " Enlarged: " + " ".join(
                sentence(o.text) for o in outs if o.meets)
        return FindingStatus.ABSENT, conf * crit_conf, text + " Within the published size limits."

    add_conclude_step(g, f, [meas, *compares], title=f"Conclude on {name}", decide=decide)
