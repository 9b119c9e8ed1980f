"""How far a clinician moved the AI: agreement of the AI mask with the edited one.

Computed when a mask is painted (:meth:`Grounding.edit_mask`) on the study grid, in
physical units: Dice, HD95 (mm, MONAI), volumes (mL) and the change (edited minus AI).
Stored as a plain dict (``to_dict``) in the edited step's evidence under ``agreement``,
in the edit record, the audit and the DICOM SR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import finite_or_none, hd95_mm, score_masks


@dataclass(frozen=True)
class EditAgreement:
    """The AI mask versus the clinician's final mask (same grid)."""

    dice: float
    hd95_mm: float | None  # None when either mask is empty
    ai_volume_ml: float
    final_volume_ml: float
    volume_change_ml: float  # final - AI
    voxels_added: int
    voxels_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": "AI mask", "dice": round(self.dice, 6), "hd95_mm": _r(self.hd95_mm),
            "ai_volume_ml": round(self.ai_volume_ml, 4), "final_volume_ml": round(self.final_volume_ml, 4),
            "volume_change_ml": round(self.volume_change_ml, 4),
            "voxels_added": self.voxels_added, "voxels_removed": self.voxels_removed,
        }


def _r(v: float | None) -> float | None:
    v = finite_or_none(v)
    return None if v is None else round(v, 4)


def edit_agreement(ai_mask: np.ndarray, final_mask: np.ndarray, affine_lps: np.ndarray) -> EditAgreement:
    """Agreement of the final (edited) mask with the AI mask, both on the grid of ``affine_lps``."""
    ai, final = np.asarray(ai_mask, bool), np.asarray(final_mask, bool)
    affine = np.asarray(affine_lps, float)
    s = score_masks(final, ai, affine, distances=False)
    spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))[: ai.ndim]
    return EditAgreement(
        dice=s.dice, hd95_mm=hd95_mm(final, ai, spacing), ai_volume_ml=s.ref_volume_ml,
        final_volume_ml=s.pred_volume_ml, volume_change_ml=s.volume_diff_ml,
        voxels_added=int(np.count_nonzero(final & ~ai)), voxels_removed=int(np.count_nonzero(ai & ~final)),
    )


def agreement_line(agreement: dict[str, Any], *, unit: str = "mL") -> str:
    """One line for the reasoning panel: "edited: Dice 0.86 to the AI mask, +12 mL"."""
    change = float(agreement.get("volume_change_ml") or 0.0)
    if unit == "mm2":  # 2D: area in mm^2 (the mL numbers of a 2D grid are mm^2 / 1000)
        text = f"{change * 1000:+.0f} mm²"
    else:
        text = f"{change:+.0f} mL" if abs(change) >= 1 else f"{change:+.2f} mL"
    hd = agreement.get("hd95_mm")
    hd_text = f", HD95 {hd:.1f} mm" if hd is not None else ""
    return f"edited: Dice {float(agreement['dice']):.2f} to the AI mask, {text}{hd_text}"


__all__ = ["EditAgreement", "agreement_line", "edit_agreement"]
