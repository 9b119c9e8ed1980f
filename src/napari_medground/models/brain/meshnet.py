"""MeshNet runtime (brainchop weights): exact region-of-interest inference, fast on CPU and GPU.

A MeshNet is a stack of same-padded dilated 3x3x3 convolutions (ReLU, ELU or GELU,
optionally a per-channel GroupNorm) and a 1x1x1 classifier. Each voxel's label depends
only on the input within ``receptive_radius`` voxels (45 for the 104-region model), so
:meth:`MeshNetRunner.predict` computes, layer by layer, only the region that the
next layers need: the ROI grown by the remaining radius. Zero padding is applied only
where that region meets the volume border, exactly as the full-volume same-padded
network does, so the labels inside the ROI equal those of a full run. The classifier
and the argmax run in chunks (a 104-channel fp32 output of 256^3 would take 7 GB).

Arrays are indexed like the input volume (our (z, y, x) order); boxes are
``(lo, hi)`` integer triples, ``hi`` exclusive. Models without a norm layer are exact
on any ROI; a model with GroupNorm (mindgrab) always runs on the whole volume.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...cache import register_models
from ...progress import CancelFn, ProgressFn, check_cancel, report
from ..device import configure_cpu_threads, default_precision, is_cuda

log = logging.getLogger(__name__)

Box3 = tuple[tuple[int, int, int], tuple[int, int, int]]
_CPU_SLAB_VOXELS = 4_000_000  # output voxels per conv call on the CPU (bounded memory, pause points)


@dataclass(frozen=True)
class ConvLayer:
    """One convolution: channels, cubic kernel size, dilation, bias present."""

    in_ch: int
    out_ch: int
    kernel: int
    dilation: int
    bias: bool

    @property
    def radius(self) -> int:
        return self.dilation * (self.kernel - 1) // 2


@dataclass(frozen=True)
class MeshNetSpec:
    """Architecture read from brainchop's ``model.json`` plus the weight shapes."""

    layers: tuple[ConvLayer, ...]  # the last one is the 1x1x1 classifier
    activation: str  # "relu", "elu" or "gelu" (exact erf form, as nn.GELU)
    norm: str = "none"  # "none" or "instance" (GroupNorm(C, C, affine=False), eps 1e-5)
    weight_keys: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return self.layers[-1].out_ch

    @property
    def receptive_radius(self) -> int:
        return sum(layer.radius for layer in self.layers)


def parse_spec(spec: dict[str, Any], state: dict[str, Any]) -> MeshNetSpec:
    """Build the spec from ``model.json`` and the weight tensors (channels come from the weights)."""
    wkeys = sorted((k for k in state if k.endswith("weight") and getattr(state[k], "ndim", 0) == 5),
                   key=lambda k: [int(t) for t in re.findall(r"\d+", k)])
    cfg = spec["layers"]
    if len(wkeys) != len(cfg):
        raise ValueError(f"model.json lists {len(cfg)} layers but the weights hold {len(wkeys)} convolutions")
    layers = []
    for key, c in zip(wkeys, cfg):
        w = state[key]
        k = int(c["kernel_size"])
        if tuple(w.shape[2:]) != (k, k, k) or int(c.get("stride", 1)) != 1:
            raise ValueError(f"layer {key}: kernel {tuple(w.shape[2:])} does not match model.json {k}")
        if int(c["padding"]) != int(c["dilation"]) * (k - 1) // 2:
            raise ValueError(f"layer {key}: padding {c['padding']} is not 'same' "
                             f"for dilation {c['dilation']}")
        layers.append(ConvLayer(int(w.shape[1]), int(w.shape[0]), k, int(c["dilation"]),
                                key[: -len("weight")] + "bias" in state))
    act = "gelu" if spec.get("gelu") else "elu" if spec.get("elu") else "relu"
    norm = "instance" if spec.get("bnorm") else "none"
    return MeshNetSpec(tuple(layers), act, norm, tuple(wkeys))


