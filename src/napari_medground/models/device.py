"""Compute device selection for the local models (no Qt, torch imported lazily).

``resolve_device("auto")`` gives ``"cuda"`` when a CUDA GPU is usable and ``"cpu"``
otherwise; ``MEDGROUND_DEVICE`` overrides ``"auto"`` (an explicit per-call device wins
over the environment). Precision: half (fp16) on CUDA, exact fp32 on the CPU, where
bf16 brings nothing for these Conv3d shapes (../shared/STACK.md).
"""
from __future__ import annotations

import logging
import os
import re
from functools import lru_cache

from ..errors import DeviceError

log = logging.getLogger(__name__)

ENV_DEVICE = "MEDGROUND_DEVICE"
ENV_THREADS = "MEDGROUND_THREADS"
_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(requested: str | None = "auto") -> str:
    """Turn a device request into ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Parameters
    ----------
    requested : str or None
        ``"auto"`` (or None/empty): ``$MEDGROUND_DEVICE`` when set, else CUDA when
        available, else CPU. ``"cpu"``, ``"cuda"``, ``"cuda:N"``: that device.

    Raises
    ------
    DeviceError
        Unknown name, or a CUDA device that this machine does not have; the message
        lists the valid choices here.
    """
    req = (requested or "auto").strip().lower()
    source = "requested"
    if req == "auto":
        env = os.environ.get(ENV_DEVICE, "").strip().lower()
        if env and env != "auto":
            req, source = env, f"${ENV_DEVICE}"
        else:
            return "cuda" if _cuda_count() > 0 else "cpu"
    if req == "cpu":
        return "cpu"
    m = _CUDA_RE.match(req)
    if m is None:
        raise DeviceError(f"device {requested if source == 'requested' else req!r} ({source}) is not a "
                          f"device name; valid choices here: {', '.join(valid_devices())}")
    n = _cuda_count()
    index = int(m.group(1) or 0)
    if n == 0:
        raise DeviceError(f"device {req!r} ({source}) asked for CUDA but no CUDA GPU is usable here "
                          f"({_torch_build()}); valid choices here: {', '.join(valid_devices())}")
    if index >= n:
        raise DeviceError(f"device {req!r} ({source}) does not exist: this machine has {n} CUDA "
                          f"device(s); valid choices here: {', '.join(valid_devices())}")
    return req


def valid_devices() -> list[str]:
    """The device names ``resolve_device`` accepts on this machine."""
    n = _cuda_count()
    out = ["auto", "cpu"]
    if n:
        out += ["cuda"] + [f"cuda:{i}" for i in range(n)]
    return out


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def default_precision(device: str) -> str:
    """``"fp16"`` on CUDA (checked against fp32 in the tests), ``"fp32"`` on the CPU."""
    return "fp16" if is_cuda(device) else "fp32"


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads do not speed up the convolutions)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    phys = None
    try:
        import psutil

        phys = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil is optional
        phys = None
    if not phys:
        phys = _cores_from_cpuinfo()
    logical = os.cpu_count() or allowed
    if phys and logical and phys < logical:
        # keep the share of physical cores inside the affinity mask
        return max(1, round(allowed * phys / logical))
    return max(1, allowed)


@lru_cache(maxsize=1)
def configure_cpu_threads() -> int:
    """Set torch's intra-op threads once: ``$MEDGROUND_THREADS`` or the physical cores."""
    import torch

    env = os.environ.get(ENV_THREADS, "").strip()
    n = int(env) if env.isdigit() and int(env) > 0 else physical_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    log.debug("torch CPU threads: %d", n)
    return n


def _cores_from_cpuinfo() -> int | None:
    try:
        text = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return None
    pairs = set()
    phys = core = None
    for line in text.splitlines():
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
        elif not line.strip() and core is not None:
            pairs.add((phys, core))
            phys = core = None
    if core is not None:
        pairs.add((phys, core))
    return len(pairs) or None


@lru_cache(maxsize=1)
def _cuda_count() -> int:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver means no CUDA
        return 0


def _torch_build() -> str:
    try:
        import torch

        return f"torch {torch.__version__}"
    except ImportError:  # pragma: no cover
        return "torch not installed"
