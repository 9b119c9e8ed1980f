"""Classical CT anatomy on the synthetic phantom (known truth): body, lungs left/right in
any array orientation, airways, bowel gas never lung, bone, fat; 2D slices; refusals."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.errors import ModelUnavailable
from napari_medground.models.ct import anatomy as ca
from napari_medground.models.ct.frame import make_frame
from napari_medground.synthetic.phantom import make_ct_phantom
from napari_medground.study.model import Study


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else 1.0


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom()


@pytest.fixture(scope="module")
def lungs(phantom):
    return ca.segment_lungs(phantom[0])


def test_lungs_match_truth(phantom, lungs):
    _, truth = phantom
    assert dice(lungs.right, truth["lung_right"]) >= 0.95
    assert dice(lungs.left, truth["lung_left"]) >= 0.95
    assert not (lungs.left & lungs.right).any()
    assert 0.5 <= lungs.confidence <= 1.0


def test_bowel_gas_below_the_diaphragm_is_never_lung(phantom, lungs):
    _, truth = phantom
    assert truth["bowel_gas"].sum() > 1000  # the phantom has a fair amount of gas to confuse
    assert not ((lungs.left | lungs.right) & truth["bowel_gas"]).any()
    assert any("pure air" in n for n in lungs.notes)


def test_airways_found_and_kept_out_of_the_lungs(phantom, lungs):
    _, truth = phantom
    assert dice(lungs.airways, truth["airways"]) >= 0.8
    assert not (lungs.airways & (lungs.left | lungs.right)).any()


def test_body_excludes_table_and_holds_lungs(phantom, lungs):
    study, truth = phantom
    body = ca.segment_body(study)
    assert dice(body, truth["body"]) >= 0.98
    table = (study.array > 100) & ~truth["body"]
    assert table.sum() > 1000 and not (body & table).any()
    assert (lungs.left | lungs.right)[~body].sum() == 0


@pytest.mark.parametrize("orientation", ["LPS", "IAR"])
def test_left_right_follow_the_patient_not_the_array(orientation):
    study, truth = make_ct_phantom(orientation=orientation)
    assert study.orientation == orientation
    lungs = ca.segment_lungs(study)
    assert dice(lungs.right, truth["lung_right"]) >= 0.95
    assert dice(lungs.left, truth["lung_left"]) >= 0.95
    # the patient's left lung lies at larger LPS x
    x_left = study.index_to_lps(np.argwhere(lungs.left).mean(0))[0]
    x_right = study.index_to_lps(np.argwhere(lungs.right).mean(0))[0]
    assert x_left > 40 and x_right < -40


def test_oblique_affine(phantom):
    """The same voxels under an affine rotated 20 degrees about the body axis: the rules
    follow the nearest patient axes, so the masks are unchanged."""
    study, truth = phantom
    t = np.deg2rad(20)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    oblique = Study(study.array, rot @ study.affine_lps, modality="CT")
    assert oblique.is_oblique
    lungs = ca.segment_lungs(oblique)
    assert dice(lungs.right, truth["lung_right"]) >= 0.95
    assert dice(lungs.left, truth["lung_left"]) >= 0.95


def test_thick_slices_and_noise():
    study, truth = make_ct_phantom((48, 160, 160), (4.0, 2.0, 2.0), seed=2, noise_hu=25.0)
    lungs = ca.segment_lungs(study)
    assert dice(lungs.right, truth["lung_right"]) >= 0.93
    assert dice(lungs.left, truth["lung_left"]) >= 0.93
    lung = lungs.left | lungs.right
    # partial volume across a 4 mm slice blurs lung base and colon gas: a few voxels at most,
    # and never the pure air inside a pocket
    assert (lung & truth["bowel_gas"]).sum() <= 0.01 * truth["bowel_gas"].sum()
    assert not (lung & truth["bowel_gas"] & (study.array < -950)).any()


def test_bone_and_fat(phantom):
    study, truth = phantom
    assert dice(ca.segment_bone(study), truth["bone"]) >= 0.8
    fat = ca.segment_fat(study)
    assert dice(fat, truth["fat"]) >= 0.85
    lung = truth["lung_left"] | truth["lung_right"]
    assert (fat & lung).sum() <= 1e-3 * fat.sum()  # partial-volume rims of air are left out


def test_fluid_is_water_like(phantom):
    study, truth = phantom
    fluid = ca.segment_fluid(study)
    assert fluid.any()
    vals = study.array[fluid]
    assert -15 <= float(np.median(vals)) <= 30
    assert not (fluid & truth["bone"]).any() and not (fluid & truth["lung_left"]).any()


def test_single_2d_slice(phantom):
    study, truth = phantom
    k = 50  # an axial slice through both lungs and the heart
    frame = make_frame(study)
    assert frame.perm[0] == 0
    sl = Study(study.array[k], _affine_2d(study.affine_lps, k), modality="CT")
    lungs = ca.segment_lungs(sl)
    assert lungs.left.shape == sl.array.shape
    assert dice(lungs.right, truth["lung_right"][k]) >= 0.95
    assert dice(lungs.left, truth["lung_left"][k]) >= 0.95


def test_no_lungs_in_a_scan_below_the_diaphragm(phantom):
    study, truth = phantom
    k = 12  # z = 36 mm: kidneys and bowel, far below the lung bases
    sub = Study(np.ascontiguousarray(study.array[:k]), study.affine_lps, modality="CT")
    assert truth["bowel_gas"][:k].any()
    lungs = ca.segment_lungs(sub)
    assert not lungs.left.any() and not lungs.right.any()
    assert any("no lung" in n for n in lungs.notes)


def test_refuses_mr_and_returns_read_only_masks(phantom):
    study, _ = phantom
    mr = Study(study.array.copy(), study.affine_lps, modality="MR")
    with pytest.raises(ModelUnavailable, match="needs a CT"):
        ca.segment_lungs(mr)
    body = ca.segment_body(study)
    assert body is ca.segment_body(study)  # cached per study
    with pytest.raises(ValueError):
        body[0, 0, 0] = True


def _affine_2d(affine3: np.ndarray, k: int) -> np.ndarray:
    """2D affine (row, col, 0) of axial slice k of an SPL-ordered volume."""
    a = np.eye(4)
    a[:3, 0] = affine3[:3, 1]
    a[:3, 1] = affine3[:3, 2]
    a[:3, 2] = affine3[:3, 0] / np.linalg.norm(affine3[:3, 0])
    a[:3, 3] = affine3[:3, 3] + k * affine3[:3, 0]
    return a
