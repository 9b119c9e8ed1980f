"""One manifest row, run on a Dask worker: ground it, then publish its folder atomically.

A row's folder ``OUT/<row id>/`` appears in one ``os.replace`` from the private
``OUT/<row id>.partial-<pid>-<token>/`` it was written into, so a killed run leaves no
half-written row (stale ``*.partial-*`` folders are swept by the next run). The folder
holds what :func:`~napari_medground.reasoning.api.ground` writes (``result.json``,
``labels.nii.gz``) plus ``status.json``: the row, ``status`` ("done"/"failed"), the
one-line ``reason`` of a failure and whether it lies in the row's input
(``input_error``), seconds, and which process ran it. A failed row's folder holds
``status.json`` alone (a finding text that was not understood keeps ground's files).

The core caches its models per process, so each worker loads a model once and reuses
it for every later row; ``status.json`` records, per row, the models held by the
process (:func:`loaded_models`) so that this can be checked afterwards.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from .batch_manifest import BatchError
from .errors import MedgroundError, QueryError, StudyLoadError

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
RESULT_FILE = "result.json"
LABELS_FILE = "labels.nii.gz"
PARTIAL_TAG = ".partial-"
OLD_TAG = ".old-"

_ENV_KEYS = ("MEDGROUND_THREADS", "CUDA_VISIBLE_DEVICES", "MEDGROUND_DEVICE")
_rows_in_process = 0  # rows this process has started (a per-worker counter)


def run_row(row: Mapping[str, Any], out_dir: str, device: str = "auto") -> dict[str, Any]:
    """Ground one row (a ``ManifestRow.to_dict()``) into ``out_dir/<row id>/``; never raises
    for a bad row: the returned status dict (also ``status.json``) carries the reason.

    Returns the status dict plus ``cohort``: the row's lines of the cohort CSV.
    """
    global _rows_in_process
    from .batch_report import cohort_lines

    _rows_in_process += 1
    t0 = time.perf_counter()
    out = Path(out_dir)
    partial = out / f"{row['row_id']}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(3)}"
    partial.mkdir(parents=True)
    status: dict[str, Any] = {**dict(row), "status": "failed", "reason": None, "error_type": None,
                              "input_error": False, "result_status": None}
    result = None
    try:
        result = _ground_into(row, partial, device)
        reason = not_understood_reason(result)
        status.update(status="failed" if reason else "done", reason=reason, input_error=bool(reason),
                      error_type="NotUnderstood" if reason else None,
                      result_status=result.get("conclusion", {}).get("status"))
        if row.get("reference") and not reason:
            status["evaluation"] = _score(row, partial, result)
    except Exception as exc:  # noqa: BLE001 - a bad row is recorded, the others go on
        if not isinstance(exc, MedgroundError):
            log.exception("row %s (%s): unexpected error", row["row_id"], row["study"])
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        status.update(reason=one_line(exc), error_type=type(exc).__name__,
                      input_error=isinstance(exc, (StudyLoadError, QueryError, BatchError)))
    status.update(seconds=round(time.perf_counter() - t0, 4), pid=os.getpid(), host=socket.gethostname(),
                  rows_in_process=_rows_in_process, models_in_process=loaded_models(),
                  worker_env={k: os.environ.get(k) for k in _ENV_KEYS},
                  finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_json_atomic(partial / STATUS_FILE, status)
    publish(partial, out / row["row_id"])
    return {**status, "cohort": cohort_lines(status, result)}


def _ground_into(row: Mapping[str, Any], folder: Path, device: str) -> dict[str, Any]:
    from .commands.ground import parse_box
    from .reasoning.api import ground

    if not row.get("study"):
        raise BatchError(f"manifest row {row['row']}: the study cell is empty; give a file or DICOM folder")
    if not str(row.get("finding") or "").strip():
        raise BatchError(f"manifest row {row['row']}: the finding cell is empty; type a finding")
    box = parse_box(row.get("box"))
    result = ground(row["study"], row["finding"], out_dir=folder, box=box, device=device, overwrite=True)
    return result.to_dict()


def _score(row: Mapping[str, Any], folder: Path, result: Mapping[str, Any]) -> dict[str, Any]:
    """The row's labels scored against its reference (``evaluation.json`` in its folder too)."""
    from .evaluate.cohort import score_row

    ev = score_row(folder / LABELS_FILE, result, row["reference"], reference_names=row.get("reference_names"),
                   labels=row.get("labels"))
    write_json_atomic(folder / "evaluation.json", ev)
    return ev


