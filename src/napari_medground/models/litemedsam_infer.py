"""LiteMedSAM inference on slices: cached image embeddings, then box -> mask.

A slice is the study array's last two axes at one index of the first axis (3D) or the
whole image (2D, slice index ``None``). Boxes in and out of this module are slice pixel
indices ``(row0, col0, row1, col1)``, inclusive.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .litemedsam_runtime import (
    EMBEDDINGS,
    INPUT_SIZE,
    LoadedModel,
    fall_back_to_fp32,
    prepare_batch,
    resized_shape,
)

log = logging.getLogger(__name__)

#: Slices per encoder call. On CPU one at a time measured as fast per slice as batches
#: (bench_litemedsam.py); on a GPU batches amortise the launch overhead.
CPU_BATCH = 1
GPU_BATCH = 8


@dataclass
class Session:
    """One study seen through LiteMedSAM: model, window and counters for a ModelUse."""

    model: LoadedModel
    study: Any  # napari_medground.study.Study
    lo: float
    hi: float
    encoded: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    _emb: dict = field(default_factory=dict)  # slice -> embedding, held for this session
    _ov: Any = None  # the OpenVINO encoder (CPU), resolved on first use
    _ov_checked: bool = False

    @property
    def ov_encoder(self) -> Any:
        """The OpenVINO encoder when it runs this session's encoder, else None (torch)."""
        if not self._ov_checked:
            from .litemedsam_openvino import get_encoder

            self._ov = get_encoder(self.model)
            self._ov_checked = True
        return self._ov

    @property
    def precision(self) -> str:
        """What computes the embeddings: "fp32"/"fp16" (torch) or "openvino-bf16"/"openvino-fp32"."""
        return self.ov_encoder.runtime if self.ov_encoder is not None else self.model.precision

    @property
    def window_key(self) -> tuple[float, float]:
        return (round(self.lo, 4), round(self.hi, 4))

    def slice_shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.study.array.shape[-2:])

    def _key(self, index: int | None) -> tuple:
        return (self.study.fingerprint, -1 if index is None else int(index), self.window_key,
                self.model.device, self.precision)

    def _slice(self, index: int | None) -> np.ndarray:
        return self.study.array if index is None else self.study.array[int(index)]

    def embeddings(self, indices: Iterable[int | None]) -> None:
        """Make sure the embeddings of these slices are at hand (cache or encoder)."""
        todo = []
        for i in dict.fromkeys(indices):
            if i in self._emb:
                continue
            emb = EMBEDDINGS.get(self._key(i))
            if emb is not None:
                self._emb[i] = emb
                self.cache_hits += 1
            else:
                todo.append(i)
        batch = GPU_BATCH if self.model.device.startswith("cuda") else CPU_BATCH
        for k in range(0, len(todo), batch):
            part = todo[k:k + batch]
            embs = self._encode([self._slice(i) for i in part])
            for i, emb in zip(part, embs):
                self._emb[i] = emb
                EMBEDDINGS.put(self._key(i), emb)
            self.encoded += len(part)

    def _encode(self, slices: list[np.ndarray]) -> list[Any]:
        import torch

        t0 = time.perf_counter()
        x = prepare_batch(slices, self.lo, self.hi)
        try:
            out = self._run_encoder(x)
        except RuntimeError as exc:
            if self.model.precision != "fp16":
                raise
            fall_back_to_fp32(self.model, exc)
            out = self._run_encoder(x)
        if self.model.precision == "fp16" and not bool(torch.isfinite(out).all()):
            fall_back_to_fp32(self.model, ValueError("non-finite fp16 embedding"))
            out = self._run_encoder(x)
        self.seconds += time.perf_counter() - t0
        return [e[None] for e in out]

    def _run_encoder(self, x: Any) -> Any:
        import torch

        if self.ov_encoder is not None:
            return self.ov_encoder(x)
        dtype = torch.float16 if self.model.precision == "fp16" else torch.float32
        with torch.inference_mode():
            return self.model.net.image_encoder(x.to(self.model.device, dtype))

    def segment(self, index: int | None, box: tuple[int, int, int, int]) -> tuple[np.ndarray, float]:
        """Mask (bool, slice shape) and predicted IoU for a box on one slice."""
        self.embeddings([index])
        t0 = time.perf_counter()
        emb = self._emb[index]
        try:
            mask, iou = self._decode(emb, box)
        except RuntimeError as exc:
            if self.model.precision != "fp16":
                raise
            fall_back_to_fp32(self.model, exc)
            self._emb.clear()
            self.embeddings([index])
            mask, iou = self._decode(self._emb[index], box)
        self.seconds += time.perf_counter() - t0
        return mask, iou

    def _decode(self, emb: Any, box: tuple[int, int, int, int]) -> tuple[np.ndarray, float]:
        import torch
        import torch.nn.functional as F

        net = self.model.net
        shape = self.slice_shape()
        newh, neww = resized_shape(shape)
        scale = INPUT_SIZE / max(shape)
        r0, c0, r1, c1 = box
        box256 = torch.tensor([[[c0 * scale, r0 * scale, c1 * scale, r1 * scale]]],
                              dtype=torch.float32, device=self.model.device)
        with torch.inference_mode():
            if self.model.dense_pe is None:
                self.model.dense_pe = net.prompt_encoder.get_dense_pe()
            sparse, dense = net.prompt_encoder(points=None, boxes=box256, masks=None)
            logits, iou = net.mask_decoder(
                image_embeddings=emb, image_pe=self.model.dense_pe.to(emb.dtype),
                sparse_prompt_embeddings=sparse.to(emb.dtype), dense_prompt_embeddings=dense.to(emb.dtype),
                multimask_output=False)
            logits = logits[..., :newh, :neww].float()
            logits = F.interpolate(logits, size=shape, mode="bilinear", align_corners=False)
            mask = (logits[0, 0] > 0).cpu().numpy()
        return mask, float(iou.reshape(-1)[0])
