"""Library noise (issue 15, item 2): pydicom/nibabel/SimpleITK logs and warnings never reach
the user raw; what matters is folded into the one-line error or the ``warnings`` list."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from napari_medground.study import load_study

CORPUS = Path(pydicom.data.__file__).parent
MEDGROUND = Path(sys.executable).with_name("medground")

# One process, stderr redirected at the file-descriptor level per file, so that C libraries'
# prints, logging handlers and warnings are all counted.
_RUNNER = textwrap.dedent('''
    import json, os, sys, tempfile
    from napari_medground import cli
    out = []
    for path in sys.argv[1:]:
        with tempfile.TemporaryFile() as err, open(os.devnull, "w") as null:
            sys.stdout.flush(); sys.stderr.flush()
            saved_out, saved_err = os.dup(1), os.dup(2)
            os.dup2(null.fileno(), 1); os.dup2(err.fileno(), 2)
            try:
                rc = cli.main(["info", path])
            except SystemExit as exc:
                rc = exc.code
            except BaseException as exc:
                rc = "raised " + type(exc).__name__
            finally:
                sys.stdout.flush(); sys.stderr.flush()
                os.dup2(saved_out, 1); os.dup2(saved_err, 2)
                os.close(saved_out); os.close(saved_err)
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
        out.append({"path": path, "rc": rc, "stderr": text})
    print(json.dumps(out))
''')


def _corpus_files() -> list[str]:
    files = sorted(str(p) for sub in ("test_files", "charset_files") for p in (CORPUS / sub).rglob("*")
                   if p.is_file() and not p.name.startswith(".") and p.suffix not in (".py", ".pyc"))
    if len(files) < 100:
        pytest.skip(f"pydicom's test corpus is not installed with pydicom ({len(files)} files in {CORPUS})")
    return files


def test_pydicom_corpus_loads_or_fails_with_one_stderr_line(tmp_path):
    files = _corpus_files()
    runner = tmp_path / "runner.py"
    runner.write_text(_RUNNER)
    proc = subprocess.run([sys.executable, str(runner), *files], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == len(files)
    dirty = [(Path(r["path"]).name, r["rc"], r["stderr"].strip().splitlines())
             for r in rows if r["rc"] not in (0, 2) or len(r["stderr"].strip().splitlines()) > 1]
    assert not dirty, dirty[:5]
    failed = [r for r in rows if r["rc"] == 2]
    loaded = [r for r in rows if r["rc"] == 0]
    assert loaded and failed  # the corpus holds both: the test sees both paths
    for r in failed:  # the one line names the file
        assert Path(r["path"]).name in r["stderr"], r
    assert not any("Traceback" in r["stderr"] or "Warning:" in r["stderr"] for r in rows)


def test_decoder_traceback_only_with_verbose():
    path = CORPUS / "test_files" / "JPEG-lossy.dcm"
    if not path.is_file():
        pytest.skip(f"{path} not installed")
    quiet = subprocess.run([str(MEDGROUND), "info", str(path)], capture_output=True, text=True, timeout=120)
    loud = subprocess.run([str(MEDGROUND), "--verbose", "info", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert quiet.returncode == loud.returncode == 2
    assert len(quiet.stderr.strip().splitlines()) == 1 and "JPEG-lossy.dcm" in quiet.stderr
    assert "Traceback" in loud.stderr and "libjpeg" in loud.stderr  # the detail is there on request


def test_pydicom_warnings_are_folded_into_the_study_warnings():
    path = CORPUS / "test_files" / "SC_rgb_jpeg.dcm"  # explicit VR announced, implicit VR found
    if not path.is_file():
        pytest.skip(f"{path} not installed")
    study = load_study(path)
    folded = [w for w in study.warnings if "pydicom reported" in w]
    assert folded and "implicit VR" in folded[0] and folded[0].startswith("SC_rgb_jpeg.dcm")


def test_nibabel_header_repairs_are_folded_not_printed(tmp_path):
    import nibabel as nib
    import numpy as np

    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.eye(4)), tmp_path / "base.nii")
    raw = bytearray((tmp_path / "base.nii").read_bytes())
    hdr = np.frombuffer(bytes(raw[:348]), dtype=nib.Nifti1Header.template_dtype).copy()
    hdr["pixdim"] = [1, 0, 1, 1, 1, 1, 1, 1]
    hdr["sform_code"], hdr["qform_code"] = 0, 1
    raw[:348] = hdr.tobytes()
    (tmp_path / "zero.nii").write_bytes(bytes(raw))
    proc = subprocess.run([str(MEDGROUND), "info", "--json", str(tmp_path / "zero.nii")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    warnings = json.loads(proc.stdout)["warnings"]
    assert any("nibabel reported" in w and "pixdim" in w for w in warnings), warnings
