"""Quantitative CT findings as chains: locate -> ROI -> (contrast phase) -> measure ->
compare with the published criteria -> conclude.

Which finding runs which measure is data (``resources/quantitative/ct_findings.json``,
:mod:`.quant_plan`); the criteria are in ``resources/criteria/body_composition.json`` and
``vascular.json``. The measures themselves are in :mod:`.quant_findings`. Every
conclusion names what limits it (contrast phase, partial field of view, unvalidated
approximation); a criterion validated only on unenhanced CT never gives ``present`` or
``absent`` on an enhanced scan unless the direction of the contrast effect makes the
answer safe (contrast only raises HU).
"""
from __future__ import annotations

from ..result import FindingStatus, Measurement, Step, StepKind
from . import quant_findings as qf
from .chains import add_compare_step, add_conclude_step, add_segment_step, fmt, key
from .graph import Grounding
from .proc_ct import locate_structures, structure_masks_from
from .quant_plan import entries


def build_ct_quant(g: Grounding, query, qi: int, plan, parse: Step) -> None:
    """One quantitative finding (``plan.organ`` = the entry id in ct_findings.json)."""
    from .. import criteria

    entry = next(e for e in entries() if e.id == plan.organ)
    spec = qf.SPECS[entry.id]
    f = g.add_finding(entry.title, qi, finding_code=query.finding_code.to_dict() if query.finding_code else None)
    g.values[key(f, "query")] = query

    def locate(g: Grounding, step: Step) -> None:
        found = locate_structures(g, list(plan.structures or entry.structures))
        mask, conf, notes, uses = structure_masks_from(found)
        for u in uses:
            g.use_model(u)
        step.evidence.extra["models"] = list(dict.fromkeys(u.name for u in uses))
        step.evidence.extra["structures"] = list(plan.structures or entry.structures)
        step.evidence.extra["partial"] = any(loc.partial for _, loc in found)
        g.values[key(f, "located")] = found
        step.confidence = conf if mask is not None else 0.0
        names = ", ".join(e.name if e is not None else "?" for e, _ in found)
        step.detail = f"{plan.reason} {names}: {notes or 'located'}".strip()

    loc = g.add_step(StepKind.LOCATE, f"Locate the {', '.join(plan.structures or entry.structures).replace('_', ' ')}",
                     inputs=[parse.id], run=locate, finding=f)
    inputs = [loc]
    if spec.needs_phase:
        def phase(g: Grounding, step: Step) -> None:
            ph = qf.contrast_phase(g)
            g.values[key(f, "phase")] = ph
            step.detail = ph.text
            step.confidence = ph.confidence
            if ph.aorta_hu is not None:
                step.evidence.measurements = [Measurement("aorta_hu", ph.aorta_hu, "HU", "aortic blood attenuation",
                                                          "median HU of the aorta mask eroded 2 mm")]
            step.evidence.extra["phase"] = ph.phase

        inputs.append(g.add_step(StepKind.MEASURE, "Detect the contrast phase", inputs=[parse.id], run=phase,
                                 finding=f))

    def roi(g: Grounding, step: Step):
        return spec.roi(g, f)

    seg = add_segment_step(g, f, loc, f"Region of interest: {spec.roi_title}", roi)

    def measure(g: Grounding, step: Step) -> None:
        ms, lines, detail = spec.measure(g, f)
        step.evidence.measurements = ms
        step.evidence.lines = lines
        step.evidence.mask_ids = [f.mask_id] if f.mask_id in g.result.masks else []
        g.values[key(f, "m")] = {m.name: m.value for m in ms}
        g.values[key(f, "units")] = {m.name: m.unit for m in ms}
        step.detail = detail or "; ".join(f"{m.label or m.name} {fmt(m.value)} {m.unit}" for m in ms)
        step.confidence = 1.0 if ms else 0.0
        if ms:
            f.measurements = ms

    meas = g.add_step(StepKind.MEASURE, f"Measure {spec.measure_title}", inputs=[seg.id, *[s.id for s in inputs[1:]]],
                      run=measure, finding=f)
    compares = []
    for cid in entry.criteria:
        crit = criteria.get_criterion(cid)
        name = spec.measurement_of.get(cid, crit.measurement)
        compares.append(add_compare_step(g, f, meas, cid, name, title=f"Compare with {crit.short_source}: {crit.name}",
                                         value_label=crit.short_name or name))

    def decide(g: Grounding, step: Step):
        status, conf, text = spec.decide(g, f, compares)
        step.evidence.extra["limitations"] = list(g.values.get(key(f, "limits"), []))
        return status, conf, text

    add_conclude_step(g, f, [meas, *compares], title=f"Conclude on {entry.title}", decide=decide)


def not_found(g: Grounding, f, what: str) -> tuple[FindingStatus, float, str]:
    """Not assessable, naming the structures that were not found and why."""
    found = g.values.get(key(f, "located"), [])
    why = "; ".join(loc.reason or "not found" for e, loc in found if not loc.found) or "not found"
    return FindingStatus.NOT_ASSESSABLE, 0.0, f"{what}: not assessable ({why})."
