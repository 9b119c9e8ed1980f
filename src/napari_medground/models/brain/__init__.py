"""Brain MRI: MeshNet (brainchop) parcellation on a conformed 1 mm volume.

Entry points: :func:`segment_brain` (labels of the named regions, or every label, on the
study grid), :func:`prefetch_brain` (every label in the background), :func:`warm_up`
(load the weights early) and :func:`clear_brain_cache`. :mod:`.meshnet` runs the network,
:mod:`.conform` conforms the study, :mod:`.regions` and :mod:`.roi` choose what to compute.
"""
from __future__ import annotations

from .segment import BrainSegmentation, clear_brain_cache, prefetch_brain, segment_brain, warm_up

__all__ = ["BrainSegmentation", "clear_brain_cache", "prefetch_brain", "segment_brain", "warm_up"]
