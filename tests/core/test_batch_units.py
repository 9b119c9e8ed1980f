"""Batch parts without a cluster: the manifest, one row run in-process, atomic publish,
completeness for --resume, the cohort lines, the worker environment."""
from __future__ import annotations

import json

import pytest

from napari_medground.batch.cluster import default_workers, worker_env
from napari_medground.batch.manifest import BatchError, make_row_id, read_manifest, rows_from, study_slug
from napari_medground.batch.report import COHORT_COLUMNS, TerminalProgress, cohort_lines, write_cohort
from napari_medground.batch.row import (
    STATUS_FILE,
    not_understood_reason,
    publish,
    read_complete,
    run_row,
    sweep_partials,
)
from tests.data.shared import shared_path


def test_manifest_relative_paths_ids_and_boxes(tmp_path):
    (tmp_path / "sub").mkdir()
    m = tmp_path / "sub" / "cohort.csv"
    m.write_text("Study,Finding,Box\n"
                 "ct/a.nii.gz,Right lung,\n"
                 "\n"
                 "# a comment line\n"
                 "/abs/b.dcm,liver lesion,\"1,2,3,4,5,6\"\n"
                 "cxr/c.png,heart,10,20,30,40\n", encoding="utf-8")
    rows = read_manifest(m)
    assert [r.index for r in rows] == [1, 2, 3]
    assert rows[0].study == str((tmp_path / "sub" / "ct" / "a.nii.gz").resolve())
    assert rows[1].study == "/abs/b.dcm"
    assert rows[0].box is None and rows[1].box == "1,2,3,4,5,6"
    assert rows[2].box == "10,20,30,40"  # an unquoted box spilling into extra columns
    assert rows[0].row_id == "0001-a-right-lung"
    assert rows[1].row_id == "0002-b-liver-lesion"
    assert len({r.row_id for r in rows}) == 3


