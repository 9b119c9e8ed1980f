"""Cohorts: run ``ground`` over a manifest of studies on Dask (``medground batch``).

    from napari_medground.batch import run_batch
    summary = run_batch("cohort.csv", "out/", workers=2)          # a local cluster
    summary = run_batch("cohort.csv", "out/", scheduler="tcp://host:8786")  # an existing one

The manifest (``study,finding[,box]``, see :mod:`napari_medground.batch_manifest`) gives
one row per grounding. Each row runs on a worker into ``OUT/<row id>/`` exactly as
``medground ground`` writes (``result.json``, ``labels.nii.gz``) plus ``status.json``,
published in one rename (:mod:`napari_medground.batch_row`). A bad row (missing file,
corrupt study, finding not understood, invalid box) is recorded with its one-line
reason and the others go on; a worker that dies has its rows retried on another
(:mod:`napari_medground.batch_cluster`). ``resume=True`` skips rows whose outcome is
recorded (done, or failed on their input) without starting any worker. At the end:
``OUT/cohort.csv`` (one line per row x finding x measurement,
:mod:`napari_medground.batch_report`) and ``OUT/summary.json``.

With an existing scheduler, the workers must see the study paths and ``OUT`` (a shared
file system) and have napari-medground installed; one batch per output folder at a time.
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .batch_cluster import ALLOWED_FAILURES, default_workers, gpu_count, open_client
from .batch_manifest import BatchError, ManifestRow, read_manifest, rows_from
from .batch_report import cohort_lines, format_summary, write_cohort
from .batch_row import STATUS_FILE, publish, read_complete, run_row, sweep_partials, write_json_atomic
from .progress import ProgressFn, report

log = logging.getLogger(__name__)

__all__ = ["BatchError", "BatchSummary", "ManifestRow", "RowOutcome", "format_summary", "read_manifest",
           "run_batch"]


@dataclass(frozen=True)
class RowOutcome:
    """How one row ended in this run: ``status`` "done", "failed" or "skipped" (complete
    from an earlier run; ``recorded_status`` then says whether that run did it or failed it)."""

    index: int
    row_id: str
    study: str
    finding: str
    box: str | None
    status: str
    recorded_status: str
    reason: str | None = None
    error_type: str | None = None
    seconds: float = 0.0
    pid: int | None = None


@dataclass(frozen=True)
class BatchSummary:
    """The batch's account (``summary.json``); times in seconds, wall clock.

    ``seconds`` covers the whole call (manifest, cluster start, rows, reports);
    ``compute_seconds`` the rows alone (first submit to last result).
    ``rows_per_second`` = rows run (done + failed) / ``seconds``.
    """

    manifest: str | None
    out_dir: Path
    rows: int
    done: int
    failed: int
    skipped: int
    seconds: float
    compute_seconds: float
    rows_per_second: float
    rows_per_second_compute: float
    workers: int
    scheduler: str | None
    device: str
    tasks_submitted: int
    cohort_csv: Path
    summary_json: Path
    evaluation_files: dict[str, str] = field(default_factory=dict)  # rows with a reference: CSV, summary, plot
    outcomes: tuple[RowOutcome, ...] = field(default=(), repr=False)

    @property
    def failures(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items() if k != "outcomes"}
        d["failures"] = [{"row": o.index, "row_id": o.row_id, "study": o.study, "finding": o.finding,
                          "error_type": o.error_type, "reason": o.reason} for o in self.failures]
        d["skipped_failed"] = sum(o.status == "skipped" and o.recorded_status == "failed"
                                  for o in self.outcomes)
        d["row_outcomes"] = [asdict(o) for o in self.outcomes]
        return d


def run_batch(manifest: str | Path | Iterable[Mapping[str, Any] | Sequence[Any] | ManifestRow],
              out_dir: str | Path, *, scheduler: str | None = None, workers: int | None = None,
              device: str = "auto", resume: bool = False, progress: ProgressFn = None,
              retry_failed: bool = False) -> BatchSummary:
    """Ground every manifest row on Dask; write the row folders, ``cohort.csv`` and ``summary.json``.

    Parameters
    ----------
    manifest : a CSV path, or rows (dicts/tuples of study, finding[, box]; relative
        studies resolve against the current folder).
    out_dir : output folder (created).
    scheduler : address of an existing Dask scheduler; None starts a local cluster of
        ``workers`` processes (default: one per core, or one per GPU; at most one per row).
    device : "auto", "cpu", "cuda" or "cuda:N", passed to ``ground`` on each worker.
    resume : skip rows whose outcome is recorded (no task is submitted for them): rows
        done, and rows that failed on their input (unless ``retry_failed``); rows lost to
        dying workers, missing models or internal errors run again.
    progress : ``progress(fraction, message)`` after each row.

    Raises
    ------
    BatchError
        Unreadable manifest, bad ``workers``, unreachable scheduler. Row failures never raise.
    DeviceError
        ``device`` does not exist on this machine (local cluster only).
    """
    t0 = time.perf_counter()
    manifest_path = str(Path(manifest).resolve()) if isinstance(manifest, (str, Path)) else None
    rows = read_manifest(manifest) if manifest_path else rows_from(manifest)
    if not rows:
        raise BatchError("manifest: no rows to run")
    if workers is not None and int(workers) < 1:
        raise BatchError(f"--workers {workers}: give at least 1 worker")
    out = Path(out_dir).expanduser().resolve()
    from .export.files import output_lock

    with output_lock(out, what="batch"):  # one batch per folder: a second one says so and stops
        swept = sweep_partials(out, {r.row_id for r in rows})
        if swept:
            log.info("removed %d unfinished row folder(s) left by an earlier run", swept)
        outcomes, to_run = resume_plan(rows, out, retry_failed=retry_failed) if resume else ({}, list(rows))
        n_workers, address, compute_s = 0, scheduler, 0.0
        if to_run:
            n_workers, address, compute_s = _run_on_dask(to_run, out, outcomes, scheduler=scheduler,
                                                         workers=workers, device=device, progress=progress)
        return _finish(rows, outcomes, out, manifest_path, t0, compute_s, n_workers, address, device,
                       len(to_run))


def resume_plan(rows: list[ManifestRow], out: Path, *,
                retry_failed: bool = False) -> tuple[dict[int, dict], list[ManifestRow]]:
    """Split rows into those whose recorded outcome stands (skipped: outcome dicts by row
    number) and those to run (see :func:`~napari_medground.batch_row.read_complete`)."""
    outcomes: dict[int, dict] = {}
    to_run = []
    for r in rows:
        found = read_complete(r.to_dict(), out, retry_failed=retry_failed)
        if found is None:
            to_run.append(r)
            continue
        status, result = found
        outcomes[r.index] = {**status, "status": "skipped", "recorded_status": status["status"],
                             "cohort": cohort_lines(status, result)}
    return outcomes, to_run


def _run_on_dask(rows: list[ManifestRow], out: Path, outcomes: dict[int, dict], *, scheduler: str | None,
                 workers: int | None, device: str, progress: ProgressFn) -> tuple[int, str, float]:
    gpus = 0
    if scheduler is None:
        from .models.device import resolve_device

        resolve_device(device)  # a bad device fails here, once, not on every row
        gpus = gpu_count(device)
    n = int(workers) if workers else default_workers(len(rows), gpus)
    with open_client(scheduler, n, device) as (client, info):
        t1 = time.perf_counter()
        for outcome in _submit_and_collect(client, rows, out, device, progress):
            outcomes[outcome["row"]] = outcome
        return info.workers, info.scheduler, time.perf_counter() - t1


def _submit_and_collect(client, rows: list[ManifestRow], out: Path, device: str,
                        progress: ProgressFn) -> Iterator[dict]:
    from dask.distributed import as_completed

    token = secrets.token_hex(4)
    futures = {client.submit(run_row, r.to_dict(), str(out), device, key=f"medground-row-{r.row_id}-{token}",
                             pure=False): r for r in rows}
    counts = {"done": 0, "failed": 0}
    t0 = time.perf_counter()
    report(progress, 0.0, f"0/{len(rows)} rows")
    # results are fetched as they come and released, so a worker that dies later holds
    # no finished row that Dask would recompute
    done_iter = as_completed(list(futures), loop=client.loop, with_results=True, raise_errors=False)
    for i, (fut, outcome) in enumerate(done_iter, start=1):
        row = futures.pop(fut)
        fut.release()
        if isinstance(outcome, BaseException) or not isinstance(outcome, dict):
            outcome = _record_lost(row, out, outcome)  # the task never returned: its workers were lost
        outcome["recorded_status"] = outcome["status"]
        counts[outcome["status"]] += 1
        log.info("row %s: %s%s", row.row_id, outcome["status"],
                 f" ({outcome['reason']})" if outcome.get("reason") else "")
        rate = i / max(time.perf_counter() - t0, 1e-9)
        n = len(rows)
        report(progress, i / n, f"{i}/{n} rows (done {counts['done']}, failed {counts['failed']}) "
                                f"{rate:.2g} rows/s, eta {(n - i) / rate:.0f} s")
        yield outcome


def _record_lost(row: ManifestRow, out: Path, exc: Any) -> dict:
    """A row whose task never returned (its workers kept dying): record it as failed."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        reason = ("every worker that ran this row died (a crash or out of memory; a local cluster allows "
                  f"{ALLOWED_FAILURES} deaths per row); see the Dask worker logs, or run it alone "
                  "with medground ground")
    else:
        reason = f"the task failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
    status = {**row.to_dict(), "status": "failed", "reason": reason, "error_type": type(exc).__name__,
              "input_error": False, "result_status": None, "seconds": 0.0, "pid": None}
    partial = out / f"{row.row_id}.partial-driver-{secrets.token_hex(3)}"
    partial.mkdir(parents=True)
    write_json_atomic(partial / STATUS_FILE, status)
    publish(partial, out / row.row_id)
    return {**status, "cohort": cohort_lines(status, None)}


