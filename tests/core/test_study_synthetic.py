"""load_study on DICOM series written here with a known geometry (no shared data needed)."""
from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.study import load_study
from napari_medground.synthetic.dicom import geometry_affine, write_dicom_series, write_rtstruct


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _volume(shape=(7, 9, 11), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1000, 2000, size=shape, dtype=np.int16)


def _file_position(path) -> np.ndarray:
    return np.array([float(v) for v in pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient])


@pytest.mark.parametrize(
    "row_cos, col_cos",
    [
        ((1, 0, 0), (0, 1, 0)),  # standard axial
        ((-1, 0, 0), (0, 1, 0)),  # normal points toward the feet: sorted order reverses
        ((0, 1, 0), (0, 0, -1)),  # sagittal
        (tuple(_rotation(0.3, -0.2, 0.5)[:, 0]), tuple(_rotation(0.3, -0.2, 0.5)[:, 1])),  # oblique
    ],
)
def test_known_geometry_gives_exact_affine(tmp_path, row_cos, col_cos):
    vol = _volume()
    affine = geometry_affine((2.5, 0.8, 0.6), (-101.5, 37.25, -640.0), row_cos, col_cos)
    paths = write_dicom_series(tmp_path, vol, affine, intercept=-1024, shuffle_seed=3)
    # the shuffled names and instance numbers do not follow the slice order
    assert [p.name for p in sorted(paths)] != [p.name for p in paths]
    study = load_study(tmp_path)
    np.testing.assert_allclose(study.affine_lps, affine, atol=1e-9)
    assert study.array.dtype == np.int16
    np.testing.assert_array_equal(study.array, vol.astype(np.int32) - 1024)
    for k, path in enumerate(study.source_paths):  # each array slice sits where its file says
        np.testing.assert_allclose(study.index_to_lps([k, 0, 0]), _file_position(path), atol=1e-9)
    assert len(study.sop_instance_uids) == vol.shape[0] == len(set(study.sop_instance_uids))
    assert study.modality == "CT" and study.source_format == "dicom" and study.warnings == []


