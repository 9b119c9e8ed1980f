"""load_study on the real DICOM, NRRD, MHA, PNG and JPEG files in ../shared/data (read in place)."""
from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_medground.study import load_study, ras_to_lps
from tests.data.shared import shared_path


def _corners(shape, affine) -> np.ndarray:
    idx = np.array(list(itertools.product(*[[0, s - 1] for s in shape])), float)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def test_totalseg_dicom_lands_on_the_label_grid_with_known_hu():
    study = load_study(shared_path("totalseg", "example_ct_dicom"))
    ref = nib.load(str(shared_path("totalseg", "example_seg_dicom.nii.gz")))
    ref_affine = ras_to_lps(ref.affine)
    # documented transpose: NIfTI (i, j, k) is our (z, y, x) reversed
    assert study.shape == tuple(reversed(ref.shape)) == (20, 512, 512)
    ours, theirs = _corners(study.shape, study.affine_lps), _corners(ref.shape, ref_affine)
    assert max(np.min(np.linalg.norm(theirs - c, axis=1)) for c in ours) < 0.01
    # nearest-neighbour labels at every study voxel, through world coordinates
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in study.shape], indexing="ij"), -1).reshape(-1, 3)
    ijk = np.rint((grid @ study.affine_lps[:3, :3].T + study.affine_lps[:3, 3] - ref_affine[:3, 3])
                  @ np.linalg.inv(ref_affine[:3, :3]).T).astype(int)
    labels = np.asarray(ref.dataobj)[ijk[:, 0], ijk[:, 1], ijk[:, 2]].reshape(study.shape)
    assert study.array.dtype == np.int16 and study.modality == "CT"
    assert abs(float(study.array[labels == 5].mean()) - 89.3) <= 1.0  # liver
    assert abs(float(study.array[labels == 1].mean()) - 79.6) <= 1.0  # spleen
    assert study.metadata["transfer_syntax"] == "1.2.840.10008.1.2.4.90"
    assert study.metadata["window"] == (40.0, 300.0)
    assert len(study.source_paths) == len(study.sop_instance_uids) == 20


def test_dcmqi_single_frame_and_multiframe_identical():
    base = shared_path("dicom", "dcmqi_segmentations", "23x38x3")
    single = load_study(base / "image")
    multi = load_study(base / "multiframe" / "mf.dcm")
    np.testing.assert_array_equal(single.array, multi.array)
    np.testing.assert_allclose(single.affine_lps, multi.affine_lps, atol=1e-6)
    assert single.shape == (3, 38, 23)
    assert multi.metadata["frame_order"] == [1, 2, 3]  # frames already run inferior -> superior
    folder = load_study(base)  # three series: single-frame, multi-frame and a SEG
    assert sorted(s.kind for s in folder.other_series) == ["SEG", "image"]


def test_rt_utils_oblique_direction_kept():
    folder = shared_path("dicom", "rt_utils", "oriented_data")
    study = load_study(folder)
    ds = pydicom.dcmread(study.source_paths[0], stop_before_pixels=True)
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    np.testing.assert_allclose(study.direction[:, 2], iop[:3] / np.linalg.norm(iop[:3]), atol=1e-6)
    np.testing.assert_allclose(study.direction[:, 1], iop[3:] / np.linalg.norm(iop[3:]), atol=1e-6)
    np.testing.assert_allclose(study.affine_lps[:3, 3], [float(v) for v in ds.ImagePositionPatient])
    assert study.is_oblique and study.shape[0] == 3


def test_enhanced_ct_and_mr_load_as_volumes():
    ct = load_study(shared_path("dicom", "pydicom_data", "eCT_Supplemental.dcm"))
    assert ct.shape == (2, 512, 512) and ct.modality == "CT" and ct.spacing_mm[0] == pytest.approx(10.0)
    assert ct.orientation == "IPR" and ct.metadata["frame_order"] == [2, 1]
    assert ct.array.min() >= -1024  # rescale from the PixelValueTransformationSequence
    mr = load_study(shared_path("dicom", "pydicom_data", "emri_small.dcm"))
    assert mr.shape == (10, 64, 64) and mr.modality == "MR"
    assert any("without per-frame positions" in w for w in mr.warnings)  # this file lost its functional groups


@pytest.mark.parametrize("name, spacing", [("00000001_000.png", None), ("16747_3_1.jpg", None),
                                           ("1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm", 0.168)])
def test_chest_xrays_load_as_2d(name, spacing):
    study = load_study(shared_path("cxr", name))
    assert study.is_2d and min(study.shape) > 256
    if spacing is None:
        assert study.metadata["pixel_spacing_source"] is None and any("1 mm pixels" in w for w in study.warnings)
    else:
        assert study.spacing_mm == pytest.approx((spacing, spacing))
        assert study.metadata["pixel_spacing_source"] == "PixelSpacing" and study.modality == "CR"
        assert study.metadata["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert study.orientation == "IL"  # rows toward the feet, columns toward the patient's left


def test_highdicom_dx_monochrome1_orientation_from_file():
    path = shared_path("dicom", "highdicom", "dx_image.dcm")
    study = load_study(path)
    raw = pydicom.dcmread(path).pixel_array.astype(int)
    np.testing.assert_array_equal(study.array, 255 - raw)  # 8-bit MONOCHROME1 inverted
    assert study.orientation == "IL" and study.metadata["orientation_source"] == "PatientOrientation"


def test_extensionless_monai_series_loads():
    study = load_study(shared_path("dicom", "monai_ct_dicom"))
    assert study.shape == (4, 16, 16) and study.modality == "CT"
    assert all(p.suffix == "" for p in study.source_paths)
    assert any("gap 202" in w for w in study.warnings)  # these 4 slices really are 202.5 mm apart


def test_dicompyler_folder_loads_ct_and_lists_rt_objects():
    study = load_study(shared_path("dicom", "dicompyler"))
    assert study.modality == "CT" and study.shape == (1, 512, 512)
    assert sorted(s.kind for s in study.other_series) == ["RTPLAN", "RTSTRUCT"]


def test_lungmask_two_slices():
    study = load_study(shared_path("dicom", "lungmask"))
    assert study.shape == (2, 512, 512) and study.spacing_mm == pytest.approx((1.0, 0.625, 0.625))
    assert study.modality == "CT"  # Modality is blank in these files: taken from the SOP class


def _nrrd_header_affine(path) -> tuple[np.ndarray, tuple[int, ...]]:
    """An independent NRRD header parse: affine (k, j, i order) in LPS and the sizes."""
    fields = {}
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("latin-1").strip()
            if not line:
                break
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip().lstrip("=").strip()
    assert fields["space"] in ("left-posterior-superior", "LPS")
    dirs = [np.array([float(v) for v in d.strip("()").split(",")]) for d in fields["space directions"].split()]
    origin = np.array([float(v) for v in fields["space origin"].strip("()").split(",")])
    a = np.eye(4)
    for k in range(3):
        a[:3, k] = dirs[2 - k]
    a[:3, 3] = origin
    return a, tuple(int(v) for v in fields["sizes"].split())


def test_nrrd_and_mha():
    path = shared_path("mri", "pyradiomics", "brain1_image.nrrd")
    study = load_study(path)
    affine, sizes = _nrrd_header_affine(path)
    assert study.shape == tuple(reversed(sizes))
    np.testing.assert_allclose(study.affine_lps, affine, atol=1e-6)
    mha = load_study(shared_path("mri", "monai", "CT_2D_head_fixed.mha"))
    assert mha.is_2d and mha.source_format == "mha"
