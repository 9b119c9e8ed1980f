"""The vocabulary data: codes against their sources, backend label maps against the models' files."""

from __future__ import annotations

import json

import pytest

from napari_medground.language import vocabulary as V
from napari_medground.resources import resource_path
from tests.data.shared import shared_path

# brainchop-models meshnet/subcortical/colormap.json (the file is not in ../shared/data).
SUBCORTICAL_LABELS = [
    "Unknown",
    "Cerebral-White-Matter",
    "Cerebral-Cortex",
    "Lateral-Ventricle",
    "Inferior-Lateral-Ventricle",
    "Cerebellum-White-Matter",
    "Cerebellum-Cortex",
    "Thalamus",
    "Caudate",
    "Putamen",
    "Pallidum",
    "3rd-Ventricle",
    "4th-Ventricle",
    "Brain-Stem",
    "Hippocampus",
    "Amygdala",
    "Accumbens-area",
    "VentralDC",
]
CT_CLASSICAL = {
    "body",
    "lung_left",
    "lung_right",
    "airways",
    "trachea",
    "bone",
    "fat",
    "liver",
    "spleen",
    "kidney_left",
    "kidney_right",
}
CXR_CLASSICAL = {"lung_left", "lung_right", "heart", "thorax"}


def _names_used(backend: str) -> set[str]:
    terms = V.load_vocabulary().backend_maps[backend]
    return {n for entry in terms.values() for key in ("left", "right", "any") for n in entry.get(key, ())}


def _colormap(model: str) -> list[str]:
    return json.loads(shared_path("models", "brainchop", model, "colormap.json").read_text())["labels"]


def test_meshnet104_names_exist_in_colormap():
    labels = set(_colormap("model21_104class"))
    used = _names_used("meshnet104")
    assert used and used <= labels, sorted(used - labels)


def test_meshnet50_names_exist_in_colormap():
    labels = set(_colormap("model30chan50cls"))
    used = _names_used("meshnet50")
    assert used and used <= labels, sorted(used - labels)


def test_subcortical_names_match_the_model_outputs():
    spec = json.loads(shared_path("models", "brainchop", "subcortical", "model.json").read_text())
    assert spec["layers"][-1]["out_channels"] == len(SUBCORTICAL_LABELS)
    assert _names_used("subcortical") <= set(SUBCORTICAL_LABELS[1:])


def test_totalseg_names_exist_in_label_names():
    total = set(json.loads(shared_path("totalseg", "label_names.json").read_text())["total"].values())
    used = _names_used("totalseg")
    assert used and used <= total, sorted(used - total)


def test_classical_backends_use_only_their_structures():
    assert _names_used("ct_classical") <= CT_CLASSICAL
    assert _names_used("cxr_classical") <= CXR_CLASSICAL
    assert _names_used("ct_classical") == CT_CLASSICAL  # every structure reachable from some term


def test_every_mapped_term_is_in_the_anatomy_vocabulary():
    vocab = V.load_vocabulary()
    for backend, terms in vocab.backend_maps.items():
        assert set(terms) <= set(vocab.anatomy), (backend, sorted(set(terms) - set(vocab.anatomy)))
    implied = {
        a if isinstance(a, str) else a[0]
        for surfaces in vocab.phrases.values()
        for s in surfaces
        for a in s.anatomy
    }
    assert implied <= set(vocab.anatomy), sorted(implied - set(vocab.anatomy))


def test_brain_label_groups():
    labels = _colormap("model21_104class")
    assert V.backend_labels("hippocampus", "left", "meshnet104") == ("Left-Hippocampus",)
    assert V.backend_labels("hippocampus", "bilateral", "meshnet104") == (
        "Left-Hippocampus",
        "Right-Hippocampus",
    )
    assert V.backend_labels("hippocampus", None, "meshnet104") == ("Left-Hippocampus", "Right-Hippocampus")
    assert set(V.backend_labels("lateral ventricle", "bilateral", "meshnet104")) == {
        "Left-Lateral-Ventricle",
        "Left-Inf-Lat-Vent",
        "Right-Lateral-Ventricle",
        "Right-Inf-Lat-Vent",
    }
    assert set(V.backend_labels("brain", None, "meshnet104")) == set(labels) - {labels[0]}
    assert V.backend_labels("thalamus", "right", "meshnet104") == ("Right-Thalamus-Proper*",)
    left_temporal = V.backend_labels("temporal lobe", "left", "meshnet104")
    assert "ctx-lh-superiortemporal" in left_temporal and all(n.startswith("ctx-lh-") for n in left_temporal)
    assert V.backend_labels("liver", None, "meshnet104") == ()


