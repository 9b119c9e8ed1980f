"""LiteMedSAM prompts: OpenVINO encoder agreement with torch, points, negative points,
the intensity stopping rule, and the 3D box on real lesions (small crops: the encoder is the cost)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medground.models import litemedsam as sam  # noqa: E402
from napari_medground.models.litemedsam import openvino as lov  # noqa: E402
from napari_medground.models.litemedsam import points as lpts  # noqa: E402
from napari_medground.models.litemedsam import runtime as rt  # noqa: E402
from napari_medground.models.litemedsam.infer import Session  # noqa: E402
from napari_medground.result import Box  # noqa: E402
from napari_medground.study import load_study  # noqa: E402
from napari_medground.study.model import Study  # noqa: E402
from tests.data.shared import shared_path  # noqa: E402


def _dice(a, b) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@pytest.fixture(scope="module")
def model():
    try:
        rt.weights_path()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"LiteMedSAM weights not installed: {exc}")
    return rt.load_model("cpu")


def _labels_on(study, path):
    from tests.core.test_reasoning_acceptance import _labels_on_study

    return _labels_on_study(study, path)


@pytest.fixture(scope="module")
def brain1():
    st = load_study(shared_path("mri", "pyradiomics", "brain1_image.nrrd"))
    lab = _labels_on(st, shared_path("mri", "pyradiomics", "brain1_label.nrrd")) > 0
    return st, lab


def test_openvino_masks_agree_with_torch_fp32_on_real_slices(model, brain1, monkeypatch):
    pytest.importorskip("openvino")
    st, lab = brain1
    zs = [12, 14, 16]
    boxes = {}
    for z in zs:
        i = np.argwhere(lab[z])
        boxes[z] = (*(i.min(0) - 2), *(i.max(0) + 2))
    lo, hi = rt.resolve_window(st.array, st.modality)
    monkeypatch.setenv(lov.ENV_RUNTIME, "torch")
    ref = Session(model=model, study=st, lo=lo, hi=hi)
    assert ref.precision == "fp32"
    monkeypatch.setenv(lov.ENV_RUNTIME, "auto")
    ov = Session(model=model, study=st, lo=lo, hi=hi)
    assert ov.precision.startswith("openvino-")
    for z in zs:
        m_t, _ = ref.segment(z, boxes[z])
        m_o, _ = ov.segment(z, boxes[z])
        assert _dice(m_t, m_o) >= 0.98, (z, _dice(m_t, m_o))
        assert _dice(m_o, lab[z]) >= 0.7
    # separate cache entries per runtime, no mixing
    assert ref._key(12) != ov._key(12)


def test_3d_box_on_breast1_stops_at_the_lesion_ends(model):
    """The box is padded by 2 voxels in every axis, so 4 of its 7 slices hold no lesion: the
    intensity model learned on the start slice must stop the walk there (before it, every
    slice in the box was kept: Dice 0.43)."""
    st = load_study(shared_path("mri", "pyradiomics", "breast1_image.nrrd"))
    lab = _labels_on(st, shared_path("mri", "pyradiomics", "breast1_label.nrrd")) > 0
    idx = np.argwhere(lab)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = np.minimum(idx.max(0) + 2, np.array(st.shape) - 1)
    res = sam.segment_box_3d(st, Box(tuple(map(int, lo)), tuple(map(int, hi))), device="cpu")
    z_lab = np.flatnonzero(lab.any((1, 2)))
    z_got = np.flatnonzero(res.mask.any((1, 2)))
    assert z_got[0] >= z_lab[0] - 1 and z_got[-1] <= z_lab[-1] + 1, (z_got, z_lab)
    assert any("looks like the object" in n for n in res.notes)
    assert _dice(res.mask, lab) >= 0.5
    assert not (res.mask & ~_box_mask(st.shape, lo, hi)).any()  # never outside the box


def _box_mask(shape, lo, hi):
    m = np.zeros(shape, bool)
    m[tuple(slice(a, b + 1) for a, b in zip(lo, hi))] = True
    return m


def test_one_point_at_the_most_interior_voxel(model, brain1):
    from scipy import ndimage

    st, lab = brain1
    dt = ndimage.distance_transform_edt(lab, sampling=st.spacing_mm)
    p = tuple(int(v) for v in np.unravel_index(np.argmax(dt), lab.shape))
    res = lpts.segment_points(st, [p], device="cpu")
    assert res.mask[p]
    assert _dice(res.mask, lab) >= 0.60, _dice(res.mask, lab)


@pytest.fixture(scope="module")
def two_discs():
    """Two overlapping bright discs of equal intensity (one blob) on a noisy MR-like slice."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:160, :200]
    a = (yy - 80) ** 2 + (xx - 70) ** 2 < 28 ** 2
    b = (yy - 80) ** 2 + (xx - 120) ** 2 < 28 ** 2
    img = (rng.normal(100, 8, a.shape) + 140 * (a | b)).astype(np.float32)
    return Study(array=img, affine_lps=np.diag([0.8, 0.8, 1.0, 1.0]), modality="MR"), a, b


