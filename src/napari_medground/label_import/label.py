"""One imported label on the study grid, and imported labels -> Findings for a Result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImportedLabel:
    """One label brought in from a file, on the study grid.

    ``mask`` is boolean with ``study.array.shape``; ``codes`` holds ``category``,
    ``type``, ``anatomic_region``, ``laterality`` as code dicts (or None); ``color`` is
    RGB 0..1; ``source`` names the file and segment/label value; ``note`` says what was
    done on the way (resampling, thresholds).
    """

    name: str
    mask: np.ndarray = field(repr=False)
    codes: dict[str, dict[str, str] | None]
    color: tuple[float, float, float] | None
    source: str
    value: int = 0  # segment number (SEG) or label value (NIfTI)
    algorithm: str = ""  # "MANUAL", "AUTOMATIC <name>", ...
    note: str = ""


def labels_to_findings(
    labels: list[ImportedLabel], *, first_value: int = 1
) -> tuple[list[Any], dict[str, np.ndarray]]:
    """ImportedLabels -> (Findings, masks by id) for a Result; status present when non-empty.

    Imported masks are the clinician's (or another tool's) work: they are marked edited.
    """
    from ..result import Finding, FindingStatus

    findings, masks = [], {}
    for i, lab in enumerate(labels):
        mid = f"imported_{i + 1}"
        masks[mid] = lab.mask
        altered = (lab.codes.get("category") or {}).get("value") == "49755003"
        findings.append(
            Finding(
                name=lab.name,
                status=FindingStatus.PRESENT if lab.mask.any() else FindingStatus.ABSENT,
                label_value=first_value + i,
                mask_id=mid,
                color=lab.color,
                edited=True,
                anatomy_code=(lab.codes.get("anatomic_region") if altered else lab.codes.get("type")),
                finding_code=lab.codes.get("type") if altered else None,
            )
        )
    return findings, masks