def test_reversed_file_order_and_shuffled_instance_numbers(tmp_path):
    vol = _volume((6, 5, 4))
    affine = geometry_affine((3.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    write_dicom_series(tmp_path, vol[::-1].copy(), geometry_affine((-3.0, 1.0, 1.0), (0.0, 0.0, 15.0)))
    study = load_study(tmp_path)
    np.testing.assert_allclose(study.affine_lps, affine, atol=1e-9)
    np.testing.assert_array_equal(study.array, vol)


def test_missing_middle_slice_warns_with_the_gap(tmp_path):
    vol = _volume((12, 6, 6))
    write_dicom_series(tmp_path, vol, geometry_affine((2.0, 1.0, 1.0), (0, 0, 0)), skip_slices=[10])
    study = load_study(tmp_path)
    assert study.shape == (11, 6, 6)
    assert study.spacing_mm[0] == pytest.approx(2.0)
    (warning,) = study.warnings
    assert "slices 9-10: gap 4 mm, expected 2 mm" in warning and "1 missing slice" in warning


def test_mixed_series_largest_chosen_others_listed_and_selectable(tmp_path):
    big = write_dicom_series(tmp_path / "a", _volume((8, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)), description="big")
    small = write_dicom_series(tmp_path / "b", _volume((3, 5, 5), 1), geometry_affine((5, 1, 1), (0, 0, 0)),
                               modality="MR", description="small")
    write_rtstruct(tmp_path / "c" / "rtss.dcm")
    big_uid = pydicom.dcmread(big[0], stop_before_pixels=True).SeriesInstanceUID
    small_uid = pydicom.dcmread(small[0], stop_before_pixels=True).SeriesInstanceUID
    study = load_study(tmp_path)
    assert study.series_uid == big_uid and study.shape == (8, 6, 6) and study.description == "big"
    kinds = sorted((s.kind, s.modality, s.n_files) for s in study.other_series)
    assert kinds == [("RTSTRUCT", "RTSTRUCT", 1), ("image", "MR", 3)]
    assert "3 series found" in study.warnings[0] and "RTSTRUCT" in study.warnings[0]
    picked = load_study(tmp_path, series_uid=small_uid)
    assert picked.series_uid == small_uid and picked.shape == (3, 5, 5) and picked.modality == "MR"
    assert {s.series_uid for s in picked.other_series} >= {big_uid}
    with pytest.raises(StudyLoadError, match="no image series with SeriesInstanceUID 1.2.3.4"):
        load_study(tmp_path, series_uid="1.2.3.4")


def test_single_slice_series_is_3d_with_thickness_warning(tmp_path):
    write_dicom_series(tmp_path, _volume((1, 8, 8)), geometry_affine((1.5, 0.5, 0.5), (0, 0, 0)))
    study = load_study(tmp_path)
    assert study.shape == (1, 8, 8) and study.spacing_mm == pytest.approx((1.5, 0.5, 0.5))
    assert any("single-slice" in w and "1.5 mm" in w for w in study.warnings)


def test_float_rescale_and_unsigned_storage(tmp_path):
    vol = np.random.default_rng(2).integers(0, 4000, size=(3, 6, 6), dtype=np.uint16)
    write_dicom_series(tmp_path / "f", vol, geometry_affine((1, 1, 1), (0, 0, 0)), slope=0.5, intercept=-10.25)
    study = load_study(tmp_path / "f")
    assert study.array.dtype == np.float32
    np.testing.assert_array_equal(study.array, (vol * 0.5 - 10.25).astype(np.float32))
    write_dicom_series(tmp_path / "u", vol, geometry_affine((1, 1, 1), (0, 0, 0)), intercept=-1024)
    hu = load_study(tmp_path / "u").array
    assert hu.dtype == np.int16 and np.array_equal(hu, vol.astype(np.int32) - 1024)
    write_dicom_series(tmp_path / "m", vol, geometry_affine((1, 1, 1), (0, 0, 0)), modality="MR")
    assert load_study(tmp_path / "m").array.dtype == np.uint16  # identity rescale keeps the dtype


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"],
                         ids=["RLE", "JPEG-LS-lossless", "JPEG2000-lossless"])
def test_compressed_series_equal_uncompressed(tmp_path, ts):
    vol = (np.arange(3 * 40 * 48).reshape(3, 40, 48) % 3000 - 1000).astype(np.int16)
    affine = geometry_affine((2, 0.7, 0.7), (10, 20, 30))
    write_dicom_series(tmp_path, vol, affine, intercept=-1024, transfer_syntax=ts)
    study = load_study(tmp_path)
    assert study.metadata["transfer_syntax"] == ts
    np.testing.assert_array_equal(study.array, vol.astype(np.int32) - 1024)
    np.testing.assert_allclose(study.affine_lps, affine, atol=1e-9)


def test_different_orientations_refused(tmp_path):
    paths = write_dicom_series(tmp_path, _volume((4, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)))
    ds = pydicom.dcmread(paths[1])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, 0.6]
    ds.save_as(paths[1])
    with pytest.raises(StudyLoadError, match="2 different orientations.*cannot be trusted"):
        load_study(tmp_path)


def test_different_sizes_in_one_series_refused(tmp_path):
    paths = write_dicom_series(tmp_path / "a", _volume((3, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)))
    uid = pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID
    write_dicom_series(tmp_path / "b", _volume((2, 7, 6)), geometry_affine((2, 1, 1), (0, 0, 10)), series_uid=uid)
    with pytest.raises(StudyLoadError, match=r"different sizes \[\(6, 6\), \(7, 6\)\]"):
        load_study(tmp_path)


def test_duplicate_positions_refused_but_identical_copies_dropped(tmp_path):
    paths = write_dicom_series(tmp_path / "s", _volume((4, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)))
    shutil.copy(paths[0], tmp_path / "s" / "copy_of_first.dcm")
    study = load_study(tmp_path / "s")
    assert study.shape == (4, 6, 6) and any("duplicate" in w for w in study.warnings)
    uid = pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID
    write_dicom_series(tmp_path / "s" / "again", _volume((1, 6, 6), 5), geometry_affine((2, 1, 1), (0, 0, 0)),
                       series_uid=uid)
    with pytest.raises(StudyLoadError, match="hold two different images"):
        load_study(tmp_path / "s")


def test_single_file_and_extensionless_files(tmp_path):
    paths = write_dicom_series(tmp_path, _volume((3, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)), extension="")
    assert all(p.suffix == "" for p in paths)
    assert load_study(tmp_path).shape == (3, 6, 6)
    one = load_study(paths[0])
    assert one.shape == (1, 6, 6) and one.source_paths == (paths[0],)


