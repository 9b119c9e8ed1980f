"""Lesion candidates: the phantom's lung nodule and liver lesion are found with the right
size; vessels, noise and lesion-free organs give nothing of note; real organs stay quiet."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct import anatomy as ca
from napari_medground.models.ct.lesions import LesionCandidate, lesion_candidates
from napari_medground.synthetic.phantom import make_ct_phantom
from napari_medground.study import load_study
from tests.data.shared import shared_path


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom()


def voxel_diagonal(study) -> float:
    return float(np.linalg.norm(study.spacing_mm))


def test_nodule_found_in_the_right_lung_with_its_size(phantom):
    study, truth = phantom
    lungs = ca.segment_lungs(study)
    assert (lungs.right & truth["nodule"]).sum() == truth["nodule"].sum()  # inside the lung mask
    cands = lesion_candidates(study, lungs.right, kind="nodule")
    assert cands, "no nodule candidate"
    best = cands[0]
    assert isinstance(best, LesionCandidate) and best.kind == "nodule"
    assert (best.mask & truth["nodule"]).sum() >= 0.8 * truth["nodule"].sum()
    assert abs(best.equivalent_diameter_mm - truth["nodule_diameter_mm"]) <= voxel_diagonal(study)
    assert best.score > 0.6 and all(c.score <= best.score for c in cands)
    lps = study.index_to_lps(np.asarray(best.centroid_voxel))
    assert np.linalg.norm(lps - np.asarray(truth["nodule_center_lps"])) <= voxel_diagonal(study)
    lo, hi = np.asarray(best.box.min_voxel), np.asarray(best.box.max_voxel)
    assert np.all(lo <= best.centroid_voxel) and np.all(best.centroid_voxel <= hi)
    assert best.mask.shape == study.shape and best.volume_ml == pytest.approx(
        best.mask.sum() * study.voxel_volume_ml)
    assert -400 < best.mean_hu < 60 and "blob" in best.reason


def test_left_lung_vessels_are_not_nodules(phantom):
    study, _ = phantom
    lungs = ca.segment_lungs(study)
    assert all(c.score < 0.5 for c in lesion_candidates(study, lungs.left, kind="nodule"))


@pytest.mark.parametrize("kind", ["hypodense", "any"])
def test_liver_lesion_is_a_hypodense_candidate(phantom, kind):
    study, truth = phantom
    cands = lesion_candidates(study, truth["liver"], kind=kind)
    assert cands and cands[0].kind == "hypodense"
    best = cands[0]
    assert (best.mask & truth["liver_lesion"]).sum() >= 0.8 * truth["liver_lesion"].sum()
    assert abs(best.equivalent_diameter_mm - truth["liver_lesion_diameter_mm"]) <= voxel_diagonal(study)
    assert best.mean_hu < truth["liver_hu"] - 20
    assert all(c.score < 0.5 for c in cands[1:])


def test_lesion_free_organ_and_wrong_input(phantom):
    study, truth = phantom
    assert [c for c in lesion_candidates(study, truth["spleen"]) if c.score >= 0.5] == []
    assert lesion_candidates(study, np.zeros(study.shape, bool)) == []
    with pytest.raises(ValueError, match="lesion kind"):
        lesion_candidates(study, truth["liver"], kind="tumour")
    with pytest.raises(ValueError, match="does not match"):
        lesion_candidates(study, truth["liver"][0], kind="any")


def test_hyperdense_lesion_in_an_oblique_anisotropic_volume():
    """A bright 12 mm sphere in a uniform 'organ' on an oblique 1 x 0.8 x 1.5 mm grid."""
    from napari_medground.study.model import Study

    rng = np.random.default_rng(1)
    shape, spacing = (40, 60, 48), np.array([1.5, 0.8, 1.0])
    theta = np.deg2rad(20)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(spacing)
    idx = np.indices(shape).reshape(3, -1).T * spacing
    center = np.array(shape) * spacing / 2
    inside = (np.linalg.norm(idx - center, axis=1) <= 6.0).reshape(shape)
    hu = np.where(inside, 130.0, 55.0) + rng.normal(0, 8, shape)
    study = Study(hu.astype(np.int16), affine, modality="CT")
    organ = np.ones(shape, bool)
    cands = lesion_candidates(study, organ, kind="hyperdense")
    assert cands and cands[0].kind == "hyperdense"
    assert abs(cands[0].equivalent_diameter_mm - 12.0) <= float(np.linalg.norm(spacing))
    assert lesion_candidates(study, organ, kind="hypodense") == []


@pytest.mark.shared_data
def test_real_solid_organs_stay_quiet():
    from tests.core.test_models_ct_anatomy_real import resample_labels_to

    study = load_study(shared_path("totalseg", "example_ct.nii.gz"))
    ref = resample_labels_to(study.shape, study.affine_lps,
                             shared_path("totalseg", "example_seg_fast_force_split.nii.gz"))
    for label in (5, 1):  # liver, spleen
        assert lesion_candidates(study, ref == label, kind="any") == []
