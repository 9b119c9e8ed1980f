"""Brain MRI procedures on the MeshNet 104-region labels.

* ``brain_volume``: any of the 104 regions -> locate -> segment -> measure -> conclude.
* ``brain_atrophy``: both sides of a structure (hippocampus) -> volumes and the
  left/right asymmetry index -> compare with the published bands -> conclude.
* ``brain_ventricles``: lateral ventricles -> Evans index on the axial slice (two line
  segments) and ventricular volume -> compare -> conclude.
"""
from __future__ import annotations

import numpy as np

from ..language.query import Query
from ..masks import label_mask
from ..result import Finding, FindingStatus, Measurement, Step, StepKind
from .chains import (
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

MODEL = "model21_104class"


def _entry(term: str, side: str | None = None):
    """The catalogue entry of a brain term (its own, or the MR default entry), or None."""
    from .. import catalogue
    from ..language.query import AnatomyRef

    labels = {"meshnet104": _vocab_labels(term, side)}
    res = catalogue.resolve("MR", AnatomyRef(term, side=side, backend_labels=labels))
    return res.entries[0] if res.entries else None


def _sides(term: str, side: str | None) -> int:
    """How many sides a query covers: 1 for a named side or an unpaired structure, else 2."""
    from ..language import vocabulary

    entry = vocabulary.load_vocabulary().anatomy.get(term)
    return 1 if side in ("left", "right") or entry is None or not entry.paired else 2


def _vocab_labels(term: str, side: str | None) -> tuple[str, ...]:
    from ..language import vocabulary

    return tuple(vocabulary.backend_labels(term, side, "meshnet104"))


def _locate_step(g: Grounding, finding: Finding, plan: Plan, names: tuple[str, ...], title: str,
                 *, whole_brain: bool = False) -> Step:
    """Run MeshNet: restricted to the regions named (exact inside its region of interest),
    or over the whole brain when the measurement needs it (Evans index: brain width)."""

    def run(g: Grounding, step: Step) -> None:
        from ..measure import bounding_box
        from ..models.brain import segment_brain

        seg = segment_brain(g.study, MODEL, regions=None if whole_brain else list(names), device=g.options.device,
                            progress=g.options.progress, cancel=g.options.cancel)
        g.use_model(seg.model)
        ids = [i for i, n in seg.names.items() if n in names]
        region = label_mask(seg.labels, ids) if ids else np.zeros(seg.labels.shape, bool)
        g.values[key(finding, "region")] = region
        g.values[key(finding, "brain")] = seg
        step.device = seg.model.device
        step.evidence.extra.update({"model": MODEL, "labels": list(names),
                                    "seconds": round(seg.model.seconds, 2)})
        if region.any():
            step.evidence.boxes = [g.boxes.get(step.id) or bounding_box(region)]
            step.confidence = 0.9
            step.detail = (f"{plan.reason} Found {' + '.join(names)} "
                           f"({seg.model.device}, {seg.model.seconds:.1f} s).")
        else:
            step.confidence = 0.0
            step.detail = (f"{plan.reason} The model labelled no {' + '.join(names)} voxels: "
                           "this may not be a T1-weighted brain MRI.")

    return g.add_step(StepKind.LOCATE, title, run=run, finding=finding)


def _region_segment(g: Grounding, finding: Finding, locate: Step, title: str, names: tuple[str, ...],
                    entry, sides: int) -> Step:
    def compute(g: Grounding, step: Step):
        region = g.values.get(key(finding, "region"))
        if region is None or not region.any():
            return None, 0.0, "No voxels carry these labels."
        vol = float(region.sum()) * g.study.voxel_volume_ml
        conf, why = _plausibility(entry, sides, vol)
        return region, conf, f"{' + '.join(names)}: {int(region.sum())} voxels ({fmt(vol)} mL).{why}"

    return add_segment_step(g, finding, locate, title, compute)


def _plausibility(entry, sides: int, volume_ml: float) -> tuple[float, str]:
    """Confidence from the catalogue's plausible volume (per side) for the structure."""
    rng = entry.plausibility.volume_ml if entry is not None else None
    if rng is None:
        return 0.85, ""
    lo, hi = rng[0] * sides, rng[1] * sides
    if lo <= volume_ml <= hi:
        return 0.9, ""
    return 0.3, f" Implausible volume for the {entry.name} (expected {lo:g}-{hi:g} mL): check the image."


def build_brain_volume(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    a = plan.anatomy
    names = tuple(a.backend_labels.get("meshnet104", ()))
    name = f"{a.side} {a.term}" if a.side in ("left", "right") else a.term
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a.code else None)
    loc = _locate_step(g, f, plan, names, f"Locate the {name} (MeshNet 104 regions)")
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, f"Segment the {name}", names, _entry(a.term, a.side),
                          _sides(a.term, a.side))
    meas = add_measure_step(g, f, seg, title=f"Measure the {name}")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"The {name} was not found: cannot assess."
        conf = segment_confidence(g, f)
        return FindingStatus.PRESENT, conf, f"{name.capitalize()}: {fmt(m['volume'])} mL."

    add_conclude_step(g, f, [meas], title=f"Conclude on the {name}", decide=decide)