def test_pydicom_transfer_syntax_variants_load_identically():
    """The MR_small file shipped with pydicom in every encoding gives one array."""
    from pydicom.data import get_testdata_file

    names = ["MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
             "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
    ref = pydicom.dcmread(get_testdata_file(names[0])).pixel_array
    for name in names:
        study = load_study(get_testdata_file(name))
        assert study.shape == (1, 64, 64), name
        np.testing.assert_array_equal(study.array[0], ref, err_msg=name)


def test_dx_monochrome1_is_inverted_and_uses_patient_orientation(tmp_path):
    from pydicom.data import get_testdata_file

    src = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds = src.copy()
    ds.Modality = "DX"
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.PatientOrientation = ["P", "F"]
    for key in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
        delattr(ds, key)
    ds.ImagerPixelSpacing = [0.2, 0.3]
    ds.save_as(tmp_path / "dx.dcm")
    study = load_study(tmp_path / "dx.dcm")
    assert study.is_2d and study.shape == (64, 64)
    bits = int(ds.BitsStored)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation else (0, 2**bits - 1)
    np.testing.assert_array_equal(study.array, lo + hi - src.pixel_array.astype(np.int64))
    assert study.metadata["pixel_spacing_source"] == "ImagerPixelSpacing"
    np.testing.assert_allclose(study.affine_lps[:3, 0], [0, 0, -0.2])  # rows run toward the feet
    np.testing.assert_allclose(study.affine_lps[:3, 1], [0, 0.3, 0])  # columns toward posterior
    assert study.orientation == "IP" and study.warnings == []


def test_localizer_in_the_same_series_is_split_off(tmp_path):
    axial = write_dicom_series(tmp_path / "ax", _volume((6, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)))
    uid = pydicom.dcmread(axial[0], stop_before_pixels=True).SeriesInstanceUID
    write_dicom_series(tmp_path / "loc", _volume((2, 6, 6), 3), geometry_affine((1, 1, 1), (0, 0, 0), (0, 1, 0), (0, 0, -1)),
                       series_uid=uid, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    study = load_study(tmp_path)
    assert study.shape == (6, 6, 6) and study.orientation == "SPL"
    (other,) = study.other_series
    assert other.series_uid == uid and other.n_files == 2 and "LOCALIZER" in other.description
    assert "LOCALIZER" in study.warnings[0]


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_jpeg_gdcm.dcm", "JPGExtended.dcm",
                                  "JPEGLSNearLossless_16.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm"],
                         ids=["jpeg-baseline", "jpeg-lossless", "jpeg-extended", "jpeg-ls-near", "jpeg2000", "rle"])
def test_compressed_2d_files_decode_like_pydicom(name):
    from pydicom.data import get_testdata_file

    from napari_medground.study.dicom_pixels import to_luminance

    path = get_testdata_file(name)
    ref = pydicom.dcmread(path).pixel_array
    study = load_study(path)
    assert study.is_2d
    np.testing.assert_array_equal(study.array, to_luminance(ref) if ref.ndim == 3 else ref)
    if ref.ndim == 3:
        assert any("luminance" in w for w in study.warnings)


def test_metadata_keys_and_no_patient_identifiers_in_messages(tmp_path, caplog):
    import json
    import logging

    from napari_medground.commands.info import format_summary, info_object

    write_dicom_series(tmp_path, _volume((5, 6, 6)), geometry_affine((2, 1, 1), (0, 0, 0)), skip_slices=[2])
    with caplog.at_level(logging.DEBUG):
        study = load_study(tmp_path)
    meta = study.metadata
    assert meta["window"] == (40.0, 400.0) and meta["patient_age_years"] == 50.0 and meta["patient_sex"] == "O"
    assert meta["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.2" and meta["transfer_syntax"] == "1.2.840.10008.1.2.1"
    assert meta["pixel_spacing_source"] == "PixelSpacing" and meta["image_type"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert meta["manufacturer"] == "napari-medground synthetic" and meta["body_part"] is None
    info = info_object(study)
    text = json.dumps(info) + format_summary(info, study.name) + caplog.text + " ".join(study.warnings)
    assert study.warnings and "gap" in caplog.text
    for secret in ("Synthetic", "Phantom", "SYNTH-0001", "050Y"):
        assert secret not in text


def test_gantry_tilt_keeps_the_normal_and_warns(tmp_path):
    sheared = geometry_affine((2.0, 1.0, 1.0), (0, 0, 0))
    sheared[:3, 0] = [0.0, 0.2, 2.0]  # each slice also moves 0.2 mm posterior: a tilted gantry
    write_dicom_series(tmp_path, _volume((5, 6, 6)), sheared)
    study = load_study(tmp_path)
    np.testing.assert_allclose(study.affine_lps[:3, 0], [0, 0, 2.0], atol=1e-9)
    (warning,) = study.warnings
    assert "sheared by 5.71 degrees" in warning and "0.80 mm" in warning
