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
_ADJECTIVE = {"hippocampus": "hippocampal", "amygdala": "amygdalar", "thalamus": "thalamic",
              "caudate": "caudate", "putamen": "putaminal", "cerebellum": "cerebellar"}
_PLAUSIBLE_ML = {"Hippocampus": (1.0, 8.0), "Lateral-Ventricle": (1.0, 150.0), "Amygdala": (0.5, 4.0)}


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
        region = np.isin(seg.labels, ids) if ids else np.zeros(seg.labels.shape, bool)
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


def _region_segment(g: Grounding, finding: Finding, locate: Step, title: str, names: tuple[str, ...]) -> Step:
    def compute(g: Grounding, step: Step):
        region = g.values.get(key(finding, "region"))
        if region is None or not region.any():
            return None, 0.0, "No voxels carry these labels."
        vol = float(region.sum()) * g.study.voxel_volume_ml
        conf = _plausibility(names, vol)
        return region, conf, f"{' + '.join(names)}: {int(region.sum())} voxels ({fmt(vol)} mL)."

    return add_segment_step(g, finding, locate, title, compute)


def _plausibility(names: tuple[str, ...], volume_ml: float) -> float:
    """Confidence from whether the volume is anatomically plausible for one structure."""
    for part, (lo, hi) in _PLAUSIBLE_ML.items():
        if names and all(part in n for n in names):
            lo, hi = lo * len(names), hi * len(names)
            return 0.9 if lo <= volume_ml <= hi else 0.3
    return 0.85


def build_brain_volume(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    a = plan.anatomy
    names = tuple(a.backend_labels.get("meshnet104", ()))
    name = f"{a.side} {a.term}" if a.side in ("left", "right") else a.term
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a.code else None)
    loc = _locate_step(g, f, plan, names, f"Locate the {name} (MeshNet 104 regions)")
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, f"Segment the {name}", names)
    meas = add_measure_step(g, f, seg, title=f"Measure the {name}")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"The {name} was not found: cannot assess."
        conf = segment_confidence(g, f)
        return FindingStatus.PRESENT, conf, f"{name.capitalize()}: {fmt(m['volume'])} mL."

    add_conclude_step(g, f, [meas], title=f"Conclude on the {name}", decide=decide)


def build_brain_atrophy(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    a = plan.anatomy
    left, right = _vocab_labels(a.term, "left"), _vocab_labels(a.term, "right")
    both = left + right
    side = a.side if a.side in ("left", "right") else None
    name = f"{side + ' ' if side else ''}{_ADJECTIVE.get(a.term, a.term)} atrophy"
    f = g.add_finding(name, qi, anatomy_code=a.code.to_dict() if a.code else None,
                      finding_code=query.finding_code.to_dict() if query.finding_code else None)
    loc = _locate_step(g, f, plan, both, f"Locate both {a.term} regions (MeshNet 104 regions)")
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, f"Segment the left and right {a.term}", both)

    def sides(g: Grounding, mask: np.ndarray):
        seg_out = g.values[key(f, "brain")]
        vv = g.study.voxel_volume_ml
        out = {}
        for s, names in (("left", left), ("right", right)):
            ids = [i for i, n in seg_out.names.items() if n in names]
            out[s] = float((mask & np.isin(seg_out.labels, ids)).sum()) * vv
        from ..measure import asymmetry_index

        ai = asymmetry_index(out["left"], out["right"])
        return [Measurement("volume_left", out["left"], "mL", f"left {a.term} volume"),
                Measurement("volume_right", out["right"], "mL", f"right {a.term} volume"),
                Measurement("asymmetry", ai, "1", "asymmetry index |L-R|/(L+R)")], []

    meas = add_measure_step(g, f, seg, title=f"Measure both {a.term} volumes and their asymmetry",
                            extra=sides, label=f"{a.term} (both sides)")
    cmp_vol = []
    for s in ("left", "right"):
        cmp_vol.append(add_compare_step(g, f, meas, "hippocampal_volume_typical", f"volume_{s}",
                                        title=f"Compare the {s} {a.term} volume with the typical range",
                                        value_label=f"{s} {a.term} volume"))
    cmp_asym = add_compare_step(g, f, meas, "hippocampal_asymmetry", "asymmetry",
                                title="Compare the asymmetry with healthy adults",
                                value_label="asymmetry index")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, f"The {a.term} was not found: cannot assess atrophy."
        vols = {s: m.get(f"volume_{s}") for s in ("left", "right")}
        small = [s for s, c in zip(("left", "right"), cmp_vol)
                 if (o := outcome(g, f, "hippocampal_volume_typical", c.id)) is not None and o.meets]
        asym = outcome(g, f, "hippocampal_asymmetry", cmp_asym.id)
        smaller = min(vols, key=lambda s: vols[s] or 0.0)
        text = (f"{a.term.capitalize()} volumes: left {fmt(vols['left'])} mL, right {fmt(vols['right'])} mL; "
                f"asymmetry {fmt(m.get('asymmetry', 0) * 100)}%.")
        asym_flag = asym is not None and asym.meets and (side is None or side == smaller)
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

    add_conclude_step(g, f, cmp_vol + [cmp_asym], title=f"Conclude on {name}", decide=decide)


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
    return ndi.binary_fill_holes(np.isin(lab, ids[ids > 0]))


def build_brain_ventricles(g: Grounding, query: Query, qi: int, plan: Plan, parse: Step) -> None:
    names = _vocab_labels("lateral ventricle", None)
    name = "ventriculomegaly" if (query.finding or "") != "hydrocephalus" else "hydrocephalus"
    f = g.add_finding(name, qi, finding_code=query.finding_code.to_dict() if query.finding_code else None)
    loc = _locate_step(g, f, plan, names, "Locate the lateral ventricles (MeshNet 104 regions)",
                       whole_brain=True)
    loc.inputs.append(parse.id)
    seg = _region_segment(g, f, loc, "Segment the lateral ventricles", names)

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
    c_evans = add_compare_step(g, f, meas, "evans_index", "evans_index",
                               title="Compare the Evans index with 0.3", value_label="Evans index")
    c_vol = add_compare_step(g, f, meas, "ventricular_volume", "volume",
                             title="Compare the ventricular volume with healthy elderly adults",
                             value_label="lateral ventricular volume")

    def decide(g: Grounding, step: Step):
        m = g.values.get(key(f, "m"), {})
        if not m:
            return FindingStatus.NOT_ASSESSABLE, 0.0, "The lateral ventricles were not found: cannot assess."
        ev, vol = outcome(g, f, "evans_index", c_evans.id), outcome(g, f, "ventricular_volume", c_vol.id)
        text = f"Evans index {fmt(m.get('evans_index'))}, lateral ventricles {fmt(m.get('volume'))} mL."
        conf = segment_confidence(g, f) * (g.nodes[c_evans.id].step.confidence or 0.5)
        if ev is None and vol is None:
            return FindingStatus.UNCERTAIN, 0.3, text + " No criterion could be applied."
        if (ev is not None and ev.meets) or (vol is not None and vol.meets):
            return FindingStatus.PRESENT, conf, text + " Ventricles enlarged by the criteria above."
        return FindingStatus.ABSENT, conf, text + " Within the published limits."

    add_conclude_step(g, f, [c_evans, c_vol], title=f"Conclude on {name}", decide=decide)
