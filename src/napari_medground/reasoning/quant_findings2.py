"""Kidney stones, aortic diameter and L3 muscle chains (continued from :mod:`.quant_findings`).

Units: HU, mm, patient LPS mm; lines are returned as study-grid voxel indices.
"""
from __future__ import annotations

import numpy as np

from ..measure import centreline, ct_quant
from ..result import FindingStatus, LineSegment, Measurement
from .chains import fmt, key, outcome, sentence
from .quant_findings import _canonical, _limit, _loc, _phase

STONE_HU = 200.0
END_MM = 20.0  # sections this close to an end of the tracked aorta are not trusted for a positive call
ROUND_MAX = 1.2  # maximal / equivalent-circle diameter above which a section is not a clean aortic lumen


# ---------------------------------------------------------------------- kidney stones
def _stones_roi(g, f):
    kid = [loc for sid in ("kidney_left", "kidney_right") if (loc := _loc(g, f, sid)) is not None and loc.found]
    if not kid:
        return None, 0.0, "Neither kidney was located."
    mask = np.logical_or.reduce([k.mask for k in kid])
    frame, hu_c, m_c = _canonical(g.study, mask)
    region = ct_quant.kidney_search_region(m_c)
    stones = ct_quant.find_stones(hu_c, region, frame.spacing, threshold_hu=STONE_HU)
    g.values[key(f, "stones")] = stones
    g.values[key(f, "n_kidneys")] = len(kid)
    hot = np.zeros_like(region)
    if stones:
        hot = region & (hu_c >= STONE_HU)
    out = frame.to_study(hot if hot.any() else region)
    return out, min(k.confidence for k in kid), (f"Searched {len(kid)} kidney(s) with their sinus for foci >= "
                                                  f"{STONE_HU:.0f} HU: {len(stones)} found.")


def _stones_measure(g, f):
    stones = g.values.get(key(f, "stones"))
    if stones is None:
        return [], [], "Nothing measured."
    ms = [Measurement("stone_count", float(len(stones)), "1", "number of high-attenuation foci")]
    peak = max((s.peak_hu for s in stones), default=None)
    if peak is not None:
        ms.append(Measurement("stone_peak_hu", peak, "HU", "peak HU of the densest focus"))
    for i, s in enumerate(stones[:10], start=1):
        ms += [Measurement(f"stone{i}_size", s.size_mm, "mm", f"focus {i} longest diameter"),
               Measurement(f"stone{i}_mean_hu", s.mean_hu, "HU", f"focus {i} mean HU"),
               Measurement(f"stone{i}_peak_hu", s.peak_hu, "HU", f"focus {i} peak HU")]
    detail = f"{len(stones)} focus/foci >= {STONE_HU:.0f} HU" + ("".join(
        f"; {s.size_mm:.1f} mm, mean {s.mean_hu:.0f} / peak {s.peak_hu:.0f} HU" for s in stones[:10]))
    return ms, [], detail


def _stones_decide(g, f, compares):
    from .proc_ct_quant import not_found

    stones = g.values.get(key(f, "stones"))
    if stones is None:
        return not_found(g, f, "Kidney stones")
    ph = _phase(g, f)
    n_k = g.values.get(key(f, "n_kidneys"), 0)
    text = (f"{len(stones)} high-attenuation focus/foci in the kidneys" + "".join(
        f"; {s.size_mm:.1f} mm, peak {s.peak_hu:.0f} HU" for s in stones[:5]) + f". {ph.text}")
    o = outcome(g, f, "renal_stone_attenuation", compares[0].id) if compares else None
    if o is not None:
        text += " " + sentence(o.text)
    if ph.phase != "unenhanced":
        _limit(g, f, "Enhancing parenchyma and excreted contrast reach stone attenuation.")
        return (FindingStatus.UNCERTAIN, 0.3, text + " On an enhanced or unknown phase, enhancing parenchyma and "
                "excreted contrast in the collecting system reach stone attenuation: not judged.")
    partial = any(loc.partial for _, loc in g.values.get(key(f, "located"), []) if loc.found)
    if stones:
        _limit(g, f, "Renal artery calcification at the hilum is not told apart from a stone.")
        return FindingStatus.PRESENT, 0.7, text + " Vascular calcification at the hilum is not told apart."
    asked = len(g.values.get(key(f, "located"), []))
    if n_k < asked or partial:
        return FindingStatus.UNCERTAIN, 0.4, text + " Only part of the kidneys was searched."
    return FindingStatus.ABSENT, 0.7, text + " Stones smaller than about one voxel may be missed."


def stones_spec(Spec):
    return Spec(_stones_roi, _stones_measure, _stones_decide, "kidneys with their sinus", "the renal foci")


