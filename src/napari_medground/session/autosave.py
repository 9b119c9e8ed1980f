"""Autosave and crash recovery: every edit is on disk before ``record_edit`` returns.

A session folder ``.medground-session-<study key>`` sits next to the outputs (or, when
that folder is read-only, under the user data folder: ``$MEDGROUND_DATA_DIR`` or
platformdirs' ``user_data_dir("napari-medground")``/sessions). It holds::

    state.json      commit point: seq, study identity, mask files, lossless Result state
    result.json     Result.to_dict() (for people and tools)
    edits.jsonl     one line per edit, appended as it happens (audit journal)
    masks/<id>-<seq>.npz   one compressed, bit-packed file per mask, new name per change

Every file is written to a temporary name and moved into place (``os.replace``); mask
files get a new name on each change and ``state.json`` is replaced last, so a process
killed at any instant leaves the previous complete state or the new one. An index in
the user data folder remembers where each study's sessions are, so
:meth:`Session.find_recoverable` finds a session next to any output folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import ExportError, StudyLoadError
from ..export.files import atomic_write, atomic_write_json
from .state import result_from_state, result_state

log = logging.getLogger(__name__)

SESSION_PREFIX = ".medground-session-"
ENV_DATA_DIR = "MEDGROUND_DATA_DIR"
STATE_FILE, RESULT_FILE, JOURNAL_FILE, MASK_DIR = "state.json", "result.json", "edits.jsonl", "masks"


@dataclass(frozen=True)
class SessionInfo:
    """A session found on disk (see :meth:`Session.find_recoverable`). Times are Unix seconds."""

    folder: Path
    study_key: str
    study_name: str
    created: float
    updated: float
    seq: int
    n_edits: int
    last_action: str | None
    closed: bool


def user_data_dir() -> Path:
    """``$MEDGROUND_DATA_DIR`` or the platform's user data folder for napari-medground."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("napari-medground"))


def study_key(study: Any) -> str:
    """A short key of the study's voxels + geometry (its fingerprint)."""
    return str(study.fingerprint)[:20]


