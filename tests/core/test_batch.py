"""`medground batch` acceptance: a 12-row manifest over ../shared/data on a 2-worker
LocalCluster, one worker killed mid-run; bad rows recorded; a resumed run does no work."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from napari_medground.batch import read_manifest, resume_plan, run_batch
from tests.data.shared import shared_path

pytestmark = pytest.mark.shared_data

GOOD = 8  # rows that must end "done"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Write the manifest, run it once on a test-owned 2-worker cluster, kill a worker mid-run."""
    from dask.distributed import Client, LocalCluster

    from napari_medground.synthetic.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import write_nifti

    cxr1, cxr2 = shared_path("cxr", "00000001_000.png"), shared_path("cxr", "00027426_000.png")
    ct = shared_path("totalseg", "example_ct_sm.nii.gz")
    base = tmp_path_factory.mktemp("batch")
    study, truth = make_ct_phantom()
    write_nifti(study.array, study, base / "phantom.nii.gz")
    (base / "corrupt.dcm").write_text("this is not DICOM\n")
    (base / "empty_folder").mkdir()
    manifest = base / "manifest.csv"
    manifest.write_text("\n".join([
        "study,finding,box",
        f"{cxr1},cardiomegaly,", f"{ct},flurbogland,", "missing.nii.gz,liver,", f"{ct},right lung,",
        f"{cxr2},cardiomegaly,", "corrupt.dcm,liver,", "phantom.nii.gz,right lung,",
        f"{ct},blorp in the right lung,", "empty_folder,liver,", f"{cxr2},glorbitz of the left lung,",
        "phantom.nii.gz,left lung,", f"{cxr1},right lung,"]) + "\n")
    out = base / "out"
    kill: dict = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2)

        def progress(fraction: float, message: str) -> None:
            if kill or fraction < 3 / 12:
                return
            pids = client.run(os.getpid)
            busy = {w: keys for w, keys in client.processing().items() if keys and w in pids}
            if busy:
                worker, keys = next(iter(busy.items()))
                rows = [k[len("medground-row-"):].rsplit("-", 1)[0] for k in keys]  # key: row id + run token
                kill.update(pid=pids[worker], rows=rows, at=message)
                os.kill(pids[worker], signal.SIGKILL)

        summary = run_batch(manifest, out, scheduler=cluster.scheduler_address, progress=progress)
    return {"manifest": manifest, "out": out, "summary": summary, "kill": kill, "truth": truth,
            "rows": read_manifest(manifest)}


def _status(out: Path, row_id: str) -> dict:
    return json.loads((out / row_id / "status.json").read_text())


def test_every_row_finishes_though_a_worker_was_killed(cohort):
    s, out, kill = cohort["summary"], cohort["out"], cohort["kill"]
    assert kill, "no worker was busy once 3 rows were done: the kill never happened"
    assert (s.rows, s.done, s.failed, s.skipped) == (12, GOOD, 4, 0), s.failures
    assert s.tasks_submitted == 12
    statuses = {r.row_id: _status(out, r.row_id) for r in cohort["rows"]}
    assert all(st["status"] in ("done", "failed") for st in statuses.values())
    # the killed worker's rows were run again elsewhere (a row may have finished just before the kill)
    rerun = [r for r in kill["rows"] if statuses[r]["pid"] != kill["pid"]]
    assert rerun, f"rows {kill['rows']} of killed pid {kill['pid']} were not re-run"
    assert not [p.name for p in out.iterdir() if ".partial-" in p.name or ".old-" in p.name]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == GOOD and summary["rows_per_second"] > 0 and summary["seconds"] > 0


def test_bad_rows_end_as_recorded_failures(cohort):
    s, out = cohort["summary"], cohort["out"]
    reasons = {o.finding + "@" + Path(o.study).name: (o.error_type, o.reason) for o in s.failures}
    assert set(reasons) == {"liver@missing.nii.gz", "liver@corrupt.dcm", "liver@empty_folder",
                            "flurbogland@example_ct_sm.nii.gz"}
    missing = reasons["liver@missing.nii.gz"]
    assert missing[0] == "StudyLoadError" and "missing.nii.gz" in missing[1]
    assert "corrupt.dcm" in reasons["liver@corrupt.dcm"][1] and "DICOM" in reasons["liver@corrupt.dcm"][1]
    assert "empty" in reasons["liver@empty_folder"][1]
    assert reasons["flurbogland@example_ct_sm.nii.gz"][0] == "NotUnderstood"
    assert all("\n" not in r for _, r in reasons.values())
    with open(out / "cohort.csv", newline="") as fh:
        lines = list(csv.DictReader(fh))
    errors = {ln["row_id"]: ln["error"] for ln in lines if ln["row_status"] == "failed"}
    assert len(errors) == 4 and all(errors.values())
    for o in s.failures:
        if o.error_type == "StudyLoadError":
            assert sorted(p.name for p in (out / o.row_id).iterdir()) == ["status.json"]


