"""napari writer contribution: a Labels layer -> NIfTI labels on the study grid.

The layer's data are on the display grid (see :mod:`.layers`); when its metadata
carries the Study (every overlay this plugin makes does) the labels are put back on
the study grid exactly and written with the study's geometry. A Labels layer from
elsewhere is written on its own grid with the affine of its napari transform (world
= (S, P, L) mm for volumes). When the metadata also holds the grounding Result, its
``result.json`` is written beside the labels as ``<name>.result.json``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one Labels layer; returns the paths written (napari's writer contract)."""
    from ..study.nifti_io import write_nifti
    from .layers import display_geometry

    out = Path(path)
    if not out.name.lower().endswith((".nii", ".nii.gz")):
        out = out.with_name(out.name + ".nii.gz")
    layer_meta = meta.get("metadata") or {}
    study = layer_meta.get("study")
    labels = np.asarray(data)
    if study is not None and display_geometry(study).display_shape == labels.shape:
        grid = display_geometry(study).from_display(labels)
    else:
        study, grid = _study_from_layer(labels, meta), labels
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [str(write_nifti(_label_dtype(grid), study, out))]
    result = layer_meta.get("result")
    if result is not None:
        sidecar = out.with_name(_stem(out) + ".result.json")
        tmp = sidecar.with_suffix(".partial")
        tmp.write_text(json.dumps(result.to_dict(), indent=1))
        tmp.replace(sidecar)
        written.append(str(sidecar))
    log.info("wrote %s", ", ".join(written))
    return written


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else path.stem


def _label_dtype(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool or a.max(initial=0) <= np.iinfo(np.uint8).max:
        return a.astype(np.uint8)
    return a.astype(np.uint16 if a.max() <= np.iinfo(np.uint16).max else np.int32)


def _study_from_layer(labels: np.ndarray, meta: dict[str, Any]):
    """A Study for a Labels layer that did not come from a study: its napari transform."""
    from ..study.model import Study

    nd = labels.ndim
    if nd not in (2, 3):
        from ..errors import ExportError

        raise ExportError(f"labels layer '{meta.get('name', '')}' is {nd}D; NIfTI labels need 2D or 3D")
    world = np.asarray(meta.get("affine", np.eye(nd + 1)), dtype=float)
    if world.shape != (nd + 1, nd + 1):
        world = np.eye(nd + 1)
    st = np.eye(nd + 1)
    st[:nd, :nd] = np.diag(np.asarray(meta.get("scale", [1.0] * nd), dtype=float))
    st[:nd, nd] = np.asarray(meta.get("translate", [0.0] * nd), dtype=float)
    w = world @ st  # data index -> world
    a = np.eye(4)
    if nd == 3:  # world (S, P, L) -> LPS (x, y, z): reverse the rows
        a[:3, :3] = w[:3, :3][::-1]
        a[:3, 3] = w[:3, 3][::-1]
    else:
        a[:2, :2] = w[:2, :2]
        a[:2, 3] = w[:2, 2]
    return Study(array=labels, affine_lps=a, modality="SEG", source_format="array",
                 description=str(meta.get("name", "labels")))
