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

from ...cache import Signature
from .runtime import (
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
#: A box whose long side is under this many pixels of the 256 input is segmented on a zoomed
#: square crop instead (``Session.zoom``): the 64x64 embedding gives a small object only a
#: few cells. Measured on tight boxes around small lesions (pyradiomics breast1, the
#: sarcoma's end slices) Dice rose from 0.03-0.73 to 0.55-0.94; boxes of 60 px and more
#: did as well or better unzoomed (brain1), so larger boxes stay on the whole slice.
ZOOM_BELOW = 48
#: Side of the zoomed crop / the box's long side (the box fills a third of the input).
ZOOM_CONTEXT = 3.0
#: The crop is at least this many slice pixels wide (no zoom beyond ~8x on tiny boxes).
ZOOM_MIN_SIDE = 32

Crop = tuple[int, int, int, int]  # (row0, col0, row1, col1), half-open


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
    _emb: dict = field(default_factory=dict)  # (slice, crop or None) -> embedding, held for this session
    _ov: Any = None  # the OpenVINO encoder (CPU), resolved on first use
    _ov_checked: bool = False
    #: Segment boxes that are small in the network input on a zoomed crop (an extra encoder
    #: run per slice and crop; see ZOOM_BELOW). Prompt paths turn it on; organ locators,
    #: whose boxes are large and whose speed is budgeted per slice, leave it off.
    zoom: bool = False
    #: One zoomed crop every box of this session is segmented on (a 3D box on a small
    #: object: all its slices share the crop, so each slice is encoded once).
    crop: Crop | None = None
    decoded_hits: int = 0  # boxes answered from _decoded
    #: (slice, box, crop) -> (packed mask bits, IoU): walks from different start slices
    #: that reach the same box on a slice get the same mask without a decoder run.
    _decoded: dict = field(default_factory=dict)

    @property
    def ov_encoder(self) -> Any:
        """The OpenVINO encoder when it runs this session's encoder, else None (torch)."""
        if not self._ov_checked:
            from .openvino import get_encoder

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

    def _key(self, index: int | None, crop: Crop | None = None) -> Signature:
        part = (-1 if index is None else int(index), self.window_key, self.model.device, self.precision)
        return Signature(self.study.fingerprint, self.model.sha256, part + ((crop,) if crop else ()))

    def _slice(self, index: int | None, crop: Crop | None = None) -> np.ndarray:
        a = self.study.array if index is None else self.study.array[int(index)]
        return a if crop is None else a[crop[0]:crop[2], crop[1]:crop[3]]

    def embeddings(self, indices: Iterable[int | None], crop: Crop | None = None) -> None:
        """Make sure the embeddings of these slices (or of ``crop`` of each) are at hand
        (this session's, the shared cache's, or the encoder's)."""
        todo = []
        for i in dict.fromkeys(indices):
            if (i, crop) in self._emb:
                continue
            emb = EMBEDDINGS.get(self._key(i, crop))
            if emb is not None:
                self._emb[(i, crop)] = emb
                self.cache_hits += 1
            else:
                todo.append(i)
        batch = GPU_BATCH if self.model.device.startswith("cuda") else CPU_BATCH
        for k in range(0, len(todo), batch):
            part = todo[k:k + batch]
            embs = self._encode([self._slice(i, crop) for i in part])
            for i, emb in zip(part, embs):
                self._emb[(i, crop)] = emb
                EMBEDDINGS.put(self._key(i, crop), emb)
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
        """Mask (bool, slice shape, a new array) and predicted IoU for a box on one slice."""
        box = tuple(int(v) for v in box)
        crop = self.crop or (self.zoom_crop(box) if self.zoom else None)
        key = (index, box, crop)
        hit = self._decoded.get(key)
        shape = self.slice_shape()
        if hit is not None:
            self.decoded_hits += 1
            return np.unpackbits(hit[0], count=shape[0] * shape[1]).reshape(shape).astype(bool), hit[1]
        mask, iou = self._segment_on(index, box, crop)
        self._decoded[key] = (np.packbits(mask), iou)
        return mask, iou

    def _segment_on(self, index: int | None, box: tuple[int, int, int, int],
                    crop: Crop | None) -> tuple[np.ndarray, float]:
        """Decode a box on a slice, or on ``crop`` of it (the mask put back on the slice)."""
        r0, c0 = (0, 0) if crop is None else crop[:2]
        local = (box[0] - r0, box[1] - c0, box[2] - r0, box[3] - c0)
        shape = self.slice_shape() if crop is None else (crop[2] - crop[0], crop[3] - crop[1])
        self.embeddings([index], crop)
        t0 = time.perf_counter()
        try:
            part, iou = self._decode(self._emb[(index, crop)], local, shape)
        except RuntimeError as exc:
            if self.model.precision != "fp16":
                raise
            fall_back_to_fp32(self.model, exc)
            self._emb.clear()
            self.embeddings([index], crop)
            part, iou = self._decode(self._emb[(index, crop)], local, shape)
        self.seconds += time.perf_counter() - t0
        if crop is None:
            return part, iou
        mask = np.zeros(self.slice_shape(), dtype=bool)
        mask[crop[0]:crop[2], crop[1]:crop[3]] = part
        return mask, iou

    def zoom_crop(self, box: tuple[int, int, int, int]) -> Crop | None:
        """The square crop (half-open slice pixels) a small box is segmented on, or None.

        Side ``ZOOM_CONTEXT`` times the box's long side (at least ``ZOOM_MIN_SIDE``),
        rounded up to 16 px and centred on the box snapped to 8 px, so that nearby boxes
        share a crop (and its cached embedding); shifted to lie inside the slice.
        """
        shape = self.slice_shape()
        long_side = max(box[2] - box[0] + 1, box[3] - box[1] + 1)
        if long_side * INPUT_SIZE / max(shape) >= ZOOM_BELOW:
            return None
        side = int(np.ceil(max(ZOOM_CONTEXT * long_side, ZOOM_MIN_SIDE) / 16.0) * 16)
        if side >= max(shape):
            return None
        out = []
        for lo, hi, n in ((box[0], box[2], shape[0]), (box[1], box[3], shape[1])):
            s = min(side, n)
            centre = int(round((lo + hi + 1) / 2.0 / 8.0) * 8)
            start = min(max(0, centre - s // 2), n - s)
            out += [start, start + s]
        return out[0], out[2], out[1], out[3]

    def _decode(self, emb: Any, box: tuple[int, int, int, int],
                shape: tuple[int, int]) -> tuple[np.ndarray, float]:
        """Mask and IoU for a box (pixels of the encoded image, of ``shape``)."""
        import torch
        import torch.nn.functional as F

        net = self.model.net
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
