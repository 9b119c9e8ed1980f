"""Terms that name a part of what a CT method locates, on example_ct (abdomen-pelvis,
lung bases at the top): answered with that part and `uncertain`, or `not_assessable`
with the reason, never `present` with the containing structure (reference labels for
evaluation only)."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.reasoning.api import ground
from tests.core import ct_structures_cases as cases

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def study():
    return cases.native()


def _first(res):
    assert res.findings, "no finding"
    return res.findings[0]


def test_thoracic_aorta_is_the_descending_part_above_the_hiatus_and_says_so(study):
    res = ground(study, "thoracic aorta")
    f = _first(res)
    assert f.status.value == "uncertain" and "descending" in res.conclusion.text and "partial" in res.conclusion.text
    mask = res.masks[f.mask_id]
    ref = cases.reference(study) == cases.label_ids()["aorta"]
    assert float((mask & ref).sum()) / float(mask.sum()) >= 0.7, "the thoracic mask is not aorta"
    # it lies above the abdominal aorta: its lowest point is above the abdominal mask's centre (LPS z up)
    whole = ground(study, "aorta")
    wmask = whole.masks[_first(whole).mask_id]
    z = lambda m: (np.asarray(study.affine_lps) @ np.c_[np.argwhere(m), np.ones(int(m.sum()))].T)[2]  # noqa: E731
    assert z(mask).min() > np.median(z(wmask)), "thoracic part not above the abdominal aorta"


@pytest.mark.parametrize("text", ["dilated ascending aorta", "aortic arch"])
def test_ascending_aorta_and_arch_are_not_assessable_with_the_reason(study, text):
    res = ground(study, text)
    f = _first(res)
    assert f.status.value == "not_assessable" and "ascending aorta" in res.conclusion.text
    assert f.mask_id not in (res.masks or {})


def test_thoracic_dilatation_on_this_field_of_view_is_not_called(study):
    f = _first(ground(study, "thoracic aortic aneurysm"))
    assert f.status.value in ("not_assessable", "uncertain"), f.status


def test_skeletal_muscle_at_l3_is_the_muscle_chain_not_the_skeleton(study):
    res = ground(study, "skeletal muscle at L3")
    assert all("bone" not in f.name and "vertebra" not in f.name for f in res.findings), \
        [f.name for f in res.findings]
    assert "sarcopenia" in _first(res).name.lower() or "muscle" in _first(res).name.lower()
