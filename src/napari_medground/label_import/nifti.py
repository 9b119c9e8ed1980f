"""NIfTI label maps, with or without a ``labels.json`` sidecar, onto a study grid.

Resampled by nearest neighbour through both affines (patient LPS mm) when the grids
differ, with a note on each label.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StudyLoadError
from .label import ImportedLabel

log = logging.getLogger(__name__)


def import_nifti_labels(
    path: str | Path, study: Any, sidecar: str | Path | None = None
) -> list[ImportedLabel]:
    """Read a NIfTI label map onto ``study``'s grid: one ImportedLabel per non-zero value.

    ``sidecar`` is a ``labels.json`` (as :mod:`napari_medground.export.nifti` writes); when None, ``labels.json``
    or ``<stem>.json`` next to the file is used if present. Without one, labels are named
    "label <value>". A different grid is resampled by nearest neighbour (noted).
    """
    from ..study.nifti_io import read_nifti

    path = Path(path)
    src = read_nifti(path)
    labels = np.rint(np.asarray(src.array)).astype(np.int64)
    note = ""
    if labels.shape != study.array.shape or not np.allclose(src.affine_lps, study.affine_lps, atol=1e-3):
        labels = resample_nearest(labels, src.affine_lps, study)
        note = (
            f"resampled by nearest neighbour from {src.shape} {src.orientation} "
            f"to the study grid {study.shape} {study.orientation}"
        )
        log.warning("%s: %s", path.name, note)
    meta = _sidecar_entries(path, sidecar)
    out = []
    for v in (int(x) for x in np.unique(labels) if x != 0):
        entry = meta.get(v, {})
        codes = {k: entry.get(k) for k in ("category", "type", "anatomic_region", "laterality")}
        if not any(codes.values()) and (entry.get("anatomy_code") or entry.get("finding_code")):
            codes["type"] = entry.get("finding_code") or entry.get("anatomy_code")
        color = tuple(float(c) for c in entry["color"]) if entry.get("color") else None
        out.append(
            ImportedLabel(
                name=str(entry.get("name") or f"label {v}"),
                mask=labels == v,
                codes=codes,
                color=color,
                source=f"{path}#value={v}",
                value=v,
                algorithm=str(entry.get("algorithm", "")),
                note=note,
            )
        )
    return out


def resample_nearest(labels: np.ndarray, affine_lps: np.ndarray, study: Any) -> np.ndarray:
    """Labels on a grid with ``affine_lps`` -> study grid, nearest neighbour, 0 outside.

    Both affines map array indices (2D: (row, col, 0)) to LPS mm; the index map between
    the grids is affine, so each source index is a sum of per-axis terms (no meshgrid).
    """
    m = np.linalg.inv(affine_lps) @ study.affine_lps
    shape = study.array.shape
    nd = len(shape)
    axes = [
        np.arange(n, dtype=float).reshape([-1 if i == a else 1 for i in range(nd)])
        for a, n in enumerate(shape)
    ]
    src = []
    for r in range(labels.ndim):
        total = m[r, 3] + sum(m[r, a] * axes[a] for a in range(nd))
        src.append(np.broadcast_to(np.rint(total).astype(np.int64), shape))
    ok = np.ones(shape, dtype=bool)
    for r, j in enumerate(src):
        ok &= (j >= 0) & (j < labels.shape[r])
    out = np.zeros(shape, dtype=labels.dtype)
    out[ok] = labels[tuple(j[ok] for j in src)]
    return out


def _sidecar_entries(path: Path, sidecar: str | Path | None) -> dict[int, dict[str, Any]]:
    candidates = (
        [Path(sidecar)]
        if sidecar
        else [path.with_name("labels.json"), path.with_name(path.name.split(".")[0] + ".json")]
    )
    for c in candidates:
        if c.is_file():
            try:
                data = json.loads(c.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StudyLoadError(f"{c}: not a readable labels sidecar ({exc})") from None
            entries = data.get("labels", data) if isinstance(data, dict) else data
            if isinstance(entries, dict):  # {"1": "liver"} or {"1": {...}}
                return {int(k): (v if isinstance(v, dict) else {"name": v}) for k, v in entries.items()}
            return {int(e["value"]): e for e in entries if isinstance(e, dict) and "value" in e}
        if sidecar:
            raise StudyLoadError(f"{c}: sidecar not found")
    return {}