def _write_evaluation(out: Path, rows: list[ManifestRow], ordered: list[dict]) -> dict[str, str]:
    """Cohort scores of the rows with a reference (see :mod:`napari_medground.evaluate.cohort`)."""
    with_ref = [{**o, "reference": r.reference} for r, o in zip(rows, ordered) if r.reference]
    if not with_ref:
        return {}
    from .evaluate.cohort import write_cohort_evaluation

    return {k: str(v) for k, v in write_cohort_evaluation(out, with_ref).items()}


def _finish(rows: list[ManifestRow], outcomes: dict[int, dict], out: Path, manifest: str | None,
            t0: float, compute_s: float, n_workers: int, address: str | None, device: str,
            submitted: int) -> BatchSummary:
    ordered = [outcomes[r.index] for r in rows]
    sweep_partials(out, {r.row_id for r in rows})  # attempts cut short by a dying worker
    cohort = write_cohort(out / "cohort.csv", (line for o in ordered for line in o["cohort"]))
    evaluation = _write_evaluation(out, rows, ordered)
    count = {s: sum(o["status"] == s for o in ordered) for s in ("done", "failed", "skipped")}
    ran = count["done"] + count["failed"]
    seconds = time.perf_counter() - t0
    summary = BatchSummary(
        manifest=manifest, out_dir=out, rows=len(rows), **count, seconds=round(seconds, 3),
        compute_seconds=round(compute_s, 3), rows_per_second=round(ran / seconds, 4) if ran else 0.0,
        rows_per_second_compute=round(ran / compute_s, 4) if ran and compute_s else 0.0,
        workers=n_workers, scheduler=address, device=device, tasks_submitted=submitted,
        cohort_csv=cohort, summary_json=out / "summary.json", evaluation_files=evaluation,
        outcomes=tuple(RowOutcome(o["row"], o["row_id"], o["study"], o["finding"], o.get("box"), o["status"],
                                  o["recorded_status"], o.get("reason"), o.get("error_type"),
                                  float(o.get("seconds") or 0.0), o.get("pid")) for o in ordered),
    )
    write_json_atomic(summary.summary_json, summary.to_dict())
    log.info("batch: %d rows, %d done, %d failed, %d skipped in %.1f s", len(rows), count["done"],
             count["failed"], count["skipped"], seconds)
    return summary
