"""Closing the viewer, removing the study, opening another or pressing Cancel while the
dock's background work runs: no abort, no traceback, no thread left, nothing half-written.

Each scenario runs in a child process (:mod:`tests.napari.lifecycle_session`), so that an
abort at exit shows as an exit code and its stderr can be read.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.shared import shared_path

pytestmark = pytest.mark.gui
_ROOT = Path(__file__).resolve().parents[2]
_BAD = ("Traceback", "Aborted", "RuntimeError", "has been deleted", "QThread: Destroyed")


def _run(tmp_path: Path, *args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, dict]:
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display: run under xvfb-run")
    env = dict(os.environ, MEDGROUND_DATA_DIR=str(tmp_path / "user-data"),
               PYTHONPATH=os.pathsep.join([str(_ROOT / "src"), str(_ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "tests.napari.lifecycle_session", *args[:1], str(tmp_path),
                           *args[1:]], capture_output=True, text=True, timeout=timeout, cwd=_ROOT, env=env)
    records = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    return proc, records


def _clean(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    bad = [ln for ln in proc.stderr.splitlines() if any(b in ln for b in _BAD)]
    assert not bad, "\n".join(bad[:20])


def _no_unfinished_autosave(tmp_path: Path, *folders: Path) -> None:
    from napari_medground.session.autosave import Session
    from napari_medground.synthetic.phantom import make_ct_phantom

    os.environ["MEDGROUND_DATA_DIR"] = str(tmp_path / "user-data")
    try:
        info = Session.find_recoverable(make_ct_phantom()[0], [str(f) for f in folders])
    finally:
        os.environ.pop("MEDGROUND_DATA_DIR")
    assert info is None, f"an autosave was left unfinished: {info}"


def test_reader_close_while_startup_work_runs(tmp_path):
    """The measured abort: a DICOM CT through the plugin reader, the dock, close, exit."""
    series = shared_path("totalseg", "example_ct_dicom")
    proc, rec = _run(tmp_path, "reader-close", str(series), timeout=300)
    _clean(proc)
    r = rec["reader-close"]
    assert r["busy_at_close"] > 0, "the start-up work had ended before the close: the test proves nothing"
    assert r["running_after_close"] == 0


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    proc, rec = _run(tmp, "all")
    return tmp, proc, rec


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ground-close", "edit-close", "export-close", "warm-close"])
def test_close_while_work_runs(scenarios, name):
    tmp, proc, rec = scenarios
    _clean(proc)
    r = rec[name]
    assert r["busy_at_close"], f"{name}: nothing was running at the close"
    assert r["running_after_close"] == 0, f"{name}: a worker outlived the viewer"
    _no_unfinished_autosave(tmp, tmp / "export")


@pytest.mark.slow
def test_close_during_export_leaves_complete_files(scenarios):
    tmp, proc, rec = scenarios
    _clean(proc)
    import nibabel as nib

    folder = Path(rec["export-close"]["export"])
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".medground-session"))
    assert {"result.json", "labels.nii.gz"} <= set(names), names
    assert not [n for n in names if n.startswith(".") or n.endswith((".tmp", ".part"))], names
    for p in folder.glob("*.json"):
        json.loads(p.read_text())
    assert nib.load(folder / "labels.nii.gz").get_fdata().max() > 0


@pytest.mark.slow
def test_remove_study_while_grounding(scenarios):
    tmp, proc, rec = scenarios
    _clean(proc)
    r = rec["remove-ground"]
    assert r["busy_at_close"] and r["idle"]
    assert r["layers_left"] == [], "the dropped grounding still added layers"
    assert "dropped" in r["status_after_remove"], r["status_after_remove"]


@pytest.mark.slow
def test_cancel_after_opening_another_study(scenarios):
    """Cancel stops the running job even when another study was opened (and selected)."""
    tmp, proc, rec = scenarios
    _clean(proc)
    r = rec["another-cancel"]
    assert r["selected"] == "second study", r
    assert r["idle"] and "cancelled" in r["status_after_cancel"], r
    assert not r["first_result"], "the cancelled grounding was adopted"


@pytest.mark.heavy  # ~60 s on 2 cores: make test-all (the close-while-working tests stay in the default run)
def test_twenty_open_work_close_cycles(tmp_path):
    proc, rec = _run(tmp_path, "cycles", "20")
    _clean(proc)
    r = rec["cycles"]
    assert r["cycles"] == 20 and r["running_after_close"] == 0


@pytest.mark.slow
def test_cancel_while_an_edit_reruns(scenarios):
    tmp, proc, rec = scenarios
    _clean(proc)
    r = rec["edit-cancel"]
    assert r["idle"] and "cancelled" in r["status_after_cancel"], r
    assert r["unchanged"], "a cancelled edit left a trace"
