"""LiteMedSAM image encoder through OpenVINO on a CPU (bf16 where the CPU has it, else fp32).

The encoder is converted in-process from the loaded torch module
(``openvino.convert_model`` with an example input): nothing is downloaded. The
compiled model is kept per process; the converted IR is also written once to the
models cache folder (``weights.models_cache_dir()/litemedsam_openvino/<weights sha>``)
so that a later process skips the conversion (≈10 s). Torch stays the fallback (no
OpenVINO installed, conversion fails, ``MEDGROUND_SAM_RUNTIME=torch``) and is the only
runtime on CUDA.

Input and output are the torch encoder's: float32 (B, 3, 256, 256) in 0..1 ->
(B, 256, 16, 16) image embedding, returned as a torch tensor.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_RUNTIME = "MEDGROUND_SAM_RUNTIME"  # "auto" (default), "openvino", "openvino-fp32", "torch"
_lock = threading.Lock()
_compiled: dict[tuple[str, str], "OvEncoder"] = {}
_failed: set[str] = set()


@dataclass
class OvEncoder:
    """A compiled OpenVINO encoder; ``precision`` is "bf16" or "fp32"."""

    compiled: Any
    precision: str
    #: Calls on a compiled model share one infer request ("Infer Request is busy" from a
    #: second thread, e.g. the viewer's background encoding beside a grounding job).
    calls: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __call__(self, x: Any) -> Any:
        import numpy as np
        import torch

        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        # one image per call: the traced encoder is exact for batch 1 (see _convert)
        with self.calls:
            outs = [np.array(self.compiled(arr[i:i + 1])[0], dtype=np.float32, copy=True)
                    for i in range(len(arr))]
        return torch.from_numpy(np.concatenate(outs, 0))

    @property
    def runtime(self) -> str:
        return f"openvino-{self.precision}"


def wanted_runtime() -> str:
    """The runtime asked for by ``$MEDGROUND_SAM_RUNTIME`` (default "auto")."""
    return os.environ.get(ENV_RUNTIME, "auto").strip().lower() or "auto"


def cpu_has_bf16(core: Any) -> bool:
    """Whether OpenVINO's CPU plugin can run bf16 here (AMX/AVX512-BF16)."""
    try:
        caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - an old plugin without the property
        return False
    return "BF16" in [str(c).upper() for c in caps]


def _ir_path(sha256: str) -> Path | None:
    try:
        from ..weights import models_cache_dir

        return models_cache_dir() / "litemedsam_openvino" / sha256[:16] / "encoder_b1.xml"
    except Exception:  # noqa: BLE001 - no cache folder: convert in memory only
        return None


def _convert(model: Any, core: Any) -> Any:
    """The encoder as an OpenVINO model: read from the IR cache or converted from torch."""
    import openvino as ov
    import torch

    path = _ir_path(model.sha256)
    if path is not None and path.is_file() and path.with_suffix(".bin").is_file():
        try:
            return core.read_model(str(path))
        except Exception as exc:  # noqa: BLE001 - a damaged cache: convert again
            log.warning("OpenVINO IR cache %s unreadable (%s); converting again", path, exc)
    with torch.inference_mode():
        ov_model = ov.convert_model(model.net.image_encoder, example_input=torch.zeros(1, 3, 256, 256),
                                    input=[(1, 3, 256, 256)])
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"encoder.{os.getpid()}.xml")
            ov.save_model(ov_model, str(tmp), compress_to_fp16=False)
            tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
            tmp.replace(path)
        except OSError as exc:
            log.info("OpenVINO IR not cached (%s)", exc)
    return ov_model


def get_encoder(model: Any) -> OvEncoder | None:
    """The OpenVINO encoder for a CPU ``LoadedModel``, or None where torch must run it.

    None when the model is not on the CPU, ``$MEDGROUND_SAM_RUNTIME`` is "torch",
    OpenVINO is not installed, or conversion failed once in this process.
    """
    want = wanted_runtime()
    if not str(model.device).startswith("cpu") or want == "torch":
        return None
    try:
        import openvino as ov
    except ImportError:
        return None
    with _lock:
        core = ov.Core()
        precision = "bf16" if want != "openvino-fp32" and cpu_has_bf16(core) else "fp32"
        key = (model.sha256, precision)
        if key in _compiled:
            return _compiled[key]
        if model.sha256 in _failed:
            return None
        try:
            ov_model = _convert(model, core)
            threads = _threads()
            config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                      "PERFORMANCE_HINT": "LATENCY"}
            if threads:
                config["INFERENCE_NUM_THREADS"] = threads
            enc = OvEncoder(compiled=core.compile_model(ov_model, "CPU", config), precision=precision)
        except Exception as exc:  # noqa: BLE001 - any conversion problem: torch takes over
            log.warning("LiteMedSAM: OpenVINO encoder unavailable (%s); using torch", exc)
            _failed.add(model.sha256)
            return None
        _compiled[key] = enc
        log.info("LiteMedSAM encoder on OpenVINO %s", precision)
        return enc


def _threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except Exception:  # noqa: BLE001
        return 0
