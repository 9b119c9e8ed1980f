"""Agreement of masks with reference masks (``medground evaluate``) and of a clinician's
edit with the AI mask, in physical units, with MONAI's distance metrics.

Importing this package is cheap: MONAI and torch load inside the metric functions.
"""
from .core import Evaluation, StructureScore, evaluate_arrays, evaluate_files
from .grid import resample_labels_nearest
from .labels import LabelPair
from .metrics import DEFAULT_TOLERANCE_MM, MaskScores, hd95_mm, score_masks, surface_dice

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "Evaluation",
    "LabelPair",
    "MaskScores",
    "StructureScore",
    "evaluate_arrays",
    "evaluate_files",
    "hd95_mm",
    "resample_labels_nearest",
    "score_masks",
    "surface_dice",
]
