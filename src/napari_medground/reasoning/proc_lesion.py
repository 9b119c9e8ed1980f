"""CT focal lesions: organ -> density candidates -> LiteMedSAM refinement -> RECIST
measurement -> size criterion (Fleischner 2017 for lung nodules) -> conclusion."""
from __future__ import annotations

import numpy as np

from .. import catalogue
from ..language.query import Query
from ..result import Box, FindingStatus, Measurement, Step, StepKind
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
from .proc_ct import structure_masks

MAX_CANDIDATES = 3
MASS_INSIDE_LUNG = 0.5  # an envelope mass mostly inside the lung mask is a lung mass (present)
MIN_SCORE = 0.5  # weaker candidates are reported only when nothing better exists
_LOBE_THIRDS = {"upper": 0, "middle": 1, "lower": 2}


def _organ_search(plan: Plan) -> dict:
    """The catalogue's ``lesion_search`` of the searched organ(s), merged."""
    entries = [catalogue.get(n, "CT") for n in plan.organ.split("+")]
    return {k: v for e in entries if e is not None for k, v in e.lesion_search.items()}


def _lesion_kind(query: Query, organ_kind: str | None) -> str:
    """The density model of the candidates: the named density, else the organ's own
    (catalogue ``lesion_search.kind``), else by the finding word."""
    density = str(query.attributes.get("density", "")).lower()
    if "hyper" in density or "enhanc" in density:
        return "hyperdense"
    if organ_kind:
        return organ_kind
    return "hypodense" if "hypo" in density or query.finding in ("cyst", "lesion", "metastasis") else "any"


def _fleischner(query: Query) -> str:
    """The Fleischner 2017 table for the nodule type the clinician named (solid by default)."""
    density = str(query.attributes.get("density", "")).lower().replace(" ", "-")
    if "part-solid" in density or "semisolid" in density:
        return "fleischner_part_solid_2017"
    if "ground-glass" in density or "subsolid" in density or "nonsolid" in density:
        return "fleischner_ggn_2017"
    return "fleischner_solid_2017"


def _lobe(query: Query) -> str | None:
    text = " ".join([query.text] + [a.term for a in query.anatomy]).lower()
    for word in ("upper", "middle", "lower"):
        if f"{word} lobe" in text:
            return word
    lobe = query.attributes.get("lobe")
    return str(lobe) if lobe in _LOBE_THIRDS else None


