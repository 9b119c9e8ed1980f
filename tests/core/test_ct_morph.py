"""Millimetre morphology on bounding-box crops gives exactly the whole-array answer."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_medground.models.ct.structures import morph


@pytest.mark.parametrize("spacing", [(1.5, 0.8, 0.8), (3.0, 3.0, 3.0), (5.0, 0.5, 0.7)])
@pytest.mark.parametrize("at_edge", [False, True])
def test_cropped_maps_equal_whole_array_maps(spacing, at_edge):
    rng = np.random.default_rng(int(10 * spacing[0]) + at_edge)
    blob = ndi.gaussian_filter(rng.random((40, 70, 80)), 2) > 0.52
    a = np.zeros_like(blob)
    region = (slice(0, 25), slice(0, 50), slice(30, 80)) if at_edge else (slice(8, 25), slice(15, 50), slice(30, 70))
    a[region] = blob[region]
    whole_dilate = ndi.distance_transform_edt(~a, sampling=spacing) <= 6.0
    whole_erode = ndi.distance_transform_edt(np.pad(a, 1), sampling=spacing)[1:-1, 1:-1, 1:-1] > 2.0
    assert np.array_equal(morph.dilate_mm(a, 6.0, spacing), whole_dilate)
    assert np.array_equal(morph.erode_mm(a, 2.0, spacing), whole_erode)
    assert not morph.dilate_mm(np.zeros_like(a), 3.0, spacing).any()
