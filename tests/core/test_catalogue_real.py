"""Exact or honest on real studies, criteria chosen from data, and DICOM SEG crediting the
algorithm that made each segment (read back with highdicom)."""
from __future__ import annotations

import pytest

from napari_medground.reasoning import ground
from napari_medground.result import FindingStatus, StepKind
from napari_medground.study import load_study
from tests.data.shared import shared_path


@pytest.fixture(scope="module")
def example_ct():
    return load_study(shared_path("totalseg", "example_ct.nii.gz"))


@pytest.mark.parametrize("text", ["C5 vertebra", "T4 vertebra", "right femoral head"])  # L1-L5, T12, sacrum: own locators
def test_parts_of_the_skeleton_are_never_the_whole_skeleton(example_ct, text):
    r = ground(example_ct, text, device="cpu")
    f = r.findings[0]
    assert f.status == FindingStatus.NOT_ASSESSABLE, r.conclusion.text
    assert f.mask_id is None or r.masks.get(f.mask_id) is None
    assert not f.measurements
    assert "bone" in r.conclusion.text  # the reason names what could be located instead


@pytest.mark.slow
def test_left_thalamus_atrophy_is_not_judged_by_the_hippocampal_band():
    t1 = load_study(shared_path("brain", "t1_crop.nii.gz"))
    r = ground(t1, "left thalamus atrophy", device="cpu")
    f = r.findings[0]
    compares = [s for s in r.steps if s.kind == StepKind.COMPARE]
    assert not any("hippocamp" in (s.evidence.criterion.id if s.evidence.criterion else "") for s in compares)
    assert not compares
    assert "no published volume criterion for the thalamus" in r.conclusion.text.lower()
    assert "volumes and asymmetry shown" in r.conclusion.text
    assert f.status == FindingStatus.NOT_ASSESSABLE
    assert {m.name for m in f.measurements} >= {"volume_left", "volume_right", "asymmetry"}
    assert 3.0 < f.measurement("volume_left").value < 14.0  # the thalamus itself was measured


@pytest.mark.slow
def test_seg_credits_the_rule_based_method_and_litemedsam_where_each_was_used(tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from napari_medground.export import export_result
    from napari_medground.phantom import make_ct_phantom, write_ct_dicom

    study, _ = make_ct_phantom((40, 96, 96), (4.0, 3.5, 3.5))
    write_ct_dicom(study, tmp_path / "dicom")
    study = load_study(tmp_path / "dicom")
    r = ground(study, "left lung, spleen", device="cpu")
    assert [f.status for f in r.findings] == [FindingStatus.PRESENT, FindingStatus.PRESENT], r.conclusion.text
    files = export_result(r, tmp_path / "out", ("seg", "sr"))
    seg = hd.seg.segread(str(files["seg"]))
    algo = {}
    for n in range(1, seg.number_of_segments + 1):
        desc = seg.get_segment_description(n)
        item = desc.SegmentationAlgorithmIdentificationSequence[0]
        algo[desc.SegmentLabel] = (item.AlgorithmName, item.AlgorithmFamilyCodeSequence[0].CodeValue)
    assert algo["left lung"] == ("ct_classical", codes.cid7162.MorphologicalOperations.value)
    assert algo["spleen"] == ("ct_classical + litemedsam", codes.cid7162.ArtificialIntelligence.value)
