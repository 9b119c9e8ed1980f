"""Device selection: auto, explicit, environment override, and clear errors."""
from __future__ import annotations

import pytest

from napari_medground.errors import DeviceError
from napari_medground.models import device as dv


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_auto_picks_cuda_only_when_available(monkeypatch):
    monkeypatch.delenv("MEDGROUND_DEVICE", raising=False)
    assert dv.resolve_device("auto") == ("cuda" if _has_cuda() else "cpu")
    assert dv.resolve_device(None) == dv.resolve_device("auto")


def test_explicit_cpu_and_environment_override(monkeypatch):
    assert dv.resolve_device("cpu") == "cpu"
    assert dv.resolve_device(" CPU ") == "cpu"
    monkeypatch.setenv("MEDGROUND_DEVICE", "cpu")
    assert dv.resolve_device("auto") == "cpu"
    monkeypatch.setenv("MEDGROUND_DEVICE", "auto")
    assert dv.resolve_device("auto") == ("cuda" if _has_cuda() else "cpu")


def test_explicit_request_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("MEDGROUND_DEVICE", "tpu")
    assert dv.resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match="MEDGROUND_DEVICE"):
        dv.resolve_device("auto")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", "cpu:0", "cuda:-1"])
def test_unknown_names_list_the_valid_choices(bad):
    with pytest.raises(DeviceError) as err:
        dv.resolve_device(bad)
    msg = str(err.value)
    assert repr(bad) in msg and "auto" in msg and "cpu" in msg


def test_cuda_errors_when_absent_or_out_of_range():
    if _has_cuda():
        import torch

        n = torch.cuda.device_count()
        assert dv.resolve_device("cuda:0") == "cuda:0"
        with pytest.raises(DeviceError, match=f"{n} CUDA"):
            dv.resolve_device(f"cuda:{n}")
    else:
        with pytest.raises(DeviceError, match="no CUDA GPU") as err:
            dv.resolve_device("cuda")
        assert "cpu" in str(err.value) and "cuda" not in dv.valid_devices()


def test_precision_and_threads():
    import torch

    assert dv.default_precision("cpu") == "fp32" and dv.default_precision("cuda:1") == "fp16"
    n = dv.physical_cores()
    assert 1 <= n <= (torch.get_num_threads() + 64)
    dv.configure_cpu_threads.cache_clear()
    assert dv.configure_cpu_threads() == torch.get_num_threads()
