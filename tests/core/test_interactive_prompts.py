"""One interaction on a mask (reasoning.interactive): known answers on synthetic slices,
LiteMedSAM running for real (CPU)."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.reasoning.interactive import apply_point, apply_scribble
from napari_medground.study.model import Study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _dice(a, b) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@pytest.fixture(scope="module")
def scene():
    """A volume of 5 slices with a bright disc (the object) and, on slice 2, a smaller
    bright disc beside it (what a first mask leaked into), joined by a bridge."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:128, :128]
    disc = (yy - 64) ** 2 + (xx - 50) ** 2 < 20 ** 2
    other = (yy - 64) ** 2 + (xx - 95) ** 2 < 12 ** 2
    vol = np.stack([rng.normal(100, 6, disc.shape) + 150 * disc for _ in range(5)]).astype(np.float32)
    vol[2] += 150 * other
    study = Study(array=vol, affine_lps=np.diag([3.0, 0.9, 0.9, 1.0]), modality="MR")  # 3 mm slices
    bridge = (np.abs(yy - 64) < 3) & (xx > 60) & (xx < 90)
    leaky = np.zeros(vol.shape, bool)
    leaky[2] = disc | other | bridge
    return study, disc, other, leaky


def test_negative_point_on_the_leak_removes_it_and_keeps_the_object(scene):
    study, disc, other, leaky = scene
    out = apply_point(study, leaky, (2, 64, 95), positive=False)
    assert (out.mask[2] & other).sum() < 0.1 * other.sum()
    assert (out.mask[2] & disc).sum() >= 0.97 * disc.sum()
    assert not (out.mask ^ leaky)[[0, 1, 3, 4]].any(), "another slice changed"
    assert out.changed > 0 and out.model is None


def test_negative_point_off_the_mask_changes_nothing(scene):
    study, _, _, leaky = scene
    out = apply_point(study, leaky, (2, 10, 10), positive=False)
    assert np.array_equal(out.mask, leaky) and out.changed == 0


def test_negative_lasso_removes_exactly_the_pixels_inside(scene):
    study, disc, _, leaky = scene
    square = [(2, 50, 40), (2, 50, 60), (2, 70, 60), (2, 70, 40)]
    out = apply_scribble(study, leaky, square, positive=False, closed=True)
    inside = np.zeros(leaky.shape[1:], bool)
    inside[50:71, 40:61] = True
    assert np.array_equal(out.mask[2], leaky[2] & ~inside)
    assert out.changed == int((leaky[2] & inside).sum())


def test_positive_point_adds_the_object_on_its_slice(scene):
    study, disc, _, _ = scene
    empty = np.zeros(study.shape, bool)
    out = apply_point(study, empty, (1, 64, 50), positive=True, device="cpu")
    assert _dice(out.mask[1], disc) >= 0.85 and not out.mask[[0, 2, 3, 4]].any()
    assert out.model is not None and out.model.device == "cpu"


def test_positive_scribble_adds_it_and_the_model_region(scene):
    study, disc, _, _ = scene
    empty = np.zeros(study.shape, bool)
    stroke = [(3, 55, 42), (3, 64, 52), (3, 72, 58)]
    out = apply_scribble(study, empty, stroke, positive=True, device="cpu")
    assert out.mask[3, 64, 52] and out.mask[3].sum() > 150
    assert not (out.mask[3] & ~disc).sum() > 0.2 * out.mask[3].sum()


def test_a_scribble_over_two_slices_is_refused(scene):
    study, _, _, leaky = scene
    with pytest.raises(ValueError, match="one slice"):
        apply_scribble(study, leaky, [(1, 5, 5), (2, 9, 9)], positive=False)
