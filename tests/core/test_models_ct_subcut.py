"""Subcutaneous fat (the structure added through the catalogue): HU rules + morphology,
checked against the phantom's geometry at several voxel sizes and storage orientations."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct_anatomy_subcut import segment_subcutaneous_fat
from napari_medground.phantom import make_ct_phantom

MUSCLE_WALL_MM = (138.0, 95.0)  # outer semi-axes of the phantom's muscle wall (phantom._draw_trunk)


def _reference(study, truth) -> np.ndarray:
    """Fat outside the phantom's muscle wall, from the voxel centres in LPS mm."""
    idx = np.indices(study.shape).reshape(3, -1)
    lps = (np.asarray(study.affine_lps)[:3, :3] @ idx + np.asarray(study.affine_lps)[:3, 3:4])
    x, y = lps[0].reshape(study.shape), lps[1].reshape(study.shape)
    inside_wall = (x / MUSCLE_WALL_MM[0]) ** 2 + (y / MUSCLE_WALL_MM[1]) ** 2 <= 1.0
    return truth["fat"] & ~inside_wall


@pytest.mark.parametrize("shape,spacing,orientation", [
    ((32, 80, 80), (5.0, 4.2, 4.2), "SPL"),
    ((40, 96, 96), (4.0, 3.5, 3.5), "LPS"),
    ((24, 220, 220), (6.0, 1.5, 1.5), "IAR"),
])
def test_subcutaneous_fat_matches_the_phantom(shape, spacing, orientation):
    study, truth = make_ct_phantom(shape, spacing, orientation=orientation)
    ref = _reference(study, truth)
    got = np.asarray(segment_subcutaneous_fat(study), bool)
    dice = 2 * (got & ref).sum() / (got.sum() + ref.sum())
    assert dice >= 0.75, dice
    # visceral fat (inside the wall) is not subcutaneous
    visceral = truth["fat"] & ~ref
    assert (got & visceral).sum() < 0.05 * visceral.sum()


def test_subcutaneous_fat_refuses_a_study_that_is_not_ct():
    from napari_medground.errors import ModelUnavailable
    from napari_medground.study.model import Study

    with pytest.raises(ModelUnavailable, match="CT"):
        segment_subcutaneous_fat(Study(array=np.zeros((4, 8, 8), np.float32), affine_lps=np.eye(4),
                                       modality="MR"))