def test_manifest_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path_to_image;what\nx;y\n")
    with pytest.raises(BatchError, match="bad.csv.*study.*finding"):
        read_manifest(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("study,finding\n")
    with pytest.raises(BatchError, match="empty.csv.*no rows"):
        read_manifest(empty)
    with pytest.raises(BatchError, match="missing.csv.*cannot be read"):
        read_manifest(tmp_path / "missing.csv")


def test_row_ids_are_stable_and_slugged():
    assert study_slug("/data/Patient 01/CT.nii.gz") == "ct"
    assert study_slug("/data/dicom_folder/") == "dicom-folder"
    assert make_row_id(7, "/x/00000001_000.png", "Cardiomegaly?") == "0007-00000001-000-cardiomegaly"
    a = rows_from([("s.nii.gz", "liver")], base="/tmp")
    b = rows_from([{"study": "s.nii.gz", "finding": "liver"}], base="/tmp")
    assert a == b and a[0].study == "/tmp/s.nii.gz"


def test_run_row_in_process_bad_and_good(tmp_path):
    ct = shared_path("totalseg", "example_ct_sm.nii.gz")
    rows = rows_from([(tmp_path / "nope.nii.gz", "liver"), (ct, "right lung"), (ct, "right lung", "1,2,3")])
    out = tmp_path / "out"
    bad = run_row(rows[0].to_dict(), str(out), "cpu")
    assert bad["status"] == "failed" and bad["error_type"] == "StudyLoadError"
    assert "nope.nii.gz" in bad["reason"] and "\n" not in bad["reason"]
    assert sorted(p.name for p in (out / rows[0].row_id).iterdir()) == [STATUS_FILE]
    good = run_row(rows[1].to_dict(), str(out), "cpu")
    assert good["status"] == "done", good["reason"]
    folder = out / rows[1].row_id
    result = json.loads((folder / "result.json").read_text())
    assert (folder / "labels.nii.gz").stat().st_size > 0
    assert result["findings"][0]["status"] == "present"
    vol = next(m["value"] for m in result["findings"][0]["measurements"] if m["name"] == "volume")
    assert any(line["measurement"] == "volume" and line["value"] == vol for line in good["cohort"])
    assert read_complete(rows[1].to_dict(), out) is not None
    stands = read_complete(rows[0].to_dict(), out)  # failed on its input: resume does not re-run it
    assert stands is not None and stands[0]["input_error"] is True and stands[1] is None
    assert read_complete(rows[0].to_dict(), out, retry_failed=True) is None
    boxed = run_row(rows[2].to_dict(), str(out), "cpu")  # a 3-number box is refused, one line
    assert boxed["status"] == "failed" and boxed["error_type"] == "QueryError" and "--box" in boxed["reason"]
    assert not [p for p in out.iterdir() if ".partial-" in p.name]


def test_read_complete_rejects_torn_or_foreign_folders(tmp_path):
    row = rows_from([("/x/a.nii.gz", "liver")])[0].to_dict()
    folder = tmp_path / row["row_id"]
    folder.mkdir()
    (folder / STATUS_FILE).write_text(json.dumps({**row, "status": "failed", "input_error": False}))
    assert read_complete(row, tmp_path) is None  # a lost worker or missing model: run again
    (folder / STATUS_FILE).write_text(json.dumps({**row, "status": "done"}))
    (folder / "labels.nii.gz").write_bytes(b"\x1f\x8b")
    (folder / "result.json").write_text('{"study": {}, "findings": [')  # torn
    assert read_complete(row, tmp_path) is None
    (folder / "result.json").write_text(json.dumps({"study": {}, "findings": [], "conclusion": {}}))
    assert read_complete(row, tmp_path) is not None
    assert read_complete({**row, "box": "1,2,3,4,5,6"}, tmp_path) is None  # another row under this id
    assert read_complete({**row, "study": "/y/a.nii.gz"}, tmp_path) is None


def test_publish_replaces_atomically_and_sweep(tmp_path):
    final = tmp_path / "0001-a-liver"
    final.mkdir()
    (final / "old.txt").write_text("old")
    partial = tmp_path / "0001-a-liver.partial-1-abc"
    partial.mkdir()
    (partial / "new.txt").write_text("new")
    publish(partial, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001-a-liver"]
    (tmp_path / "0001-a-liver.partial-9-xyz").mkdir()
    (tmp_path / "0002-other.partial-9-xyz").mkdir()  # not a row of this manifest: kept
    assert sweep_partials(tmp_path, {"0001-a-liver"}) == 1
    assert (tmp_path / "0002-other.partial-9-xyz").exists()


def test_cohort_lines_and_csv(tmp_path):
    status = {"row": 3, "row_id": "0003-a-x", "study": "/a", "finding": "x", "box": None, "status": "done"}
    result = {"findings": [
        {"name": "liver", "status": "present", "confidence": 0.9,
         "measurements": [{"name": "volume", "value": 1500.0, "unit": "mL", "label": "liver volume"},
                          {"name": "mean", "value": 60.0, "unit": "HU"}]},
        {"name": "spleen", "status": "absent", "confidence": 0.7, "measurements": []}]}
    lines = cohort_lines(status, result)
    assert [(ln["finding_name"], ln.get("measurement")) for ln in lines] == [
        ("liver", "volume"), ("liver", "mean"), ("spleen", None)]
    failed = cohort_lines({**status, "status": "failed", "reason": "x: no such file"}, None)
    assert len(failed) == 1 and failed[0]["error"] == "x: no such file"
    path = write_cohort(tmp_path / "cohort.csv", lines + failed)
    text = path.read_text().splitlines()
    assert text[0] == ",".join(COHORT_COLUMNS) and len(text) == 5
    assert ",volume,liver volume,1500.0,mL," in text[1]


def test_not_understood_reason():
    q = {"text": "flurbogland", "queries": [{"understood": False, "unknown_words": ["flurbogland"]}]}
    assert "flurbogland" in not_understood_reason({"query": q})
    q2 = {"text": "blorp lung", "queries": [{"understood": True, "unknown_words": ["blorp"]}]}
    assert not_understood_reason({"query": q2}) is None


def test_worker_env_threads_and_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    envs = [worker_env(i, 3, gpus=2, device="auto") for i in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0"]
    assert "CUDA_VISIBLE_DEVICES" not in worker_env(0, 2, gpus=2, device="cpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert worker_env(1, 2, gpus=2, device="cuda")["CUDA_VISIBLE_DEVICES"] == "7"
    assert int(worker_env(0, 1, gpus=0, device="cpu")["MEDGROUND_THREADS"]) >= 1
    assert default_workers(1, gpus=0) == 1 and default_workers(50, gpus=3) == 3


def test_terminal_progress_line():
    import io

    buf = io.StringIO()
    bar = TerminalProgress(buf, width=10, interval_s=0.0)
    bar(0.5, "6/12 rows")
    bar(1.0, "12/12 rows")
    out = buf.getvalue().splitlines()
    assert out[0].startswith("[#####.....]") and "6/12 rows" in out[0]
    assert out[-1].startswith("[##########] 100.0%")


def test_a_row_lost_with_its_workers_is_recorded_and_rerun_on_resume(tmp_path):
    from distributed import KilledWorker

    from napari_medground.batch.run import _record_lost, resume_plan

    rows = rows_from([("/x/a.nii.gz", "liver")])
    outcome = _record_lost(rows[0], tmp_path, KilledWorker("medground-row-x", "tcp://127.0.0.1:1", 3))
    assert outcome["status"] == "failed" and "died" in outcome["reason"] and outcome["input_error"] is False
    assert json.loads((tmp_path / rows[0].row_id / STATUS_FILE).read_text())["error_type"] == "KilledWorker"
    _, to_run = resume_plan(rows, tmp_path)
    assert to_run == rows  # not the row's fault: --resume runs it again
