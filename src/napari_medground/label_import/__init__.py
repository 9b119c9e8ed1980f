"""Import existing labels (DICOM SEG, NIfTI label maps) onto a study grid as editable findings."""
from __future__ import annotations

from .seg import ImportedLabel, import_nifti_labels, import_seg, labels_to_findings, resample_nearest

__all__ = ["ImportedLabel", "import_nifti_labels", "import_seg", "labels_to_findings", "resample_nearest"]
