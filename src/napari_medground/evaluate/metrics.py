"""Agreement of two binary masks on one grid, in physical units.

Dice is :func:`napari_medground.measure.dice` (the one Dice of the package; the same
definition as ``monai.metrics.compute_dice``). The distance metrics are MONAI's:
``compute_hausdorff_distance`` (95th percentile, symmetric) and ``compute_surface_dice``
(normalised surface Dice at a tolerance), both given the voxel spacing in mm so that
distances are physical on anisotropic grids. MONAI (and torch) are imported inside the
functions: importing this module is cheap.

Masks are cropped to the bounding box of their union plus a margin before the
distance transforms: the distances are unchanged (every surface voxel is inside the
crop) and large volumes stay fast.
"""
from __future__ import annotations

import math
import sys
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from ..measure import dice

DEFAULT_TOLERANCE_MM = 2.0
_warm_up: threading.Thread | None = None


def warm_up() -> None:
    """Import MONAI's metrics in a background thread (a cold import takes seconds of CPU),
    e.g. when a clinician starts painting, so that the agreement after it does not wait."""
    global _warm_up
    if _warm_up is not None or "monai.metrics" in sys.modules:
        return

    def _import() -> None:
        try:
            import monai.metrics  # noqa: F401
        except Exception:  # noqa: BLE001 - the real call reports a missing MONAI itself
            pass

    _warm_up = threading.Thread(target=_import, name="monai-warm-up", daemon=True)
    _warm_up.start()


@dataclass(frozen=True)
class MaskScores:
    """Agreement of a predicted and a reference mask.

    Volumes in mL, distances in mm (patient space), ``surface_dice`` at
    ``tolerance_mm``; ``volume_diff_ml`` and ``volume_diff_pct`` are predicted minus
    reference (``pct`` relative to the reference). Distances are None when either mask
    is empty (undefined), centroid distance too.
    """

    dice: float
    hd95_mm: float | None
    surface_dice: float | None
    tolerance_mm: float
    pred_volume_ml: float
    ref_volume_ml: float
    volume_diff_ml: float
    volume_diff_pct: float | None
    centroid_distance_mm: float | None
    pred_voxels: int
    ref_voxels: int


def _crop_union(a: np.ndarray, b: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    union = a | b
    idx = np.nonzero(union)
    sl = tuple(slice(max(0, int(i.min()) - margin), int(i.max()) + margin + 1) for i in idx)
    return np.pad(a[sl], margin), np.pad(b[sl], margin)


def _tensor(mask: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)[None, None])


def hd95_mm(pred: np.ndarray, ref: np.ndarray, spacing_mm: tuple[float, ...]) -> float | None:
    """Symmetric 95th-percentile Hausdorff distance between mask surfaces (mm), by MONAI.

    None when either mask is empty.
    """
    if not pred.any() or not ref.any():
        return None
    from monai.metrics import compute_hausdorff_distance

    a, b = _crop_union(np.asarray(pred, bool), np.asarray(ref, bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # MONAI's own deprecated internal argument
        v = compute_hausdorff_distance(_tensor(a), _tensor(b), include_background=True, percentile=95,
                                       spacing=[float(s) for s in spacing_mm])
    return float(v.reshape(-1)[0])


def surface_dice(pred: np.ndarray, ref: np.ndarray, spacing_mm: tuple[float, ...],
                 tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> float | None:
    """Normalised surface Dice at ``tolerance_mm`` (fraction of both surfaces within the
    tolerance of the other), by MONAI. 0 when exactly one mask is empty, None when both are."""
    if not pred.any() and not ref.any():
        return None
    if not pred.any() or not ref.any():
        return 0.0
    from monai.metrics import compute_surface_dice

    a, b = _crop_union(np.asarray(pred, bool), np.asarray(ref, bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        v = compute_surface_dice(_tensor(a), _tensor(b), class_thresholds=[float(tolerance_mm)],
                                 include_background=True, spacing=[float(s) for s in spacing_mm])
    return float(v.reshape(-1)[0])


def _centroid_lps(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    c = np.zeros(3)
    c[: mask.ndim] = [i.mean() for i in np.nonzero(mask)]  # a 2D index has a trailing 0
    return affine[:3, :3] @ c + affine[:3, 3]


def score_masks(pred: np.ndarray, ref: np.ndarray, affine_lps: np.ndarray, *,
                tolerance_mm: float = DEFAULT_TOLERANCE_MM, distances: bool = True) -> MaskScores:
    """All agreement numbers of two masks on one grid (``affine_lps``: index -> LPS mm).

    ``distances=False`` skips HD95 and surface Dice (None), e.g. for a quick summary.
    """
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.shape != ref.shape:
        raise ValueError(f"score_masks: shapes differ {pred.shape} vs {ref.shape}")
    affine = np.asarray(affine_lps, float)
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))[: pred.ndim]
    voxel_ml = float(np.prod(spacing)) / 1000.0
    npred, nref = int(pred.sum()), int(ref.sum())
    vp, vr = npred * voxel_ml, nref * voxel_ml
    both = npred > 0 and nref > 0
    centroid = float(np.linalg.norm(_centroid_lps(pred, affine) - _centroid_lps(ref, affine))) if both else None
    return MaskScores(
        dice=dice(pred, ref),
        hd95_mm=hd95_mm(pred, ref, spacing) if distances else None,
        surface_dice=surface_dice(pred, ref, spacing, tolerance_mm) if distances else None,
        tolerance_mm=float(tolerance_mm),
        pred_volume_ml=vp, ref_volume_ml=vr, volume_diff_ml=vp - vr,
        volume_diff_pct=100.0 * (vp - vr) / vr if nref else None,
        centroid_distance_mm=centroid,
        pred_voxels=npred, ref_voxels=nref,
    )


def finite_or_none(v: float | None) -> float | None:
    """A float for JSON: None for None, NaN or infinity."""
    return None if v is None or not math.isfinite(v) else float(v)


__all__ = ["DEFAULT_TOLERANCE_MM", "MaskScores", "finite_or_none", "hd95_mm", "score_masks", "surface_dice",
           "warm_up"]
