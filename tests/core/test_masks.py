"""label_mask agrees with np.isin on every kind of label map."""
import numpy as np
import pytest

from napari_medground.masks import label_mask


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint16])
def test_label_mask_matches_isin(dtype):
    lab = np.random.default_rng(1).integers(0, 104, (20, 30, 40)).astype(dtype)
    for ids in ([17, 53], [0], [], [103, 500, -3]):
        assert np.array_equal(label_mask(lab, ids), np.isin(lab, ids))


def test_label_mask_falls_back_for_negative_float_and_large_values():
    lab = np.array([[-1, 2], [70000, 5]])
    assert np.array_equal(label_mask(lab, [-1, 70000]), np.isin(lab, [-1, 70000]))
    f = np.array([0.0, 1.0, 2.5])
    assert np.array_equal(label_mask(f, [1]), np.isin(f, [1]))
