"""CT procedures for catalogue structures: locate -> segment -> measure -> compare -> conclude.

Every structure comes from the catalogue (``resources/catalogue/ct.json``): its locator
makes the mask (:func:`locate_structures`), its plausibility ranges check it before it
is reported present (:mod:`..catalogue.sanity`), and its criteria are chosen by
(finding, structure, measurement) with :func:`..catalogue.select_criteria`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import catalogue
from ..catalogue import sanity
from ..language.query import Query
from ..result import FindingStatus, Measurement, Step, StepKind
from .chains import (
    add_compare_step,
    add_conclude_step,
    add_measure_step,
    add_segment_step,
    fmt,
    key,
    outcome,
    segment_confidence,
    sentence,
)
from .graph import Grounding
from .planner import ENLARGEMENT, Plan


def anatomy_name(a) -> str:
    """"right lung", "liver", "lungs": the structure with its side, as the clinician reads it."""
    if a.side in ("left", "right"):
        return f"{a.side} {a.term}"
    return f"{a.term} (both sides)" if a.side == "bilateral" else a.term


def _finding_name(plan: Plan, query: Query, entries: list) -> str:
    a = plan.anatomy
    base = anatomy_name(a) if a else "structure"
    finding = query.finding or ""
    if finding in ENLARGEMENT:
        named = entries[0].finding_names.get("enlargement") if len(entries) == 1 else None
        return named or f"enlarged {base}"
    return base


def locate_structures(g: Grounding, names: list[str]) -> list[tuple[Any, Any]]:
    """(entry, Located) per catalogue id, through the entries' registered locators.

    An id missing from the catalogue gives (None, a Located that says so), never KeyError.
    """
    o = g.options
    ctx = catalogue.LocateContext(device=o.device, progress=o.progress, cancel=o.cancel)
    out = []
    for n in names:
        entry = catalogue.get(n, "CT")
        if entry is None:
            out.append((None, catalogue.Located(None, 0.0, "", reason=f"'{n}' is not in the CT catalogue")))
            continue
        out.append((entry, catalogue.locate(g.study, entry, ctx)))
    return out


def structure_masks(g: Grounding, names: list[str]) -> tuple[np.ndarray | None, float, str, list]:
    """Union mask of catalogue structures, the lowest confidence, notes, and the ModelUses."""
    return structure_masks_from(locate_structures(g, names))


def _body(g: Grounding) -> np.ndarray | None:
    entry = catalogue.get("body", "CT")
    if entry is None:
        return None
    loc = catalogue.locate(g.study, entry)
    return loc.mask if loc.found else None


def _checks(g: Grounding, f, entries_found: list) -> tuple[sanity.Check, ...]:
    """Each located entry against its own plausibility (on the final mask's part of it)."""
    final = g.result.masks.get(f.mask_id)
    needs_body = any(e is not None and (e.plausibility.side or e.plausibility.ap) for e, _ in entries_found)
    body = _body(g) if needs_body else None
    out: list[sanity.Check] = []
    for entry, loc in entries_found:
        if entry is None or not loc.found:
            continue
        mask = loc.mask if final is None else (loc.mask & final)
        prefix = f"{entry.name}: " if len(entries_found) > 1 else ""
        for c in sanity.check_structure(entry, mask, g.study, partial=loc.partial, body=body):
            out.append(sanity.Check(c.name, c.passed, prefix + c.detail))
        if loc.caveat:
            out.append(sanity.Check("locator", False, prefix + loc.caveat))
    return tuple(out)


def build_ct_structure(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """Anatomy or organ-size query on CT: locate -> segment -> measure -> compare -> conclude."""
    a = plan.anatomy
    names = list(plan.structures or plan.organ.split("+"))
    entries = [e for n in names if (e := catalogue.get(n, "CT")) is not None]
    name = _finding_name(plan, query, entries)
    enlargement = (query.finding or "") in ENLARGEMENT
    organ_name = anatomy_name(a) if a else name
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a and a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)

    def locate(g: Grounding, step: Step) -> None:
        from ..measure import bounding_box

        found, mask, conf, notes, partial = locate_into(g, f, step, names)
        if mask is not None and mask.any():
            step.evidence.boxes = [g.boxes.get(step.id) or bounding_box(mask)]
            step.confidence = conf
            cut = " Cut by the field of view: what is measured is partial." if partial else ""
            step.detail = f"{plan.reason} {notes}{cut}".strip()
        else:
            step.confidence = 0.0
            step.detail = f"{plan.reason} Not found in this scan: {notes or 'outside the field of view?'}"

    loc = g.add_step(StepKind.LOCATE, f"Locate the {organ_name}", inputs=[parse.id], run=locate, finding=f)

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
    # Criteria apply to one structure; "enlargement" criteria also give context on anatomy queries.
    uses = list(catalogue.select_criteria(entries[0], "enlargement")) if len(entries) == 1 else []
    compares = [add_compare_step(g, f, meas, u.criterion, u.measurement,
                                 title=f"Compare the {u.label or u.measurement} with the published range",
                                 value_label=u.label or u.measurement) for u in uses]

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        term = a.term if a else name
        if not m:
            return (FindingStatus.NOT_ASSESSABLE, 0.0,
                    f"The {term} was not found in this scan (outside the field of view or not segmentable).")
        conf = segment_confidence(g, f)
        text = f"{name.capitalize()}: {fmt(m.get('volume'))} mL, mean {fmt(m.get('mean'))} HU."
        checks = () if g.nodes[seg.id].step.status.value == "edited" else _checks(g, f, g.values.get(
            key(f, "located"), []))
        step.evidence.extra["checks"] = [c.to_dict() for c in checks]
        if not enlargement:
            return sanity.apply_checks(FindingStatus.PRESENT, conf, text, checks)
        return _size_decision(g, f, uses, compares, conf, text, checks, entries)

    add_conclude_step(g, f, [meas, *compares], title=f"Conclude on {name}", decide=decide)


def locate_into(g: Grounding, f, step: Step, names: list[str]) -> tuple[list, np.ndarray | None, float, str, bool]:
    """A locate step's common part: the catalogue structures located, their union mask,
    lowest confidence and notes; the models used recorded on the grounding and the step
    (with the step's device); ``located``/``region``/``conf`` stored for the finding.
    Returns (found, mask, confidence, notes, partial)."""
    found = locate_structures(g, names)
    mask, conf, notes, uses = structure_masks_from(found)
    for u in uses:
        g.use_model(u)
    step.device = next((u.device for u in uses if u.sha256), "cpu")
    partial = any(loc.partial for _, loc in found)
    step.evidence.extra.update(models=list(dict.fromkeys(u.name for u in uses)), structures=names,
                               partial=partial)
    g.values[key(f, "located")] = found
    g.values[key(f, "region")] = mask
    g.values[key(f, "conf")] = conf
    return found, mask, conf, notes, partial


def structure_masks_from(found: list) -> tuple[np.ndarray | None, float, str, list]:
    """:func:`structure_masks` on already located structures."""
    masks = [loc.mask for _, loc in found if loc.found]
    uses = [u for _, loc in found for u in loc.models]
    notes: list[str] = []
    for entry, loc in found:
        notes += [loc.method] if entry is not None and entry.locator == "ct.organ" else list(loc.notes)
        if not loc.found and loc.reason and loc.reason not in notes:
            notes.append(loc.reason)
    text = "; ".join(n.strip().rstrip(".") for n in dict.fromkeys(notes) if n and n.strip())
    text = (text[:1].upper() + text[1:] + ".") if text else ""
    if not masks:
        return None, 0.0, text, uses
    return np.logical_or.reduce(masks), float(min(loc.confidence for _, loc in found)), text, uses


def _size_decision(g: Grounding, f, uses, compares, conf: float, text: str, checks, entries):
    """Enlarged or not, by the structure's own criteria; none: say so, never borrow one."""
    if not uses:
        what = entries[0].name if len(entries) == 1 else "these structures together"
        why = ("each side has its own criterion: ask for the left or the right one"
               if len(entries) > 1 else f"no published size criterion for the {what} in resources/criteria")
        return FindingStatus.UNCERTAIN, 0.3, f"{text} Enlargement not judged: {why}; measurements shown."
    outs = [(u, o) for u, c in zip(uses, compares)
            if (o := outcome(g, f, u.criterion, c.id, u.measurement)) is not None]
    if not outs:
        return FindingStatus.UNCERTAIN, 0.3, text + " No size criterion could be applied."
    crit_conf = max(g.nodes[c.id].step.confidence or 0.5 for c in compares)
    meets = [(u, o) for u, o in outs if o.meets and (u.direction is None or o.band == u.direction)]
    if meets:
        return sanity.apply_checks(FindingStatus.PRESENT, conf * crit_conf, text + " Enlarged: " + " ".join(
            sentence(o.text) for _, o in meets), checks)
    status, c, t = sanity.apply_checks(FindingStatus.PRESENT, conf * crit_conf,
                                       text + " Within the published size limits.", checks)
    return (FindingStatus.ABSENT if status == FindingStatus.PRESENT else FindingStatus.UNCERTAIN), c, t
