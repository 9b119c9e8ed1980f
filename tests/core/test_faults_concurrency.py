"""Concurrency (issue 15, item 8): two `ground` runs on one --out, a batch resumed while another
batch holds the folder: one wins cleanly, the other says why in one line; nothing interleaved."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import ExportError

MEDGROUND = Path(sys.executable).with_name("medground")
_HOLDER = textwrap.dedent('''
    import sys, time
    from napari_medground.export.files import output_lock
    with output_lock(sys.argv[1], what=sys.argv[2]):
        print("held", flush=True)
        sys.stdin.readline()  # until the test says so
''')


@pytest.fixture(scope="module")
def tiny_ct(tmp_path_factory) -> Path:
    from napari_medground.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import write_nifti

    ct, _ = make_ct_phantom(shape=(24, 48, 48), spacing_mm=(8.0, 6.0, 6.0))
    path = tmp_path_factory.mktemp("ct") / "ct.nii.gz"
    write_nifti(ct.array, ct, path)
    return path


class _Holder:
    """A separate process holding the output lock of a folder, as a running ground/batch does."""

    def __init__(self, tmp: Path, folder: Path, what: str):
        (tmp / "holder.py").write_text(_HOLDER)
        self.proc = subprocess.Popen([sys.executable, str(tmp / "holder.py"), str(folder), what],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.communicate("go\n", timeout=30)


def test_two_ground_runs_on_one_out(tmp_path, tiny_ct):
    out = tmp_path / "out"
    cmd = [str(MEDGROUND), "ground", str(tiny_ct), "left lung", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    ends = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _, _ in ends)
    assert codes == [0, 2], ends
    loser = next(err for rc, _, err in ends if rc == 2)
    assert len(loser.strip().splitlines()) == 1
    assert "is writing to this folder" in loser or "already exist" in loser, loser
    result = json.loads((out / "result.json").read_text())  # one complete set, from the winner
    audit = json.loads((out / "audit.json").read_text())
    labels = np.asanyarray(nib.load(out / "labels.nii.gz").dataobj)
    assert result["findings"][0]["status"] == "present" and labels.max() == result["findings"][0]["label_value"]
    assert audit and not [p for p in out.iterdir() if p.name.endswith(".bak")]


def test_ground_on_a_held_folder_names_the_holder(tmp_path, tiny_ct):
    out = tmp_path / "out"
    holder = _Holder(tmp_path, out, "ground")
    try:
        proc = subprocess.run([str(MEDGROUND), "ground", str(tiny_ct), "left lung", "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
    finally:
        holder.release()
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"another medground ground (pid {holder.proc.pid}" in proc.stderr
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]  # nothing written by the loser


def test_batch_resumed_while_another_batch_holds_the_folder(tmp_path, tiny_ct):
    from napari_medground.batch import run_batch

    out = tmp_path / "cohort"
    holder = _Holder(tmp_path, out, "batch")
    try:
        with pytest.raises(ExportError, match=rf"another medground batch \(pid {holder.proc.pid}, since"):
            run_batch([(str(tiny_ct), "left lung")], out, resume=True, workers=1)
    finally:
        holder.release()
    assert sorted(p.name for p in out.iterdir()) == []  # the loser touched nothing
