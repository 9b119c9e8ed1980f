"""Conforming a T1 study to the MeshNet grid and mapping labels back (no network needed)."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.brain import conform as bc
from napari_medground.study.model import Study
from napari_medground.study.nifti_io import read_nifti
from tests.data.shared import shared_path


@pytest.fixture(scope="module")
def t1() -> Study:
    return read_nifti(shared_path("brain", "t1_crop.nii.gz"))


def _reindexed(study: Study, axes, flips) -> Study:
    """The same voxels and geometry with the array axes permuted/flipped (a new array order)."""
    arr = study.array
    m = np.zeros((4, 4))
    m[3, 3] = 1
    for new_axis, (old_axis, flip) in enumerate(zip(axes, flips)):
        n = arr.shape[old_axis]
        m[old_axis, new_axis] = -1.0 if flip else 1.0
        m[old_axis, 3] += (n - 1) if flip else 0.0
    new = np.transpose(arr, axes)
    for new_axis, flip in enumerate(flips):
        if flip:
            new = np.flip(new, axis=new_axis)
    return Study(np.ascontiguousarray(new), study.affine_lps @ m, modality="MR")


def test_conform_is_an_exact_noop_on_a_conformed_file(t1):
    conf = bc.conform(t1)
    assert t1.orientation == "AIL" and conf.exact and conf.is_noop
    assert np.shares_memory(conf.volume, t1.array)  # nothing copied, nothing resampled
    assert np.array_equal(conf.volume, t1.array.transpose(2, 1, 0))
    # the model grid is the study grid with the axes in NIfTI (i, j, k) order
    assert np.allclose(conf.affine_lps[:, :3], t1.affine_lps[:, [2, 1, 0]], atol=1e-6)
    assert np.allclose(conf.affine_lps[:3, 3], t1.affine_lps[:3, 3], atol=1e-4)
    lab = (conf.volume > 100).astype(np.uint8)
    assert np.array_equal(bc.labels_to_study(conf, lab), lab.transpose(2, 1, 0))
    assert conf.quantiles == (0.0, 127.0)


@pytest.mark.parametrize("axes,flips", [((2, 1, 0), (False, False, False)), ((1, 0, 2), (True, False, True)),
                                        ((0, 2, 1), (False, True, False))])
def test_reoriented_copy_conforms_to_the_same_voxels(t1, axes, flips):
    other = _reindexed(t1, axes, flips)
    conf = bc.conform(other)
    assert conf.exact  # a re-indexing: no interpolation
    # every study voxel lands on a model voxel holding its own value, at its own LPS position
    # (FreeSurfer centres the grid on index dim/2, so a flip may shift the grid by one voxel)
    lab = (conf.volume > 60).astype(np.uint8)
    assert np.array_equal(bc.labels_to_study(conf, lab), (other.array > 60).astype(np.uint8))
    s = np.array([120, 77, 201])
    m = conf.to_model @ np.append(s, 1.0)
    assert np.allclose(m, np.rint(m))
    assert conf.volume[tuple(np.rint(m[:3]).astype(int))] == other.array[tuple(s)]
    assert np.allclose(conf.affine_lps @ m, other.affine_lps @ np.append(s, 1.0))
    # a box of the model grid is a box of the study grid, exactly
    box = ((90, 100, 60), (150, 131, 200))
    lo, hi = bc.study_box(conf, box)
    back = bc.labels_to_study(conf, np.ones((60, 31, 140), np.uint8), box)
    inside = np.zeros(other.shape, bool)
    inside[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1] = True
    assert np.array_equal(back.astype(bool), inside) and inside.sum() == 60 * 31 * 140


def test_cropped_study_keeps_its_voxels_at_their_place(t1):
    shift = np.array([[1, 0, 0, 10], [0, 1, 0, 0], [0, 0, 1, 4], [0, 0, 0, 1.0]])
    sub = Study(np.ascontiguousarray(t1.array[10:, :, 4:250]), t1.affine_lps @ shift, modality="MR")
    conf = bc.conform(sub)
    assert conf.exact and not conf.is_noop
    # the centre moved by whole voxels: each study voxel keeps its value at its LPS position
    idx = np.array([[120, 130, 140], [5, 200, 17], [240, 3, 100]])
    for s in idx:
        m = np.rint(conf.to_model @ np.append(s, 1.0))[:3].astype(int)
        assert conf.volume[tuple(m)] == sub.array[tuple(s)]
        assert np.allclose(conf.affine_lps @ np.append(m, 1.0), sub.affine_lps @ np.append(s, 1.0))


def _phantom(lps: np.ndarray) -> np.ndarray:
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    return 400 + 300 * np.sin(x / 23.0) * np.cos(y / 31.0) + 2.0 * z


def test_resampled_oblique_study_maps_to_the_right_grid():
    th = np.deg2rad(12)
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    direction = rot @ np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], float)  # an oblique sagittal-ish grid
    spacing = np.array([1.6, 1.1, 1.3])
    shape = (110, 180, 150)
    aff = np.eye(4)
    aff[:3, :3] = direction * spacing
    aff[:3, 3] = [-80.0, 95.0, 70.0]
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).astype(float)
    lps = grid @ aff[:3, :3].T + aff[:3, 3]
    study = Study(_phantom(lps).astype(np.int16), aff, modality="MR")
    conf = bc.conform(study)
    assert not conf.exact and conf.volume.shape == (256,) * 3 and conf.volume.dtype == np.uint8
    # intensities: the conformed voxel holds the (rescaled) phantom value at its LPS position
    src_min, scale = bc._getscale(study.array)
    mi = np.stack(np.meshgrid(np.arange(60, 200, 7), np.arange(60, 200, 7), np.arange(60, 200, 7),
                              indexing="ij"), -1).reshape(-1, 3)
    s_idx = (np.c_[mi, np.ones(len(mi))] @ np.linalg.inv(conf.to_model).T)[:, :3]
    inside = np.all((s_idx > 1) & (s_idx < np.array(shape) - 2), axis=1)
    m_lps = np.c_[mi, np.ones(len(mi))] @ conf.affine_lps[:3].T
    expect = np.clip((_phantom(m_lps) - src_min) * scale, 0, 255)
    got = conf.volume[mi[:, 0], mi[:, 1], mi[:, 2]].astype(float)
    assert inside.sum() > 500 and np.abs(got - expect)[inside].mean() < 1.5
    # labels: a 25 mm ball drawn on the model grid lands on the same LPS ball in the study
    centre = lps[55, 90, 75]
    c = np.rint(np.linalg.solve(conf.affine_lps[:3, :3], centre - conf.affine_lps[:3, 3])).astype(int)
    sub = np.stack(np.meshgrid(*[np.arange(v - 30, v + 31) for v in c], indexing="ij"), -1).astype(float)
    m_lps = sub @ conf.affine_lps[:3, :3].T + conf.affine_lps[:3, 3]
    ball = np.zeros((256,) * 3, np.uint8)
    inside_ball = np.linalg.norm(m_lps - centre, axis=-1) < 25
    ball[c[0] - 30:c[0] + 31, c[1] - 30:c[1] + 31, c[2] - 30:c[2] + 31] = inside_ball
    back = bc.labels_to_study(conf, ball).astype(bool)
    truth = np.linalg.norm(lps - centre, axis=-1) < 25
    assert (back & truth).sum() / truth.sum() > 0.97 and (back & ~truth).sum() / truth.sum() < 0.03
    # a box of the model grid marks the study voxels that take their labels from it
    box = ((100, 100, 100), (140, 150, 160))
    inner = bc.study_box(conf, box)
    lab = bc.labels_to_study(conf, np.ones((40, 50, 60), np.uint8), box)
    assert inner is not None and lab[tuple(slice(a, b + 1) for a, b in zip(*inner))].all()


def test_quantile_table_matches_numpy_quantile():
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 256, (40, 50, 60)).astype(np.uint8)
    vol[:10] = 0
    lut, (lo, hi) = bc.quantile_lut(vol, 0.02, 0.98)
    qlo, qhi = np.quantile(vol, [0.02, 0.98])
    assert lo == pytest.approx(qlo) and hi == pytest.approx(qhi)
    ref = np.clip((vol.astype(np.float64) - qlo) / (qhi - qlo + 1e-3), 0, 1)
    assert np.allclose(lut[vol], ref, atol=1e-6)


def test_non_uint8_input_is_rescaled_like_freesurfer():
    rng = np.random.default_rng(1)
    arr = np.zeros((256, 256, 256), np.uint16)
    arr[40:200, 50:210, 30:220] = rng.integers(100, 3000, (160, 160, 190))
    arr[100, 100, 100] = 60000  # one hot voxel must not set the scale
    aff = np.eye(4)
    aff[:3, :3] = bc.MODEL_DIRECTION_LPS[:, [2, 1, 0]]
    study = Study(arr, aff, modality="MR")
    conf = bc.conform(study)
    assert conf.exact and conf.volume.dtype == np.uint8
    assert conf.volume.max() == 255 and np.percentile(conf.volume[conf.volume > 0], 50) > 100
