"""Asymmetry index and Evans index on a synthetic head with known widths."""
from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medground import measure
from tests.core.test_measure_shapes import ellipsoid, make_study, rotation

# Synthetic head in LPS mm (x: +left, y: +posterior, z: +superior), centred at 0.
SKULL = (70.0, 85.0, 60.0)  # inner table semi-axes: 140 mm wide


def _head(study, horn_x: float, horn_semi_x: float):
    """Intracranial mask and lateral ventricles: frontal horns (lateral walls at
    +-(horn_x + horn_semi_x)), bodies joining them to wide posterior atria (one connected
    ventricle per side), and far-lateral temporal horns that share slices with the
    frontal horns. Neither the atria nor the temporal horns may count."""
    skull = ellipsoid(study, SKULL)
    vent = np.zeros(study.shape, bool)
    for side in (-1, 1):
        vent |= ellipsoid(study, (horn_semi_x, 15, 10), centre=(side * horn_x, -30, 10))
        vent |= ellipsoid(study, (4, 32, 8), centre=(side * 12, 0, 12))  # bodies join horns to atria
        vent |= ellipsoid(study, (10, 20, 10), centre=(side * 22, 25, 10))  # atria: 64 mm apart
        vent |= ellipsoid(study, (5, 12, 6), centre=(side * 38, -15, 2))  # temporal horns
    return vent, skull


def _skull_width_at(z: float) -> float:
    return 2 * SKULL[0] * math.sqrt(1 - (z / SKULL[2]) ** 2)


@pytest.mark.parametrize("horn_x, horn_semi_x", [(9.0, 8.0), (13.0, 12.0)])
@pytest.mark.parametrize("grid", ["axial", "oblique"])
def test_evans_index_on_a_synthetic_head(grid, horn_x, horn_semi_x):
    if grid == "axial":
        st = make_study((90, 130, 110), (1.5, 1.5, 1.5), modality="MR")
    else:  # rotated about S only (the head stays aligned with the patient), anisotropic
        st = make_study((70, 150, 130), (2.0, 1.3, 1.2), rotation(0, 0, 20), modality="MR")
    vent, skull = _head(st, horn_x, horn_semi_x)
    ev = measure.evans_index(vent, skull, st)
    assert ev is not None
    horn = 2 * (horn_x + horn_semi_x)
    z = st.index_to_lps(np.array(ev.horn_line.start_voxel))[2]
    assert abs(z - 10.0) <= 2 * max(st.spacing_mm)  # the horns' widest slice (widths tie in whole pixels)
    tol = 1.2 * max(st.spacing_mm)
    assert abs(ev.horn_line.length_mm - horn) <= tol
    assert abs(ev.skull_line.length_mm - _skull_width_at(z)) <= tol
    assert ev.ratio == pytest.approx(ev.horn_line.length_mm / ev.skull_line.length_mm)
    assert ev.ratio == pytest.approx(horn / _skull_width_at(10.0), abs=0.02)
    # both lines run left-right in the patient frame, on the reported slice
    for line in (ev.horn_line, ev.skull_line):
        a, b = st.index_to_lps(np.array([line.start_voxel, line.end_voxel]))
        d = (b - a) / np.linalg.norm(b - a)
        assert abs(d[0]) > 0.999
        assert line.start_voxel[0] == line.end_voxel[0] == ev.slice_index


def test_evans_index_meets_the_threshold_only_when_enlarged():
    st = make_study((90, 130, 110), (1.5, 1.5, 1.5), modality="MR")
    normal = measure.evans_index(*_head(st, 9.0, 8.0), st)
    enlarged = measure.evans_index(*_head(st, 13.0, 12.0), st)
    assert normal.ratio < 0.3 < enlarged.ratio


def test_evans_index_needs_both_masks():
    st = make_study((20, 20, 20), (1.0, 1.0, 1.0))
    empty = np.zeros(st.shape, bool)
    some = empty.copy()
    some[5:10, 5:10, 5:10] = True
    assert measure.evans_index(empty, some, st) is None
    assert measure.evans_index(some, empty, st) is None


def test_asymmetry_index_convention():
    assert measure.asymmetry_index(4.0, 3.6) == pytest.approx(0.4 / 7.6)
    assert measure.asymmetry_index(3.6, 4.0) == measure.asymmetry_index(4.0, 3.6)
    assert measure.asymmetry_index(3.0, 3.0) == 0.0
    with pytest.raises(ValueError):
        measure.asymmetry_index(0.0, 0.0)
    with pytest.raises(ValueError):
        measure.asymmetry_index(-1.0, 2.0)


def test_abc2_volume_of_an_ellipsoid():
    st = make_study((40, 90, 90), (2.0, 0.8, 0.8))
    m = ellipsoid(st, (25, 15, 20))
    # ABC/2 approximates 4/3 pi abc = pi/6 ABC with pi/6 ~ 1/2
    truth = 4 / 3 * math.pi * 25 * 15 * 20 / 1000
    assert measure.abc2_volume_ml(m, st) == pytest.approx(truth * 3 / math.pi, rel=0.06)
