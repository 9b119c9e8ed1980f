"""NIfTI edge: NIfTI -> Study -> NIfTI is exact; DICOM -> Study -> NIfTI keeps the grid; bad NIfTI input."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.study import load_study
from napari_medground.study.nifti_io import write_nifti
from napari_medground.synthetic.dicom import geometry_affine, write_dicom_series
from tests.data.shared import shared_path


def _round_trip(src, tmp_path):
    study = load_study(src)
    out = write_nifti(study.array, study, tmp_path / "out.nii.gz")
    a, b = nib.load(str(src)), nib.load(str(out))
    np.testing.assert_array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
    assert np.array_equal(a.affine, b.affine)
    assert a.shape == b.shape
    assert int(a.header["qform_code"]) == int(b.header["qform_code"])
    assert int(a.header["sform_code"]) == int(b.header["sform_code"])
    return study


@pytest.mark.parametrize("parts, orientation", [
    (("brain", "t1_crop.nii.gz"), "AIL"),  # LIA in NIfTI (i, j, k) order -> our (k, j, i)
    (("mri", "monai", "anatomical.nii"), None),
    (("mri", "monai", "reoriented_anat_moved.nii"), None),
])
def test_real_nifti_round_trip_is_exact(tmp_path, parts, orientation):
    src = shared_path(*parts)
    study = _round_trip(src, tmp_path)
    ras = nib.load(str(src)).affine
    np.testing.assert_allclose(study.index_to_lps([0, 0, 0]), ras[:3, 3] * [-1, -1, 1])
    if orientation:
        assert study.orientation == orientation
        assert "".join(nib.aff2axcodes(ras)) == "LIA"


def test_synthetic_oblique_nifti_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(9, 7, 5)).astype(np.float32)
    theta = 0.4
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.9, 1.1, 2.5])
    affine[:3, 3] = [12.5, -30.0, 7.25]
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=2)
    nib.save(img, str(tmp_path / "oblique.nii.gz"))
    study = _round_trip(tmp_path / "oblique.nii.gz", tmp_path)
    assert study.shape == (5, 7, 9) and study.is_oblique
    np.testing.assert_allclose(study.spacing_mm, (2.5, 1.1, 0.9))


def test_dicom_to_nifti_keeps_the_grid(tmp_path):
    rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    affine = geometry_affine((2.0, 0.7, 0.9), (-50.0, 20.0, 100.0), rot[:, 0], rot[:, 1])
    vol = np.random.default_rng(2).integers(0, 1000, size=(5, 6, 7), dtype=np.int16)
    write_dicom_series(tmp_path / "dcm", vol, affine)
    study = load_study(tmp_path / "dcm")
    write_nifti(study.array, study, tmp_path / "x.nii.gz")
    back = load_study(tmp_path / "x.nii.gz")
    np.testing.assert_array_equal(back.array, study.array)
    np.testing.assert_allclose(back.affine_lps, study.affine_lps, atol=1e-5)


def _save(tmp_path, name, data, affine=np.eye(4)):
    nib.save(nib.Nifti1Image(data, affine), str(tmp_path / name))
    return tmp_path / name


def test_partly_nan_nifti_replaced_with_warning(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5
    data[0, 0, :3] = np.nan
    study = load_study(_save(tmp_path, "some_nan.nii.gz", data))
    assert np.isfinite(study.array).all()
    assert study.array.min() == -2.0  # the smallest finite value left after removing -5, -4, -3
    assert np.count_nonzero(study.array == -2.0) == 4
    assert any("3 NaN/infinite voxel(s) replaced by the minimum finite value -2" in w for w in study.warnings)


def test_all_nan_4d_zero_size_and_empty_nifti(tmp_path):
    with pytest.raises(StudyLoadError, match=r"all_nan.nii.gz: every voxel is NaN"):
        load_study(_save(tmp_path, "all_nan.nii.gz", np.full((3, 3, 3), np.nan, np.float32)))
    four = load_study(_save(tmp_path, "four.nii.gz", np.stack([np.full((3, 4, 5), v, np.int16) for v in (7, 9)], -1)))
    assert four.shape == (5, 4, 3) and (four.array == 7).all()
    assert any("4D NIfTI with 2 volumes; using the first" in w for w in four.warnings)
    with pytest.raises(StudyLoadError, match=r"zero.nii.gz: the image has zero size"):
        load_study(_save(tmp_path, "zero.nii.gz", np.zeros((0, 4, 4), np.int16)))
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(StudyLoadError, match=r"empty.nii.gz: empty file \(0 bytes\)"):
        load_study(tmp_path / "empty.nii.gz")
