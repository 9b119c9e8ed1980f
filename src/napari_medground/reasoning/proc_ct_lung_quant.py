"""CT emphysema densitometry: lungs -> LAA-950 per side and total -> published cut-off.

Chain: locate both lungs (catalogue ``ct.lungs``) -> segment (their union) -> measure
(volume, HU, LAA-950 % per side and total) -> compare the total with the criterion the
lung entries declare for "emphysema" (resources/criteria/chest.json) -> conclude.
Published cut-offs hold for thin-slice (<= ~1.5 mm), unenhanced, inspiratory CT with a
standard kernel: thick slices, smoothing and contrast all lower LAA-950, so a figure
below the cut-off on such a scan is reported ``uncertain``, never ``absent``.
"""
from __future__ import annotations

import numpy as np

from .. import catalogue
from ..language.query import Query
from ..measure.lung_density import laa_per_side
from ..result import FindingStatus, Measurement, Step, StepKind
from .chains import (add_compare_step, add_conclude_step, add_measure_step, add_segment_step, fmt, key,
                     outcome, segment_confidence, sentence)
from .graph import Grounding
from .planner import Plan
from .proc_ct import locate_into, locate_structures

THIN_SLICE_MM = 2.0  # above this, partial volume raises low HU values (LAA under-estimated)
_SIDES = {"lung_left": "left", "lung_right": "right"}


