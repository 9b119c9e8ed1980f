"""Kidneys on example_ct at its native 3 mm, stored in another orientation, resampled to
5 mm and to 0.8 x 0.8 x 1.5 mm (all in memory; Dice in world space against its
TotalSegmentator labels, evaluation only).

At 3 mm the right kidney touches the liver, duodenum and IVC through partial-volume
voxels, so only its lower pole makes clean sections: the rest is found by following the
kidney through thick necks (organs_kidney._whole_kidney). Where a kidney cannot be found
the answer says so; it is never a confident mask of something else.
"""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct.organs import segment_organ
from tests.core import ct_structures_cases as cases

pytestmark = pytest.mark.shared_data

#: classical (rule-based) mask Dice bars per grid (right/left measured 0.82/0.91 at 3 mm, -/0.82 at 5 mm;
#: None: not found is honest there, a mask of something else is not)
CLASSICAL_BAR = {"native 3 mm": {"kidney_right": 0.75, "kidney_left": 0.85},
                 "reoriented": {"kidney_right": 0.75, "kidney_left": 0.85},
                 "5 mm": {"kidney_left": 0.75, "kidney_right": None}}


@pytest.fixture(scope="module")
def grids():
    return cases.grid_maker()


def _dice(seg, ref, organ) -> float:
    return cases.dice(seg.mask, ref == cases.label_ids()[organ]) if seg.mask is not None else 0.0


@pytest.mark.parametrize("grid", ["native 3 mm", "reoriented", "5 mm"])
@pytest.mark.parametrize("organ", ["kidney_right", "kidney_left"])
def test_classical_kidney_on_each_grid(grids, grid, organ):
    study, ref = grids(grid)
    seg = segment_organ(study, organ, refine=False)
    bar = CLASSICAL_BAR[grid].get(organ)
    d = _dice(seg, ref, organ)
    if bar is None:  # right kidney at 5 mm: not found is an honest answer; a wrong mask is not
        assert seg.mask is None or d >= 0.6, f"{organ} at {grid}: a mask of something else (Dice {d:.2f})"
        assert seg.mask is not None or "not found" in seg.method
        return
    assert d >= bar, f"{organ} at {grid}: Dice {d:.3f} < {bar}"
    # side: the mask's centroid lies on the patient's own side (LPS x > 0 is patient left)
    idx = np.argwhere(seg.mask).mean(axis=0)
    x_lps = (np.asarray(study.affine_lps) @ np.r_[idx, 1.0])[0]
    spine_x = (np.asarray(study.affine_lps) @ np.r_[np.array(study.array.shape) / 2.0, 1.0])[0]
    assert (x_lps > spine_x - 20) if organ == "kidney_left" else (x_lps < spine_x + 20)


def test_right_kidney_at_3mm_with_litemedsam_is_present_and_whole(grids):
    """The contract's figure: 'right kidney' at the native 3 mm, refined by LiteMedSAM."""
    study, ref = grids("native 3 mm")
    seg = segment_organ(study, "kidney_right")
    d = _dice(seg, ref, "kidney_right")
    assert d >= 0.75 and seg.confidence >= 0.7, (d, seg.confidence, seg.notes)
    assert 120 <= seg.volume_ml <= 300


@pytest.mark.heavy  # ~60 s: 0.8 mm LiteMedSAM on both kidneys; make test-all
@pytest.mark.parametrize("organ", ["kidney_right", "kidney_left"])
def test_refined_kidney_at_clinical_resolution(grids, organ):
    """0.8 x 0.8 x 1.5 mm (measured 0.89 right, 0.83 left): the hilum gap in the clean
    sections is bridged by LiteMedSAM's boxes."""
    study, ref = grids("0.8x0.8x1.5 mm")
    seg = segment_organ(study, organ)
    assert _dice(seg, ref, organ) >= 0.80 and seg.confidence >= 0.7