# ---------------------------------------------------------------------- aorta
def _aorta_roi(g, f, structure: str = "aorta", what: str = "Aorta"):
    loc = _loc(g, f, structure)
    if loc is None or not loc.found:
        return None, 0.0, f"{what} not located: " + (loc.reason if loc else "no catalogue entry")
    prof = centreline.tube_profile(loc.mask, g.study.affine_lps)
    g.values[key(f, "profile")] = prof
    return loc.mask, loc.confidence, (f"{what} mask; centreline {prof.length_mm:.0f} mm long, "
                                      f"{len(prof.sections)} perpendicular sections.")


def _thoracic_roi(g, f):
    return _aorta_roi(g, f, "thoracic_aorta", "Descending thoracic aorta")


def _level_of(study, lps) -> str | None:
    """The vertebral level (T12..L5, sacrum) at the height of a point, or None."""
    from ..models.ct.structures import spine_levels

    lv = spine_levels(study)
    if lv.labels is None or not lv.bounds:
        return None
    inv = np.linalg.inv(np.asarray(study.affine_lps, float))
    v = inv[:3, :3] @ np.asarray(lps) + inv[:3, 3]
    fr = lv.frame
    z = float(v[fr.perm[0]])
    z = fr.shape3[fr.perm[0]] - 1 - z if fr.flip[0] else z
    for name, (lo, hi) in zip(lv.names, lv.bounds):
        if lo <= z <= hi:
            return name
    return "above " + lv.names[-1] if z > max(b[1] for b in lv.bounds) else None


def _to_voxel(study, p) -> tuple[float, ...]:
    inv = np.linalg.inv(np.asarray(study.affine_lps, float))
    return tuple(float(x) for x in inv[:3, :3] @ np.asarray(p) + inv[:3, 3])


def _aorta_measure(g, f):
    prof = g.values.get(key(f, "profile"))
    if prof is None or prof.widest is None:
        return [], [], "No closed perpendicular section of the aorta."
    w = prof.widest
    level = _level_of(g.study, w.centre_lps)
    g.values[key(f, "level")] = level
    line = LineSegment("aortic_diameter", _to_voxel(g.study, w.ends_lps[0]), _to_voxel(g.study, w.ends_lps[1]),
                       w.diameter_mm)
    ms = [Measurement("aortic_diameter", w.diameter_mm, "mm", "maximal aortic diameter perpendicular to the centreline",
                      f"maximal Feret diameter of the perpendicular section at {level or 'an unnamed level'}"),
          Measurement("aortic_equivalent_diameter", w.equivalent_mm, "mm", "equivalent-circle diameter there"),
          Measurement("aorta_path_length", prof.length_mm, "mm", "centreline length measured")]
    return ms, [line], (f"Maximal diameter {w.diameter_mm:.1f} mm perpendicular to the centreline at "
                        f"{level or 'an unnamed level'} (line drawn).")


def _aorta_decide(g, f, compares):
    from .proc_ct_quant import not_found

    m = g.values.get(key(f, "m"), {})
    if "aortic_diameter" not in m:
        return not_found(g, f, "Aortic aneurysm")
    level = g.values.get(key(f, "level"))
    o = outcome(g, f, "aaa_diameter", compares[0].id) if compares else None
    text = f"Maximal aortic diameter {m['aortic_diameter'] / 10:.1f} cm at {level or 'an unnamed level'}. "
    text += sentence(o.text) if o else ""
    _limit(g, f, "The ascending aorta is not located: thoracic dilatation (ACC/AHA 2022) is not judged.")
    text += " The ascending aorta is not located, so thoracic dilatation (ACC/AHA 2022) is not judged."
    loc = _loc(g, f, "aorta")
    conf = min(loc.confidence if loc else 0.5, 0.85)
    thoracic = bool(level and level.startswith("above"))
    if o is None:
        return FindingStatus.UNCERTAIN, 0.3, text
    prof = g.values.get(key(f, "profile"))
    w = prof.widest if prof is not None else None
    if o.meets and w is not None and w.diameter_mm > ROUND_MAX * w.equivalent_mm:
        return FindingStatus.UNCERTAIN, 0.4, text + (f" The widest section is not round (maximal {w.diameter_mm:.0f} mm "
                                                     f"vs equivalent-circle {w.equivalent_mm:.0f} mm): the mask may "
                                                     "include a neighbouring structure (crus, branch), so not called.")
    if o.meets and w is not None and prof is not None and min(w.arc_mm, prof.length_mm - w.arc_mm) < END_MM:
        return FindingStatus.UNCERTAIN, 0.4, text + (f" The widest section lies within {END_MM:.0f} mm of an end of "
                                                     "the located segment, where the tracked mask is least reliable "
                                                     "(hiatus, bifurcation, scan edge): not called.")
    if o.meets:
        if thoracic:
            return FindingStatus.UNCERTAIN, 0.4, text + " The widest section is above T12 (thoracic): the AAA " \
                                                        "criterion does not apply there."
        return FindingStatus.PRESENT, conf, text
    if loc is not None and loc.partial:
        return FindingStatus.UNCERTAIN, 0.4, text + " The aorta is cut by the field of view (partial)."
    return FindingStatus.ABSENT, conf, text


