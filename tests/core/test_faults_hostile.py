"""Hostile input (issue 15, item 5): fuzzed headers, lying sizes, broken spacing, symlink loops,
huge folders and non-UTF-8 names end in a loaded study with sane geometry or one clear line."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.study import load_study
from napari_medground.study.synthetic import geometry_affine, write_dicom_series

MEDGROUND = Path(sys.executable).with_name("medground")
# NIfTI-1 header fields as byte ranges: dim, pixdim, quatern_b..qoffset_z, srow_x..srow_z
FIELDS = {"dim": (40, 56), "pixdim": (76, 108), "qform": (256, 280), "sform": (280, 328)}


def _nifti_bytes(tmp: Path) -> bytes:
    nib.save(nib.Nifti1Image(np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4), np.diag([2, 3, 4, 1.0])),
             tmp / "base.nii")
    return (tmp / "base.nii").read_bytes()


def _series(folder: Path, n: int = 3) -> list[Path]:
    vol = np.arange(n * 8 * 8, dtype=np.int16).reshape(n, 8, 8)
    return write_dicom_series(folder, vol, geometry_affine((2, 1, 1), (0, 0, 0)), intercept=-1024)


def _sane(study) -> None:
    a = study.affine_lps
    assert np.all(np.isfinite(a)) and abs(np.linalg.det(a[:3, :3])) > 1e-12
    assert all(s > 0 for s in study.spacing_mm)


def test_fuzzed_nifti_headers_load_sane_or_fail_in_one_line(tmp_path):
    base = _nifti_bytes(tmp_path)
    rng = np.random.default_rng(15)
    outcomes = {"loaded": 0, "refused": 0}
    t0 = time.perf_counter()
    for i in range(120):
        name = list(FIELDS)[i % len(FIELDS)]
        lo, hi = FIELDS[name]
        raw = bytearray(base)
        start = int(rng.integers(lo, hi))
        stop = int(rng.integers(start + 1, hi + 1))
        raw[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
        if name in ("qform", "sform"):
            raw[252:256] = (np.array([1, 1], "<i2") if name == "qform" else np.array([0, 1], "<i2")).tobytes()
        path = tmp_path / f"fuzz_{i:03d}_{name}.nii"
        path.write_bytes(bytes(raw))
        t = time.perf_counter()
        try:
            study = load_study(path)
        except StudyLoadError as exc:
            msg = str(exc)
            assert "\n" not in msg and path.name in msg, msg
            outcomes["refused"] += 1
        else:
            _sane(study)
            outcomes["loaded"] += 1
        assert time.perf_counter() - t < 5, f"{path.name} took {time.perf_counter() - t:.1f} s"
    assert outcomes["loaded"] and outcomes["refused"], outcomes
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("gz", [False, True])
def test_huge_volume_announced_in_a_10kb_file_is_refused_before_allocating(tmp_path, gz):
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.int16)
    hdr.set_data_shape((2048, 2048, 2000))
    hdr.set_qform(np.eye(4), code=1)
    data = hdr.binaryblock + bytes(4) + bytes(10_000)
    path = tmp_path / ("big.nii.gz" if gz else "big.nii")
    path.write_bytes(gzip.compress(data) if gz else data)
    t = time.perf_counter()
    with pytest.raises(StudyLoadError, match=r"announces 2048 x 2048 x 2000 int16 voxels \(16.78 GB\)") as exc:
        load_study(path)
    assert time.perf_counter() - t < 2, "the refusal must come before reading or allocating"
    assert path.name in str(exc.value)


def test_huge_frame_count_announced_in_a_small_dicom_is_refused(tmp_path):
    good = _series(tmp_path / "s", 1)[0]
    ds = pydicom.dcmread(good)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 2048, 2048, 2000
    ds.save_as(tmp_path / "big.dcm")
    t = time.perf_counter()
    with pytest.raises(StudyLoadError, match=r"big.dcm: truncated DICOM: 2000 frames need 16777216000 bytes"):
        load_study(tmp_path / "big.dcm")
    assert time.perf_counter() - t < 2


@pytest.mark.parametrize("rows, match", [(4, r"Rows x Columns \(4 x 8\) disagree with the pixel data length"),
                                         (16, r"pixel data needs 256 bytes, the file holds 128")])
def test_rows_columns_disagreeing_with_the_pixel_data(tmp_path, rows, match):
    good = _series(tmp_path / "s", 1)[0]
    ds = pydicom.dcmread(good)
    ds.Rows = rows
    ds.save_as(tmp_path / "liar.dcm")
    with pytest.raises(StudyLoadError, match=match):
        load_study(tmp_path / "liar.dcm")


@pytest.mark.parametrize("field, value", [("srow_x", [0, 0, 0, 0]), ("srow_x", [np.nan, 0, 0, 0]),
                                          ("pixdim", [1, np.nan, 1, 1, 1, 1, 1, 1]),
                                          ("pixdim", [1, np.inf, 1, 1, 1, 1, 1, 1])])
def test_zero_or_nan_nifti_spacing_is_refused(tmp_path, field, value):
    raw = bytearray(_nifti_bytes(tmp_path))
    hdr = np.frombuffer(bytes(raw[:348]), dtype=nib.Nifti1Header.template_dtype).copy()
    hdr[field] = value
    hdr["sform_code"], hdr["qform_code"] = (1, 0) if field == "srow_x" else (0, 1)
    raw[:348] = hdr.tobytes()
    (tmp_path / "bad.nii").write_bytes(bytes(raw))
    with pytest.raises(StudyLoadError, match=r"bad.nii: untrustworthy geometry"):
        load_study(tmp_path / "bad.nii")


def test_negative_pixdim_is_repaired_with_a_warning(tmp_path):
    raw = bytearray(_nifti_bytes(tmp_path))
    hdr = np.frombuffer(bytes(raw[:348]), dtype=nib.Nifti1Header.template_dtype).copy()
    hdr["pixdim"] = [1, -2, 3, 4, 1, 1, 1, 1]
    hdr["sform_code"], hdr["qform_code"] = 0, 1
    raw[:348] = hdr.tobytes()
    (tmp_path / "neg.nii").write_bytes(bytes(raw))
    study = load_study(tmp_path / "neg.nii")
    _sane(study)
    assert any("pixdim" in w and "positive" in w for w in study.warnings), study.warnings


@pytest.mark.parametrize("value", [[0, 0], ["NaN", "NaN"], [-1, 1]])
def test_unusable_dicom_pixel_spacing_is_named_not_a_crash(tmp_path, value):
    files = _series(tmp_path / "s", 3)
    for f in files:
        ds = pydicom.dcmread(f)
        ds["PixelSpacing"].value = value
        ds.save_as(f)
    study = load_study(tmp_path / "s")
    _sane(study)
    assert study.spacing_mm == (2.0, 1.0, 1.0)
    assert any("PixelSpacing" in w and "not usable" in w and "assuming 1 mm" in w for w in study.warnings)


def test_symlink_loops_in_a_dicom_folder(tmp_path):
    folder = tmp_path / "loop"
    _series(folder, 3)
    os.symlink("..", folder / "up")
    os.symlink(".", folder / "self")
    (folder / "deep").mkdir()
    os.symlink("../..", folder / "deep" / "back")
    os.symlink("b.dcm", folder / "a.dcm")
    os.symlink("a.dcm", folder / "b.dcm")  # a file symlink loop
    t = time.perf_counter()
    study = load_study(folder)
    assert study.shape == (3, 8, 8) and len(study.source_paths) == 3
    assert time.perf_counter() - t < 5


def test_folder_scan_is_bounded_with_a_warning(tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1500):
        (folder / f"junk{i:05d}").write_bytes(b"x")
    monkeypatch.setenv("MEDGROUND_MAX_FILES", "400")
    t = time.perf_counter()
    with pytest.raises(StudyLoadError, match=r"holds more than 400 files; only the first 400 were considered"):
        load_study(folder)
    assert time.perf_counter() - t < 5
    for i, f in enumerate(_series(tmp_path / "src", 3)):  # named to sort first: inside the cap
        f.rename(folder / f"000_{i}.dcm")
    study = load_study(folder)
    assert study.shape == (3, 8, 8)
    assert any("only the first 400 were considered" in w for w in study.warnings)


def test_non_utf8_file_names(tmp_path):
    folder = tmp_path / "names"
    files = _series(tmp_path / "src", 3)
    folder.mkdir()
    for i, f in enumerate(files):
        os.rename(f, os.fsencode(folder) + b"/sl\xff\xfe%d.dcm" % i)
    study = load_study(folder)
    assert study.shape == (3, 8, 8)
    one = Path(os.fsdecode(os.fsencode(folder) + b"/sl\xff\xfe0.dcm"))
    for args in (["info", str(folder)], ["info", "--json", str(one)], ["info", str(one)]):
        proc = subprocess.run([str(MEDGROUND), *args], capture_output=True, timeout=120)
        assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    missing = os.fsencode(folder) + b"/gone\xff.nii"
    proc = subprocess.run([os.fsencode(MEDGROUND), b"info", missing], capture_output=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and b"no such file" in proc.stderr


def test_huge_nrrd_announced_over_a_10kb_data_file_is_one_line(tmp_path):
    (tmp_path / "big.raw").write_bytes(bytes(10_000))
    (tmp_path / "big.nhdr").write_text(
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 2048 2048 2000\nspace: left-posterior-superior\n"
        "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: raw\nendian: little\ndata file: big.raw\n\n")
    t = time.perf_counter()
    with pytest.raises(StudyLoadError, match=r"big.nhdr: ") as exc:
        load_study(tmp_path / "big.nhdr")
    assert "\n" not in str(exc.value) and time.perf_counter() - t < 10
