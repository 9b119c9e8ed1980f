# Copyright 2019 Ross Wightman (timm), Apache-2.0. Small local equivalents of the four
# timm helpers that tiny_vit_sam.py uses, so the vendored LiteMedSAM network runs
# without timm (timm imports torchvision, which breaks the CPU torch build).
"""Local stand-ins for ``timm.models.layers.{DropPath, to_2tuple, trunc_normal_}``
and ``timm.models.registry.register_model``."""
from __future__ import annotations

import collections.abc
from itertools import repeat

import torch
import torch.nn as nn


def to_2tuple(x):
    """``x`` if it is already an iterable (not a string), else ``(x, x)``."""
    if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
        return tuple(x)
    return tuple(repeat(x, 2))


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0,
                  a: float = -2.0, b: float = 2.0) -> torch.Tensor:
    """Truncated normal initialisation (only used before pretrained weights load)."""
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False,
              scale_by_keep: bool = True) -> torch.Tensor:
    """Stochastic depth per sample; the identity at inference or with ``drop_prob`` 0."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPath(nn.Module):
    """Stochastic depth (drop paths) per sample, as in timm."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob or 0.0, self.training, self.scale_by_keep)

    def extra_repr(self) -> str:
        return f"drop_prob={round(float(self.drop_prob or 0.0), 3):0.3f}"


def register_model(fn):
    """No-op replacement for timm's model registry decorator."""
    return fn
