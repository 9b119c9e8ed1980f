"""How far a chest radiograph analysis can be trusted, and what the film allows.

Confidence (0..1) is the geometric mean of plain checks on the canonical-frame result
(:mod:`napari_medground.models.cxr.lungs`, :mod:`napari_medground.models.cxr.widths`):
two lungs of plausible size, shape and symmetry, width lines inside the image, a CTR in
a physiological range, and agreement between the CTRs measured on lung fields
segmented with a stricter and a looser threshold. The view note says what can be
judged: projection (PA/AP), rotation, inspiration.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lungs import LungFields
from .widths import Widths


@dataclass(frozen=True)
class Check:
    """One confidence check: its score (0..1) and what it saw, in words."""

    name: str
    score: float
    detail: str


def _ramp(value: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either order)."""
    if not np.isfinite(value):
        return 0.0
    return float(np.clip((value - bad) / (good - bad), 0.0, 1.0))


def _solidity(mask: np.ndarray) -> float:
    from skimage.measure import regionprops

    props = regionprops(mask.astype(np.uint8))
    return float(props[0].solidity) if props else 0.0


def _extent(mask: np.ndarray) -> tuple[int, int]:
    """First and last row of a mask (0, 0 when empty)."""
    rows = np.flatnonzero(mask.any(1))
    return (int(rows[0]), int(rows[-1])) if rows.size else (0, 0)


def _height(mask: np.ndarray) -> int:
    top, bottom = _extent(mask)
    return bottom - top + 1 if mask.any() else 0


def quality_checks(lungs: LungFields, widths: Widths, alt_ctrs: list[float]) -> list[Check]:
    """The confidence checks of one analysis (see the module docstring)."""
    h, w = lungs.right.shape
    area_r, area_l = float(lungs.right.sum()), float(lungs.left.sum())
    h_r, h_l = _height(lungs.right), _height(lungs.left)
    box = widths.thorax_px * max(h_r, h_l)
    fill = (area_r + area_l) / box if box > 0 else 0.0
    sol = min(_solidity(lungs.right), _solidity(lungs.left))
    h_ratio = min(h_r, h_l) / max(h_r, h_l, 1)
    a_ratio = min(area_r, area_l) / max(area_r, area_l, 1.0)
    margin = min(widths.thorax_right[1], w - 1 - widths.thorax_left[1]) / w
    spread = (max(alt_ctrs) - min(alt_ctrs)) if alt_ctrs else float("nan")
    rows = np.flatnonzero((lungs.right | lungs.left).any(1))
    span = max(rows[-1] - rows[0], 1)
    level = (widths.thorax_right[0] - rows[0]) / span
    (top_r, base_r), (top_l, base_l) = _extent(lungs.right), _extent(lungs.left)
    base_gap, apex_gap = abs(base_r - base_l) / span, abs(top_r - top_l) / span
    ctr = widths.ctr
    return [
        Check("lung size", min(_ramp(fill, 0.3, 0.5), _ramp(fill, 1.0, 0.85)),
              f"lungs fill {fill:.0%} of the box of thoracic width x lung height"),
        Check("lung shape", _ramp(sol, 0.6, 0.85), f"least solidity {sol:.2f}"),
        Check("symmetry", min(_ramp(h_ratio, 0.45, 0.75), _ramp(a_ratio, 0.25, 0.5)),
              f"height ratio {h_ratio:.2f}, area ratio {a_ratio:.2f} (smaller/larger lung)"),
        Check("level bases", _ramp(base_gap, 0.25, 0.12),
              f"lung bases {base_gap:.0%} of the lung height apart (gas under the diaphragm, an effusion "
              "or a collapse can cause this)"),
        Check("level apices", _ramp(apex_gap, 0.2, 0.1), f"lung apices {apex_gap:.0%} of the lung height apart"),
        Check("thoracic level", _ramp(level, 0.45, 0.65),
              f"widest row {level:.0%} of the way from apex to base (expected near the diaphragm)"),
        Check("inside the image", _ramp(margin, 0.0, 0.02),
              f"thoracic line {margin:.1%} of the width from the image edge"),
        Check("plausible ratio", min(_ramp(ctr, 0.2, 0.3), _ramp(ctr, 0.9, 0.75)), f"CTR {ctr:.2f}"),
        Check("agreement", _ramp(spread, 0.12, 0.03),
              f"CTR from stricter/looser lung thresholds spans {spread:.3f}"),
    ]


def combine(checks: list[Check]) -> float:
    """Geometric mean of the check scores (one failed check pulls the whole down)."""
    if not checks:
        return 0.0
    scores = np.array([max(c.score, 1e-3) for c in checks])
    conf = float(np.exp(np.log(scores).mean()))
    return round(conf if min(c.score for c in checks) > 0 else min(conf, 0.2), 3)


def view_note(lungs: LungFields, widths: Widths, projection: str | None) -> str:
    """What the film allows one to judge: projection, rotation and inspiration."""
    parts = []
    if projection == "PA":
        parts.append("PA projection (from the DICOM header): the CTR criterion applies")
    elif projection == "AP":
        parts.append("AP projection (from the DICOM header): the heart is magnified, so a CTR above "
                     "0.5 does not prove cardiomegaly; only a normal CTR is conclusive")
    else:
        parts.append("projection (PA or AP) not recorded: the CTR criterion assumes an erect PA film")
    row = int(round(widths.thorax_right[0]))
    centre = 0.5 * (widths.thorax_right[1] + widths.thorax_left[1])
    offset = (centre - lungs.midline_col[min(row, lungs.midline_col.size - 1)]) / max(widths.thorax_px, 1.0)
    if abs(offset) > 0.05:
        parts.append(f"the spine lies {abs(offset):.0%} of the thoracic width off the thorax centre: "
                     "the patient may be rotated, which distorts the heart width")
    else:
        parts.append(f"no marked rotation (spine within {abs(offset):.0%} of the thorax centre)")
    tall = max(_height(lungs.right), _height(lungs.left)) / max(widths.thorax_px, 1.0)
    if tall < 0.65:
        parts.append(f"lung fields short for their width (height/width {tall:.2f}): possibly a poor "
                     "inspiration, which broadens the heart shadow")
    else:
        parts.append(f"lung height/width {tall:.2f}")
    return "; ".join(parts)