def _thoracic_decide(g, f, compares):
    """Dilatation of the descending thoracic aorta (>= 4.0 cm, ACC/AHA 2022). Only the
    descending part is located, so no dilatation there is never 'absent' for the
    thoracic aorta: the ascending aorta and the arch are not seen by this method."""
    from .proc_ct_quant import not_found

    m = g.values.get(key(f, "m"), {})
    if "aortic_diameter" not in m:
        loc = _loc(g, f, "thoracic_aorta")
        if loc is None or not loc.found:
            return not_found(g, f, "Thoracic aortic dilatation")
        prof = g.values.get(key(f, "profile"))
        seen = f"{prof.length_mm:.0f} mm of it" if prof is not None else "what is"
        return FindingStatus.NOT_ASSESSABLE, 0.0, (
            f"Thoracic aortic dilatation: not assessable (the descending thoracic aorta in the field of view, "
            f"{seen}, gives no closed section perpendicular to its centreline).")
    level = g.values.get(key(f, "level"))
    o = outcome(g, f, "thoracic_aorta_descending_dilated", compares[0].id) if compares else None
    text = f"Maximal descending thoracic aortic diameter {m['aortic_diameter'] / 10:.1f} cm at {level or 'an unnamed level'}. "
    text += sentence(o.text) if o else ""
    unseen = " The ascending aorta and the arch are not located, so their dilatation is not judged."
    _limit(g, f, "Only the descending thoracic aorta (above the hiatus, along the spine) is located.")
    loc = _loc(g, f, "thoracic_aorta")
    partial = bool(loc is not None and loc.partial)
    if o is None:
        return FindingStatus.UNCERTAIN, 0.3, text + unseen
    prof = g.values.get(key(f, "profile"))
    w = prof.widest if prof is not None else None
    if o.meets and w is not None and w.diameter_mm > ROUND_MAX * w.equivalent_mm:
        return FindingStatus.UNCERTAIN, 0.4, text + (f" The widest section is not round (maximal {w.diameter_mm:.0f} mm "
                                                     f"vs equivalent-circle {w.equivalent_mm:.0f} mm): not called.")
    if o.meets:
        return FindingStatus.PRESENT, min(loc.confidence if loc else 0.5, 0.7), text + unseen
    cut = " The segment is cut by the field of view (partial)." if partial else ""
    return FindingStatus.UNCERTAIN, 0.5, text + " No dilatation of the descending part seen." + cut + unseen


def thoracic_aorta_spec(Spec):
    return Spec(_thoracic_roi, _aorta_measure, _thoracic_decide, "descending thoracic aorta",
                "the descending thoracic aortic diameter", needs_phase=False,
                measurement_of={"thoracic_aorta_descending_dilated": "aortic_diameter"})


def aorta_spec(Spec):
    return Spec(_aorta_roi, _aorta_measure, _aorta_decide, "abdominal aorta", "the aortic diameter",
                needs_phase=False, measurement_of={"aaa_diameter": "aortic_diameter"})


# ---------------------------------------------------------------------- L3 muscle
def _muscle_roi(g, f):
    loc = _loc(g, f, "vertebrae_L3")
    if loc is None or not loc.found:
        return None, 0.0, "L3 not located: " + (loc.reason if loc else "no catalogue entry")
    return loc.mask, loc.confidence, "L3 located (the slice level of the muscle measure)."


def _muscle_measure(g, f):
    from .quant_plan import height_from_text

    q = g.values.get(key(f, "query"))
    h = height_from_text(q.text if q else "") or (g.study.metadata or {}).get("patient_height_m")
    g.values[key(f, "height")] = h
    return ([Measurement("height", h, "m", "patient height")] if h else []), [], ""


def _muscle_decide(g, f, compares):
    h = g.values.get(key(f, "height"))
    why = ("the skeletal muscle compartments (abdominal wall, paraspinal, psoas) at L3 are not segmented yet, "
           "so the muscle area (-29..150 HU) and the index (cm2/m2, Prado 2008) cannot be measured without "
           "counting bowel and organs as muscle")
    hs = f" Height {h:.2f} m." if h else " No height in the prompt or the header."
    return FindingStatus.NOT_ASSESSABLE, 0.0, f"Sarcopenia not assessable: {why}.{hs}"


def sarcopenia_spec(Spec):
    return Spec(_muscle_roi, _muscle_measure, _muscle_decide, "L3 vertebra", "the L3 muscle", needs_phase=False)
