"""Emphysema densitometry (LAA-950): synthetic chests with a known fraction, shared CTs end to end."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.measure.lung_density import laa_per_side, low_attenuation
from napari_medground.phantom import make_ct_phantom
from napari_medground.reasoning.api import ground
from napari_medground.result import FindingStatus
from tests.data.shared import shared_path


def _emphysematous(spacing, orientation="SPL"):
    """Phantom chest with -980 HU voxels scattered in the upper right lung (LPS z): truth %."""
    shape = (int(round(64 * 3.0 / spacing[0])), int(round(128 * 2.5 / spacing[1])),
             int(round(128 * 2.5 / spacing[2])))
    study, truth = make_ct_phantom(shape, spacing, seed=1, orientation=orientation)
    idx = np.indices(study.shape).reshape(3, -1)
    z_mm = (study.affine_lps[:3, :3] @ idx + study.affine_lps[:3, 3:4])[2].reshape(study.shape)
    right = truth["lung_right"]
    zmid = np.median(z_mm[right])
    # scattered low-attenuation voxels (as in centrilobular emphysema), 40% of the upper right lung
    low = right & (z_mm > zmid) & (np.random.default_rng(3).random(study.shape) < 0.4)
    arr = study.array.copy()
    arr[low] = -980
    study.array = arr
    return study, truth, 100.0 * low.sum() / (right.sum() + truth["lung_left"].sum()), 100.0 * low.sum() / right.sum()


def test_low_attenuation_counts_strictly_below_threshold():
    hu = np.array([[[-1000, -951, -950, -949, -500]]], dtype=np.int16)
    m = np.ones_like(hu, dtype=bool)
    r = low_attenuation(hu, m, 0.001, region="x")
    assert r.percent == pytest.approx(40.0) and r.voxels == 5
    assert low_attenuation(hu, np.zeros_like(m), 0.001, region="x") is None
    res = laa_per_side(hu, {"left": m, "right": np.zeros_like(m)}, 0.001)
    assert set(res) == {"left", "total"}


@pytest.mark.parametrize("spacing,orientation", [((3.0, 2.5, 2.5), "SPL"), ((5.0, 4.0, 4.0), "LPS"),
                                                 ((1.5, 1.6, 1.6), "SPL")])
def test_laa_synthetic_known_fraction_truth_masks(spacing, orientation):
    study, truth, total_pct, right_pct = _emphysematous(spacing, orientation)
    res = laa_per_side(study.array, {"left": truth["lung_left"], "right": truth["lung_right"]},
                       study.voxel_volume_ml)
    assert res["total"].percent == pytest.approx(total_pct, abs=0.5)
    assert res["right"].percent == pytest.approx(right_pct, abs=0.5)
    assert res["left"].percent < 0.5  # noise 10 HU around -850: nothing below -950


def test_emphysema_synthetic_known_fraction_end_to_end():
    study, truth, total_pct, right_pct = _emphysematous((3.0, 2.5, 2.5))
    r = ground(study, "emphysema")
    f = r.findings[0]
    m = {x.name: x.value for s in r.steps for x in s.evidence.measurements}
    assert m["laa950"] == pytest.approx(total_pct, abs=3.0)
    assert m["laa950_right"] == pytest.approx(right_pct, abs=5.0)
    assert m["laa950_left"] < 1.0
    assert f.status in (FindingStatus.PRESENT, FindingStatus.UNCERTAIN)
    assert "laa950_emphysema" in str([s.evidence.criterion.id for s in r.steps if s.evidence.criterion])


def test_emphysema_synthetic_normal_lungs_not_present():
    study, truth = make_ct_phantom(seed=2)
    r = ground(study, "emphysema")
    m = {x.name: x.value for s in r.steps for x in s.evidence.measurements}
    assert m["laa950"] < 5.0
    # 3 mm voxels are thick (THIN_SLICE_MM 2): below the cut-off is "uncertain", never "absent"
    assert r.findings[0].status == FindingStatus.UNCERTAIN
    assert "Not called absent" in r.steps[-1].detail


def test_emphysema_cip_lung_end_to_end():
    path = shared_path("ct/cip_lung/ct-64.nrrd")
    r = ground(str(path), "emphysema")
    f = r.findings[0]
    conclude = r.steps[-1].detail
    assert f.status == FindingStatus.PRESENT, conclude
    assert "LAA-950" in conclude and "Amaza 2021" in conclude and "4.17 mm" in conclude


def test_emphysema_example_ct_lung_bases_partial_not_absent():
    path = shared_path("totalseg/example_ct.nii.gz")
    r = ground(str(path), "emphysema")
    f = r.findings[0]
    detail = r.steps[-1].detail
    assert f.status != FindingStatus.ABSENT
    assert "only part of the lungs" in detail
