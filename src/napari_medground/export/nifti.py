"""NIfTI labels on the study grid + a JSON sidecar that says what each label value means.

``labels.nii.gz`` is written through :func:`napari_medground.study.nifti_io.write_nifti`,
so a study read from NIfTI gets its own header and affine back exactly, and a DICOM
study gets the dcm2niix-style RAS affine of its grid. Where masks overlap, the later
finding wins in the label map; the sidecar lists those overlaps (DICOM SEG keeps them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .codes import code_dict, finding_color, segment_codes
from .files import atomic_write, atomic_write_json

SIDECAR_VERSION = 1


def label_map(result: Any) -> np.ndarray:
    """Integer labels on the study grid (uint8 when every value fits, else uint16)."""
    labels = result.label_array()
    top = int(labels.max()) if labels.size else 0
    return labels.astype(np.uint8) if top < 256 else labels


def write_labels(result: Any, path: Path) -> Path:
    """Write ``labels.nii.gz`` for the Result on its study's grid (atomic)."""
    from ..study.nifti_io import write_nifti

    study = result.study
    if study is None:
        raise ExportError(f"{path}: NIfTI labels need the study grid (Result.study is None)")
    labels = label_map(result)
    if labels.shape != study.array.shape:
        raise ExportError(f"{path}: label shape {labels.shape} is not the study grid {study.array.shape}")
    return atomic_write(path, lambda tmp: write_nifti(labels, study, tmp), durable=True)


def sidecar(result: Any, labels_name: str = "labels.nii.gz") -> dict[str, Any]:
    """The ``labels.json`` object: per label value its name, codes, colour, status, edits, models."""
    entries = []
    for i, f in enumerate(result.findings):
        if not f.label_value:
            continue
        c = segment_codes(f, result.query)
        mask = result.masks.get(f.mask_id) if f.mask_id else None
        entries.append(
            {
                "value": int(f.label_value),
                "name": f.name,
                "status": f.status.value,
                "mask_id": f.mask_id,
                "voxels": int(np.count_nonzero(mask)) if mask is not None else 0,
                "confidence": None if f.confidence is None else float(f.confidence),
                "category": code_dict(c.category),
                "type": code_dict(c.type),
                "anatomic_region": code_dict(c.anatomic_region),
                "laterality": code_dict(c.laterality),
                "anatomy_code": f.anatomy_code,
                "finding_code": f.finding_code,
                "color": [round(v, 4) for v in finding_color(f, i)],
                "edited": bool(f.edited),
                "edited_by": sorted({e.user for e in result.edit_log if e.step_id in f.steps}),
                "algorithm": "MANUAL" if f.edited else "AUTOMATIC",
                "models": [m.to_dict() for m in result.models],
            }
        )
    return {
        "version": SIDECAR_VERSION,
        "labels_file": labels_name,
        "background": 0,
        "study": {
            k: result.study_info.get(k)
            for k in ("shape", "spacing_mm", "affine_lps", "orientation", "modality", "series_uid")
        },
        "labels": entries,
        "overlaps": overlaps(result),
        "note": "Where masks overlap the later label wins in the label map; DICOM SEG keeps every mask.",
    }


def overlaps(result: Any) -> list[dict[str, Any]]:
    """Pairs of labelled findings whose masks overlap, with the voxels the earlier one lost."""
    items = [
        (f, result.masks[f.mask_id]) for f in result.findings if f.label_value and f.mask_id in result.masks
    ]
    out = []
    for i, (fa, ma) in enumerate(items):
        for fb, mb in items[i + 1 :]:
            n = int(np.count_nonzero(ma & mb))
            if n:
                out.append(
                    {
                        "values": [int(fa.label_value), int(fb.label_value)],
                        "voxels": n,
                        "shown_as": int(fb.label_value),
                    }
                )
    return out


def write_sidecar(result: Any, path: Path, labels_name: str = "labels.nii.gz") -> Path:
    """Write the ``labels.json`` sidecar (atomic)."""
    return atomic_write_json(path, sidecar(result, labels_name))
