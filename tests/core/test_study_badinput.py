"""Bad input: one-line StudyLoadError naming the file; `medground info` exits 2 without a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.study import load_study
from napari_medground.synthetic.dicom import geometry_affine, write_dicom_series, write_rtstruct

MEDGROUND = Path(sys.executable).with_name("medground")


def _series(folder: Path, n: int = 3) -> list[Path]:
    vol = np.arange(n * 8 * 8, dtype=np.int16).reshape(n, 8, 8)
    return write_dicom_series(folder, vol, geometry_affine((2, 1, 1), (0, 0, 0)), intercept=-1024)


def _corpus(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, regex the message must match)."""
    (tmp / "empty").mkdir()
    (tmp / "notes.dcm").write_text("this is not dicom\n")
    good = _series(tmp / "series")[0]
    raw = good.read_bytes()
    (tmp / "trunc.dcm").write_bytes(raw[: len(raw) - 40])
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(tmp / "nopixels.dcm")
    ds = pydicom.dcmread(good)
    ds.Rows = 0
    ds.PixelData = b""
    ds.save_as(tmp / "zerosize.dcm")
    ds = pydicom.dcmread(good)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no pixel decoder exists
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds.save_as(tmp / "mpeg.dcm")
    for i in range(2):
        write_rtstruct(tmp / "rt_only" / f"rt{i}.dcm")
    (tmp / "mesh.stl").write_bytes(b"solid x\nendsolid x\n")
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (tmp / "textonly").mkdir()
    (tmp / "textonly" / "readme.txt").write_text("hello")
    return {
        "missing": (tmp / "nope" / "missing.nii.gz", r"no such file or folder"),
        "empty folder": (tmp / "empty", r"empty folder"),
        "text named .dcm": (tmp / "notes.dcm", r"not a DICOM file"),
        "truncated": (tmp / "trunc.dcm", r"truncated DICOM: pixel data needs 128 bytes, the file holds 88"),
        "no pixel data": (tmp / "nopixels.dcm", r"DICOM CT object without pixel data"),
        "zero size": (tmp / "zerosize.dcm", r"zero-size image"),
        "no decoder": (tmp / "mpeg.dcm", r"MPEG2 .*not supported by any pixel decoder"),
        "rtstruct only": (tmp / "rt_only", r"no image series in .*rt_only: found RTSTRUCT x2"),
        "unsupported": (tmp / "mesh.stl", r"unsupported file type '.stl'"),
        "corrupt png": (tmp / "broken.png", r"not a readable PNG image"),
        "no dicom in folder": (tmp / "textonly", r"no DICOM files among 1 file"),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _corpus(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", ["missing", "empty folder", "text named .dcm", "truncated", "no pixel data",
                                  "zero size", "no decoder", "rtstruct only", "unsupported", "corrupt png",
                                  "no dicom in folder"])
def test_bad_input_one_line_naming_the_file(corpus, case):
    path, pattern = corpus[case]
    with pytest.raises(StudyLoadError) as info:
        load_study(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert pytest.importorskip("re").search(pattern, message), message


def test_is_supported_never_raises(corpus, tmp_path):
    from napari_medground.study.loader import is_supported

    assert not is_supported(corpus["missing"][0]) and not is_supported(corpus["unsupported"][0])
    assert not is_supported(corpus["empty folder"][0]) and not is_supported(corpus["text named .dcm"][0])
    assert is_supported(corpus["rtstruct only"][0])  # DICOM inside; load_study explains
    assert is_supported(_series(tmp_path / "ok")[0].parent) and is_supported(corpus["corrupt png"][0])


def test_truncated_compressed_dicom(tmp_path):
    vol = (np.arange(2 * 40 * 48).reshape(2, 40, 48) % 1000).astype(np.int16)
    paths = write_dicom_series(tmp_path / "j2k", vol, geometry_affine((2, 1, 1), (0, 0, 0)),
                               transfer_syntax="1.2.840.10008.1.2.4.90")
    raw = paths[0].read_bytes()
    cut = raw.find(b"\x20\x00\x32\x00") + 12  # into the ImagePositionPatient value
    assert cut > 12
    (tmp_path / "cut.dcm").write_bytes(raw[:cut])  # inside an element of the header
    with pytest.raises(StudyLoadError, match=r"cut.dcm: truncated DICOM: the file ends inside an element"):
        load_study(tmp_path / "cut.dcm")
    (tmp_path / "cut2.dcm").write_bytes(raw[:-20])  # inside the JPEG 2000 stream
    with pytest.raises(StudyLoadError, match=r"cut2.dcm: truncated DICOM: the compressed pixel data ends early"):
        load_study(tmp_path / "cut2.dcm")


def test_truncated_file_inside_a_series_refuses_the_series(tmp_path):
    paths = _series(tmp_path / "s", 4)
    raw = paths[2].read_bytes()
    paths[2].write_bytes(raw[:-10])
    with pytest.raises(StudyLoadError, match=rf"{paths[2].name}: truncated DICOM"):
        load_study(tmp_path / "s")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MEDGROUND), "info", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not MEDGROUND.exists(), reason=f"{MEDGROUND} not installed (run the README set-up)")
def test_cli_bad_input_exit_2_one_line(corpus):
    for case in ("missing", "text named .dcm", "rtstruct only", "corrupt png"):
        path, _ = corpus[case]
        proc = _cli(str(path))
        assert proc.returncode == 2, (case, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0], (case, proc.stderr)


@pytest.mark.skipif(not MEDGROUND.exists(), reason=f"{MEDGROUND} not installed (run the README set-up)")
def test_cli_info_json_and_series_choice(tmp_path):
    _series(tmp_path / "a", 5)
    small = _series(tmp_path / "b", 2)
    uid = pydicom.dcmread(small[0], stop_before_pixels=True).SeriesInstanceUID
    proc = _cli(str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    for key in ("shape", "spacing_mm", "affine_lps", "orientation", "modality", "series_uid", "warnings"):
        assert key in info
    assert info["shape"] == [5, 8, 8] and info["orientation"] == "SPL" and info["modality"] == "CT"
    assert info["spacing_mm"] == [2.0, 1.0, 1.0] and info["value_range"] == [-1024.0, -1024.0 + 5 * 64 - 1]
    assert [s["series_uid"] for s in info["other_series"]] == [uid]
    picked = json.loads(_cli(str(tmp_path), "--json", "--series", uid).stdout)
    assert picked["shape"] == [2, 8, 8] and picked["series_uid"] == uid
    text = _cli(str(tmp_path))
    assert text.returncode == 0 and "orientation  SPL" in text.stdout and "5 x 8 x 8" in text.stdout
