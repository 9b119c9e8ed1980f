"""Chest X-ray anatomy on synthetic radiographs with known widths, and on images that
cannot be assessed (tiny, blank, uniform, 3D): a clear answer, confidence 0, no crash."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_medground.models.cxr.anatomy import analyse_chest_xray
from napari_medground.study.model import Study


def _affine(spacing=(1.0, 1.0)) -> np.ndarray:
    """Standard frontal display: rows run to the feet (-z), columns to the patient's left (+x)."""
    a = np.eye(4)
    a[:3, 0] = (0.0, 0.0, -spacing[0])
    a[:3, 1] = (spacing[1], 0.0, 0.0)
    a[:3, 2] = (0.0, 1.0, 0.0)
    return a


def phantom(heart_width_px: float, *, size=(420, 400), seed=0):
    """A PA chest radiograph phantom: body, two lungs with ribs, mediastinum, heart
    (an ellipse off to the patient's left), domed diaphragm, noise and blur.

    Returns (image uint16, heart width px, internal thoracic width px): the thoracic
    width is the widest row between the lungs' lateral edges, the heart width the
    ellipse's horizontal diameter (its widest row lies between the lungs).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    r, c = np.mgrid[0:h, 0:w].astype(float)
    cx = w / 2
    img = np.full(size, 0.05)
    body = (np.abs(c - cx) < 0.46 * w) & (r > 0.04 * h)
    img[body] = 0.55
    t = np.clip((r - 0.12 * h) / (0.66 * h), 0, None)
    half = 0.12 * w + 0.28 * w * np.sqrt(t)  # lateral lung edge: rounded apex, widest at the base
    lungs = (r >= 0.12 * h) & (np.abs(c - cx) < half) & (np.abs(c - cx) > 0.06 * w)
    dome = 0.62 * h + 0.16 * h * ((np.abs(c - cx) - 0.12 * w) / (0.28 * w)) ** 2
    abdomen = body & (r > dome)
    heart = ((c - cx - 0.04 * w) / (heart_width_px / 2)) ** 2 + ((r - 0.55 * h) / (0.13 * h)) ** 2 <= 1
    mediastinum = (np.abs(c - cx) <= 0.06 * w) & (r > 0.04 * h)
    lungs &= ~(heart | abdomen)
    img[lungs] = 0.2
    img[(heart | mediastinum) & ~abdomen] = 0.85
    img[abdomen] = 0.8
    img[lungs] += 0.08 * (np.sin(2 * np.pi * r / (0.07 * h)) > 0.4)[lungs]  # ribs
    img += ndi.gaussian_filter(rng.normal(0, 0.05, size), 2) + rng.normal(0, 0.01, size)
    img = ndi.gaussian_filter(img, 1.0)
    rows = np.flatnonzero(lungs[:, : int(cx)].any(1) & lungs[:, int(cx):].any(1))
    idx = np.arange(w)
    lat_r = np.where(lungs[rows] & (idx < cx), idx, w).min(1)
    lat_l = np.where(lungs[rows] & (idx > cx), idx, -1).max(1)
    return (np.clip(img, 0, None) * 1000).astype(np.uint16), float(heart_width_px), float(np.max(lat_l - lat_r + 1))


@pytest.mark.parametrize("heart_px, spacing", [(120, (0.7, 0.7)), (180, (0.7, 0.7)), (150, (0.5, 0.8))])
def test_known_widths_give_the_ctr(heart_px, spacing):
    img, heart, thorax = phantom(heart_px)
    res = analyse_chest_xray(Study(array=img, affine_lps=_affine(spacing), modality="DX"))
    assert res.assessable, res.notes
    truth = heart / thorax
    assert res.ctr == pytest.approx(truth, rel=0.05)
    # lengths are horizontal: pixels times the column spacing
    assert res.heart_width.length_mm == pytest.approx(heart * spacing[1], rel=0.04)
    assert res.thorax_width.length_mm == pytest.approx(thorax * spacing[1], rel=0.05)
    assert (res.ctr > 0.5) == (truth > 0.5)
    assert res.confidence > 0.5
    # the heart is off to the patient's left: the left extent from the midline is longer
    ext = {ln.name: ln.length_mm for ln in res.lines}
    assert ext["heart_left_extent"] > ext["heart_right_extent"]


def test_phantom_lungs_are_on_the_patients_sides():
    img, _, _ = phantom(150)
    res = analyse_chest_xray(Study(array=img, affine_lps=_affine(), modality="DX"))
    w = img.shape[1]
    assert np.argwhere(res.lung_right)[:, 1].max() < w / 2 < np.argwhere(res.lung_left)[:, 1].min()


def test_inverted_image_is_recognised():
    img, heart, thorax = phantom(150)
    res = analyse_chest_xray(Study(array=img.max() - img, affine_lps=_affine(), modality="DX"))
    assert any("inverted" in n for n in res.notes)
    assert res.ctr == pytest.approx(heart / thorax, rel=0.06)


@pytest.mark.parametrize("array, words", [
    (np.zeros((32, 32), np.uint8), "too small"),
    (np.zeros((512, 512), np.uint8), "blank or uniform"),
    (np.full((400, 300), 1234, np.uint16), "blank or uniform"),
    (np.zeros((5, 64, 64), np.int16), "not a radiograph"),
])
def test_unassessable_images_say_so(array, words):
    affine = np.eye(4) if array.ndim == 3 else _affine()
    res = analyse_chest_xray(Study(array=array, affine_lps=affine, modality="DX"))
    assert not res.assessable
    assert res.confidence == 0.0 and np.isnan(res.ctr)
    assert res.heart_width is None and res.thorax_width is None and res.heart is None
    assert res.lung_right.shape == array.shape and not res.lung_right.any() and not res.lung_left.any()
    assert any(words in n for n in res.notes), res.notes
    assert res.measurements() == []


def test_noise_is_not_a_confident_chest():
    rng = np.random.default_rng(1)
    res = analyse_chest_xray(Study(array=rng.integers(0, 4000, (300, 300)).astype(np.uint16),
                                   affine_lps=_affine(), modality="DX"))
    assert res.confidence < 0.5


def test_single_slice_volume_is_read_as_a_radiograph():
    img, heart, thorax = phantom(150)
    a = np.eye(4)
    a[:3, 1] = (0.0, 0.0, -1.0)  # axis 1: rows to the feet
    a[:3, 2] = (1.0, 0.0, 0.0)  # axis 2: columns to the patient's left
    a[:3, 0] = (0.0, 1.0, 0.0)  # axis 0: the singleton normal
    res = analyse_chest_xray(Study(array=img[None], affine_lps=a, modality="DX"))
    assert res.lung_left.shape == (1,) + img.shape
    assert len(res.heart_width.start_voxel) == 3 and res.heart_width.start_voxel[0] == 0
    assert res.ctr == pytest.approx(heart / thorax, rel=0.05)