class Session:
    """Persist a Result and its edits as they happen; recover them after a crash.

    ``folder`` is the output folder the session lives next to (None: the user data
    folder). The engine calls :meth:`record_edit` after each edit and :meth:`save` after
    a re-run; :meth:`close` marks a clean end (the session is then not offered for
    recovery). ``durable`` fsyncs each file (survives power loss, not only a crash).
    """

    def __init__(self, result: Any, folder: str | Path | None = None, *, durable: bool = True) -> None:
        if result.study is None:
            raise ExportError("autosave needs the study (Result.study is None)")
        self.key = study_key(result.study)
        self.durable = durable
        self._lock = threading.RLock()
        self._mask_files: dict[str, str] = {}
        self._saved_arrays: dict[str, np.ndarray] = {}
        self._journaled = 0
        self.seq = 0
        self.created = time.time()
        self.folder = self._prepare(Path(folder) if folder is not None else None)
        self._register()
        self.save(result)

    # ------------------------------------------------------------------ writing
    def record_edit(
        self, result: Any, edit_record: Any = None, changed_mask_ids: Iterable[str] | None = None
    ) -> None:
        """Persist one edit now: journal line, changed masks, then the state (commit)."""
        with self._lock:
            if edit_record is not None and not any(r is edit_record for r in result.edit_log):
                self._journal([edit_record], from_log=False)  # the engine did not log it (yet)
            self.save(result, changed_mask_ids)

    def save(self, result: Any, changed_mask_ids: Iterable[str] | None = None) -> None:
        """Write the whole Result; a mask only when it is new, a different array than at the
        last save, or named in ``changed_mask_ids`` (None: compare every mask's content hash)."""
        with self._lock:
            self.seq += 1
            changed = set(result.masks) if changed_mask_ids is None else set(changed_mask_ids)
            for mid, mask in result.masks.items():
                # a new array under an old id (a re-run) counts as changed even if not named
                if mid not in self._mask_files or mid in changed or self._saved_arrays.get(mid) is not mask:
                    self._write_mask(mid, mask, check_hash=changed_mask_ids is None)
                    self._saved_arrays[mid] = mask
            for mid in set(self._mask_files) - set(result.masks):
                self._mask_files.pop(mid)
                self._saved_arrays.pop(mid, None)
            self._journal(result.edit_log[self._journaled :])
            self._write_state(result, closed=False)
            atomic_write_json(self.folder / RESULT_FILE, result.to_dict(), durable=False)
            self._remove_unreferenced()

    def close(self, result: Any | None = None) -> None:
        """Mark a clean end (after an export or when the user closes the study)."""
        with self._lock:
            if result is not None:
                self.save(result)
            state = json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
            state["closed"] = True
            state["updated"] = time.time()
            atomic_write_json(self.folder / STATE_FILE, state, durable=self.durable, indent=None)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()

    # ------------------------------------------------------------------ finding and recovering
    @staticmethod
    def find_recoverable(study: Any, folders: Iterable[str | Path] = ()) -> SessionInfo | None:
        """The newest session of ``study`` that did not end cleanly, or None.

        Looks next to each of ``folders``, where the index says this study's sessions
        were, and in the user data folder.
        """
        key = study_key(study)
        found = [i for i in (_read_info(d) for d in _candidate_dirs(key, folders)) if i is not None]
        open_ = [i for i in found if not i.closed and i.study_key == key]
        return max(open_, key=lambda i: (i.updated, i.seq)) if open_ else None

    @staticmethod
    def recover(info: SessionInfo | str | Path, study: Any = None) -> Any:
        """Rebuild the Result saved in a session folder (its last committed state).

        Raises StudyLoadError when the folder holds no readable session or ``study`` is
        not the study it was made on.
        """
        folder = info.folder if isinstance(info, SessionInfo) else Path(info)
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StudyLoadError(f"{folder}: no readable autosaved session ({exc})") from None
        if study is not None and state["study"]["key"] != study_key(study):
            raise StudyLoadError(
                f"{folder}: this session belongs to {state['study']['name']}, not to "
                f"{study.name} (voxels or geometry differ)"
            )
        masks = {mid: _load_mask(folder / MASK_DIR / name) for mid, name in state["masks"].items()}
        return result_from_state(state["result"], masks, study)

    # ------------------------------------------------------------------ internals
    def _prepare(self, folder: Path | None) -> Path:
        fallback = user_data_dir() / "sessions" / self.key
        target = (folder / f"{SESSION_PREFIX}{self.key}") if folder is not None else fallback
        for candidate in dict.fromkeys([target, fallback]):
            try:
                (candidate / MASK_DIR).mkdir(parents=True, exist_ok=True)
                probe = candidate / ".write-test"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                log.warning(
                    "session folder %s is not writable (%s); trying the user data folder", candidate, exc
                )
                continue
            self._keep_previous(candidate)
            return candidate
        raise ExportError(f"{target}: cannot write the autosave session there or in {fallback}")

    def _keep_previous(self, folder: Path) -> None:
        """An unfinished older session in the same folder is moved to ``previous/`` (one kept)."""
        info = _read_info(folder)
        if info is None or info.closed:
            return
        prev = folder / "previous"
        if prev.exists():
            import shutil

            shutil.rmtree(prev, ignore_errors=True)
        (prev / MASK_DIR).mkdir(parents=True, exist_ok=True)
        for name in (STATE_FILE, RESULT_FILE, JOURNAL_FILE):
            if (folder / name).exists():
                os.replace(folder / name, prev / name)
        for f in (folder / MASK_DIR).glob("*.npz"):
            os.replace(f, prev / MASK_DIR / f.name)
        log.warning("an unfinished session in %s was kept in %s", folder, prev)

    def _register(self) -> None:
        index = user_data_dir() / "sessions" / "index.json"
        try:
            data = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {}
            dirs = [d for d in data.get(self.key, []) if d != str(self.folder)] + [str(self.folder)]
            data[self.key] = dirs[-20:]
            atomic_write_json(index, data, durable=False)
        except (OSError, ValueError) as exc:  # the index is a convenience, never a failure
            log.info("session index not updated (%s)", exc)

    def _write_mask(self, mid: str, mask: np.ndarray, check_hash: bool) -> None:
        arr = np.asarray(mask)
        digest = (
            hashlib.blake2b(np.ascontiguousarray(arr).data, digest_size=8).hexdigest() if check_hash else None
        )
        old = self._mask_files.get(mid)
        if check_hash and old and old.endswith(f"-{digest}.npz"):
            return
        tag = digest or f"s{self.seq}"
        name = f"{_safe(mid)}-{tag}.npz"

        def write(p: Path) -> None:
            with open(p, "wb") as fh:
                if arr.dtype == bool:
                    np.savez_compressed(fh, bits=np.packbits(arr, axis=None), shape=np.asarray(arr.shape))
                else:
                    np.savez_compressed(fh, data=arr)

        atomic_write(self.folder / MASK_DIR / name, write, durable=self.durable)
        self._mask_files[mid] = name

    def _write_state(self, result: Any, closed: bool) -> None:
        study = result.study
        last = result.edit_log[-1] if result.edit_log else None
        state = {
            "seq": self.seq,
            "created": self.created,
            "updated": time.time(),
            "closed": closed,
            "study": {
                "key": self.key,
                "name": study.name,
                "shape": list(study.shape),
                "source_paths": [str(p) for p in study.source_paths],
            },
            "n_edits": len(result.edit_log),
            "last_action": None if last is None else f"{last.action} {last.step_id}",
            "masks": dict(self._mask_files),
            "result": result_state(result),
        }
        atomic_write_json(self.folder / STATE_FILE, state, durable=self.durable, indent=None)

    def _journal(self, records: list[Any], from_log: bool = True) -> None:
        if not records:
            return
        lines = "".join(
            json.dumps({"seq": self.seq, **r.to_dict(), "unix_time": float(r.time)}, default=str) + "\n"
            for r in records
        )
        with open(self.folder / JOURNAL_FILE, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
        if from_log:
            self._journaled += len(records)

    def _remove_unreferenced(self) -> None:
        keep = set(self._mask_files.values())
        for f in (self.folder / MASK_DIR).glob("*.npz"):
            if f.name not in keep:
                f.unlink(missing_ok=True)


def _safe(mask_id: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", mask_id)[:40]
    return f"{clean}_{hashlib.blake2b(mask_id.encode(), digest_size=3).hexdigest()}"


def _load_mask(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        if "bits" in z:
            shape = tuple(int(v) for v in z["shape"])
            return np.unpackbits(z["bits"], count=int(np.prod(shape))).astype(bool).reshape(shape)
        return z["data"]


def _read_info(folder: Path) -> SessionInfo | None:
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        return SessionInfo(
            folder=folder,
            study_key=state["study"]["key"],
            study_name=state["study"]["name"],
            created=float(state["created"]),
            updated=float(state["updated"]),
            seq=int(state["seq"]),
            n_edits=int(state["n_edits"]),
            last_action=state.get("last_action"),
            closed=bool(state["closed"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _candidate_dirs(key: str, folders: Iterable[str | Path]) -> list[Path]:
    dirs = [Path(f) / f"{SESSION_PREFIX}{key}" for f in folders]
    base = user_data_dir() / "sessions"
    try:
        index = json.loads((base / "index.json").read_text(encoding="utf-8"))
        dirs += [Path(d) for d in index.get(key, [])]
    except (OSError, ValueError):
        pass
    dirs.append(base / key)
    return list(dict.fromkeys(dirs))