def test_body_label_groups():
    assert V.backend_labels("lung", "right", "totalseg") == (
        "lung_upper_lobe_right",
        "lung_middle_lobe_right",
        "lung_lower_lobe_right",
    )
    assert V.backend_labels("upper lobe of lung", "right", "totalseg") == ("lung_upper_lobe_right",)
    assert V.backend_labels("kidney", None, "ct_classical") == ("kidney_left", "kidney_right")
    assert V.backend_labels("lung", "left", "cxr_classical") == ("lung_left",)
    assert V.backend_labels("heart", None, "cxr_classical") == ("heart",)
    assert V.is_approximate("upper lobe of lung", "right", "ct_classical")
    assert not V.is_approximate("upper lobe of lung", "right", "totalseg")
    assert V.is_approximate("hippocampus", "left", "meshnet50")
    assert not V.is_approximate("hippocampus", None, "meshnet50")
    with pytest.raises(KeyError, match="unknown backend"):
        V.backend_labels("liver", None, "nnunet")


def _all_codes():
    for name in ("anatomy.json", "findings.json"):
        for t in json.loads(resource_path("vocabulary", name).read_text())["terms"]:
            codes = [t["code"]] if t["code"] else []
            codes += [
                s["code"]
                for s in t["synonyms"] + t["plural"] + t["adjectives"]
                if isinstance(s, dict) and s.get("code")
            ]
            codes += list(t.get("code_by_anatomy", {}).values())
            for c in codes:
                yield t["term"], c


def test_codes_are_sct_with_a_source_never_srt():
    codes = list(_all_codes())
    assert len(codes) > 100
    for term, c in codes:
        assert c["scheme"] == "SCT" and c["value"].isdigit() and c["meaning"] and c["source"], (term, c)
    for path in resource_path("vocabulary").iterdir():
        if path.suffix in (".json", ".tsv"):
            assert '"SRT"' not in path.read_text(encoding="utf-8"), path


def test_dcmqi_codes_exist_in_the_dicom_context_groups():
    found: set[str] = set()

    def walk(o):
        if isinstance(o, dict):
            if "CodeValue" in o and o.get("CodingSchemeDesignator") == "SCT":
                found.add(o["CodeValue"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for name in (
        "AnatomicRegionAndModifier-DICOM-Master.json",
        "SegmentationCategoryTypeModifier-DICOM-Master.json",
    ):
        walk(json.loads(shared_path("text", "dicom_seg_contexts", name).read_text()))
    cited = [(t, c) for t, c in _all_codes() if "dcmqi" in c["source"]]
    assert len(cited) > 60
    assert [(t, c["value"]) for t, c in cited if c["value"] not in found] == []


def test_dicom_ps316_codes_exist_in_pydicom():
    from pydicom.sr._concepts_dict import concepts

    known = {code for v in concepts["SCT"].values() for code in v}
    cited = [(t, c) for t, c in _all_codes() if "PS3.16" in c["source"]]
    assert len(cited) > 10
    assert [(t, c["value"]) for t, c in cited if c["value"] not in known] == []


def test_code_lookups():
    assert V.anatomy_code("liver").value == "10200004"
    assert V.anatomy_code("hippocampus").value == "5366008"
    assert V.anatomy_code("ventral diencephalon") is None
    assert V.anatomy_code("flurbogland") is None
    assert V.finding_code("effusion").value == "41699000"
    assert V.finding_code("effusion", "pleura").value == "60046008"
    assert V.finding_code("effusion", "pericardium").value == "373945007"
    assert V.finding_code("ground-glass") is None
    assert V.laterality_code("left").value == "7771000"
    assert V.laterality_code("right").value == "24028007"
    assert V.laterality_code("bilateral").value == "51440002"
    assert "curated" in V.code_source("hydrocephalus") and "dcmqi" in V.code_source("liver")


def test_negex_triggers_are_all_present_except_the_documented_changes():
    dropped = {"free", "evaluate for", "checked for", "test for", "cannot", "to exclude"}
    ours = {
        line.split("\t")[0]
        for line in resource_path("vocabulary", "context_triggers.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    }
    negex = {
        line.split("\t")[0].strip().lower()
        for line in shared_path("text", "negex_triggers.txt").read_text().splitlines()
        if line.strip()
    }
    assert negex - dropped - ours == set()
    assert "to exclude" in ours  # kept, as uncertainty


def test_vocabulary_loads_once():
    assert V.load_vocabulary() is V.load_vocabulary()
