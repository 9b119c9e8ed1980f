"""Brain model labels: region names and ids, completeness of a region in an ROI, clean-up.

Region names follow the model's ``colormap.json`` (FreeSurfer style, e.g.
``Left-Hippocampus``); lookups ignore case, spaces, '-', '_' and a trailing '*'.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from ...errors import QueryError
from .roi import Box3, touching_faces


@lru_cache(maxsize=None)
def label_names(model: str) -> dict[int, str]:
    """Label names of a brain model from its ``colormap.json``."""
    import json

    from ..registry import get_manifest

    cmap = json.loads(get_manifest(model).file_path("colormap").read_text(encoding="utf-8"))
    return {i: str(n) for i, n in enumerate(cmap["labels"])}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == "*").rstrip("*")


def region_ids(names: dict[int, str], regions: Sequence[str | int]) -> list[int]:
    """Region names or ids -> label ids of the model; QueryError for unknown ones."""
    if isinstance(regions, (str, int)):
        regions = [regions]
    lookup = {_norm(n): i for i, n in names.items()}
    out = []
    for r in regions:
        if isinstance(r, (int, np.integer)) and int(r) in names:
            out.append(int(r))
        elif isinstance(r, str) and _norm(r) in lookup:
            out.append(lookup[_norm(r)])
        else:
            raise QueryError(f"brain model has no region {r!r}; known regions include "
                             f"{', '.join(list(names.values())[1:6])}, ...")
    return sorted(set(out))


def incomplete_faces(labels: np.ndarray, box: Box3, shape, ids: Iterable[int] | None) -> tuple[list, bool]:
    """Faces of ``box`` that a requested region (``None``: any label) touches; any absent."""
    if ids is None:
        mask = labels > 0
        if not mask.any():
            return [], True
        return touching_faces(mask, box, shape, min_piece=64), False
    faces: set = set()
    absent = False
    for rid in ids:
        mask = labels == rid
        n = int(mask.sum())
        if n == 0:
            absent = True
            continue
        # isolated specks (< 8 voxels and < 0.5% of the region) do not make the ROI grow
        faces.update(touching_faces(mask, box, shape, min_piece=max(8, int(0.005 * n))))
    return sorted(faces), absent


def postprocess(model: str, labels: np.ndarray) -> np.ndarray:
    """Model-specific clean-up named in the manifest (mindgrab: largest component, holes filled)."""
    from ..registry import get_manifest

    if get_manifest(model).runtime.get("postprocess") and labels.any():
        from scipy import ndimage

        comp, n = ndimage.label(labels > 0)
        if n > 1:
            sizes = np.bincount(comp.ravel())
            sizes[0] = 0
            labels = (comp == int(np.argmax(sizes))).astype(labels.dtype)
        labels = ndimage.binary_fill_holes(labels > 0).astype(labels.dtype)
    return labels
