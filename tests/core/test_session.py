"""Autosave sessions: lossless save/recover, recovery offers, read-only fallback, and a
process killed with SIGKILL in the middle of a stream of edits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.session.autosave import JOURNAL_FILE, Session
from napari_medground.result import EditRecord, LineSegment, StepStatus
from napari_medground.study.model import Study
from tests.core.test_export_helpers import make_result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Keep the session index and fall-back sessions out of the user's home."""
    d = tmp_path / "user-data"
    monkeypatch.setenv("MEDGROUND_DATA_DIR", str(d))
    return d


def _study(seed=0, shape=(12, 64, 64)) -> Study:
    rng = np.random.default_rng(seed)
    return Study(
        rng.integers(-100, 100, shape).astype(np.int16), np.diag([2.5, 0.7, 0.7, 1.0]), modality="CT"
    )


def _result(study):
    a = np.zeros(study.shape, bool)
    a[2:6, 10:30, 10:30] = True
    res = make_result(
        study,
        [
            dict(name="liver", mask=a, measurements=[("volume", 3.5, "mL")]),
            dict(name="lesion", mask=None, status="absent"),
        ],
    )
    res.steps[1].evidence.lines.append(LineSegment("long_axis", (3.0, 10.5, 12.0), (3.0, 20.0, 25.5), 12.25))
    res.steps[1].evidence.extra["hist"] = np.arange(100, dtype=np.float32)
    return res


def test_save_and_recover_is_lossless(tmp_path):
    study = _study()
    res = _result(study)
    session = Session(res, tmp_path)
    res.masks["mask_0"][7, 40:50, 40:50] = True
    rec = EditRecord("s0_seg", "edit_mask", {"voxels": 1600}, {"voxels": 1700}, user="dr^who")
    res.edit_log.append(rec)
    res.steps[1].status = StepStatus.EDITED
    session.record_edit(res, rec, ["mask_0"])
    info = Session.find_recoverable(study, [tmp_path])
    assert info is not None and info.n_edits == 1 and info.last_action == "edit_mask s0_seg"
    back = Session.recover(info, study)
    assert back.to_dict() == res.to_dict()
    assert back.findings == res.findings and back.edit_log == res.edit_log and back.models == res.models
    assert back.steps[1].evidence.lines == res.steps[1].evidence.lines
    np.testing.assert_array_equal(back.steps[1].evidence.extra["hist"], res.steps[1].evidence.extra["hist"])
    assert back.masks.keys() == res.masks.keys()
    np.testing.assert_array_equal(back.masks["mask_0"], res.masks["mask_0"])
    assert back.study is study
    journal = (info.folder / JOURNAL_FILE).read_text().splitlines()
    assert [json.loads(line)["action"] for line in journal] == ["edit_mask"]


def test_clean_close_is_not_offered_and_the_index_finds_sessions_anywhere(tmp_path):
    study = _study()
    res = _result(study)
    with Session(res, tmp_path / "out") as session:
        assert Session.find_recoverable(study) is not None  # found through the index, no folder given
        assert session.folder.parent == tmp_path / "out"
    assert Session.find_recoverable(study, [tmp_path / "out"]) is None
    assert Session.find_recoverable(_study(seed=1), [tmp_path / "out"]) is None


def test_recovering_onto_another_study_is_refused(tmp_path):
    study = _study()
    Session(_result(study), tmp_path)
    info = Session.find_recoverable(study, [tmp_path])
    with pytest.raises(StudyLoadError, match="belongs to"):
        Session.recover(info, _study(seed=3))


def test_unwritable_output_folder_falls_back_to_the_user_data_folder(tmp_path, data_dir):
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the output folder should be")  # mkdir fails even as root
    study = _study()
    session = Session(_result(study), blocker)
    assert data_dir in session.folder.parents
    assert Session.find_recoverable(study).folder == session.folder


def test_each_edit_is_on_disk_well_within_a_second(tmp_path):
    study = _study(shape=(40, 256, 256))
    res = _result(study)
    session = Session(res, tmp_path)
    times = []
    for k in range(5):
        res.masks["mask_0"][k, 100:120, 100:120] = True
        rec = EditRecord("s0_seg", "edit_mask", k, k + 1)
        res.edit_log.append(rec)
        t = time.perf_counter()
        session.record_edit(res, rec, ["mask_0"])
        times.append(time.perf_counter() - t)
        back = Session.recover(session.folder, study)
        assert len(back.edit_log) == k + 1
        np.testing.assert_array_equal(back.masks["mask_0"], res.masks["mask_0"])
    assert max(times) < 1.0, times


CHILD = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {repo!r})
    from napari_medground.session.autosave import Session
    from napari_medground.result import EditRecord
    from tests.core.test_session import _study, _result, edit_cube
    study = _study(shape=(40, 128, 128))
    res = _result(study)
    session = Session(res, {folder!r}, durable=False)
    print("ready", flush=True)
    for k in range(100000):
        res.masks["mask_0"][edit_cube(k)] = True
        rec = EditRecord("s0_seg", "edit_mask", k, k + 1)
        res.edit_log.append(rec)
        session.record_edit(res, rec, ["mask_0"])
        print("edit", k + 1, flush=True)
""")


def edit_cube(k: int) -> tuple[slice, ...]:
    """The voxels edit number k (0-based) paints, known to parent and child."""
    z, y, x = k % 40, (7 * k) % 100, (13 * k) % 100
    return slice(z, z + 1), slice(y, y + 20), slice(x, x + 20)


def test_kill_9_while_editing_loses_at_most_the_edit_in_progress(tmp_path, data_dir):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO), folder=str(tmp_path / "out")))
    env = dict(os.environ, MEDGROUND_DATA_DIR=str(data_dir))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    done = 0
    try:
        for line in proc.stdout:
            if line.startswith("edit"):
                done = int(line.split()[1])
            if done >= 12:
                time.sleep(0.01)  # let the next edit start: the kill lands in the middle of its writes
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    study = _study(shape=(40, 128, 128))
    info = Session.find_recoverable(study, [tmp_path / "out"])
    assert info is not None and not info.closed
    back = Session.recover(info, study)
    n = len(back.edit_log)
    assert n >= done  # every edit reported as done survived
    expected = _result(study).masks["mask_0"]
    for k in range(n):
        expected[edit_cube(k)] = True
    np.testing.assert_array_equal(back.masks["mask_0"], expected)  # masks match the log: one commit
    journal = (info.folder / JOURNAL_FILE).read_text().splitlines()
    assert n <= len(journal) <= n + 1  # at most the edit being written is not in the state


def test_a_mask_replaced_by_a_rerun_is_saved_even_when_not_named(tmp_path):
    study = _study()
    res = _result(study)
    session = Session(res, tmp_path)
    res.masks["mask_0"] = np.roll(res.masks["mask_0"], 5, axis=2)  # a re-run put a new array there
    res.masks["mask_new"] = res.masks["mask_0"][::-1].copy()
    rec = EditRecord("s0_seg", "edit_box", None, {"min": [0, 0, 0], "max": [5, 5, 5]})
    res.edit_log.append(rec)
    session.record_edit(res, rec, [])
    back = Session.recover(session.folder, study)
    for mid in ("mask_0", "mask_new"):
        np.testing.assert_array_equal(back.masks[mid], res.masks[mid])
