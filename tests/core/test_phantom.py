"""The synthetic CT phantom: reproducible, truth consistent with the voxels, the same
anatomy in every orientation, a DICOM series that loads back exactly, and the committed
example file equal to what make_examples.py writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medground.synthetic.phantom import make_ct_phantom, write_ct_dicom

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom()


def test_reproducible_and_realistic_values(phantom):
    study, truth = phantom
    again, _ = make_ct_phantom()
    other, _ = make_ct_phantom(seed=1)
    assert np.array_equal(study.array, again.array) and study.series_uid == again.series_uid
    assert not np.array_equal(study.array, other.array)
    assert study.modality == "CT" and study.array.dtype == np.int16 and study.shape == (64, 128, 128)
    assert study.spacing_mm == pytest.approx((3.0, 2.5, 2.5)) and study.orientation == "SPL"
    hu = study.array
    for name, lo, hi in (("liver", 50, 70), ("spleen", 38, 58), ("fat", -115, -85), ("liver_lesion", 5, 30)):
        assert lo <= np.median(hu[truth[name]]) <= hi, name
    lung = truth["lung_right"] & ~truth["nodule"]
    assert -870 <= np.median(hu[lung]) <= -800  # parenchyma with vessels, not air
    assert np.median(hu[truth["bowel_gas"]]) < -950  # pure air
    assert 0.4 * 10 <= np.std(hu[truth["liver"] & ~truth["liver_lesion"]]) <= 2 * 10


def test_truth_masks_and_numbers_agree(phantom):
    study, truth = phantom
    vox = study.voxel_volume_ml
    for name in ("lung_left", "lung_right", "liver", "spleen", "kidney_left", "heart", "bone", "nodule"):
        assert truth[name].any(), name
        assert truth[f"{name}_volume_ml"] == pytest.approx(truth[name].sum() * vox)
    assert not (truth["lung_left"] & truth["lung_right"]).any()
    assert (truth["nodule"] & ~truth["lung_right"]).sum() == 0
    assert (truth["liver_lesion"] & ~truth["liver"]).sum() == 0
    assert not (truth["bowel_gas"] & (truth["lung_left"] | truth["lung_right"])).any()
    assert 900 <= truth["liver_volume_ml"] <= 1800 and 700 <= truth["lung_right_volume_ml"] <= 2000
    d_eq = (6 * truth["nodule_volume_ml"] * 1000 / np.pi) ** (1 / 3)
    assert abs(d_eq - truth["nodule_diameter_mm"]) <= np.linalg.norm(study.spacing_mm)
    # the nodule sits in the right (x < 0) upper lung, the lesion in the liver
    lps = study.index_to_lps(np.argwhere(truth["nodule"]).mean(0))
    assert np.linalg.norm(lps - truth["nodule_center_lps"]) < 2.0 and lps[0] < 0
    # the lungs nearly touch at the anterior junction (a test of any left/right split)
    gap = np.abs(np.argwhere(truth["lung_left"])[:, 2].min() - np.argwhere(truth["lung_right"])[:, 2].max())
    assert gap <= 2


@pytest.mark.parametrize("orientation", ["LPS", "IAR", "RAS"])
def test_orientations_hold_the_same_anatomy(phantom, orientation):
    ref_study, ref_truth = phantom
    study, truth = make_ct_phantom(orientation=orientation)
    assert study.orientation == orientation
    for name in ("nodule", "liver_lesion", "lung_left"):
        a = ref_study.index_to_lps(np.argwhere(ref_truth[name]).mean(0))
        b = study.index_to_lps(np.argwhere(truth[name]).mean(0))
        assert np.allclose(a, b, atol=1e-6), name
    assert np.array_equal(np.sort(study.array, axis=None), np.sort(ref_study.array, axis=None))
    with pytest.raises(ValueError, match="orientation"):
        make_ct_phantom(orientation="SPX")


def test_dicom_series_loads_back_exactly(phantom, tmp_path):
    import pydicom

    from napari_medground.study import load_study

    study, _ = phantom
    paths = write_ct_dicom(study, tmp_path / "ct")
    assert len(paths) == study.shape[0]
    ds = [pydicom.dcmread(p) for p in paths[:2]]
    assert ds[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds[0].Modality == "CT"
    assert ds[0].StudyInstanceUID == ds[1].StudyInstanceUID == study.study_uid
    assert ds[0].FrameOfReferenceUID == ds[1].FrameOfReferenceUID == study.frame_of_reference_uid
    assert ds[0].SOPInstanceUID != ds[1].SOPInstanceUID
    assert float(ds[0].RescaleIntercept) == -1024 and float(ds[0].RescaleSlope) == 1
    back = load_study(tmp_path / "ct")
    assert back.shape == study.shape and back.series_uid == study.series_uid
    assert np.array_equal(back.array, study.array)
    assert np.allclose(back.affine_lps, study.affine_lps, atol=1e-4)


def test_committed_example_is_the_phantom(phantom):
    import nibabel as nib

    from napari_medground.study.nifti_io import read_nifti

    path = EXAMPLES / "ct_phantom.nii.gz"
    assert path.is_file() and path.stat().st_size < 1_000_000
    study, _ = phantom
    ex = read_nifti(path)
    assert np.array_equal(ex.array, study.array)
    assert np.allclose(ex.affine_lps, study.affine_lps, atol=1e-4)
    assert nib.load(str(path)).get_data_dtype() == np.int16