def _in_lobe_third(study, organ_mask: np.ndarray, centroid_voxel, lobe: str) -> bool:
    """Approximate lobes by thirds of the lung's superior-inferior extent (no fissures)."""
    lps = study.index_to_lps(np.argwhere(organ_mask)[:: max(1, int(organ_mask.sum()) // 5000)])
    zs = lps[:, 2]
    lo, hi = float(zs.min()), float(zs.max())
    z = float(study.index_to_lps(np.asarray(centroid_voxel, float))[2])
    third = 2 - min(2, int(3 * (z - lo) / max(hi - lo, 1e-6)))  # 0 = top third
    return third == _LOBE_THIRDS[lobe]


def _select(study, cands, organ_mask, query: Query):
    """Filter candidates by lobe and stated size, best first."""
    lobe = _lobe(query)
    out = []
    for c in cands:
        if lobe and not _in_lobe_third(study, organ_mask, c.centroid_voxel, lobe):
            continue
        score = c.score
        if query.size_mm:
            stated = float(max(query.size_mm))
            score *= np.exp(-abs(np.log(max(c.equivalent_diameter_mm, 0.1) / stated)))
        out.append((score, c))
    out.sort(key=lambda t: -t[0])
    kept = [c for sc, c in out if sc >= MIN_SCORE] or [c for _, c in out[:1]]
    return kept[:MAX_CANDIDATES], lobe, len(out) - len(kept[:MAX_CANDIDATES])


def build_ct_lesion(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    names = plan.organ.split("+")
    entries = [catalogue.get(n, "CT") for n in names]
    organ_words = " and ".join(e.name if e is not None else n.replace("_", " ") for e, n in zip(entries, names))
    search = _organ_search(plan)
    kind = _lesion_kind(query, search.get("kind"))
    lesion_word = query.finding or "lesion"
    # The organ and candidate search run now: how many findings there are depends on them.
    organ_mask, organ_conf, notes, uses = structure_masks(g, names)
    for u in uses:
        g.use_model(u)
    cands, lobe, weaker = [], None, 0
    if organ_mask is not None and organ_mask.any():
        from ..models.ct import lesion_candidates

        from ..catalogue import classical_use

        found = lesion_candidates(g.study, organ_mask, kind=kind)
        if search.get("envelope") and (query.finding or "") != "nodule":
            # a nodule query keeps the in-lung search: the envelope also spans the heart and
            # the organs under the diaphragm dome (reported as uncertain masses)
            found = _with_masses(g.study, organ_mask, found)
        cands, lobe, weaker = _select(g.study, found, organ_mask, query)
        g.use_model(classical_use("ct_classical"))
    where = f"{lobe} part of the {organ_words}" if lobe else organ_words
    if organ_mask is not None and search.get("envelope"):
        from ..models.ct.lesions_mass import touches_edge

        if touches_edge(organ_mask):
            where += " (partial field of view: searched what is in view)"
    if not cands:
        _absent_finding(g, query, qi, plan, parse, organ_mask, where, lesion_word, notes)
        return
    for i, cand in enumerate(cands, 1):
        _candidate_chain(g, query, qi, plan, parse, cand, i, where, lesion_word, kind, weaker if i == 1 else 0,
                         lobe=lobe)


def _with_masses(study, lung_mask, nodules):
    """Nodule candidates plus masses (over 3 cm) found in the lung's envelope, which takes
    in tumours against the mediastinum, hilum or chest wall that the lung mask leaves out;
    a nodule candidate inside a mass is the mass."""
    from ..models.ct.lesions_mass import mass_candidates

    import dataclasses

    masses = []
    for m in mass_candidates(study, lung_mask):
        inside = float((m.mask & lung_mask).sum()) / max(1, int(m.mask.sum()))
        if inside < MASS_INSIDE_LUNG:  # mostly outside the aerated lung: a mass, or the mediastinum
            m = dataclasses.replace(m, kind="mass_envelope", reason=m.reason + (
                f"; {100 * inside:.0f}% of it inside the lung mask, so it may be mediastinal or cardiac "
                "tissue rather than a lung mass"))
        masses.append(m)
    kept = [c for c in nodules if not any((c.mask & m.mask).any() for m in masses)]
    return masses + kept


def _absent_finding(g, query, qi, plan, parse, organ_mask, where, lesion_word, notes) -> None:
    f = g.add_finding(f"{lesion_word} ({where})", qi,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)
    found = organ_mask is not None and organ_mask.any()

    def locate(g: Grounding, step: Step) -> None:
        step.confidence = 0.7 if found else 0.0
        step.detail = (f"{plan.reason} Searched the {where}: no candidate of at least 3 mm."
                       if found else f"{plan.reason} The organ was not found: {notes}")

    loc = g.add_step(StepKind.LOCATE, f"Search the {where} for {lesion_word} candidates", inputs=[parse.id],
                     run=locate, finding=f)

    def decide(g: Grounding, step: Step):
        if not found:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"Cannot assess: the {where} was not found."
        return (FindingStatus.ABSENT, 0.7, f"No {lesion_word} of 3 mm or more found in the {where} "
                "(small or diffuse findings can be missed).")

    add_conclude_step(g, f, [loc], title=f"Conclude on {lesion_word}", decide=decide)


def _candidate_chain(g, query, qi, plan, parse, cand, i, where, lesion_word, kind, weaker: int,
                     lobe: str | None = None) -> None:
    f = g.add_finding(f"{lesion_word} {i} ({where})", qi,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)
    pad = 2
    shape = g.study.shape
    box = Box(tuple(max(0, int(a) - pad) for a in cand.box.min_voxel),
              tuple(min(s - 1, int(b) + pad) for b, s in zip(cand.box.max_voxel, shape)))

    def locate(g: Grounding, step: Step) -> None:
        step.evidence.boxes = [g.boxes.get(step.id) or box]
        step.evidence.points_voxel = [tuple(float(v) for v in cand.centroid_voxel)]
        step.confidence = float(cand.score)
        step.detail = (f"{plan.reason} Candidate {i}: {cand.reason} (about {fmt(cand.equivalent_diameter_mm)} mm, "
                       f"mean {fmt(cand.mean_hu)} HU, score {cand.score:.2f}).")
        if weaker:
            step.detail += (f" {weaker} weaker candidate(s) (score below {MIN_SCORE}, mostly vessel-like) "
                            "not reported: draw a box to examine one.")

    loc = g.add_step(StepKind.LOCATE, f"Candidate {i} in the {where}", inputs=[parse.id], run=locate, finding=f)

    def compute(g: Grounding, step: Step):
        b = g.boxes.get(loc.id) or box
        if cand.kind.startswith("mass") and g.boxes.get(loc.id) is None:
            return cand.mask, 0.8, ("Density mask of the mass in the lung's envelope (solid tissue over 3 cm; "
                                    "LiteMedSAM not run on it: move the box to have it segment there).")
        return _refine(g, step, cand.mask, b, kind)

    seg = add_segment_step(g, f, loc, f"Segment candidate {i} (LiteMedSAM in its box)", compute)

    def mean_diameter(g: Grounding, mask: np.ndarray):
        from ..measure import recist_axes

        ax = recist_axes(mask, g.study)
        if ax is None:
            return [], []
        avg = (ax.long_axis.length_mm + ax.short_axis.length_mm) / 2
        return [Measurement("mean_diameter", avg, "mm", "mean of long and short axis", "Fleischner 2017")], []

    meas = add_measure_step(g, f, seg, title=f"Measure candidate {i} (RECIST 1.1 axes, volume, HU)",
                            extra=mean_diameter, recist=True)
    # Fleischner bands are for nodules (under 3 cm) of an organ searched for nodules: the lungs
    lung = _organ_search(plan).get("kind") == "nodule" and not cand.kind.startswith("mass")
    cid, mname = (_fleischner(query), "mean_diameter") if lung else ("recist_measurable_lesion", "long_axis")
    cmp_ = add_compare_step(g, f, meas, cid, mname,
                            title="Place it in the Fleischner 2017 size bands" if lung
                            else "Check RECIST 1.1 measurability", value_label=mname.replace("_", " "))

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"Candidate {i} could not be segmented."
        o = outcome(g, f, cid, cmp_.id)
        # two semi-independent pieces of evidence: the candidate's shape/density score and
        # the segmentation's agreement; a clinician's box replaces the candidate score
        score = 1.0 if g.nodes[loc.id].step.status.value == "edited" else float(cand.score)
        conf = float(np.sqrt(segment_confidence(g, f) * score))
        text = (f"{lesion_word.capitalize()} {i} in the {where}: {fmt(m.get('long_axis'))} x "
                f"{fmt(m.get('short_axis'))} mm, {fmt(m.get('volume'))} mL, mean {fmt(m.get('mean'))} HU.")
        if o is not None:
            text += " " + sentence(o.text)
        conf = max(0.0, min(1.0, conf))
        if cand.kind == "mass_envelope" and g.nodes[loc.id].step.status.value != "edited":
            return (FindingStatus.UNCERTAIN, min(conf, 0.6), text + " Uncertain: solid tissue over 3 cm found in "
                    "the lung's envelope but mostly outside the aerated lung; it may be a mass against the "
                    "mediastinum or mediastinal/cardiac tissue. Confirm or correct the mask.")
        if lobe:  # the lobe itself was not located: its place in the lobe is not established
            return (FindingStatus.UNCERTAIN, min(conf, 0.45), text + f" The {lobe} lobe is approximated by the "
                    f"{lobe} third of the lung's height (fissures are not located): that is not the lobe, so "
                    "whether it lies in that lobe is uncertain.")
        return FindingStatus.PRESENT, conf, text

    add_conclude_step(g, f, [cmp_], title=f"Conclude on candidate {i}", decide=decide)


def _refine(g: Grounding, step: Step, cand_mask: np.ndarray, box: Box, kind: str):
    """LiteMedSAM inside the box; the candidate mask stands when SAM disagrees grossly."""
    from ..models.litemedsam import segment_box_3d

    window = (-600.0, 1500.0) if kind == "nodule" else (40.0, 400.0)
    try:
        sam = segment_box_3d(g.study, box, window=window, device=g.options.device,
                             progress=g.options.progress, cancel=g.options.cancel)
    except Exception as exc:  # noqa: BLE001 - fall back to the classical mask, and say so
        step.evidence.extra["models"] = ["ct_classical"]
        return cand_mask, 0.6, f"LiteMedSAM failed ({exc}); kept the density-based mask."
    g.use_model(sam.model)
    step.evidence.extra["models"] = [sam.model.name]
    step.device = sam.model.device
    from ..measure import dice as overlap

    b = sam.mask
    dice = overlap(cand_mask, b)
    iou = float(np.mean(list(sam.iou_by_slice.values()))) if sam.iou_by_slice else 0.0
    if b.sum() == 0 or dice < 0.6:
        step.evidence.extra["models"] = ["ct_classical"]  # the density rules made this mask
        return cand_mask, 0.7, (f"LiteMedSAM disagreed with the density candidate (Dice {dice:.2f}); "
                                "kept the density-based mask.")
    return b, min(1.0, 0.5 * iou + 0.5 * dice), (f"LiteMedSAM mask (predicted IoU {iou:.2f}, agreement with the "
                                                  f"density candidate Dice {dice:.2f}; {sam.model.device}, "
                                                  f"{sam.model.seconds:.1f} s).")