def reference_module(spec: MeshNetSpec, state: dict[str, Any]):
    """The plain PyTorch definition of the network (``nn.Sequential``), for checks and benchmarks."""
    import torch.nn as nn

    mods: list[nn.Module] = []
    for i, (layer, key) in enumerate(zip(spec.layers, spec.weight_keys)):
        conv = nn.Conv3d(layer.in_ch, layer.out_ch, layer.kernel, padding=layer.radius,
                         dilation=layer.dilation, bias=layer.bias)
        conv.weight.data.copy_(state[key])
        if layer.bias:
            conv.bias.data.copy_(state[key[: -len("weight")] + "bias"])
        mods.append(conv)
        if i < len(spec.layers) - 1:
            if spec.norm == "instance":
                mods.append(nn.GroupNorm(layer.out_ch, layer.out_ch, affine=False))
            mods.append({"relu": nn.ReLU(), "elu": nn.ELU(), "gelu": nn.GELU()}[spec.activation])
    return nn.Sequential(*mods).eval()


class MeshNetRunner:
    """A MeshNet with its weights on one device, ready to predict labels of any 3D volume."""

    def __init__(self, spec: MeshNetSpec, state: dict[str, Any], device: str = "cpu",
                 precision: str | None = None) -> None:
        import torch

        self.spec = spec
        self.device = device
        self.precision = precision or default_precision(device)
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        if not is_cuda(device):
            configure_cpu_threads()
        fmt = torch.channels_last_3d
        self._w, self._b = [], []
        for i, (layer, key) in enumerate(zip(spec.layers, spec.weight_keys)):
            w = state[key].to(device=device, dtype=self.dtype)
            if i == 0 and layer.in_ch == 1 and not is_cuda(device):
                # PyTorch never sends a 1-channel Conv3d to oneDNN; a zero second input
                # channel does (1.5-2x faster here) and adds exactly 0 to every output
                w = torch.cat([w, torch.zeros_like(w)], dim=1)
            self._w.append(w.contiguous(memory_format=fmt) if layer.kernel > 1 else w)
            b = state.get(key[: -len("weight")] + "bias")
            self._b.append(None if b is None else b.to(device=device, dtype=self.dtype))
        last = self._w[-1]
        self._cls_w = last.reshape(last.shape[0], last.shape[1]).t().contiguous()  # (C, K)
        self.slab_voxels = 1 << 62 if is_cuda(device) else _CPU_SLAB_VOXELS

    # ------------------------------------------------------------------ public
    def predict(self, volume: np.ndarray, roi: Box3 | None = None, *,
                transform: Callable[[np.ndarray], np.ndarray] | None = None,
                progress: ProgressFn = None, cancel: CancelFn = None,
                pause: Callable[[], None] | None = None, slab_voxels: int | None = None) -> np.ndarray:
        """Labels (uint8, or uint16 above 255 classes) of ``roi`` (default: the whole volume).

        ``transform`` maps a raw block of ``volume`` to the network input (float32 0..1);
        it is applied only to the block the ROI needs. ``pause`` is called between
        convolution slabs (a background run uses it to yield to a foreground one);
        ``slab_voxels`` bounds the output voxels of one convolution call.
        """
        import torch

        shape = tuple(int(s) for s in volume.shape)
        roi = self.effective_roi(shape, roi)
        radii = [layer.radius for layer in self.spec.layers]
        after = [sum(radii[i + 1:]) for i in range(len(radii))]
        lo, hi = _grow(roi, sum(radii), shape)
        block = volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        block = transform(block) if transform is not None else block
        slab = int(slab_voxels or self.slab_voxels)
        with torch.inference_mode():
            x = self._input_tensor(block)
            cur: Box3 = (lo, hi)
            n = len(self.spec.layers) - 1
            for i in range(n):
                check_cancel(cancel, "brain segmentation")
                need = _grow(roi, after[i], shape)
                x = self._layer(x, cur, need, i, slab, cancel, pause)
                cur = need
                report(progress, (i + 1) / (n + 1), f"MeshNet layer {i + 1}/{n}")
            labels = self._classify(x)
        report(progress, 1.0, "MeshNet labels ready")
        return labels.reshape(tuple(h - l for l, h in zip(*roi)))

    def effective_roi(self, shape: tuple[int, ...], roi: Box3 | None) -> Box3:
        """The ROI actually computed: the whole volume for models with a global norm layer."""
        whole: Box3 = ((0, 0, 0), tuple(shape))  # type: ignore[assignment]
        if roi is None or self.spec.norm != "none":
            return whole
        lo = tuple(max(0, int(v)) for v in roi[0])
        hi = tuple(min(s, int(v)) for s, v in zip(shape, roi[1]))
        if any(h <= l for l, h in zip(lo, hi)):
            raise ValueError(f"empty region of interest {roi} for a volume of shape {shape}")
        return lo, hi  # type: ignore[return-value]

    # ----------------------------------------------------------------- layers
    def _input_tensor(self, block: np.ndarray):
        """(1, C, D, H, W) network input, channels-last, with the zero channel of layer 1 if any."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
        c = self._w[0].shape[1]
        if c == 1:
            return x[None, None].to(device=self.device, dtype=self.dtype)
        buf = torch.zeros((1, *x.shape, c), dtype=self.dtype, device=self.device)
        buf[..., 0] = x.to(device=self.device, dtype=self.dtype)
        return buf.permute(0, 4, 1, 2, 3)

    def _layer(self, x, cur: Box3, need: Box3, i: int, slab: int, cancel: CancelFn, pause):
        import torch
        import torch.nn.functional as F

        layer = self.spec.layers[i]
        r, d = layer.radius, layer.dilation
        out_shape = tuple(h - l for l, h in zip(*need))
        plane = out_shape[1] * out_shape[2]
        depth = max(1, min(out_shape[0], slab // max(1, plane)))
        out = None
        norm = self.spec.norm == "instance"
        stats = []
        for z0 in range(need[0][0], need[1][0], depth):
            z1 = min(z0 + depth, need[1][0])
            if pause is not None:
                pause()
            check_cancel(cancel, "brain segmentation")
            src_lo = (z0 - r, need[0][1] - r, need[0][2] - r)
            src_hi = (z1 + r, need[1][1] + r, need[1][2] + r)
            piece = _crop_padded(x, cur, src_lo, src_hi)
            y = F.conv3d(piece, self._w[i], self._b[i], dilation=d)
            if norm:
                stats.append(_moments(y))
            else:
                self._activate(y)
            if depth >= out_shape[0]:
                out = y
                break
            if out is None:
                out = torch.empty((1, y.shape[1], *out_shape), dtype=y.dtype, device=y.device,
                                  memory_format=torch.channels_last_3d)
            out[:, :, z0 - need[0][0]:z1 - need[0][0]].copy_(y)
            del y
        if norm:
            self._normalize(out, stats, depth)
        return out

    def _activate(self, y) -> None:
        import torch.nn.functional as F

        if self.spec.activation == "relu":
            y.relu_()
        elif self.spec.activation == "elu":
            F.elu(y, inplace=True)
        else:
            y.copy_(F.gelu(y))

    def _normalize(self, out, stats, depth: int) -> None:
        """GroupNorm(C, C, affine=False) over the whole output, then the activation, slab by slab."""
        import torch

        n = sum(s[0] for s in stats)
        s1 = sum(s[1] for s in stats)
        s2 = sum(s[2] for s in stats)
        mean = s1 / n
        var = torch.clamp(s2 / n - mean * mean, min=0.0)
        scale = (1.0 / torch.sqrt(var + 1e-5)).to(out.dtype).view(1, -1, 1, 1, 1)
        shift = (-mean).to(out.dtype).view(1, -1, 1, 1, 1)
        for z0 in range(0, out.shape[2], depth):
            y = out[:, :, z0:z0 + depth]
            y.add_(shift).mul_(scale)
            self._activate(y)

    def _classify(self, x) -> np.ndarray:
        """1x1x1 classifier and argmax in chunks of voxels (never the whole logit volume)."""
        import torch

        k = self.spec.n_classes
        c = x.shape[1]
        feats = x.permute(0, 2, 3, 4, 1).reshape(-1, c)
        out = torch.empty(feats.shape[0], dtype=torch.uint8 if k <= 256 else torch.int32, device=x.device)
        # CPU: rows per GEMM large enough for the thread pool, small enough for the cache
        chunk = (1 << 22) if is_cuda(self.device) else 65536
        bias = self._b[-1]
        for a in range(0, feats.shape[0], chunk):
            rows = feats[a:a + chunk]
            logits = rows @ self._cls_w if bias is None else torch.addmm(bias, rows, self._cls_w)
            out[a:a + chunk] = logits.argmax(dim=1).to(out.dtype)
        labels = out.cpu().numpy()
        return labels if k <= 256 else labels.astype(np.uint16)


# ----------------------------------------------------------------- loading / cache
_RUNNERS: dict[tuple[str, str, str], MeshNetRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _loaded_runners() -> dict[str, int]:
    with _RUNNERS_LOCK:
        return {"meshnet:" + ":".join(map(str, key)): id(r) for key, r in _RUNNERS.items()}


register_models("meshnet", _loaded_runners)


def get_runner(model: str, device: str = "cpu", precision: str | None = None) -> tuple[MeshNetRunner, str]:
    """The cached runner of a registry model on ``device`` and the weights' sha256.

    Weights are verified (sha256) on first load and kept in memory for the process.
    """
    import json

    from ..registry import get_manifest, weights_path
    from ..weights import load_state_dict, verify_weights

    manifest = get_manifest(model)
    precision = precision or default_precision(device)
    key = (model, device, precision)
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            t0 = time.perf_counter()
            path = weights_path(manifest)
            state = load_state_dict(path, manifest.weights.format)
            spec = parse_spec(json.loads(manifest.file_path("spec").read_text()), state)
            runner = MeshNetRunner(spec, state, device, precision)
            _RUNNERS[key] = runner
            log.info("loaded %s on %s (%s) in %.2f s", model, device, precision, time.perf_counter() - t0)
    return runner, verify_weights(weights_path(manifest, verify=False), manifest)


def predict_with_fallback(model: str, device: str, precision: str | None, volume: np.ndarray,
                          roi: Box3 | None, **kw) -> tuple[np.ndarray, str, str, list[str]]:
    """Predict on ``device``; on CUDA out-of-memory retry with smaller tiles, then on the CPU.

    Returns labels, the device and precision actually used, and notes for the user.
    """
    notes: list[str] = []
    runner, _ = get_runner(model, device, precision)
    if not is_cuda(device):
        return runner.predict(volume, roi, **kw), device, runner.precision, notes
    import torch

    tile = None
    while True:
        try:
            return runner.predict(volume, roi, slab_voxels=tile, **kw), device, runner.precision, notes
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            tile = 1 << 23 if tile is None else tile // 4
            if tile < (1 << 18):
                break
            notes.append(f"CUDA out of memory: retried with tiles of {tile} voxels")
            log.warning("%s: CUDA out of memory on %s, retrying with tiles of %d voxels", model, device, tile)
    msg = f"CUDA out of memory on {device} even with small tiles: ran {model} on the CPU instead"
    log.warning(msg)
    notes.append(msg)
    cpu, _ = get_runner(model, "cpu", "fp32")
    return cpu.predict(volume, roi, **kw), "cpu", "fp32", notes


# ----------------------------------------------------------------- helpers
def _grow(roi: Box3, r: int, shape) -> Box3:
    lo = tuple(max(0, v - r) for v in roi[0])
    hi = tuple(min(s, v + r) for s, v in zip(shape, roi[1]))
    return lo, hi  # type: ignore[return-value]


def _crop_padded(x, cur: Box3, src_lo, src_hi):
    """The part of ``x`` (covering ``cur``) inside ``src_lo..src_hi``, zero-padded where it leaves ``cur``.

    Padding is needed only where ``cur`` was clipped at the volume border, so it
    reproduces the zero padding of the same-padded full-volume network exactly.
    """
    import torch

    a = [max(s, c) for s, c in zip(src_lo, cur[0])]
    b = [min(s, c) for s, c in zip(src_hi, cur[1])]
    view = x[:, :, a[0] - cur[0][0]:b[0] - cur[0][0], a[1] - cur[0][1]:b[1] - cur[0][1],
             a[2] - cur[0][2]:b[2] - cur[0][2]]
    pad_lo = [ai - s for ai, s in zip(a, src_lo)]
    if not any(pad_lo) and all(bi == s for bi, s in zip(b, src_hi)):
        return view
    full = tuple(h - l for l, h in zip(src_lo, src_hi))
    buf = torch.zeros((1, *full, x.shape[1]), dtype=x.dtype, device=x.device).permute(0, 4, 1, 2, 3)
    buf[:, :, pad_lo[0]:pad_lo[0] + b[0] - a[0], pad_lo[1]:pad_lo[1] + b[1] - a[1],
        pad_lo[2]:pad_lo[2] + b[2] - a[2]].copy_(view)
    return buf


def _moments(y):
    """Per-channel count, sum and sum of squares (float64) of a conv output slab."""
    import torch

    dims = (0, 2, 3, 4)
    return (y.shape[0] * y.shape[2] * y.shape[3] * y.shape[4],
            y.sum(dim=dims, dtype=torch.float64), (y * y).sum(dim=dims, dtype=torch.float64))