def test_a_negative_point_removes_the_leak(model, two_discs):
    st, a, b = two_discs
    loose = Box((40, 30), (120, 170))  # around both discs: the first mask takes both
    first = lpts.segment_points(st, [(80, 70)], box=loose, device="cpu")
    leak = first.mask & b
    assert leak.sum() > 0.5 * b.sum()  # the case leaks
    fixed = lpts.segment_points(st, [(80, 70)], [(80, 125)], box=loose, device="cpu")
    assert (fixed.mask & b & ~a).sum() < 0.2 * (leak & ~a).sum()  # most of the leak is gone
    assert _dice(fixed.mask, a) >= 0.85


def test_a_point_alone_on_a_2d_disc_and_bad_points(model, two_discs):
    st, a, _ = two_discs
    res = lpts.segment_points(st, [(80, 70)], device="cpu")
    assert _dice(res.mask, a) >= 0.85 and "point" in res.notes[0]
    with pytest.raises(sam.BoxError, match="outside the image"):
        lpts.segment_points(st, [(500, 3)])
    with pytest.raises(sam.BoxError, match="2 axes"):
        lpts.segment_points(st, [(1, 2, 3)])
    with pytest.raises(sam.BoxError, match="needs a positive point"):
        lpts.segment_points(st, [], [(80, 70)])


def test_intensity_model_tells_object_from_surround():
    from napari_medground.models.litemedsam.intensity import learn

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 12 ** 2
    img = np.clip(rng.normal(0.3, 0.03, disc.shape) + 0.4 * disc, 0, 1)
    box = np.zeros_like(disc)
    box[16:49, 16:49] = True
    m = learn(img, disc, box)
    assert m is not None and m.ref_share > 0.9
    assert m.reason(img[disc]) == ""
    assert "looks like" in m.reason(img[~disc & box])  # the same mask on surround tissue stops
    assert learn(rng.normal(0.3, 0.03, disc.shape), disc, box) is None  # nothing to tell apart


def test_cli_point_parsing():
    from napari_medground.reasoning.prompts import parse_point
    from napari_medground.errors import QueryError

    assert parse_point("3,4,5") == (3, 4, 5) and parse_point("7, 8") == (7, 8)
    with pytest.raises(QueryError, match="expected 2"):
        parse_point("1,2,3,4")
    with pytest.raises(QueryError, match="comma-separated"):
        parse_point("a,b", "--neg-point")


def test_prefetch_fills_the_cache_and_honours_cancel(model, monkeypatch):
    """prefetch encodes new slices once; a second call and the later box hit the cache."""
    rng = np.random.default_rng(5)
    img = (rng.normal(100, 8, (4, 64, 72)) + 0).astype(np.float32)
    img[:, 20:40, 25:50] += 150
    st = Study(array=img, affine_lps=np.diag([1.0, 1.0, 2.0, 1.0]), modality="MR")
    monkeypatch.setattr(rt, "load_model", lambda device="auto": model)
    monkeypatch.setattr("napari_medground.models.litemedsam.segment.load_model", lambda device="auto": model)
    calls = iter([False, True])
    assert sam.prefetch(st, [0, 1, 2], cancel=lambda: next(calls)) == 1
    assert sam.prefetch(st, [0, 1]) == 1
    assert sam.prefetch(st, [1, 0]) == 0
    with pytest.raises(IndexError):
        sam.prefetch(st, [9])


def test_a_repeated_box_is_answered_from_the_session_memo(model, monkeypatch):
    """Walks from different start slices reach the same boxes: the second is not decoded
    again, gives the same mask, and callers may change the returned array freely."""
    rng = np.random.default_rng(7)
    img = (rng.normal(100, 8, (2, 96, 96)) + 0).astype(np.float32)
    img[:, 30:60, 30:62] += 150
    st = Study(array=img, affine_lps=np.diag([1.0, 1.0, 2.0, 1.0]), modality="MR")
    s = Session(model=model, study=st, lo=0.0, hi=300.0)
    m1, iou1 = s.segment(1, (26, 26, 64, 66))
    m1_copy = m1.copy()
    m1[:] = False  # the caller's array, not the memo's
    m2, iou2 = s.segment(1, (26, 26, 64, 66))
    assert s.decoded_hits == 1 and iou2 == iou1 and np.array_equal(m2, m1_copy) and m2.sum() > 500
    s.segment(0, (26, 26, 64, 66))  # another slice: decoded
    assert s.decoded_hits == 1


def test_the_openvino_encoder_takes_calls_from_two_threads(model):
    """The viewer encodes in the background while a grounding job encodes too: both calls
    must succeed (a compiled model has one infer request: 'Infer Request is busy')."""
    import threading

    enc = lov.get_encoder(model)
    if enc is None:
        pytest.skip("OpenVINO does not run the encoder here")
    x = torch.rand(1, 3, 256, 256)
    errors, outs = [], []

    def run():
        try:
            for _ in range(3):
                outs.append(enc(x))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(outs) == 6
    assert all(torch.equal(o, outs[0]) for o in outs)
