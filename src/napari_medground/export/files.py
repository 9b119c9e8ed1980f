"""Safe file writing: atomic replacement, no silent overwrite, content hashes.

Every file the export and the session write goes through :func:`atomic_write`: the
content is written to a temporary file in the same folder, flushed to disk, and moved
over the final name with ``os.replace`` (atomic on POSIX and Windows), so a crash leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import math
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import ExportError

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".bak"


def atomic_write(path: Path, write: Callable[[Path], Any], *, durable: bool = True) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically.

    ``write`` must create the file it is given. ``durable`` fsyncs the file before the
    rename (survives power loss, not only a killed process). The temporary name keeps
    the final suffixes so that writers which pick a format by extension still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.count(".") >= 2 else path.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
        os.replace(p, bak)
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
