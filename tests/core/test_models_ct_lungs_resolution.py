"""Lungs by HU rules at clinical and coarse voxel sizes and in another storage orientation,
on two patients: the lung bases of totalseg/example_ct (beside bowel gas) and the COPD
chest CT of ct/cip_lung (emphysema reads as nearly pure air). Grids are derived in the test
(resampled / reoriented in memory); references are compared in world space."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models import ct_anatomy as ca
from napari_medground.study import load_study
from tests.data.regrid import crop, dice, labels_on, reorient, resample
from tests.data.shared import shared_path

pytestmark = pytest.mark.shared_data
RIGHT, LEFT = [12, 13, 14], [10, 11]  # TotalSegmentator lobes


def _upper(study, mm: float):
    """The superior ``mm`` of a scan along its slice axis (0), found from the affine."""
    n = int(round(mm / study.spacing_mm[0]))
    up = study.affine_lps[2, 0] > 0  # index 0 grows toward patient superior (LPS +z)
    return crop(study, (slice(study.shape[0] - n, None) if up else slice(0, n), slice(None), slice(None)))


def _grid(study, how):
    if how == "native":
        return study
    if how == "reoriented":
        return reorient(study, perm=(1, 2, 0), flips=(True, False, True))
    return resample(study, how)


@pytest.fixture(scope="module")
def example_ct():
    return (load_study(shared_path("totalseg", "example_ct.nii.gz")),
            load_study(shared_path("totalseg", "example_seg_fast_force_split.nii.gz")))


@pytest.mark.parametrize("how", ["native", (1.5, 0.8, 0.8), (5.0, 5.0, 5.0), "reoriented"])
def test_lung_bases_at_every_voxel_size(example_ct, how):
    """Each lung >= 0.85 Dice at 3 mm, 0.8x0.8x1.5 mm, 5 mm and stored in another axis
    order; the colon gas under the left hemidiaphragm is never labelled lung."""
    ct, seg = example_ct
    # the fine grid keeps the upper 210 mm (lung bases, stomach, colon with its flexures) for speed
    study = _grid(_upper(ct, 210.0) if how == (1.5, 0.8, 0.8) else ct, how)
    ref = labels_on(study, seg)
    lungs = ca.segment_lungs(study)
    assert dice(lungs.left, np.isin(ref, LEFT)) >= 0.85, lungs.notes
    assert dice(lungs.right, np.isin(ref, RIGHT)) >= 0.85, lungs.notes
    colon = ref == 21
    assert float((lungs.both & colon).sum()) * study.voxel_volume_ml < 1.0


@pytest.fixture(scope="module")
def cip():
    d = "ct", "cip_lung"
    return (load_study(shared_path(*d, "ct-64.nrrd")), load_study(shared_path(*d, "lm-64.nrrd")),
            load_study(shared_path(*d, "wholeLung-64.nrrd")))


@pytest.mark.parametrize("how", ["native", "reoriented", (2.0, 2.0, 2.0)])
def test_copd_chest_ct_second_patient(cip, how):
    """A whole chest with emphysema (~20 % of lung below -950 HU) on a foam pad: each lung
    against the CIP whole-lung mask split by its left/right lung-third labels
    (PROVENANCE.txt: (value & 255) in 9..11 left, 12..14 right)."""
    ct, lm, whole = cip
    study = _grid(ct, how)
    region = labels_on(study, lm).astype(int) & 255
    lung = labels_on(study, whole) > 0
    lungs = ca.segment_lungs(study)
    assert dice(lungs.left, lung & np.isin(region, [9, 10, 11])) >= 0.85, lungs.notes
    assert dice(lungs.right, lung & np.isin(region, [12, 13, 14])) >= 0.85, lungs.notes
    # left stays left: the patient's left lung lies at larger LPS x
    xl = study.index_to_lps(np.argwhere(lungs.left))[:, 0].mean()
    xr = study.index_to_lps(np.argwhere(lungs.right))[:, 0].mean()
    assert xl > xr + 50
