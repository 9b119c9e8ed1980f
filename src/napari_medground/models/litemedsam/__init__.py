"""LiteMedSAM box prompts (vendored network code in :mod:`._vendor`, weights from the registry).

Entry points: :func:`segment_box_2d`, :func:`segment_box_3d` (a box -> a mask on the study
grid, propagated slice by slice in 3D) and :func:`load_model`; :func:`prefetch` encodes slices ahead
(background jobs in the viewer). :mod:`.runtime` loads the
network and caches image embeddings; :mod:`.infer` encodes and decodes.
"""
from __future__ import annotations

from .prefetch import prefetch
from .runtime import load_model
from .segment import BoxError, SamResult, segment_box_2d, segment_box_3d

__all__ = ["BoxError", "SamResult", "load_model", "prefetch", "segment_box_2d", "segment_box_3d"]
