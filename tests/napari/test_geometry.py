"""Display geometry adapter (pure numpy, no display needed): patient-oriented axes,
exact round trips to the study grid, and "left stays left"."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.viewer.layers import DisplayGeometry, display_geometry
from napari_medground.study.model import Study

_UNIT = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def _study(code: str, shape=(7, 9, 11), spacing=(2.0, 0.8, 1.3), rotate_deg: float = 0.0) -> Study:
    """A study whose array axes point along ``code`` (LPS letters), optionally rotated."""
    d = np.zeros((3, 3))
    for axis, ch in enumerate(code):
        comp, sign = _UNIT[ch]
        d[comp, axis] = sign
    if rotate_deg:
        t = np.deg2rad(rotate_deg)  # about the S axis, then a little about P
        rz = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        u = np.deg2rad(rotate_deg / 2)
        ry = np.array([[np.cos(u), 0, np.sin(u)], [0, 1, 0], [-np.sin(u), 0, np.cos(u)]])
        d = ry @ rz @ d
    a = np.eye(4)
    a[:3, :3] = d * np.asarray(spacing)[None, :]
    a[:3, 3] = (-40.0, 25.0, 110.0)
    rng = np.random.default_rng(0)
    return Study(array=rng.integers(0, 1000, size=shape).astype(np.int16), affine_lps=a, modality="CT")


def _world_of_study_index(study: Study, idx) -> np.ndarray:
    lps = study.index_to_lps(np.asarray(idx, dtype=float))
    return lps[..., ::-1]  # world = (S, P, L) = LPS (z, y, x)


@pytest.mark.parametrize("code,rot", [("LIA", 0), ("RAS", 0), ("LPS", 0), ("SPL", 0), ("IAR", 0),
                                      ("RAS", 17.0), ("SPL", 25.0)])
def test_round_trip_and_world(code, rot):
    study = _study(code, rotate_deg=rot)
    geo = display_geometry(study)
    disp = geo.to_display(study.array)
    assert np.shares_memory(disp, study.array)  # a view: transpose/flips only
    back = geo.from_display(disp)
    assert back.shape == study.array.shape and np.array_equal(back, study.array)
    # a painted display mask lands on the same voxels of the study grid
    mask = np.zeros(geo.display_shape, bool)
    mask[1, 2:4, 3] = True
    on_study = geo.from_display(mask)
    pts_study = np.argwhere(on_study)
    pts_disp = np.argwhere(mask)
    assert np.allclose(np.sort(geo.display_to_study(pts_disp), axis=0), np.sort(pts_study, axis=0))
    # the layer affine maps a display index to the world position of that voxel
    rng = np.random.default_rng(1)
    d = rng.uniform(0, 6, size=(20, 3))
    expected = _world_of_study_index(study, geo.display_to_study(d))
    assert np.allclose(geo.display_to_world(d), expected, atol=1e-9)
    assert np.allclose(geo.world_to_study(geo.display_to_world(d)), geo.display_to_study(d), atol=1e-9)
    # the display axes point S, P, L (diagonal of the affine positive, dominant)
    m = geo.affine[:3, :3]
    assert np.all(np.diag(m) > 0)
    assert np.all(np.abs(np.diag(m)) >= np.abs(m).max(axis=0) - 1e-12)
    assert geo.is_oblique == bool(rot)
    kw = geo.layer_kwargs()
    assert ("affine" in kw) == bool(rot)
    if not rot:
        assert sorted(kw["scale"]) == sorted(study.spacing_mm)


@pytest.mark.parametrize("code,rot", [("LIA", 0), ("RAS", 0), ("LPS", 0), ("RAS", 17.0)])
def test_left_stays_left(code, rot):
    """Patient left -> screen right; anterior at the top; superior up the slider."""
    study = _study(code, shape=(21, 23, 25), spacing=(1.0, 1.0, 1.0), rotate_deg=rot)
    centre = study.index_to_lps((np.asarray(study.shape) - 1) / 2.0)
    geo = display_geometry(study)

    def display_of(offset_lps):
        idx = study.lps_to_index(centre + np.asarray(offset_lps, float))
        return geo.study_to_display(idx)

    left, right = display_of((6, 0, 0)), display_of((-6, 0, 0))
    assert left[2] > right[2] + 8  # patient left -> larger column -> screen right
    ant, post = display_of((0, -6, 0)), display_of((0, 6, 0))
    assert ant[1] < post[1] - 8  # anterior -> smaller row -> top of the screen
    sup, inf = display_of((0, 0, 6)), display_of((0, 0, -6))
    assert sup[0] > inf[0] + 8


def test_marker_voxel_in_display_array():
    """The same check on pixels: paint the patient's left in the study, find it on the right."""
    study = _study("RAS", shape=(9, 10, 12), spacing=(1.0, 1.0, 1.0))  # axis 0 points to patient Right
    study.array[:] = 0
    study.array[1, 5, 6] = 1  # low index along R = patient left
    disp = display_geometry(study).to_display(study.array)
    _, _, col = np.argwhere(disp == 1)[0]
    assert col > disp.shape[2] // 2


def test_2d_image_keeps_rows_and_columns():
    a = np.eye(4)
    a[0, 0], a[1, 1] = 0.143, 0.139  # index (row, col, 0): col -> x, row -> y
    a[:2, :2] = [[0, 0.139], [0.143, 0]]
    study = Study(array=np.arange(12, dtype=np.uint16).reshape(3, 4), affine_lps=a, modality="DX")
    geo = DisplayGeometry.from_study(study)
    assert geo.perm == (0, 1) and geo.flip == (False, False)
    assert np.allclose(geo.scale, study.spacing_mm)
    assert np.array_equal(geo.to_display(study.array), study.array)
    box = geo.box_from_display(np.array([[0.2, 1.0], [2.4, 3.7]]))
    assert box.min_voxel == (0, 1) and box.max_voxel == (2, 3)


def test_box_from_display_points_maps_to_study_indices():
    study = _study("LIA", shape=(12, 14, 16))
    geo = display_geometry(study)
    lo_s, hi_s = np.array([2, 3, 4]), np.array([6, 3, 9])  # flat along study axis 1
    corners = np.array([[a, b, c] for a in (lo_s[0], hi_s[0]) for b in (lo_s[1], hi_s[1])
                        for c in (lo_s[2], hi_s[2])])
    box = geo.box_from_display(geo.study_to_display(corners))
    assert box.min_voxel == tuple(lo_s) and box.max_voxel == tuple(hi_s)
    dmin, dmax = geo.box_corners_display(box)
    assert np.all(dmin <= dmax)
