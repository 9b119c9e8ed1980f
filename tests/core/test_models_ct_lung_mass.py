"""Lung masses in the lung's envelope on a chest CT cropped through both lungs
(ct/ibsi_lung_tumour, GTV in nifti/mask.nii.gz): the tumour abuts the mediastinum and is
mostly left out of the lung mask, and the crop cuts the lungs open at its edges."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models import ct_anatomy as ca
from napari_medground.models.ct_lesions_mass import mass_candidates, touches_edge
from napari_medground.reasoning import ground
from napari_medground.result import FindingStatus
from napari_medground.study import load_study
from tests.data.regrid import dice, labels_on, reorient, resample
from tests.data.shared import shared_path

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def tumour():
    d = ("ct", "ibsi_lung_tumour", "nifti")
    study = load_study(shared_path(*d, "phantom.nii.gz"))
    return study, load_study(shared_path(*d, "mask.nii.gz"))


def _side(study, gtv) -> str:
    """The GTV's side from the affine: LPS +x is the patient's left."""
    x = study.index_to_lps(np.argwhere(gtv).mean(0))[0]
    return "left" if x > 0 else "right"


def test_partial_field_of_view_lungs_are_found(tumour):
    study, _ = tumour
    lungs = ca.segment_lungs(study)
    assert lungs.both.sum() * study.voxel_volume_ml > 300  # not "the lung was not found"
    assert touches_edge(lungs.both)  # the crop cuts them


def test_mass_is_found_and_the_partial_view_said(tumour):
    study, seg = tumour
    gtv = labels_on(study, seg) > 0
    side = _side(study, gtv)
    r = ground(study, f"mass in the {side} lung", device="cpu")
    scored = [(dice(r.masks[f.mask_id], gtv), f) for f in r.findings if f.mask_id]
    assert scored, [f.status for f in r.findings]
    best, f = max(scored, key=lambda t: t[0])
    print(f"mass in the {side} lung: Dice vs GTV {best:.3f}, status {f.status.value}")
    assert best >= 0.7
    # found, never answered absent; outside the aerated lung it is flagged for review
    assert f.status in (FindingStatus.PRESENT, FindingStatus.UNCERTAIN)
    assert "partial" in f.name
    assert f.measurement("volume").value > 150


@pytest.mark.parametrize("how", [(3.0, 2.0, 2.0), (5.0, 1.5, 1.5), "reoriented"])
def test_mass_at_other_voxel_sizes(tumour, how):
    study, seg = tumour
    study = reorient(study) if how == "reoriented" else resample(study, how)
    gtv = labels_on(study, seg) > 0
    lungs = ca.segment_lungs(study)
    lung = lungs.left if _side(study, gtv) == "left" else lungs.right
    cands = mass_candidates(study, lung)
    assert cands and max(dice(c.mask, gtv) for c in cands) >= 0.7


def test_no_mass_in_lung_bases_of_an_abdominal_ct():
    study = load_study(shared_path("totalseg", "example_ct.nii.gz"))
    lungs = ca.segment_lungs(study)
    assert mass_candidates(study, lungs.left, lungs.right) == []
    assert mass_candidates(study, lungs.right, lungs.left) == []