def not_understood_reason(result: Mapping[str, Any]) -> str | None:
    """A one-line reason when no part of the finding text was understood, else None.

    ``ground`` answers such text with "not assessable" (an answer for a person typing);
    in a cohort it is a bad row: most likely a typo in the manifest.
    """
    query = result.get("query") or {}
    queries = query.get("queries") or []
    understood = [q.get("understood", bool(q.get("anatomy") or q.get("finding"))) for q in queries]
    if any(understood):
        return None
    words = sorted({w for q in queries for w in q.get("unknown_words", [])})
    text = query.get("text", "")
    what = f" (unknown: {', '.join(words)})" if words else ""
    return (f"finding {text!r} not understood{what}; check the spelling, "
            f"or see what is recognised with: medground parse {text!r}")


def one_line(exc: BaseException) -> str:
    """The exception's message as one line (internal errors keep their class name)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, MedgroundError) else f"internal error: {type(exc).__name__}: {text}"


def loaded_models() -> dict[str, Any]:
    """Models this process holds now (identity of each cached network, loads counted).

    Looks only at modules already imported, so it never loads anything; it reads the
    caches of other modules, so any surprise there gives ``{}`` rather than an error.
    Two rows of one worker reporting the same ids mean the model was loaded once for both.
    """
    out: dict[str, Any] = {}
    try:
        emb = sys.modules.get("napari_medground.language.embedding")
        cached = [getattr(emb, n, None) for n in ("_load_encoder", "get_encoder")]
        cached = [f for f in cached if hasattr(f, "cache_info")]
        if cached:
            info = cached[0].cache_info()
            out["sentence_embedding"] = {"loads": info.misses, "reuses": info.hits}
        sam = sys.modules.get("napari_medground.models.litemedsam_runtime")
        for dev, m in dict(getattr(sam, "_models", None) or {}).items():
            out[f"litemedsam:{dev}"] = id(m)
        mesh = sys.modules.get("napari_medground.models.meshnet")
        for key, r in dict(getattr(mesh, "_RUNNERS", None) or {}).items():
            out["meshnet:" + ":".join(map(str, key))] = id(r)
    except Exception:  # noqa: BLE001 - bookkeeping must never fail a row
        log.debug("could not read the model caches", exc_info=True)
    return out


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def publish(partial: Path, final: Path) -> None:
    """Make ``partial`` the row folder ``final`` in one rename (an older ``final`` is replaced)."""
    for attempt in range(3):
        old = None
        if final.exists():
            old = final.with_name(f"{final.name}{OLD_TAG}{secrets.token_hex(3)}")
            os.replace(final, old)
        try:
            os.replace(partial, final)
        except OSError:  # another attempt of this row published in between: go round again
            if attempt == 2:
                raise
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return


def read_complete(row: Mapping[str, Any], out_dir: Path, *,
                  retry_failed: bool = False) -> tuple[dict, dict | None] | None:
    """(status, result) of a row whose recorded outcome stands, else None (run it again).

    Stands: ``status.json`` names the same study, finding and box, and either the row is
    done (``result.json`` parses with its key fields, beside a non-empty ``labels.nii.gz``)
    or it failed on its input (``input_error``: unreadable study, bad box, text not
    understood), which would fail the same way again, unless ``retry_failed``. Failures
    of the machinery (a lost worker, a missing model, an internal error) always re-run.
    """
    folder = Path(out_dir) / row["row_id"]
    try:
        status = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or any(status.get(k) != row.get(k) for k in ("study", "finding", "box")):
        return None
    result = _read_result(folder)
    if status.get("status") == "done":
        return (status, result) if result is not None else None
    if status.get("status") == "failed" and status.get("input_error") and not retry_failed:
        return status, result
    return None


def _read_result(folder: Path) -> dict | None:
    try:
        result = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        labels_ok = (folder / LABELS_FILE).stat().st_size > 0
    except (OSError, ValueError):
        return None
    valid = (isinstance(result, dict) and isinstance(result.get("findings"), list)
             and isinstance(result.get("study"), dict) and isinstance(result.get("conclusion"), dict))
    return result if valid and labels_ok else None


def sweep_partials(out_dir: Path, row_ids: set[str]) -> int:
    """Remove leftover ``<row id>.partial-*`` / ``.old-*`` folders of these rows; returns how many."""
    n = 0
    if not out_dir.is_dir():
        return 0
    for p in out_dir.iterdir():
        for tag in (PARTIAL_TAG, OLD_TAG):
            if tag in p.name and p.name.split(tag)[0] in row_ids and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                n += 1
    return n