def build_brain_atrophy(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    """Both sides of a structure -> volumes and asymmetry -> the structure's own criteria
    (chosen from the catalogue; none: said so, never another structure's band)."""
    from .. import catalogue

    a = plan.anatomy
    entry = _entry(a.term)
    left, right = _vocab_labels(a.term, "left"), _vocab_labels(a.term, "right")
    both = left + right
    side = a.side if a.side in ("left", "right") else None
    adjective = (entry.adjective if entry is not None else "") or a.term
    name = f"{side + ' ' if side else ''}{adjective} atrophy"
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)
    loc = _locate_step(g, f, plan, both, f"Locate both {a.term} regions (MeshNet 104 regions)")
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, f"Segment the left and right {a.term}", both, entry,
                          2 if left and right else 1)

    def sides(g: Grounding, mask: np.ndarray):
        seg_out = g.values[key(f, "brain")]
        vv = g.study.voxel_volume_ml
        out = {}
        for s, names in (("left", left), ("right", right)):
            ids = [i for i, n in seg_out.names.items() if n in names]
            out[s] = float((mask & label_mask(seg_out.labels, ids)).sum()) * vv
        from ..measure import asymmetry_index

        ai = asymmetry_index(out["left"], out["right"])
        return [Measurement("volume_left", out["left"], "mL", f"left {a.term} volume"),
                Measurement("volume_right", out["right"], "mL", f"right {a.term} volume"),
                Measurement("asymmetry", ai, "1", "asymmetry index |L-R|/(L+R)")], []

    meas = add_measure_step(g, f, seg, title=f"Measure both {a.term} volumes and their asymmetry",
                            extra=sides, label=f"{a.term} (both sides)")
    uses = catalogue.select_criteria(entry, "atrophy") if entry is not None else ()
    compares = [(u, add_compare_step(g, f, meas, u.criterion, u.measurement,
                                     title=f"Compare the {u.label or u.measurement} with the published range",
                                     value_label=u.label or u.measurement)) for u in uses]

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"The {a.term} was not found: cannot assess atrophy."
        vols = {s: m.get(f"volume_{s}") for s in ("left", "right")}
        smaller = min(vols, key=lambda s: vols[s] or 0.0)
        text = (f"{a.term.capitalize()} volumes: left {fmt(vols['left'])} mL, right {fmt(vols['right'])} mL; "
                f"asymmetry {fmt(m.get('asymmetry', 0) * 100)}%.")
        if not compares:
            return (FindingStatus.NOT_ASSESSABLE, 0.0,
                    f"{text} No published volume criterion for the {a.term}; volumes and asymmetry shown.")
        return _atrophy_decision(g, f, compares, text, side, smaller)

    add_conclude_step(g, f, [c for _, c in compares] or [meas], title=f"Conclude on {name}", decide=decide)


