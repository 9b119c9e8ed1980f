"""Optional adapters for models the user installs themselves: TotalSegmentator and
MONAI bundles. Importing this package imports neither; each adapter raises
ModelUnavailable naming what to install when its package or weights are missing, and
never downloads anything.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .common import AdapterSegmentation, NetworkBlocked, block_network

__all__ = [
    "AdapterSegmentation",
    "AdapterStatus",
    "NetworkBlocked",
    "adapter_status",
    "block_network",
    "segment_with_monai_bundle",
    "segment_with_totalsegmentator",
]


@dataclass(frozen=True)
class AdapterStatus:
    """Whether an optional adapter can run here (for ``medground models``)."""

    name: str
    installed: bool
    weights: str  # where its weights are looked for
    weights_present: bool | None  # None when it depends on a folder given per call
    licence: str
    how_to_install: str


def adapter_status() -> list[AdapterStatus]:
    """The optional adapters, whether their packages and weights are present (no import of them)."""
    from .totalsegmentator import missing_weights, totalseg_weights_dir

    ts_installed = importlib.util.find_spec("totalsegmentator") is not None
    return [
        AdapterStatus(
            "TotalSegmentator (total, fast)", ts_installed, str(totalseg_weights_dir()),
            not missing_weights("total", fast=True, subset=True), "Apache-2.0 (code and open tasks)",
            "pip install 'napari-medground[totalsegmentator]'; totalseg_download_weights -t total_fast"),
        AdapterStatus(
            "MONAI bundle", importlib.util.find_spec("monai") is not None, "a bundle folder given by path",
            None, "per bundle (see its LICENSE)", "pip install 'napari-medground[monai]'"),
    ]


def segment_with_totalsegmentator(*args, **kwargs):
    """See :func:`napari_medground.models.adapters.totalsegmentator.segment_with_totalsegmentator`."""
    from .totalsegmentator import segment_with_totalsegmentator as run

    return run(*args, **kwargs)


def segment_with_monai_bundle(*args, **kwargs):
    """See :func:`napari_medground.models.adapters.monai_bundle.segment_with_monai_bundle`."""
    from .monai_bundle import segment_with_monai_bundle as run

    return run(*args, **kwargs)
