"""The measures and decisions of the quantitative CT chains (:mod:`.proc_ct_quant`).

Units: HU for attenuation, mm for sizes, patient LPS mm for positions; ROIs are made in
the canonical (S, P, L) view (:mod:`..models.ct.frame`) and returned on the
study grid. Contrast phase: the DICOM ContrastBolusAgent when the loader kept it, else
the aortic blood attenuation (unenhanced blood is about 30-60 HU; <= 80 HU is read as
unenhanced, >= 120 HU as enhanced, in between as indeterminate: a heuristic, said so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import catalogue
from ..measure import centreline, ct_quant
from ..result import FindingStatus, LineSegment, Measurement
from .chains import fmt, key, outcome, sentence

UNENHANCED_MAX_HU = 80.0
ENHANCED_MIN_HU = 120.0


@dataclass(frozen=True)
class Phase:
    """"unenhanced", "enhanced" or "unknown", with the aortic HU and the reason."""

    phase: str
    aorta_hu: float | None
    text: str
    confidence: float


def contrast_phase(g) -> Phase:
    """The contrast phase of the study (DICOM tag, else the aortic attenuation)."""
    agent = (g.study.metadata or {}).get("contrast_agent")
    if agent:
        return Phase("enhanced", None, f"Contrast-enhanced: DICOM ContrastBolusAgent '{agent}'.", 0.9)
    entry = catalogue.get("aorta", "CT")
    loc = catalogue.locate(g.study, entry) if entry is not None else None
    if loc is None or not loc.found:
        return Phase("unknown", None, "Contrast phase unknown: no DICOM contrast tag and the aorta was not "
                     "located.", 0.0)
    frame, hu_c, m_c = _canonical(g.study, loc.mask)
    roi = ct_quant.erode_inplane_mm(m_c, frame.spacing, 2.0)
    hu = float(np.median(hu_c[roi if roi.any() else m_c]))
    if hu <= UNENHANCED_MAX_HU:
        return Phase("unenhanced", hu, f"Unenhanced: aortic blood {hu:.0f} HU (<= {UNENHANCED_MAX_HU:.0f} HU; "
                     "no DICOM contrast tag). Heuristic, not a published rule.", 0.8)
    if hu >= ENHANCED_MIN_HU:
        return Phase("enhanced", hu, f"Contrast-enhanced: aortic blood {hu:.0f} HU (>= {ENHANCED_MIN_HU:.0f} HU).",
                     0.8)
    return Phase("unknown", hu, f"Contrast phase indeterminate: aortic blood {hu:.0f} HU (between "
                 f"{UNENHANCED_MAX_HU:.0f} and {ENHANCED_MIN_HU:.0f} HU).", 0.3)


def _canonical(study, mask):
    from ..models.ct.frame import make_frame

    frame = make_frame(study)
    return frame, frame.to_canonical(np.asarray(study.array)), frame.to_canonical(np.asarray(mask, bool))


def _loc(g, f, sid: str):
    for e, loc in g.values.get(key(f, "located"), []):
        if e is not None and e.id == sid:
            return loc
    return None


def _limit(g, f, text: str) -> None:
    g.values.setdefault(key(f, "limits"), []).append(text)


def _phase(g, f) -> Phase:
    return g.values.get(key(f, "phase")) or Phase("unknown", None, "phase not detected", 0.0)


# ---------------------------------------------------------------------- bone density
def _bone_roi(g, f):
    loc = _loc(g, f, "vertebrae_L1")
    if loc is None or not loc.found:
        return None, 0.0, "L1 not located: " + (loc.reason if loc else "no catalogue entry")
    frame, hu_c, m_c = _canonical(g.study, loc.mask)
    roi = ct_quant.trabecular_roi(m_c, frame.spacing, erode_mm=3.0)
    g.values[key(f, "stats")] = ct_quant.roi_stats(hu_c, roi, frame.spacing)
    if not roi.any():
        return None, 0.0, "The L1 body is too small for a 3 mm cortical margin at this voxel size."
    return frame.to_study(roi), loc.confidence, (f"Trabecular ROI of L1: {int(roi.sum())} voxels, cortex excluded "
                                                 "by 3 mm in-plane erosion, central half of the body height.")


def _bone_measure(g, f):
    st = g.values.get(key(f, "stats"))
    if st is None:
        return [], [], "Nothing measured."
    return [Measurement("trabecular_hu", st.mean, "HU", "L1 trabecular attenuation", "mean HU of the ROI"),
            Measurement("trabecular_sd", st.std, "HU", "SD in the ROI"),
            Measurement("roi_volume", st.volume_ml, "mL", "ROI volume")], [], ""


def _bone_decide(g, f, compares):
    from .proc_ct_quant import not_found

    m = g.values.get(key(f, "m"), {})
    if "trabecular_hu" not in m:
        return not_found(g, f, "Bone density at L1")
    o = outcome(g, f, "l1_trabecular_osteoporosis", compares[0].id)
    ph = _phase(g, f)
    text = f"L1 trabecular attenuation {fmt(m['trabecular_hu'])} HU. {sentence(o.text) if o else ''} {ph.text}"
    loc = _loc(g, f, "vertebrae_L1")
    conf = min(loc.confidence if loc else 0.5, 0.9)
    if loc is not None and loc.partial:
        return FindingStatus.UNCERTAIN, 0.3, text + " L1 is cut by the field of view (partial)."
    if o is None:
        return FindingStatus.UNCERTAIN, 0.3, text
    if ph.phase != "unenhanced":
        _limit(g, f, "Intravenous contrast raises trabecular HU: the thresholds were read mostly as an upper "
               "bound on enhanced scans.")
        text += " Contrast raises trabecular attenuation, so a low value stays low but a high one may be overstated."
        if o.meets is True:
            return FindingStatus.PRESENT, conf * 0.8, text
        return FindingStatus.UNCERTAIN, 0.4, text
    if o.meets is True:
        return FindingStatus.PRESENT, conf, text
    if o.meets is False:
        return FindingStatus.ABSENT, conf, text
    return FindingStatus.UNCERTAIN, 0.5, text


# ---------------------------------------------------------------------- steatosis
def _steatosis_roi(g, f):
    liver, spleen = _loc(g, f, "liver"), _loc(g, f, "spleen")
    if liver is None or not liver.found:
        return None, 0.0, "Liver not located: " + (liver.reason if liver else "no catalogue entry")
    frame, hu_c, l_c = _canonical(g.study, liver.mask)
    rl = ct_quant.organ_roi(l_c, frame.spacing, erode_mm=5.0)
    g.values[key(f, "liver")] = ct_quant.roi_stats(hu_c, rl, frame.spacing)
    roi = rl
    if spleen is not None and spleen.found:
        s_c = frame.to_canonical(np.asarray(spleen.mask, bool))
        rs = ct_quant.organ_roi(s_c, frame.spacing, erode_mm=5.0)
        g.values[key(f, "spleen")] = ct_quant.roi_stats(hu_c, rs, frame.spacing)
        roi = rl | rs
    if not roi.any():
        return None, 0.0, "The organs are too small for a 5 mm margin."
    return frame.to_study(roi), liver.confidence, "Liver and spleen parenchyma, eroded 5 mm in-plane."


def _steatosis_measure(g, f):
    lv, sp = g.values.get(key(f, "liver")), g.values.get(key(f, "spleen"))
    ms = []
    if lv is not None:
        ms.append(Measurement("liver_hu", lv.median, "HU", "liver attenuation", "median HU, 5 mm inside the edge"))
    if sp is not None:
        ms.append(Measurement("spleen_hu", sp.median, "HU", "spleen attenuation", "median HU, 5 mm inside the edge"))
    if lv is not None and sp is not None:
        ms.append(Measurement("liver_spleen_difference", lv.median - sp.median, "HU", "liver minus spleen"))
    return ms, [], ""


def _steatosis_decide(g, f, compares):
    from .proc_ct_quant import not_found

    m = g.values.get(key(f, "m"), {})
    if "liver_hu" not in m:
        return not_found(g, f, "Hepatic steatosis")
    ph = _phase(g, f)
    outs = [o for c, cid in zip(compares, ("steatosis_liver_hu", "steatosis_liver_spleen_difference"))
            if (o := outcome(g, f, cid, c.id)) is not None]
    text = (f"Liver {fmt(m['liver_hu'])} HU" + (f", spleen {fmt(m['spleen_hu'])} HU, difference "
            f"{fmt(m['liver_spleen_difference'])} HU" if "spleen_hu" in m else ", spleen not measured") + ". "
            + " ".join(sentence(o.text) for o in outs) + f" {ph.text}")
    if ph.phase != "unenhanced":
        _limit(g, f, "The attenuation criteria are validated on unenhanced CT only.")
        return (FindingStatus.UNCERTAIN, 0.3, text + " These criteria are validated on unenhanced CT only: "
                "on an enhanced or unknown phase the liver HU depends on timing, so no verdict.")
    if any(o.meets for o in outs):
        return FindingStatus.PRESENT, 0.8, text
    if len(outs) == 2:
        return FindingStatus.ABSENT, 0.7, text + " No moderate-to-severe steatosis by either criterion (mild " \
                                                 "steatosis is not excluded)."
    return FindingStatus.UNCERTAIN, 0.4, text + " Only the liver criterion could be applied."


@dataclass(frozen=True)
class Spec:
    """How one quantitative finding is measured and decided."""

    roi: Callable
    measure: Callable
    decide: Callable
    roi_title: str
    measure_title: str
    needs_phase: bool = True
    measurement_of: dict = field(default_factory=dict)


from .quant_findings2 import aorta_spec, sarcopenia_spec, stones_spec, thoracic_aorta_spec  # noqa: E402

SPECS = {
    "bone_density": Spec(_bone_roi, _bone_measure, _bone_decide, "L1 trabecular bone", "the L1 trabecular attenuation"),
    "steatosis": Spec(_steatosis_roi, _steatosis_measure, _steatosis_decide, "liver and spleen parenchyma",
                      "liver and spleen attenuation"),
    "stones": stones_spec(Spec),
    "aorta_diameter": aorta_spec(Spec),
    "thoracic_aorta_diameter": thoracic_aorta_spec(Spec),
    "sarcopenia": sarcopenia_spec(Spec),
}
