"""'L3 vertebral body' is the body of the vertebra counted to L3, not the whole vertebra
(nor the skeleton): example_ct at its native 3 mm, stored in another orientation and
resampled to 0.8 x 0.8 x 1.5 mm (in memory). TotalSegmentator labels whole vertebrae, so
the check is containment in the right level's label (evaluation only), the body's share
of the vertebra, and that the posterior elements are gone (the body lies in front)."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct.structures.vertebrae import locate_vertebra, locate_vertebral_body
from napari_medground.reasoning.api import ground
from tests.core import ct_structures_cases as cases

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def grids():
    base = cases.native()
    return {"native 3 mm": base, "reoriented": cases.reoriented(base)}


def _centroid_lps(study, mask) -> np.ndarray:
    idx = np.argwhere(mask).mean(axis=0)
    return (np.asarray(study.affine_lps) @ np.r_[idx, 1.0])[:3]


@pytest.mark.parametrize("grid", ["native 3 mm", "reoriented"])
@pytest.mark.parametrize("level", ["L1", "L3"])
def test_body_is_the_front_of_the_right_vertebra(grids, grid, level):
    study = grids[grid]
    ref = cases.reference(study)
    body, whole = locate_vertebral_body(study, level), locate_vertebra(study, level)
    assert body.status == "present" and body.mask is not None, (body.status, body.reason)
    right = ref == cases.label_ids()[f"vertebrae_{level}"]
    inside = float((body.mask & right).sum()) / float(body.mask.sum())
    assert inside >= 0.75, f"{level} body: only {inside:.0%} inside the {level} label (a neighbour?)"
    share = float(body.mask.sum()) / float(whole.mask.sum())
    assert 0.35 <= share <= 0.8, f"{level} body is {share:.0%} of the vertebra"
    outside = float((body.mask & ~whole.mask).sum()) / float(body.mask.sum())
    assert outside <= 0.1, f"{outside:.0%} of the body outside its vertebra (more than filled trabecular holes)"
    # LPS y grows toward posterior: the body's centre lies in front of the vertebra's
    front = _centroid_lps(study, whole.mask)[1] - _centroid_lps(study, body.mask)[1]
    assert front >= 5.0, f"{level} body centre only {front:.1f} mm in front of the vertebra's"


def test_typed_vertebral_body_is_answered_with_the_body(grids):
    study = grids["native 3 mm"]
    res = ground(study, "L3 vertebral body")
    f = res.findings[0]
    assert f.name == "L3 vertebral body" and f.status.value == "present"
    vert = locate_vertebra(study, "L3").mask
    mask = res.masks[f.mask_id]
    assert 0.35 * vert.sum() <= mask.sum() <= 0.8 * vert.sum()


@pytest.mark.heavy  # ~35 s (the spine counted at 0.8 mm): make test-all
def test_body_at_clinical_resolution(grids):
    study = cases.resampled(grids["native 3 mm"])
    ref = cases.reference(study)
    body = locate_vertebral_body(study, "L3")
    assert body.status == "present", body.reason
    right = ref == cases.label_ids()["vertebrae_L3"]
    assert float((body.mask & right).sum()) / float(body.mask.sum()) >= 0.75
