"""Storage faults (issue 15, item 3): read-only folder, full disk (tmpfs and RLIMIT_FSIZE), an
output path that is a file, SIGKILL in the middle of exports: one clear line, and every file
left is complete (the previous set or the new one), never a truncated NIfTI or DICOM."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_medground.errors import ExportError
from napari_medground.export import export_result
from napari_medground.study import load_study
from napari_medground.study.synthetic import geometry_affine, write_dicom_series
from tests.core.test_export_helpers import make_result

REPO = Path(__file__).resolve().parents[2]
MEDGROUND = Path(sys.executable).with_name("medground")
PLANNED = ("labels.nii.gz", "labels.json", "measurements.csv", "result.json", "audit.json")


def _study(tmp: Path, n: int = 6, size: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    vol = rng.integers(900, 1200, (n, size, size)).astype(np.int16)
    write_dicom_series(tmp, vol, geometry_affine((2, 1, 1), (0, 0, 0)), intercept=-1024)
    return load_study(tmp)


def _result(study, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = rng.random(study.shape) > 0.5  # incompressible: the label file has a known, large size
    return make_result(study, [dict(name="liver", mask=mask, measurements=[("volume", float(mask.sum()), "mL")],
                                    anatomy_code={"scheme": "SCT", "value": "10200004", "meaning": "Liver"})])


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); "
                    "RLIMIT_FSIZE test covers the full disk")


@pytest.fixture
def tmpfs(tmp_path):
    mounted: list[Path] = []

    def make(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        _mount_tmpfs(where, options)
        mounted.append(where)
        return where

    yield make
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def _complete(folder: Path) -> None:
    """Every output file present is whole: NIfTI decompresses and checks its CRC, DICOM parses."""
    for p in folder.iterdir():
        if p.name.startswith("."):
            continue
        base = p.name[:-4] if p.name.endswith(".bak") else p.name
        if base.endswith(".nii.gz"):  # gzip checks length and CRC of the whole stream
            img = nib.Nifti1Image.from_bytes(gzip.decompress(p.read_bytes()))
            assert np.asanyarray(img.dataobj).size > 0
        elif base.endswith(".json"):
            json.loads(p.read_text(encoding="utf-8"))
        elif base.endswith(".dcm"):
            ds = pydicom.dcmread(p)
            assert len(ds.PixelData) if "PixelData" in ds else ds.ContentSequence


def test_read_only_output_folder(tmp_path, tmpfs):
    study = _study(tmp_path / "ct")
    ro = tmpfs("size=4m")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    with pytest.raises(ExportError, match=r"cannot write here \(Read-only file system\)"):
        export_result(_result(study), ro / "out", ("nifti", "json"))
    proc = subprocess.run([str(MEDGROUND), "ground", str(tmp_path / "ct"), "liver", "--out", str(ro / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Read-only file system" in proc.stderr and "choose another output folder" in proc.stderr


def test_full_disk_keeps_the_previous_files(tmp_path, tmpfs):
    small = _study(tmp_path / "small", n=2, size=16)
    big = _study(tmp_path / "big", n=24, size=160)
    disk = tmpfs("size=64k")
    out = disk / "out"
    export_result(_result(small), out, ("nifti", "csv", "json"))
    before = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    with pytest.raises(ExportError, match=r"the disk is full or the file-size limit was reached"):
        export_result(_result(big), out, ("nifti", "csv", "json"), overwrite=True)
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert after == before  # the complete previous set, restored; nothing half-written
    fresh = disk / "fresh"
    with pytest.raises(ExportError):
        export_result(_result(big), fresh, ("nifti", "csv", "json"))
    assert not [p for p in fresh.iterdir() if p.name in PLANNED]  # no partial set


_FSIZE_RUNNER = textwrap.dedent('''
    import resource, sys
    sys.path.insert(0, sys.argv[3])
    from napari_medground import cli
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), int(sys.argv[4])))
    sys.exit(cli.main(["ground", sys.argv[1], "left lung", "--out", sys.argv[2]]))
''')


def test_file_size_limit_gives_one_line_and_no_truncated_file(tmp_path):
    from napari_medground.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import write_nifti

    ct, _ = make_ct_phantom(shape=(24, 48, 48), spacing_mm=(8.0, 6.0, 6.0))
    write_nifti(ct.array, ct, tmp_path / "ct.nii.gz")
    (tmp_path / "run.py").write_text(_FSIZE_RUNNER)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "ct.nii.gz"), str(out),
                           str(REPO), "1500"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "file-size limit was reached" in lines[0], lines
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]  # rolled back: nothing partial


def test_output_path_that_is_a_file(tmp_path):
    (tmp_path / "ct").mkdir()
    write_dicom_series(tmp_path / "ct", np.zeros((2, 8, 8), np.int16), geometry_affine((2, 1, 1), (0, 0, 0)))
    (tmp_path / "taken").write_text("a file")
    for out in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        proc = subprocess.run([str(MEDGROUND), "ground", str(tmp_path / "ct"), "liver", "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert f"{tmp_path / 'taken'}: is a file, not a folder" in proc.stderr
    assert (tmp_path / "taken").read_text() == "a file"


_EXPORT_LOOP = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    from napari_medground.export import export_result
    from napari_medground.study import load_study
    from tests.core.test_faults_storage import _result
    study = load_study(sys.argv[1])
    results = [_result(study, seed) for seed in (1, 2)]
    i = 0
    while True:
        export_result(results[i % 2], Path(sys.argv[2]), ("nifti", "seg", "sr", "csv", "json"), overwrite=i > 0,
                      hash_sources=False)
        i += 1
        print(i, flush=True)
''')


def test_sigkill_in_the_middle_of_exports_leaves_only_complete_files(tmp_path):
    pytest.importorskip("highdicom")
    _study(tmp_path / "ct", n=8, size=64)
    (tmp_path / "loop.py").write_text(_EXPORT_LOOP)
    for trial, delay in enumerate((0.05, 0.25)):
        out = tmp_path / f"out{trial}"
        proc = subprocess.Popen([sys.executable, str(tmp_path / "loop.py"), str(tmp_path / "ct"), str(out),
                                 str(REPO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "1", proc.stderr.read()  # one complete export first
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        _complete(out)
        for name in ("labels.nii.gz", "seg.dcm", "result.json"):  # each file: new, or previous kept as .bak
            assert (out / name).exists() or (out / (name + ".bak")).exists(), sorted(os.listdir(out))