def _atrophy_decision(g: Grounding, f: Finding, compares: list, text: str, side: str | None, smaller: str):
    """Possible atrophy when a volume is below its band or the asymmetry above it, on the
    side asked; never "present" without age/sex-normalised norms."""
    small, asym_flag = [], False
    for u, c in compares:
        o = outcome(g, f, u.criterion, c.id, u.measurement)
        if o is None or not o.meets or (u.direction is not None and o.band not in ("", u.direction)):
            continue
        if u.measurement.startswith("volume_"):
            small.append(u.measurement.removeprefix("volume_"))
        elif u.measurement == "asymmetry":
            asym_flag = side is None or side == smaller
    vol_flag = bool(small) and (side is None or side in small)
    conf = segment_confidence(g, f)
    if vol_flag or asym_flag:
        why = []
        if vol_flag:
            why.append(f"{' and '.join(small)} volume below the typical range")
        if asym_flag:
            why.append(f"asymmetry above the healthy 90th percentile, {smaller} side smaller")
        return (FindingStatus.UNCERTAIN, min(conf, 0.6),
                text + " Possible atrophy: " + "; ".join(why) + ". Without age- and sex-matched "
                "normative percentiles this cannot be confirmed.")
    return (FindingStatus.ABSENT, min(conf, 0.7),
            text + " No sign of atrophy by volume band or asymmetry (not age/sex-normalised).")


def intracranial_mask(study, brain: np.ndarray, reach_mm: float = 12.0) -> np.ndarray:
    """Brain plus the dark band around it up to the inner table of the skull.

    On T1 the subarachnoid CSF and the inner table are both dark and the diploe/scalp
    fat bright: grow the brain mask into voxels darker than white matter within
    ``reach_mm``, connected to the brain, so its width is the inner skull diameter.
    """
    from scipy import ndimage as ndi

    img = study.array.astype(np.float32, copy=False)
    if not brain.any():
        return brain
    wm_level = float(np.percentile(img[brain], 90))
    near = ndi.distance_transform_edt(~brain, sampling=study.spacing_mm) <= reach_mm
    grown = brain | (near & (img < 0.8 * wm_level))
    lab, _ = ndi.label(grown)
    ids = np.unique(lab[brain])
    return ndi.binary_fill_holes(label_mask(lab, ids[ids > 0]))


def build_brain_ventricles(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    from .. import catalogue

    names = _vocab_labels("lateral ventricle", None)
    entry = _entry("lateral ventricle")
    name = "ventriculomegaly" if (query.finding or "") != "hydrocephalus" else "hydrocephalus"
    f = g.add_finding(name, qi, finding_code=query.finding_code.to_dict() if query.finding_code else None)
    loc = _locate_step(g, f, plan, names, "Locate the lateral ventricles (MeshNet 104 regions)",
                       whole_brain=True)
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, "Segment the lateral ventricles", names, entry, 2)

    def evans(g: Grounding, mask: np.ndarray):
        from ..measure import evans_index

        seg_out = g.values[key(f, "brain")]
        cranium = intracranial_mask(g.study, seg_out.labels > 0)
        ev = evans_index(mask, cranium, g.study)
        if ev is None:
            return [], []
        return ([Measurement("evans_index", ev.ratio, "1", "Evans index",
                             "max frontal-horn width / max inner skull width on the same axial slice")],
                [ev.horn_line, ev.skull_line])

    meas = add_measure_step(g, f, seg, title="Measure the Evans index and ventricular volume", extra=evans,
                            label="lateral ventricles")
    uses = catalogue.select_criteria(entry, "ventriculomegaly") if entry is not None else ()
    compares = [(u, add_compare_step(g, f, meas, u.criterion, u.measurement,
                                     title=f"Compare the {u.label or u.measurement} with the published limit",
                                     value_label=u.label or u.measurement)) for u in uses]

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, "The lateral ventricles were not found: cannot assess."
        outs = [o for u, c in compares if (o := outcome(g, f, u.criterion, c.id)) is not None]
        text = f"Evans index {fmt(m.get('evans_index'))}, lateral ventricles {fmt(m.get('volume'))} mL."
        first = compares[0][1] if compares else None
        conf = segment_confidence(g, f) * ((g.nodes[first.id].step.confidence or 0.5) if first else 0.5)
        if not outs:
            return FindingStatus.UNCERTAIN, 0.3, text + " No criterion could be applied."
        if any(o.meets for o in outs):
            return FindingStatus.PRESENT, conf, text + " Ventricles enlarged by the criteria above."
        return FindingStatus.ABSENT, conf, text + " Within the published limits."

    add_conclude_step(g, f, [c for _, c in compares] or [meas], title=f"Conclude on {name}", decide=decide)
