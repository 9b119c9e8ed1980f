"""Coded concepts for SEG/SR: SCT only (never SRT), categories, laterality, units."""

from __future__ import annotations

from napari_medground.export.codes import (
    CATEGORY_ALTERED,
    CATEGORY_ANATOMY,
    measurement_concept,
    normalise_code,
    segment_codes,
    unit_code,
)
from napari_medground.result import Finding, FindingStatus


def _finding(name, anatomy=None, finding=None, qi=0):
    return Finding(
        name=name, status=FindingStatus.PRESENT, anatomy_code=anatomy, finding_code=finding, query_index=qi
    )


def test_srt_is_rewritten_to_sct_or_dropped():
    assert normalise_code({"scheme": "SRT", "value": "10200004", "meaning": "Liver"}) == (
        "SCT",
        "10200004",
        "Liver",
    )
    assert normalise_code({"scheme": "SRT", "value": "T-62000", "meaning": "Liver"}) is None
    assert normalise_code(None) is None and normalise_code({"scheme": "SCT", "value": ""}) is None


def test_lesions_are_altered_structures_located_in_their_organ():
    lung = {"scheme": "SCT", "value": "39607008", "meaning": "Lung"}
    c = segment_codes(_finding("nodule in the right upper lobe", anatomy=lung))
    assert c.category == CATEGORY_ALTERED and c.type == ("SCT", "27925004", "Nodule")
    assert c.anatomic_region == ("SCT", "39607008", "Lung") and c.laterality == ("SCT", "24028007", "Right")
    own = segment_codes(
        _finding(
            "pulmonary nodule",
            anatomy=lung,
            finding={"scheme": "SCT", "value": "427359005", "meaning": "Solitary nodule of lung"},
        )
    )
    assert own.type[1] == "427359005" and own.category == CATEGORY_ALTERED


def test_anatomy_and_size_findings_are_the_structure_with_side_from_the_query():
    hip = {"scheme": "SCT", "value": "5300003", "meaning": "Hippocampus"}
    atrophy = {"scheme": "SCT", "value": "13331008", "meaning": "Atrophy"}
    query = {
        "queries": [
            {
                "text": "hippocampal atrophy",
                "anatomy": [{"term": "hippocampus", "side": "left"}],
                "laterality": "left",
            }
        ]
    }
    c = segment_codes(_finding("hippocampal atrophy", anatomy=hip, finding=atrophy), query)
    assert c.category == CATEGORY_ANATOMY and c.type == ("SCT", "5300003", "Hippocampus")
    assert c.laterality == ("SCT", "7771000", "Left") and c.anatomic_region is None
    bare = segment_codes(_finding("region"))
    assert bare.category == CATEGORY_ANATOMY and bare.type[0] == "SCT" and bare.laterality is None


def test_measurement_concepts_and_units():
    mean_ct = measurement_concept("mean", "CT")
    assert mean_ct.name == ("DCM", "112031", "Attenuation Coefficient") and mean_ct.derivation[2] == "Mean"
    assert measurement_concept("mean", "MR").name == ("SCT", "373098007", "Mean")
    assert measurement_concept("volume").name[1] == "118565006"
    assert measurement_concept("evans_index").name[0] == "99MEDGROUND"
    assert unit_code("mL") == ("UCUM", "ml", "milliliter") and unit_code("HU")[1] == "[hnsf'U]"
    assert unit_code("1")[1] == "1" and unit_code("beats/min")[1] == "{beats/min}"
