"""Helpers for the export/session tests: load DICOM studies, put reference labels on a
study grid (independently of export/), and build Results by hand from the contract."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from napari_medground.result import (
    Conclusion,
    EditRecord,
    Evidence,
    Finding,
    FindingStatus,
    Measurement,
    ModelUse,
    Result,
    Step,
    StepKind,
    StepStatus,
)
from napari_medground.study.model import Study, ras_to_lps


def load_dicom(path: Path) -> Study:
    """A Study from a DICOM file or folder, through the project's loader."""
    from napari_medground.study import load_study

    return load_study(path)


def labels_on_study(study: Study, nifti_path: Path) -> np.ndarray:
    """Nearest-neighbour labels of a NIfTI file at each voxel of the study grid (independent of export/)."""
    import nibabel as nib

    img = nib.load(str(nifti_path))
    lab = np.asarray(img.dataobj)
    m = np.linalg.inv(ras_to_lps(img.affine)) @ study.affine_lps
    axes = [
        np.arange(n, dtype=float).reshape([-1 if i == a else 1 for i in range(3)])
        for a, n in enumerate(study.shape)
    ]
    j = [
        np.rint(m[r, 0] * axes[0] + m[r, 1] * axes[1] + m[r, 2] * axes[2] + m[r, 3]).astype(np.int64)
        for r in range(3)
    ]
    ok = np.ones(study.shape, dtype=bool)
    for r in range(3):
        ok &= (j[r] >= 0) & (j[r] < lab.shape[r])
    out = np.zeros(study.shape, lab.dtype)
    out[ok] = lab[tuple(np.broadcast_to(x, study.shape)[ok] for x in j)]
    return out


def make_result(study: Study, specs: list[dict], *, text: str = "test findings") -> Result:
    """A Result built by hand from the contract: one finding + segment/measure/conclude steps per spec.

    Each spec: name, mask (bool array or None), status, measurements [(name, value, unit)],
    anatomy_code / finding_code dicts, edited, label_value.
    """
    res = Result(
        study_info=study.info(),
        query={"text": text, "queries": [{"text": text, "anatomy": [], "laterality": None, "finding": None}]},
        study=study,
        version="test",
    )
    res.models.append(ModelUse("LiteMedSAM", "0.1.1", "a" * 64, "cpu", 1.5))
    res.steps.append(
        Step("s0", StepKind.PARSE, f"Parse '{text}'", status=StepStatus.ACCEPTED, confidence=1.0)
    )
    for i, spec in enumerate(specs):
        name, mask = spec["name"], spec.get("mask")
        mid = f"mask_{i}" if mask is not None else None
        if mid:
            res.masks[mid] = np.asarray(mask, bool)
        meas = [Measurement(n, v, u, label=f"{name} {n}") for n, v, u in spec.get("measurements", [])]
        seg = Step(
            f"s{i}_seg",
            StepKind.SEGMENT,
            f"Segment the {name}",
            inputs=["s0"],
            finding=name,
            evidence=Evidence(mask_ids=[mid] if mid else []),
            confidence=0.9,
            timing_s=0.5,
            device="cpu",
        )
        mea = Step(
            f"s{i}_mea",
            StepKind.MEASURE,
            f"Measure the {name}",
            inputs=[seg.id],
            finding=name,
            evidence=Evidence(measurements=meas),
        )
        con = Step(
            f"s{i}_con",
            StepKind.CONCLUDE,
            f"Conclude on the {name}",
            inputs=[mea.id],
            finding=name,
            detail=spec.get("conclusion", f"The {name} is {spec.get('status', 'present')}."),
        )
        res.steps += [seg, mea, con]
        res.findings.append(
            Finding(
                name=name,
                status=FindingStatus(spec.get("status", "present")),
                label_value=spec.get("label_value", i + 1) if mid else None,
                mask_id=mid,
                confidence=0.8,
                measurements=meas,
                steps=[seg.id, mea.id, con.id],
                anatomy_code=spec.get("anatomy_code"),
                finding_code=spec.get("finding_code"),
                edited=bool(spec.get("edited", False)),
                query_index=0,
            )
        )
        if spec.get("edited"):
            res.edit_log.append(
                EditRecord(seg.id, "edit_mask", {"voxels": 10}, {"voxels": 12}, time=time.time())
            )
    res.conclusion = Conclusion(
        "; ".join(f"{s['name']}: {s.get('status', 'present')}" for s in specs), FindingStatus.PRESENT
    )
    return res
