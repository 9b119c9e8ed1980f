"""Guards against hostile or broken input: checked before memory is allocated or trusted.

* :func:`check_geometry`: the affine must be finite with non-zero voxel sizes.
* :func:`check_allocation`: refuse an array that cannot fit in the memory this process
  may use (free RAM and ``RLIMIT_AS``), before allocating it.
* :func:`check_file_holds`: a header that announces more voxel bytes than the file
  holds is refused before anything is read (a 10 KB file announcing 16 GB).
* :func:`bounded_files`: the files of a folder, walked without following directory
  symlinks (no loops), stopping at ``$MEDGROUND_MAX_FILES`` (default
  :data:`MAX_FILES`) with a warning, so that a folder of 100,000 tiny files costs
  bounded time.
"""
from __future__ import annotations

import os
import resource
import struct
from pathlib import Path

import numpy as np

from ..errors import StudyLoadError

MAX_FILES = 50_000
ENV_MAX_FILES = "MEDGROUND_MAX_FILES"
_MIN_VOXEL_MM = 1e-6


def check_geometry(study) -> None:
    """StudyLoadError when ``study.affine_lps`` is not finite or a voxel size is 0."""
    a = study.affine_lps
    where = study.source_paths[0] if study.source_paths else study.name
    if not np.all(np.isfinite(a)):
        raise StudyLoadError(f"{where}: untrustworthy geometry: the voxel-to-patient transform holds NaN or "
                             "infinite values (broken spacing/orientation in the header); nothing was loaded")
    norms = np.linalg.norm(a[:3, : study.ndim], axis=0)
    if np.any(norms < _MIN_VOXEL_MM) or abs(np.linalg.det(a[:3, :3])) < _MIN_VOXEL_MM ** 3:
        sizes = " x ".join(f"{v:g}" for v in norms)
        raise StudyLoadError(f"{where}: untrustworthy geometry: voxel size {sizes} mm (zero or degenerate "
                             "spacing/orientation in the header); nothing was loaded")


def available_bytes() -> int:
    """Bytes this process may still allocate: min(available RAM, RLIMIT_AS headroom)."""
    avail = _mem_available()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft not in (resource.RLIM_INFINITY, -1):
        avail = min(avail, max(0, soft - _vm_size()))
    return avail


def check_allocation(nbytes: int, where, what: str) -> None:
    """StudyLoadError naming ``where`` when ``nbytes`` cannot fit in :func:`available_bytes`."""
    free = available_bytes()
    if nbytes > free:
        raise StudyLoadError(
            f"{where}: {what} needs {_gb(nbytes)} of memory, only {_gb(free)} is available to this process; "
            "nothing was loaded (open a cropped or downsampled copy, or free memory)")


def check_file_holds(path: Path, offset: int, nbytes: int, what: str) -> None:
    """StudyLoadError when ``path`` cannot hold ``nbytes`` of data after ``offset``.

    For gzip files the uncompressed size comes from the gzip trailer (modulo 2**32).
    """
    path = Path(path)
    size = path.stat().st_size
    if _is_gzip(path):
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 4))
            isize = struct.unpack("<I", fh.read(4).rjust(4, b"\0"))[0]
        need = (offset + nbytes) % (1 << 32)
        if isize != need:
            raise StudyLoadError(
                f"{path}: the header announces {what} ({_gb(nbytes)}), but the compressed file holds "
                f"{isize} bytes in all; refused before reading (corrupt or truncated header)")
        return
    if size - offset < nbytes:
        raise StudyLoadError(
            f"{path}: the header announces {what} ({_gb(nbytes)}), but the file holds "
            f"{max(0, size - offset)} bytes of voxel data; refused before reading (corrupt or truncated)")


def max_files() -> int:
    env = os.environ.get(ENV_MAX_FILES, "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else MAX_FILES


def bounded_files(folder: Path, limit: int | None = None) -> tuple[list[Path], bool]:
    """Non-hidden files under ``folder`` (sorted), at most ``limit``; True when it stopped early.

    Directory symlinks are not followed (no loops); file symlinks are listed.
    """
    limit = max_files() if limit is None else limit
    out: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False, onerror=lambda e: None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            try:
                if not p.is_file():
                    continue
            except OSError:
                continue
            if len(out) >= limit:
                return sorted(out), True
            out.append(p)
    return sorted(out), False


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _mem_available() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil optional
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def _vm_size() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
