"""The sanity layer: a located mask checked against its catalogue plausibility.

Every ``present`` structure passes through :func:`check_structure` before it is
reported: volume (mL), mean HU (CT), craniocaudal extent (mm), side of the body's
midline and front/back half, judged in patient LPS mm from the affine (LPS +x is the
patient's left, +y posterior). A failed check lowers the finding to ``uncertain`` with
the reason in the step (:func:`apply_checks`). Ranges come from the catalogue
(anatomy literature and CT physics; sources in ``resources/catalogue/README.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The highest confidence a finding keeps when one of its own checks failed.
FAILED_CHECK_CONFIDENCE = 0.45


@dataclass(frozen=True)
class Check:
    """One plausibility check: ``passed`` True/False, or None when it could not be judged."""

    name: str
    passed: bool | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def cut_by_fov(mask: np.ndarray, study: Any | None = None) -> bool:
    """True when ``mask`` touches a face of the array (the field of view cuts it).

    Only faces along axes with more than one voxel count (a 2D slice is not "cut")."""
    if mask is None or not mask.any():
        return False
    for ax in range(mask.ndim):
        if mask.shape[ax] <= 1:
            continue
        first = np.take(mask, 0, axis=ax)
        last = np.take(mask, mask.shape[ax] - 1, axis=ax)
        if first.any() or last.any():
            return True
    return False


def centroid_lps(mask: np.ndarray, study: Any) -> np.ndarray:
    """Centroid of a mask in patient LPS mm (through the study's affine)."""
    idx = np.argwhere(mask).mean(axis=0)
    return (np.asarray(study.affine_lps, float) @ np.append(idx, 1.0))[:3]


def check_structure(entry: Any, mask: np.ndarray, study: Any, *, partial: bool = False,
                    body: np.ndarray | None = None) -> tuple[Check, ...]:
    """The plausibility checks of ``entry`` on ``mask`` (bool, study grid).

    ``partial``: the mask is cut by the field of view (volume and length may then be
    below range without failing). ``body``: the body mask, for side and front/back
    checks (the midline is the body's centroid in LPS x); without it those checks are
    not judged.
    """
    from ..measure import extent_mm

    p = entry.plausibility
    out: list[Check] = []
    if mask is None or not mask.any():
        return ()
    if p.volume_ml is not None:
        vol = float(mask.sum()) * float(study.voxel_volume_ml)
        lo, hi = p.volume_ml
        if vol > hi:
            out.append(Check("volume", False, f"volume {vol:.0f} mL is above the plausible {lo:g}-{hi:g} mL"))
        elif vol < lo:
            out.append(Check("volume", None if partial else False,
                             f"volume {vol:.1f} mL is below the plausible {lo:g}-{hi:g} mL"
                             + (" (cut by the field of view)" if partial else "")))
        else:
            out.append(Check("volume", True, f"volume {vol:.0f} mL within {lo:g}-{hi:g} mL"))
    if p.hu_mean is not None and str(study.modality).upper() == "CT":
        mean = float(np.asarray(study.array)[mask].mean())
        lo, hi = p.hu_mean
        ok = lo <= mean <= hi
        where = "within" if ok else "outside"
        out.append(Check("density", ok, f"mean {mean:.0f} HU {where} {lo:g}..{hi:g} HU"))
    if p.min_length_mm is not None and mask.ndim == 3:
        length = float(extent_mm(mask, study, "SI"))
        if length < p.min_length_mm:
            out.append(Check("extent", None if partial else False,
                             f"only {length:.0f} mm head to foot (a whole one is over {p.min_length_mm:g} mm)"
                             + (": cut by the field of view" if partial else ": probably only part of it")))
        else:
            out.append(Check("extent", True, f"{length:.0f} mm head to foot"))
    out += _position_checks(entry, mask, study, body)
    return tuple(out)


def _position_checks(entry: Any, mask: np.ndarray, study: Any, body: np.ndarray | None) -> list[Check]:
    p = entry.plausibility
    if not (p.side or p.ap):
        return []
    if body is None or not body.any():
        return [Check("position", None, "body outline not available: side not checked")]
    c, mid = centroid_lps(mask, study), centroid_lps(body, study)
    out = []
    if p.side:
        dx = c[0] - mid[0]  # LPS +x = patient's left
        actual = "left" if dx > 0 else "right"
        out.append(Check("side", actual == p.side,
                         f"centroid {abs(dx):.0f} mm to the patient's {actual} of the body midline"
                         + ("" if actual == p.side else f" (expected {p.side})")))
    if p.ap:
        dy = c[1] - mid[1]  # LPS +y = posterior
        actual = "posterior" if dy > 0 else "anterior"
        out.append(Check("front/back", actual == p.ap,
                         f"centroid {abs(dy):.0f} mm {actual} of the body centre"
                         + ("" if actual == p.ap else f" (expected {p.ap})")))
    return out


def failed(checks: tuple[Check, ...]) -> tuple[Check, ...]:
    """The checks that failed (passed is False)."""
    return tuple(c for c in checks if c.passed is False)


def apply_checks(status: Any, confidence: float, text: str,
                 checks: tuple[Check, ...]) -> tuple[Any, float, str]:
    """Lower a ``present`` decision to ``uncertain`` when a check failed, with the reason."""
    from ..result import FindingStatus

    bad = failed(checks)
    if status != FindingStatus.PRESENT or not bad:
        return status, confidence, text
    why = "; ".join(c.detail for c in bad)
    return (FindingStatus.UNCERTAIN, min(float(confidence), FAILED_CHECK_CONFIDENCE),
            f"{text} Failed its plausibility check ({why}): reported as uncertain.")
