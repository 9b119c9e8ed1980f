"""Import existing labels onto a study grid as editable findings.

:mod:`.seg` reads DICOM SEG, :mod:`.nifti` NIfTI label maps (+ ``labels.json``);
:mod:`.label` holds the common :class:`ImportedLabel` and turns labels into Findings.
"""
from __future__ import annotations

from .label import ImportedLabel, labels_to_findings
from .nifti import import_nifti_labels, resample_nearest
from .seg import import_seg

__all__ = ["ImportedLabel", "import_nifti_labels", "import_seg", "labels_to_findings", "resample_nearest"]