def test_row_outputs_are_what_ground_writes(cohort, tmp_path):
    from napari_medground.reasoning.api import ground

    out, rows = cohort["out"], cohort["rows"]
    row = next(r for r in rows if r.finding == "right lung" and r.study.endswith("example_ct_sm.nii.gz"))
    direct = ground(row.study, row.finding, out_dir=tmp_path / "direct", device="cpu")
    batch = json.loads((out / row.row_id / "result.json").read_text())
    assert batch["findings"] == direct.to_dict()["findings"]
    assert batch["study"] == direct.to_dict()["study"]
    assert {p.name for p in (tmp_path / "direct").iterdir()} <= {p.name for p in (out / row.row_id).iterdir()}
    with open(out / "cohort.csv", newline="") as fh:
        lines = list(csv.DictReader(fh))
    ratio = {ln["study"].rsplit("/", 1)[-1]: float(ln["value"]) for ln in lines
             if ln["finding_text"] == "cardiomegaly" and ln["measurement"] == "ratio"}
    assert ratio["00000001_000.png"] > 0.5 > ratio["00027426_000.png"]  # NIH: cardiomegaly / no finding
    vol = [float(ln["value"]) for ln in lines if ln["study"].endswith("phantom.nii.gz")
           and ln["finding_name"] == "right lung" and ln["measurement"] == "volume"]
    assert len(vol) == 1
    assert vol[0] == pytest.approx(cohort["truth"]["lung_right_volume_ml"], rel=0.2)


def test_models_loaded_once_per_worker(cohort):
    """The core caches models per process: a worker's later rows reuse the loaded encoder."""
    out, rows = cohort["out"], cohort["rows"]
    by_pid: dict[int, list[dict]] = {}
    for r in rows:
        st = _status(out, r.row_id)
        if st.get("pid"):
            by_pid.setdefault(st["pid"], []).append(st)
    assert any(len(v) >= 2 for v in by_pid.values()), "no worker ran two rows"
    users = 0
    for pid, sts in by_pid.items():
        sts.sort(key=lambda st: st["rows_in_process"])
        emb = [st["models_in_process"].get("sentence_embedding", {"loads": 0, "reuses": 0}) for st in sts]
        assert max(e["loads"] for e in emb) <= 1, f"pid {pid} loaded the encoder twice: {emb}"
        users += emb[-1]["loads"] + emb[-1]["reuses"]
    # three rows have words outside the vocabulary (flurbogland, blorp, glorbitz)
    assert users >= 3


def test_resume_does_no_work(cohort):
    out, manifest = cohort["out"], cohort["manifest"]

    def snapshot() -> dict:
        return {str(p.relative_to(out)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
                for p in out.rglob("*") if p.is_file() and p.name != "summary.json"}

    before = snapshot()
    t0 = time.perf_counter()
    s = run_batch(manifest, out, resume=True)
    elapsed = time.perf_counter() - t0
    assert (s.tasks_submitted, s.workers, s.scheduler) == (0, 0, None)
    assert (s.skipped, s.done, s.failed) == (12, 0, 0)
    assert elapsed < 10, f"resume took {elapsed:.1f} s"
    assert snapshot() == before  # row folders and cohort.csv untouched, byte for byte
    _, to_run = resume_plan(read_manifest(manifest), out, retry_failed=True)
    assert len(to_run) == 4  # --retry-failed would run the four failed rows again


def test_cli_batch_on_its_own_local_cluster(tmp_path, capsys):
    from napari_medground.cli import main

    ct = shared_path("totalseg", "example_ct_sm.nii.gz")
    manifest = tmp_path / "m.csv"
    cxr = shared_path("cxr", "00027426_000.png")
    manifest.write_text(f"study,finding\n{ct},left lung\n{cxr},cardiomegaly\n")
    code = main(["batch", str(manifest), "--out", str(tmp_path / "out"), "--workers", "2", "--device", "cpu"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "rows 2: done 2, failed 0" in printed.out and "rows/s" in printed.out
    assert "100.0%" in printed.err  # the progress line
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["scheduler"].startswith("tcp://")
    st = json.loads(next((tmp_path / "out").glob("0001-*/status.json")).read_text())
    from napari_medground.models.device import physical_cores

    assert st["worker_env"]["MEDGROUND_THREADS"] == str(max(1, physical_cores() // 2))


@pytest.mark.slow
def test_litemedsam_loaded_once_per_worker(tmp_path):
    """Two box-prompt rows on one worker share one LiteMedSAM network (same object)."""
    rows = [(shared_path("cxr", "00000001_000.png"), "heart", "150,120,400,420"),
            (shared_path("cxr", "00027426_000.png"), "heart", "150,120,400,420")]
    s = run_batch(rows, tmp_path / "out", workers=1, device="cpu")
    assert s.done == 2, s.failures
    sts = [json.loads((tmp_path / "out" / o.row_id / "status.json").read_text()) for o in s.outcomes]
    assert sts[0]["pid"] == sts[1]["pid"]
    ids = [st["models_in_process"].get("litemedsam:cpu") for st in sts]
    assert ids[0] is not None and ids[0] == ids[1]
