"""Criteria as data: the bundled files load, cover the required criteria, evaluate
correctly at and around their thresholds, and a broken file is reported clearly."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from napari_medground import criteria as C
from napari_medground.resources import resource_path
from napari_medground.result import Criterion

REQUIRED = {
    "ctr_cardiomegaly": (">", 0.5), "evans_index": (">", 0.3), "ventricular_volume": (">", 77),
    "hippocampal_atrophy_percentile": ("<", 5), "hippocampal_volume_typical": ("<", 3.5),
    "hippocampal_asymmetry": (">", 4.4), "spleen_length_ct": (">", 9.76), "splenic_volume": (">", 314.5),
    "hepatomegaly_volume": (">=", 2000), "liver_length_mcl": ("bands", None),
    "kidney_length": ("range", None),
    "fleischner_solid_2017": ("bands", None), "fleischner_ggn_2017": ("bands", None),
    "fleischner_part_solid_2017": ("bands", None), "lung_rads_2022_solid": ("bands", None),
    "recist_measurable_lesion": (">=", 10), "recist_lymph_node": ("bands", None),
    "aaa_diameter": ("bands", None), "thoracic_aorta_ascending_dilated": (">=", 4.0),
    "adrenal_unenhanced_hu": ("<=", 10), "midline_shift": (">", 5), "ich_volume_abc2": (">=", 30),
}
# CRITERIA.md marks these UNCONFIRMED or only partly confirmed
UNCONFIRMED = {"hippocampal_volume_typical", "lung_rads_2022_solid", "splenic_index",
               "thoracic_aorta_ascending_dilated", "thoracic_aorta_repair", "thoracic_aorta_descending_dilated", "adrenal_absolute_washout",
               "adrenal_relative_washout",
               # body_composition.json: values only from secondary summaries (see each caution)
               "l1_trabecular_osteoporosis", "steatosis_liver_spleen_difference", "renal_stone_attenuation",
               "sarcopenia_smi_men", "sarcopenia_smi_women"}


def test_bundled_criteria_cover_the_required_set():
    ids = {c.id for c in C.list_criteria()}
    assert set(REQUIRED) <= ids
    for cid, (comp, threshold) in REQUIRED.items():
        c = C.get_criterion(cid)
        assert isinstance(c, Criterion) and c.comparison == comp
        if threshold is not None:
            assert c.threshold == pytest.approx(threshold)
        assert c.source and c.population and c.method and c.short_source and c.measurement


def test_confirmed_flags_follow_criteria_md_and_unconfirmed_ones_carry_a_caution():
    for c in C.list_criteria():
        assert c.confirmed == (c.id not in UNCONFIRMED), c.id
        if not c.confirmed:
            assert len(c.caution) > 20


def test_citations_carry_identifiers_where_criteria_md_gives_them():
    expected = {"evans_index": "10.1016/j.ejrad.2017.07.013",
                "ventricular_volume": "10.1227/01.NEU.0000370939.30003.D1",
                "hippocampal_asymmetry": "10.3174/ajnr.A3308",
                "spleen_length_ct": "10.2214/ajr.184.5.01841510",
                "hepatomegaly_volume": "10.1097/RUQ.0000000000000472",
                "fleischner_solid_2017": "PMID 28240562",
                "lung_rads_2022_solid": "10.1016/j.jacr.2023.09.009",
                "recist_measurable_lesion": "10.1016/j.ejca.2008.10.026",
                "adrenal_unenhanced_hu": "10.1093/ejendo/lvad066", "midline_shift": "PMID 16710968",
                "ich_volume_abc2": "PMID 8711791", "thoracic_aorta_repair": "10.1161/CIR.0000000000001106"}
    for cid, ident in expected.items():
        assert ident in C.get_criterion(cid).source, cid


def test_threshold_outcomes_and_text():
    ctr = C.get_criterion("ctr_cardiomegaly")
    o = C.evaluate(ctr, 0.56)
    assert o.meets is True and o.margin == pytest.approx(0.12)
    assert o.text == "CTR 0.56 > 0.50 (Danzer 1919): meets the criterion for cardiomegaly"
    o = C.evaluate(ctr, 0.45)
    assert o.meets is False and "<= 0.50" in o.text and "does not meet" in o.text
    assert C.evaluate(ctr, 0.5).meets is False  # strictly greater
    assert C.evaluate(C.get_criterion("hepatomegaly_volume"), 2000).meets is True  # >=
    assert C.evaluate(C.get_criterion("adrenal_unenhanced_hu"), 10.0).meets is True  # <=
    missing = C.evaluate(ctr, None)
    assert missing.meets is None and "not measured" in missing.text
    assert C.evaluate(ctr, float("nan")).meets is None


def test_units_are_converted():
    spleen = C.get_criterion("spleen_length_ct")  # published in cm
    assert C.evaluate(spleen, 97.0, unit="mm").meets is False
    o = C.evaluate(spleen, 112.3, unit="mm")
    assert o.meets is True and o.value == pytest.approx(11.23) and "11.23 cm > 9.76 cm" in o.text
    assert C.evaluate(C.get_criterion("splenic_volume"), 320.0, unit="mL").meets is True
    assert C.evaluate(C.get_criterion("hippocampal_asymmetry"), 0.05, unit="1").meets is True
    assert C.evaluate(C.get_criterion("hippocampal_asymmetry"), 0.04, unit="1").meets is False
    with pytest.raises(ValueError, match="convert"):
        C.evaluate(spleen, 3.0, unit="mL")


@pytest.mark.parametrize("value, band, meets", [
    (5.4, "< 6 mm (< 100 mm3)", False),
    (5.5, "6-8 mm (100-250 mm3)", True),   # rounds half up to 6 mm
    (8.4, "6-8 mm (100-250 mm3)", True),
    (8.5, "> 8 mm (> 250 mm3)", True),
])
def test_fleischner_bands_with_the_rounding_rule(value, band, meets):
    o = C.evaluate(C.get_criterion("fleischner_solid_2017"), value)
    assert (o.band, o.meets) == (band, meets)
    assert o.recommendation and o.recommendation in o.text
    assert f"measured {value:.1f} mm" in o.text


def test_margin_of_banded_values_is_measured_to_the_effective_edge():
    c = C.get_criterion("fleischner_solid_2017")
    assert C.evaluate(c, 7.0).margin == pytest.approx(min(1.5 / 5.5, 1.5 / 8.5))
    assert C.evaluate(c, 8.49).margin < 0.01


def test_lung_rads_and_lymph_node_and_range():
    lr = C.get_criterion("lung_rads_2022_solid")
    assert C.evaluate(lr, 14.94).band.startswith("category 4A")
    assert C.evaluate(lr, 14.96).band.startswith("category 4B")  # 15.0 after rounding to 0.1 mm
    node = C.get_criterion("recist_lymph_node")
    assert [C.evaluate(node, v).meets for v in (9.9, 10.0, 15.0)] == [False, True, True]
    kidney = C.get_criterion("kidney_length")
    assert [C.evaluate(kidney, v).band for v in (8.5, 10.0, 12.5)] == ["below", "within", "above"]
    assert C.evaluate(kidney, 10.0).meets is False and C.evaluate(kidney, 8.5).meets is True
    liver_len = C.evaluate(C.get_criterion("liver_length_mcl"), 14.0)
    assert liver_len.meets is None and "indeterminate" in liver_len.band


def test_criteria_for_finding_and_anatomy():
    ids = [c.id for c in C.criteria_for("nodule", "upper lobe of lung")]
    assert ids[0] in ("fleischner_solid_2017", "lung_rads_2022_solid") and "fleischner_solid_2017" in ids
    assert "splenic_volume" not in ids
    spleen = {c.id for c in C.criteria_for("enlargement", "spleen")}
    assert {"splenic_volume", "spleen_length_ct"} <= spleen and "hepatomegaly_volume" not in spleen
    assert {c.id for c in C.criteria_for("atrophy", "left hippocampus")} >= {"hippocampal_asymmetry"}
    assert [c.id for c in C.criteria_for("cardiomegaly")] == ["ctr_cardiomegaly"]
    assert "recist_measurable_lesion" not in {c.id for c in C.criteria_for(anatomy="liver")}
    assert C.criteria_for("fracture", "femur") == []
    assert len(C.criteria_for()) == len(C.list_criteria())
    with pytest.raises(KeyError, match="known"):
        C.get_criterion("no_such_criterion")


def test_every_bundled_file_passes_the_schema_and_has_a_readme():
    folder = resource_path("criteria")
    assert (folder / "README.md").is_file()
    loaded = C.load_criteria(folder)
    n = sum(len(json.loads(p.read_text())["criteria"]) for p in folder.glob("*.json"))
    assert len(loaded) == n


def _broken_copy(tmp_path, mutate):
    folder = tmp_path / "criteria"
    shutil.copytree(resource_path("criteria"), folder)
    path = folder / "chest.json"
    doc = json.loads(path.read_text())
    mutate(doc["criteria"])
    path.write_text(json.dumps(doc))
    return folder


@pytest.mark.parametrize("mutate, problem", [
    (lambda e: e[0].pop("citation"), "missing key 'citation'"),
    (lambda e: e[0].update(comparison="~"), "comparison '~'"),
    (lambda e: e[0].pop("threshold"), "needs a numeric 'threshold'"),
    (lambda e: e[0].update(confirmed=False, caution=""), "needs a 'caution'"),
    (lambda e: e[1]["bands"].reverse(), "overlap or are out of order"),
    (lambda e: e[1].update(id="ctr_cardiomegaly"), "already used"),
    (lambda e: e[0].update(thresold=0.5), "unknown keys"),
])
def test_schema_errors_name_the_file_and_entry(tmp_path, mutate, problem):
    folder = _broken_copy(tmp_path, mutate)
    with pytest.raises(C.CriteriaFileError) as err:
        C.load_criteria(folder)
    msg = str(err.value)
    assert "chest.json" in msg and re.search(r"entry \d", msg) and problem in msg


def test_unreadable_json_is_reported(tmp_path):
    folder = tmp_path / "criteria"
    folder.mkdir()
    (folder / "bad.json").write_text("{not json")
    with pytest.raises(C.CriteriaFileError, match="bad.json: not readable JSON"):
        C.load_criteria(folder)


@pytest.mark.parametrize("cid,value,meets", [
    ("l1_trabecular_osteoporosis", 110, True), ("l1_trabecular_osteoporosis", 111, None),
    ("l1_trabecular_osteoporosis", 160, None), ("l1_trabecular_osteoporosis", 161, False),
    ("steatosis_liver_hu", 40, True), ("steatosis_liver_hu", 41, False),
    ("steatosis_liver_spleen_difference", -11, True), ("steatosis_liver_spleen_difference", -10, False),
    ("sarcopenia_smi_men", 52.4, True), ("sarcopenia_smi_men", 52.5, False),
    ("sarcopenia_smi_women", 38.5, True), ("sarcopenia_smi_women", 38.6, False),
])
def test_body_composition_thresholds(cid, value, meets):
    assert C.evaluate(C.get_criterion(cid), value).meets is meets
