"""Measurements on synthetic shapes with known answers (issue 6 item 4).

Shapes are defined in patient LPS mm and rasterised through the study's affine (voxel
centre inside the shape), so anisotropic and oblique grids see the same object. Volume
must come within 2%, diameters within one voxel diagonal.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from napari_medground import measure
from napari_medground.study.model import Study


# ------------------------------------------------------------------ helpers (also used by other tests)
def rotation(x_deg: float = 0.0, y_deg: float = 0.0, z_deg: float = 0.0) -> np.ndarray:
    """Rotation about the LPS x, then y, then z axes (degrees)."""
    x, y, z = (math.radians(v) for v in (x_deg, y_deg, z_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(x), -math.sin(x)], [0, math.sin(x), math.cos(x)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return rz @ ry @ rx


# Array axis 0 runs S->I like a DICOM axial series ("SPL" grid before any rotation).
AXIAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).T @ np.diag([1.0, 1.0, 1.0])


def make_study(shape, spacing, rot=np.eye(3), modality: str = "CT", fill: float = 0.0) -> Study:
    """A study whose grid centre sits at LPS (0, 0, 0); columns = rot @ axial directions * spacing."""
    shape = tuple(shape)
    ndim = len(shape)
    lin = np.zeros((3, 3))
    if ndim == 3:
        lin = rot @ AXIAL @ np.diag(spacing)
    else:  # 2D: rows along P, columns along L, normal along S
        lin[:, 0] = rot @ np.array([0.0, 1.0, 0.0]) * spacing[0]
        lin[:, 1] = rot @ np.array([1.0, 0.0, 0.0]) * spacing[1]
        lin[:, 2] = rot @ np.array([0.0, 0.0, 1.0])
    a = np.eye(4)
    a[:3, :3] = lin
    centre = (np.array(shape + (1,) * (3 - ndim), dtype=float) - 1) / 2
    if ndim == 2:
        centre[2] = 0.0
    a[:3, 3] = -lin @ centre
    return Study(array=np.full(shape, fill, dtype=np.float32), affine_lps=a, modality=modality)


@functools.lru_cache(maxsize=2)  # Study hashes by identity; shapes reuse one study's grid
def lps_grid(study: Study) -> np.ndarray:
    idx = np.indices(study.shape).reshape(study.ndim, -1).T
    grid = study.index_to_lps(idx).reshape(study.shape + (3,))
    grid.setflags(write=False)
    return grid


def ellipsoid(study: Study, semi, centre=(0, 0, 0), rot=np.eye(3)) -> np.ndarray:
    """Mask of an ellipsoid (semi-axes in mm along the columns of ``rot``) in LPS mm."""
    q = (lps_grid(study) - np.asarray(centre, float)) @ rot
    return np.sum((q / np.asarray(semi, float)) ** 2, axis=-1) <= 1.0


def voxel_diagonal(study: Study) -> float:
    return float(np.linalg.norm(study.spacing_mm))


GRIDS = {
    "isotropic": ((80, 80, 80), (1.0, 1.0, 1.0), np.eye(3)),
    "anisotropic": ((30, 110, 90), (3.0, 0.7, 0.9), np.eye(3)),
    "oblique": ((40, 96, 96), (2.5, 0.8, 0.9), rotation(20, -15, 35)),
}


# ------------------------------------------------------------------ volume and 3D diameter
def test_sphere_volume_and_diameter_isotropic():
    st = make_study((70, 70, 70), (1.0, 1.0, 1.0))
    m = ellipsoid(st, (25, 25, 25))
    assert measure.volume_ml(m, st) == pytest.approx(4 / 3 * math.pi * 25**3 / 1000, rel=0.02)
    d = measure.max_diameter(m, st)
    assert abs(d.length_mm - 50.0) <= voxel_diagonal(st)
    # the endpoints lie on the sphere, opposite each other
    ends = st.index_to_lps(np.array([d.start_voxel, d.end_voxel]))
    assert np.linalg.norm(ends.sum(axis=0)) < 2.0


@pytest.mark.parametrize("grid", list(GRIDS))
def test_ellipsoid_volume_and_diameter(grid):
    shape, spacing, rot = GRIDS[grid]
    st = make_study(shape, spacing, rot)
    semi = (32.0, 20.0, 14.0)
    shape_rot = rotation(10, 25, -30)  # the object itself is oblique in the patient frame
    m = ellipsoid(st, semi, centre=(1.5, -2.0, 0.7), rot=shape_rot)
    truth_ml = 4 / 3 * math.pi * np.prod(semi) / 1000
    assert measure.volume_ml(m, st) == pytest.approx(truth_ml, rel=0.02)
    assert abs(measure.max_diameter(m, st).length_mm - 2 * semi[0]) <= voxel_diagonal(st)


def test_volume_uses_the_determinant_for_sheared_grids():
    st = make_study((40, 60, 60), (2.0, 1.0, 1.0))
    a = st.affine_lps.copy()
    a[:3, 1] += 0.4 * a[:3, 2]  # shear: the column step is no longer orthogonal to the row step
    sheared = Study(array=st.array, affine_lps=a, modality="CT")
    m = ellipsoid(sheared, (20, 15, 12))
    assert measure.volume_ml(m, sheared) == pytest.approx(4 / 3 * math.pi * 20 * 15 * 12 / 1000, rel=0.02)


# ------------------------------------------------------------------ RECIST
@pytest.mark.parametrize("tilt_deg", [0.0, 17.0])
def test_recist_on_a_known_ellipse(tilt_deg):
    """Elliptic cylinder along the slice normal: every slice shows the same ellipse."""
    rot = rotation(tilt_deg, 0, 0)  # gantry tilt about the L axis
    st = make_study((24, 120, 110), (2.0, 0.75, 0.85), rot)
    in_plane = rotation(0, 0, 30)  # the ellipse is rotated 30 degrees within the axial plane
    q = lps_grid(st) @ rot  # coordinates in the tilted slice frame: z along the slice normal (a copy)
    q[..., :2] = (q[..., :2] @ in_plane[:2, :2])
    a, b = 28.0, 11.0
    m = ((q[..., 0] / a) ** 2 + (q[..., 1] / b) ** 2 <= 1) & (np.abs(q[..., 2]) <= 12)
    ax = measure.recist_axes(m, st)
    assert ax is not None and ax.axis == 0
    in_plane_diag = math.hypot(0.75, 0.85)
    assert abs(ax.long_axis.length_mm - 2 * a) <= in_plane_diag
    assert abs(ax.short_axis.length_mm - 2 * b) <= in_plane_diag
    # segments lie on the reported slice and are perpendicular in LPS
    for seg in (ax.long_axis, ax.short_axis):
        assert seg.start_voxel[0] == seg.end_voxel[0] == ax.slice_index
    p = st.index_to_lps(np.array([ax.long_axis.start_voxel, ax.long_axis.end_voxel,
                                  ax.short_axis.start_voxel, ax.short_axis.end_voxel]))
    u, v = p[1] - p[0], p[3] - p[2]
    assert abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v)) < 0.05
    assert np.linalg.norm(p[1] - p[0]) == pytest.approx(ax.long_axis.length_mm, rel=1e-6)


def test_recist_picks_the_slice_with_the_largest_long_axis():
    st = make_study((40, 80, 80), (2.0, 1.0, 1.0))
    m = ellipsoid(st, (20, 30, 15), centre=(0, 0, 10))  # largest axial section at S = +10
    ax = measure.recist_axes(m, st)
    z = st.index_to_lps(np.array(ax.long_axis.start_voxel))[2]
    assert abs(z - 10.0) <= 2.0
    assert abs(ax.long_axis.length_mm - 60.0) <= math.hypot(1.0, 1.0)
    assert abs(ax.short_axis.length_mm - 40.0) <= math.hypot(1.0, 1.0)


def test_recist_and_area_on_a_2d_image():
    st = make_study((200, 160), (0.6, 0.9), modality="DX")
    p = lps_grid(st)
    r = rotation(0, 0, -40)
    q = p @ r
    m = (q[..., 0] / 40.0) ** 2 + (q[..., 1] / 18.0) ** 2 <= 1
    assert measure.area_mm2(m, st) == pytest.approx(math.pi * 40 * 18, rel=0.02)
    ax = measure.recist_axes(m, st)
    assert ax.slice_index is None and len(ax.long_axis.start_voxel) == 2
    assert abs(ax.long_axis.length_mm - 80) <= math.hypot(0.6, 0.9)
    assert abs(ax.short_axis.length_mm - 36) <= math.hypot(0.6, 0.9)
    names = {x.name: x for x in measure.measure_mask(m, st)}
    assert {"area", "length", "long_axis", "short_axis", "mean"} <= set(names)
    assert names["area"].unit == "mm2" and names["mean"].unit == "a.u."
    assert abs(names["length"].value - 80) <= math.hypot(0.6, 0.9)


# ------------------------------------------------------------------ position and extent
@pytest.mark.parametrize("grid", list(GRIDS))
def test_centroid_box_and_extent(grid):
    shape, spacing, rot = GRIDS[grid]
    st = make_study(shape, spacing, rot)
    centre = np.array([4.0, -6.0, 3.0])
    shape_rot = rotation(0, 30, 20)
    semi = np.array([30.0, 18.0, 12.0])
    m = ellipsoid(st, semi, centre=centre, rot=shape_rot)
    c_vox, c_lps = measure.centroid(m, st)
    assert np.linalg.norm(c_lps - centre) < 0.5
    assert np.allclose(st.index_to_lps(c_vox), c_lps)
    box = measure.bounding_box(m)
    lo, hi = measure.box_lps_mm(box, st, voxel_edges=True)
    # the ellipsoid's exact extent along each LPS axis: half-width sqrt(sum_k (R_ik s_k)^2)
    half = np.sqrt(((shape_rot * semi) ** 2).sum(axis=1))
    tol = voxel_diagonal(st)
    assert np.all(lo <= centre - half + tol) and np.all(hi >= centre + half - tol)
    for k, name in enumerate(("LR", "AP", "SI")):
        assert abs(measure.extent_mm(m, st, name) - 2 * half[k]) <= voxel_diagonal(st) * 1.5


def test_extent_counts_whole_slices():
    st = make_study((20, 30, 30), (2.5, 1.0, 1.0))
    m = np.zeros(st.shape, bool)
    m[5:9, 10:20, 10:20] = True  # four slices
    assert measure.extent_mm(m, st, "SI") == pytest.approx(4 * 2.5)
    assert measure.extent_mm(m, st, "LR") == pytest.approx(10.0)
    with pytest.raises(ValueError, match="direction"):
        measure.extent_mm(m, st, "up")


def test_empty_and_mismatched_masks():
    st = make_study((10, 10, 10), (1.0, 1.0, 1.0))
    empty = np.zeros(st.shape, bool)
    assert measure.volume_ml(empty, st) == 0.0
    assert measure.recist_axes(empty, st) is None
    assert [m.name for m in measure.measure_mask(empty, st)] == ["volume"]
    with pytest.raises(ValueError, match="empty"):
        measure.bounding_box(empty)
    with pytest.raises(ValueError, match="study grid"):
        measure.volume_ml(np.zeros((5, 5, 5), bool), st)
    one = empty.copy()
    one[4, 4, 4] = True
    assert measure.volume_ml(one, st) == pytest.approx(0.001)
    assert measure.max_diameter(one, st).length_mm == pytest.approx(1.0)
