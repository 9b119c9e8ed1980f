"""Issue 6 acceptance on real data, through `ground` (the same path the CLI takes).

References are compared in world space: reference labels are resampled onto the study
grid by nearest neighbour through both affines, as the contract check does.
"""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.reasoning import ground
from napari_medground.result import Box, FindingStatus, StepKind
from napari_medground.study import load_study
from tests.data.shared import shared_path


def _labels_on_study(study, path) -> np.ndarray:
    """Reference labels (any file load_study reads) resampled onto the study grid."""
    ref = load_study(path)
    grids = np.meshgrid(*[np.arange(s) for s in study.shape], indexing="ij")
    idx = np.stack([g.ravel() for g in grids], 1)
    j = np.rint(ref.lps_to_index(study.index_to_lps(idx))).astype(int)
    ok = np.all((j >= 0) & (j < np.array(ref.shape)), 1)
    out = np.zeros(len(idx), ref.array.dtype)
    out[ok] = ref.array[tuple(j[ok].T)]
    return out.reshape(study.shape)


def _dice(a, b) -> float:
    return 2 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@pytest.fixture(scope="module")
def t1():
    return load_study(shared_path("brain", "t1_crop.nii.gz"))


def test_left_hippocampus(t1):
    r = ground(t1, "left hippocampus", device="cpu")
    f = r.findings[0]
    assert f.status == FindingStatus.PRESENT
    vol = f.measurement("volume")
    assert vol.unit == "mL" and 3.0 <= vol.value <= 6.0
    right = ground(t1, "right hippocampus", device="cpu").findings[0]
    assert f.centroid_lps_mm[0] > 0 > right.centroid_lps_mm[0]  # LPS +x is the patient's left
    assert r.models and r.models[0].name == "model21_104class" and r.models[0].device == "cpu"


def test_hippocampal_atrophy_reports_volumes_asymmetry_and_source(t1):
    r = ground(t1, "hippocampal atrophy", device="cpu")
    f = r.findings[0]
    names = {m.name for m in f.measurements}
    assert {"volume_left", "volume_right", "asymmetry"} <= names
    text = r.conclusion.text
    assert "left" in text and "right" in text and "asymmetry" in text
    compares = [s for s in r.steps if s.kind == StepKind.COMPARE]
    assert any("Lucarelli" in (s.evidence.criterion.source or "") for s in compares)
    assert all(s.evidence.criterion is not None and s.evidence.criterion.source for s in compares)
    assert f.status in (FindingStatus.ABSENT, FindingStatus.UNCERTAIN)  # never "present" without norms


@pytest.mark.slow
def test_ventriculomegaly_evans_index_with_two_segments(t1):
    r = ground(t1, "ventriculomegaly", device="cpu")
    meas = next(s for s in r.steps if s.kind == StepKind.MEASURE)
    lines = {ln.name: ln for ln in meas.evidence.lines}
    assert len(lines) == 2
    evans = r.findings[0].measurement("evans_index").value
    horn, skull = sorted(lines.values(), key=lambda ln: ln.length_mm)
    assert evans == pytest.approx(horn.length_mm / skull.length_mm, rel=1e-6)
    assert 0.15 < evans < 0.45
    assert r.findings[0].status in (FindingStatus.ABSENT, FindingStatus.PRESENT)


@pytest.fixture(scope="module")
def example_ct():
    return load_study(shared_path("totalseg", "example_ct.nii.gz"))


@pytest.fixture(scope="module")
def example_ct_reference(example_ct):
    return _labels_on_study(example_ct, shared_path("totalseg", "example_seg_fast_force_split.nii.gz"))


def test_right_lung_on_ct(example_ct, example_ct_reference):
    r = ground(example_ct, "right lung")
    f = r.findings[0]
    assert f.status == FindingStatus.PRESENT
    assert _dice(r.masks[f.mask_id], np.isin(example_ct_reference, [12, 13, 14])) >= 0.90


@pytest.mark.slow
def test_liver_on_ct(example_ct, example_ct_reference):
    r = ground(example_ct, "liver")
    f = r.findings[0]
    ref = example_ct_reference == 5
    ref_ml = float(ref.sum()) * example_ct.voxel_volume_ml
    assert f.measurement("volume").value == pytest.approx(ref_ml, rel=0.10)
    assert _dice(r.masks[f.mask_id], ref) >= 0.85


@pytest.mark.parametrize("name,expected", [("00000001_000.png", FindingStatus.PRESENT),
                                           ("00027426_000.png", FindingStatus.ABSENT)])
def test_cardiomegaly_on_both_nih_images(name, expected):
    r = ground(shared_path("cxr", name), "cardiomegaly")
    f = r.findings[0]
    assert f.status == expected
    assert (f.measurement("ratio").value > 0.5) == (expected == FindingStatus.PRESENT)


def test_mr_tumour_from_a_box_prompt():
    study = load_study(shared_path("mri", "pyradiomics", "brain1_image.nrrd"))
    label = _labels_on_study(study, shared_path("mri", "pyradiomics", "brain1_label.nrrd")) > 0
    idx = np.argwhere(label)
    box = Box(tuple(int(v) for v in idx.min(0)), tuple(int(v) for v in idx.max(0)))
    r = ground(study, "tumour", box=box)
    f = r.findings[0]
    assert f.status == FindingStatus.PRESENT
    assert _dice(r.masks[f.mask_id], label) >= 0.7
    assert any(m.name == "litemedsam" for m in r.models)
