"""Safe file writing: atomic replacement, no silent overwrite, content hashes.

Every file the export and the session write goes through :func:`atomic_write`: the
content is written to a temporary file in the same folder, flushed to disk, and moved
over the final name with ``os.replace`` (atomic on POSIX and Windows), so a crash leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import math
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import ExportError, OutputWriteError

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".bak"
_STALE_TMP_S = 600.0  # temporaries older than this were left by a killed process
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EROFS, errno.EACCES, errno.EPERM}


def atomic_write(path: Path, write: Callable[[Path], Any], *, durable: bool = True) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically.

    ``write`` must create the file it is given. ``durable`` fsyncs the file before the
    rename (survives power loss, not only a killed process). The temporary name keeps
    the final suffixes so that writers which pick a format by extension still work.
    """
    path = Path(path)
    ensure_folder(path.parent)
    suffix = "".join(path.suffixes[-2:]) if path.name.count(".") >= 2 else path.suffix
    _sweep_stale(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    except OSError as exc:
        raise storage_error(exc, path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            raise storage_error(exc, path) from None
        raise
    return path


def storage_error(exc: OSError, path: Path) -> OutputWriteError:
    """One line naming ``path``, what went wrong on the disk, and what to do."""
    path = Path(path)
    code = exc.errno
    if code in _FULL:
        msg = (f"{path}: the disk is full or the file-size limit was reached while writing {path.name}; "
               "the file was not replaced (free space or choose another output folder)")
    elif code in _DENIED:
        msg = (f"{path.parent}: cannot write here ({os.strerror(code)}); nothing was replaced "
               "(choose another output folder)")
    elif code in (errno.ENOTDIR, errno.EEXIST):
        msg = f"{_first_file_on_the_way(path.parent)}: is a file, not a folder; choose another output folder"
    else:
        msg = f"{path}: cannot be written ({exc.strerror or exc}); nothing was replaced"
    err = OutputWriteError(msg)
    err.errno = code
    return err


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and parents); :class:`OutputWriteError` when that is impossible."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise storage_error(OSError(errno.ENOTDIR, str(exc)), folder / "x") from None
    except OSError as exc:
        raise storage_error(exc, folder / "x") from None
    return folder


def check_writable(folder: Path) -> Path:
    """Fail early, before any work, when nothing can be written into ``folder``."""
    folder = ensure_folder(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=".medground-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise storage_error(exc, folder / "probe") from None
    return folder


@contextlib.contextmanager
def output_lock(folder: Path, what: str = "run"):
    """Hold an exclusive lock on ``folder`` for one writer (``flock`` on the folder itself).

    A second writer fails at once with :class:`OutputWriteError` naming the holder (its
    description is kept in the temporary folder, never in ``folder``, which stays
    untouched); the kernel drops the lock when the holder exits, even killed, so no lock
    goes stale.
    """
    folder = ensure_folder(folder)
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise storage_error(exc, folder / "x") from None
    note = _holder_note(folder)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory locks; one writer assumed
            pass
        except OSError:
            try:
                holder = note.read_text(encoding="utf-8").strip()
            except OSError:
                holder = ""
            raise OutputWriteError(
                f"{folder}: another medground {holder or 'run'} is writing to this folder; nothing was written "
                "(wait for it to finish or choose another output folder)") from None
        with contextlib.suppress(OSError):
            note.write_text(f"{what} (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})", encoding="utf-8")
        yield folder
    finally:
        os.close(fd)


def _holder_note(folder: Path) -> Path:
    key = hashlib.sha1(str(folder.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    where = Path(tempfile.gettempdir()) / "medground-locks"
    with contextlib.suppress(OSError):
        where.mkdir(exist_ok=True)
    return where / f"{key}.txt"


@contextlib.contextmanager
def rollback_on_failure(paths: Iterable[Path], backups: Iterable[Path]):
    """On a storage failure, undo a set of writes: new files removed, ``.bak`` copies put back.

    So that a disk that fills in the middle of an export leaves the complete previous
    files, not a mix of new and missing ones.
    """
    paths = [Path(p) for p in paths]
    backups = [Path(b) for b in backups]
    existed = {p for p in paths if p.exists()}
    try:
        yield
    except OSError:
        for p in paths:
            if p not in existed:
                p.unlink(missing_ok=True)
        for b in backups:
            with contextlib.suppress(OSError):
                os.replace(b, b.with_name(b.name[: -len(BACKUP_SUFFIX)]))
        raise


def _sweep_stale(path: Path) -> None:
    """Remove temporaries of ``path`` left by a killed process (older than a few minutes)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{path.name}.*.tmp*"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _STALE_TMP_S:
                    p.unlink()


def _first_file_on_the_way(folder: Path) -> Path:
    for p in [folder, *folder.parents]:
        if p.exists():
            return p
    return folder


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda p: Path(p).write_bytes(data), durable=durable)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON atomically: NaN/inf become null (JSON has neither),
    numpy scalars/arrays become numbers/lists, paths and enums their text."""
    text = json.dumps(_finite(obj), indent=indent, allow_nan=False, ensure_ascii=False, default=_plain)
    return atomic_write_text(path, text + "\n", durable=durable)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    return obj


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (Path, set, frozenset)):
        return str(obj) if isinstance(obj, Path) else sorted(obj, key=str)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def protect_outputs(paths: Iterable[Path], *, overwrite: bool) -> list[Path]:
    """Refuse to replace existing outputs unless ``overwrite``; then keep ``.bak`` copies.

    Returns the backup files made. Raises :class:`ExportError` naming the existing files
    (nothing is written in that case).
    """
    existing = [Path(p) for p in paths if Path(p).exists()]
    if not existing:
        return []
    if not overwrite:
        names = ", ".join(str(p) for p in existing[:6]) + (" ..." if len(existing) > 6 else "")
        raise ExportError(
            f"{names}: already exist{'s' if len(existing) == 1 else ''}; nothing was written "
            "(pass overwrite=True to replace them, keeping .bak copies, or choose another output folder)"
        )
    backups = []
    for p in existing:
        bak = p.with_name(p.name + BACKUP_SUFFIX)
        try:
            os.replace(p, bak)
        except OSError as exc:
            for done in backups:  # put back what was already moved
                with contextlib.suppress(OSError):
                    os.replace(done, done.with_name(done.name[: -len(BACKUP_SUFFIX)]))
            raise storage_error(exc, p) from None
        backups.append(bak)
        log.warning("replacing %s (previous version kept as %s)", p, bak.name)
    return backups


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
