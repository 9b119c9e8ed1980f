"""Score a label file against a reference label file, per structure, in world space.

:func:`evaluate_files` loads both with the study loader (any format it reads; LPS
inside), puts PRED onto REF's grid by nearest neighbour through the two affines,
pairs labels (:mod:`.labels`) and scores each pair (:mod:`.metrics`). All numbers are
on REF's grid: volumes in mL, distances in mm.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EvaluationError, MedgroundError
from .grid import resample_labels_nearest
from .labels import LabelPair, match_labels, parse_label_map, read_table, table_beside
from .metrics import DEFAULT_TOLERANCE_MM, MaskScores, finite_or_none, score_masks


@dataclass(frozen=True)
class StructureScore:
    """The scores of one structure: which values were compared, and the numbers."""

    name: str
    pred_values: tuple[int, ...]
    ref_values: tuple[int, ...]
    scores: MaskScores

    def to_dict(self) -> dict[str, Any]:
        d = {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in asdict(self.scores).items()}
        return {"structure": self.name, "pred_values": list(self.pred_values),
                "ref_values": list(self.ref_values), **d}


@dataclass(frozen=True)
class Evaluation:
    """Every structure's scores plus how the two files were put together."""

    pred: str
    ref: str
    structures: tuple[StructureScore, ...]
    tolerance_mm: float
    resampled: bool
    ref_shape: tuple[int, ...]
    ref_spacing_mm: tuple[float, ...]
    pred_inside_fraction: float  # of REF's voxels whose centre lies inside PRED's grid

    def to_dict(self) -> dict[str, Any]:
        return {
            "pred": self.pred, "ref": self.ref, "tolerance_mm": self.tolerance_mm,
            "grid": {"of": "ref", "shape": list(self.ref_shape),
                     "spacing_mm": [round(s, 6) for s in self.ref_spacing_mm],
                     "pred_resampled": self.resampled,
                     "ref_voxels_inside_pred": round(self.pred_inside_fraction, 6)},
            "structures": [s.to_dict() for s in self.structures],
        }


def load_labels(path: Path, role: str):
    """(Study, integer label array) of a label file; EvaluationError names ``role`` and the file."""
    from ..study import load_study

    try:
        study = load_study(path)
    except MedgroundError as exc:
        raise EvaluationError(f"{role} {exc}") from None
    if study.is_2d:
        raise EvaluationError(f"{role} {path}: a 2D image; evaluate compares 3D label volumes")
    arr = study.array
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.allclose(arr, np.round(arr)):
            raise EvaluationError(f"{role} {path}: not a label file (non-integer values)")
        arr = np.round(arr).astype(np.int32)
    return study, arr


def evaluate_arrays(pred: np.ndarray, pred_affine: np.ndarray, ref: np.ndarray, ref_affine: np.ndarray,
                    pairs: list[LabelPair] | None = None, *, tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                    names: tuple[str, str] = ("PRED", "REF")) -> Evaluation:
    """Scores of integer label arrays given with their LPS affines (``pairs`` None: common ids)."""
    rs = resample_labels_nearest(pred, pred_affine, ref.shape, ref_affine)
    if rs.inside == 0:
        raise EvaluationError(f"{names[0]} and {names[1]} do not overlap in patient space "
                              "(no voxel of REF lies inside PRED's grid): check the files")
    if pairs is None:
        pairs = match_labels(None, None, _present(rs.array), _present(ref))
    if not pairs:
        raise EvaluationError(f"{names[0]} and {names[1]} have no label in common "
                              "(pair them with --labels, e.g. liver=1:5)")
    scores = tuple(
        StructureScore(p.name, p.pred_values, p.ref_values,
                       score_masks(np.isin(rs.array, p.pred_values), np.isin(ref, p.ref_values), ref_affine,
                                   tolerance_mm=tolerance_mm))
        for p in pairs)
    spacing = tuple(float(s) for s in np.linalg.norm(np.asarray(ref_affine)[:3, :3], axis=0))
    return Evaluation(names[0], names[1], scores, float(tolerance_mm), not rs.identical_grid,
                      tuple(ref.shape), spacing, rs.inside / float(ref.size))


def _present(arr: np.ndarray) -> set[int]:
    return {int(v) for v in np.unique(arr) if v > 0}


def evaluate_files(pred: str | Path, ref: str | Path, *, labels: str | None = None,
                   pred_names: str | None = None, ref_names: str | None = None,
                   tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> Evaluation:
    """Per-structure agreement of label file ``pred`` with reference ``ref``.

    ``labels`` is a label map (see :mod:`.labels`); ``pred_names`` / ``ref_names`` a
    label table each (a JSON file or ``totalseg``; PRED defaults to the result.json
    beside it). Raises EvaluationError (one line) on unreadable or unrelated inputs.
    """
    pred, ref = Path(pred), Path(ref)
    if tolerance_mm <= 0:
        raise EvaluationError(f"--tolerance must be > 0 mm, got {tolerance_mm}")
    ps, parr = load_labels(pred, "PRED")
    rs, rarr = load_labels(ref, "REF")
    ptab = read_table(pred_names) if pred_names else table_beside(pred)
    rtab = read_table(ref_names) if ref_names else table_beside(ref)
    moved = resample_labels_nearest(parr, ps.affine_lps, rarr.shape, rs.affine_lps)
    if moved.inside == 0:
        raise EvaluationError(f"{pred} and {ref} do not overlap in patient space: "
                              "they cannot be labels of the same study")
    pp, rp = _present(moved.array), _present(rarr)
    if labels:
        pairs = parse_label_map(labels, ptab, rtab)
    else:
        pairs = match_labels(ptab, rtab, pp, rp)
    if not pairs:
        raise EvaluationError(f"{pred} and {ref} have no label in common "
                              "(pair them with --labels, e.g. --labels liver=1:5, or name REF with --ref-names totalseg)")
    ev = evaluate_arrays(moved.array, rs.affine_lps, rarr, rs.affine_lps, pairs, tolerance_mm=tolerance_mm,
                         names=(str(pred), str(ref)))
    return Evaluation(ev.pred, ev.ref, ev.structures, ev.tolerance_mm, not moved.identical_grid,
                      ev.ref_shape, ev.ref_spacing_mm, moved.inside / float(rarr.size))


__all__ = ["Evaluation", "StructureScore", "evaluate_arrays", "evaluate_files", "load_labels"]