def build_ct_emphysema(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """Emphysema on CT: LAA-950 within the lung masks against the published cut-off."""
    names = [n for n in (plan.structures or ("lung_left", "lung_right"))]
    entries = [e for n in names if (e := catalogue.get(n, "CT")) is not None]
    f = g.add_finding("emphysema", qi, anatomy_code=plan.anatomy.code.to_dict()
                      if plan.anatomy and plan.anatomy.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)

    def locate(g: Grounding, step: Step) -> None:
        found, mask, conf, notes, partial = locate_into(g, f, step, names)
        g.values[key(f, "sides")] = {_SIDES.get(e.id, e.id): loc.mask for e, loc in found
                                     if e is not None and loc.found}
        g.values[key(f, "partial")] = partial
        step.confidence = conf if mask is not None else 0.0
        cut = " Cut by the field of view: only part of the lungs is measured." if partial else ""
        step.detail = (f"{plan.reason} {notes}{cut}".strip() if mask is not None
                       else f"{plan.reason} No lung found: {notes or 'outside the field of view?'}")

    loc = g.add_step(StepKind.LOCATE, "Locate the lungs", inputs=[parse.id], run=locate, finding=f)

    def compute(g: Grounding, step: Step):
        mask = g.values.get(key(f, "region"))
        if mask is None or not mask.any():
            return None, 0.0, "Nothing segmented."
        return mask, g.values.get(key(f, "conf"), 0.5), f"{int(mask.sum())} lung voxels."

    seg = add_segment_step(g, f, loc, "Segment the lungs", compute)

    def laa(g: Grounding, mask: np.ndarray):
        sides = g.values.get(key(f, "sides")) or {}
        res = laa_per_side(g.study.array, sides, g.study.voxel_volume_ml)
        how = "voxels below -950 HU / lung voxels (lung masks, vessels inside them counted)"
        return [Measurement("laa950" if s == "total" else f"laa950_{s}", r.percent, "%",
                            f"LAA-950 {'both lungs' if s == 'total' else s + ' lung'}", how)
                for s, r in res.items()], []

    meas = add_measure_step(g, f, seg, title="Measure LAA-950 in the lungs", extra=laa)
    uses = catalogue.select_criteria(entries[0], "emphysema") if entries else ()
    compares = [add_compare_step(g, f, meas, u.criterion, u.measurement, value_label=u.label or u.measurement,
                                 title="Compare LAA-950 with the published cut-off") for u in uses]

    def decide(g: Grounding, step: Step):
        return _decide(g, f, uses, compares)

    add_conclude_step(g, f, [meas, *compares], title="Conclude on emphysema", decide=decide)


def _decide(g: Grounding, f, uses, compares):
    m = g.values.get(key(f, "m"), {})
    if "laa950" not in m:
        return FindingStatus.NOT_ASSESSABLE, 0.0, "The lungs were not found in this scan: emphysema not assessed."
    per = ", ".join(f"{s} {fmt(m[k])}%" for s in ("right", "left") if (k := f"laa950_{s}") in m)
    text = f"LAA-950 {fmt(m['laa950'])}% of {fmt(m.get('volume'))} mL lung ({per})."
    outs = [o for u, c in zip(uses, compares) if (o := outcome(g, f, u.criterion, c.id, u.measurement))]
    if not outs:
        return FindingStatus.UNCERTAIN, 0.3, text + " No published cut-off could be applied."
    o = outs[0]
    conf = segment_confidence(g, f) * max(g.nodes[c.id].step.confidence or 0.5 for c in compares)
    thick = max(g.study.spacing_mm) > THIN_SLICE_MM
    limits = []
    if g.values.get(key(f, "partial")):
        limits.append("only part of the lungs is in the field of view")
    if thick:
        limits.append(f"voxels up to {fmt(max(g.study.spacing_mm))} mm (the cut-off is for thin slices; "
                      "partial volume lowers LAA-950)")
    caveat = (" Limits: " + "; ".join(limits) + ".") if limits else ""
    if o.meets:
        status = FindingStatus.UNCERTAIN if g.values.get(key(f, "partial")) else FindingStatus.PRESENT
        # Thick slices and smoothing lower LAA-950: a value at or above the cut-off stands.
        return status, conf, f"{text} {sentence(o.text)}{caveat}"
    if limits:
        return FindingStatus.UNCERTAIN, 0.4, f"{text} {sentence(o.text)}{caveat} Not called absent."
    return FindingStatus.ABSENT, conf, f"{text} {sentence(o.text)}"


def build_ct_pleural_effusion(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """Pleural effusion on CT: fluid in the dependent pleural space per side, volume in mL."""
    from ..models import ct as ct_anatomy
    from ..models.ct.pleura import FLUID_HU, segment_pleural_fluid

    names = list(plan.structures or ("lung_left", "lung_right"))
    f = g.add_finding("pleural effusion", qi, finding_code=query.finding_code.to_dict()
                      if query.finding_code else None)

    def locate(g: Grounding, step: Step) -> None:
        found = locate_structures(g, names)
        for u in [u for _, loc in found for u in loc.models]:
            g.use_model(u)
        lungs = {_SIDES.get(e.id, e.id): loc.mask for e, loc in found if e is not None and loc.found}
        if not lungs:
            g.values[key(f, "fluid")] = None
            step.confidence, step.detail = 0.0, "No lung found: the pleural space cannot be placed."
            return
        fl = segment_pleural_fluid(g.study, lungs, ct_anatomy.segment_body(g.study))
        g.values[key(f, "fluid")] = fl
        g.values[key(f, "region")] = np.logical_or.reduce(list(fl.masks.values()))
        step.confidence = 0.7
        lim = f" Limits: {'; '.join(fl.notes)}." if fl.notes else ""
        step.detail = (f"{plan.reason} Fluid window {FLUID_HU[0]:g}..{FLUID_HU[1]:g} HU outside the lungs, "
                       f"touching a lung, thick, in its dependent (posterior) half.{lim}")

    loc = g.add_step(StepKind.LOCATE, "Search the pleural spaces", inputs=[parse.id], run=locate, finding=f)

    def compute(g: Grounding, step: Step):
        mask = g.values.get(key(f, "region"))
        if mask is None or not mask.any():
            return None, 0.0, "No pleural fluid segmented."
        return mask, 0.7, f"{int(mask.sum())} fluid voxels."

    seg = add_segment_step(g, f, loc, "Segment the pleural fluid", compute)

    def per_side(g: Grounding, mask: np.ndarray):
        fl = g.values.get(key(f, "fluid"))
        return [Measurement(f"volume_{s}", v, "mL", f"{s} pleural fluid volume", "voxel count x voxel volume")
                for s, v in fl.volume_ml.items()], []

    meas = add_measure_step(g, f, seg, title="Measure the pleural fluid", extra=per_side)

    def decide(g: Grounding, step: Step):
        return _decide_effusion(g.values.get(key(f, "fluid")))

    add_conclude_step(g, f, [meas], title="Conclude on pleural effusion", decide=decide)


def _decide_effusion(fl):
    """Present with the volume per side; absent only on sides whose lung base is in view."""
    if fl is None:
        return FindingStatus.NOT_ASSESSABLE, 0.0, "The lungs were not found: pleural effusion not assessed."
    parts, unseen = [], []
    for side in ("right", "left"):
        if side not in fl.volume_ml:
            unseen.append(f"{side} lung not found")
            continue
        v = fl.volume_ml[side]
        if v > 0:
            parts.append(f"{side} {fmt(v)} mL")
        elif fl.base_in_view[side]:
            parts.append(f"{side} none")
        else:
            unseen.append(f"{side} lung base outside the scan")
    text = "Pleural fluid: " + ", ".join(parts) + "." if parts else "Pleural fluid: none measured."
    if unseen:
        text += " Not assessable: " + "; ".join(unseen) + "."
    if any(v > 0 for v in fl.volume_ml.values()):
        # The rules are not validated on a reference yet and can take in a fluid-density organ touching
        # the lung base (unenhanced kidney, stomach fluid): shown for review, never called present.
        return FindingStatus.UNCERTAIN, 0.45, text + (" Fluid-density collection next to the lung; the rule "
                                                      "is unvalidated and may include an adjacent fluid-density "
                                                      "organ: please review the mask.")
    if unseen:
        return FindingStatus.UNCERTAIN, 0.4, text + " Not called absent."
    return FindingStatus.ABSENT, 0.6, text
