"""Brain MeshNet: exact ROI runtime, acceptance on t1_crop, caching, GPU half precision."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from napari_medground.errors import ModelUnavailable, QueryError
from napari_medground.models.brain import conform as bc
from napari_medground.models.brain.segment import clear_brain_cache, segment_brain
from napari_medground.models.brain.meshnet import get_runner, parse_spec, reference_module
from napari_medground.models.registry import get_manifest, weights_path
from napari_medground.models.weights import load_state_dict
from napari_medground.study.model import Study
from napari_medground.study.nifti_io import read_nifti
from tests.data.shared import shared_path

MODELS = ["model21_104class", "model30chan50cls", "subcortical", "model5_gw_ae", "mindgrab"]


@pytest.fixture(scope="module")
def t1() -> Study:
    return read_nifti(shared_path("brain", "t1_crop.nii.gz"))


@pytest.fixture(scope="module")
def conformed(t1) -> bc.Conformed:
    return bc.conform(t1)


def _crop(conf: bc.Conformed, centre, size: int) -> np.ndarray:
    lo = [c - size // 2 for c in centre]
    return np.ascontiguousarray(conf.volume[lo[0]:lo[0] + size, lo[1]:lo[1] + size, lo[2]:lo[2] + size])


@pytest.mark.parametrize("model", MODELS)
def test_runtime_matches_plain_pytorch(model, conformed):
    """Our slab/ROI runtime gives the labels of the plain nn.Sequential definition."""
    import torch

    m = get_manifest(model)
    state = load_state_dict(weights_path(m), m.weights.format)
    spec = parse_spec(json.loads(m.file_path("spec").read_text()), state)
    activation = {"subcortical": "elu", "model30chan50cls": "elu", "mindgrab": "gelu"}.get(model, "relu")
    assert spec.activation == activation
    assert (spec.norm == "instance") == (model == "mindgrab")
    x = conformed.network_input(_crop(conformed, (145, 140, 110), 32 if model == "mindgrab" else 40))
    with torch.inference_mode():
        ref = reference_module(spec, state)(torch.from_numpy(x)[None, None]).argmax(1)[0].numpy()
    runner, sha = get_runner(model, "cpu")
    ours = runner.predict(x, slab_voxels=20_000)  # several slabs per layer
    assert sha == m.weights.sha256
    assert (ours == ref).mean() > 0.9999 and len(np.unique(ref)) > 1


def test_roi_labels_equal_the_full_run(conformed):
    """Inside any ROI the labels are those of a whole-volume run, also at the volume border."""
    vol = _crop(conformed, (150, 140, 110), 72)
    runner, _ = get_runner("model21_104class", "cpu")
    full = runner.predict(vol, transform=conformed.network_input)
    for roi in (((30, 25, 20), (44, 47, 40)), ((0, 50, 60), (12, 72, 72))):
        part = runner.predict(vol, roi, transform=conformed.network_input)
        sl = tuple(slice(a, b) for a, b in zip(*roi))
        assert part.shape == full[sl].shape and np.array_equal(part, full[sl])
    assert len(np.unique(full)) > 10


@pytest.fixture(scope="module")
def hippocampi(t1):
    clear_brain_cache()
    t = time.perf_counter()
    seg = segment_brain(t1, regions=["Left-Hippocampus", "Right-Hippocampus"], device="cpu")
    return seg, time.perf_counter() - t


@pytest.fixture(scope="module")
def ventricles(t1):
    return segment_brain(t1, regions=["left-lateral-ventricle", "Right Lateral Ventricle"], device="cpu")


def _centroid_lps(study: Study, mask: np.ndarray) -> np.ndarray:
    return study.index_to_lps(np.argwhere(mask).mean(axis=0))


def test_t1_crop_hippocampi(t1, hippocampi):
    seg, _ = hippocampi
    assert seg.labels.shape == t1.shape and seg.model.device == "cpu" and seg.model.precision == "fp32"
    assert seg.model.sha256 == get_manifest("model21_104class").weights.sha256
    left, right = seg.mask("Left-Hippocampus"), seg.mask("Right-Hippocampus")
    vl, vr = left.sum() * t1.voxel_volume_ml, right.sum() * t1.voxel_volume_ml
    assert 3.0 <= vl <= 6.0 and 3.0 <= vr <= 6.0, (vl, vr)
    # LPS x grows toward the patient's left
    assert _centroid_lps(t1, left)[0] > _centroid_lps(t1, right)[0]
    assert set(seg.complete) == {seg.label_id("Left-Hippocampus"), seg.label_id("Right-Hippocampus")}


def test_t1_crop_lateral_ventricles(t1, ventricles):
    seg = ventricles
    for side in ("Left", "Right"):
        v = seg.mask(f"{side}-Lateral-Ventricle").sum() * t1.voxel_volume_ml
        assert 4.0 <= v <= 20.0, (side, v)
    assert _centroid_lps(t1, seg.mask("Left-Lateral-Ventricle"))[0] > \
        _centroid_lps(t1, seg.mask("Right-Lateral-Ventricle"))[0]


def test_requested_regions_are_whole_and_inside_the_valid_box(t1, hippocampi):
    seg, _ = hippocampi
    box = seg.valid_box
    assert box is not None
    inside = np.zeros(t1.shape, bool)
    inside[tuple(slice(a, b + 1) for a, b in zip(box.min_voxel, box.max_voxel))] = True
    assert not seg.labels[~inside].any()  # nothing claimed outside the exact region
    from scipy import ndimage

    for rid in seg.complete:
        comp, _ = ndimage.label(seg.labels == rid, np.ones((3, 3, 3)))
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        pts = np.argwhere(comp == np.argmax(sizes))  # the structure itself
        assert sizes.max() > 0.9 * sizes.sum()
        for a in range(3):  # it does not touch a box face inside the volume
            assert pts[:, a].min() > box.min_voxel[a] or box.min_voxel[a] == 0
            assert pts[:, a].max() < box.max_voxel[a] or box.max_voxel[a] == t1.shape[a] - 1
    assert any("region" in n for n in seg.notes)


def test_second_finding_on_the_same_study_is_served_from_the_cache(t1, hippocampi):
    seg, first = hippocampi
    t = time.perf_counter()
    again = segment_brain(t1, regions=["Left-Hippocampus"], device="cpu")
    assert time.perf_counter() - t < max(1.0, first / 10)
    assert np.array_equal(again.mask("Left-Hippocampus"), seg.mask("Left-Hippocampus"))


def test_bad_requests_raise_clear_errors(t1):
    with pytest.raises(QueryError, match="no region"):
        segment_brain(t1, regions=["Left-Femur"], device="cpu")
    with pytest.raises(ModelUnavailable, match="not a brain MeshNet"):
        segment_brain(t1, model="litemedsam")
    flat = Study(np.zeros((64, 64), np.uint8), np.eye(4), modality="MR")
    with pytest.raises(ModelUnavailable, match="3D"):
        segment_brain(flat)


@pytest.mark.heavy  # ~110 s on 2 cores (three whole-volume MeshNet runs): make test-all
def test_whole_volume_regions_and_tissues(t1, hippocampi):
    """All 104 regions; the ROI answer equals the whole-volume answer; GM/WM volumes are plausible."""
    full = segment_brain(t1, device="cpu")
    assert full.complete is None and full.valid_box is not None
    everywhere = segment_brain(t1, device="cpu", whole_volume=True)
    assert everywhere.valid_box is None and np.array_equal(everywhere.labels, full.labels)
    seg, _ = hippocampi
    box = seg.valid_box
    sl = tuple(slice(a, b + 1) for a, b in zip(box.min_voxel, box.max_voxel))
    assert np.array_equal(full.labels[sl], seg.labels[sl])
    assert len(np.unique(full.labels)) > 95
    gw = segment_brain(t1, "model5_gw_ae", device="cpu")
    wm = gw.mask("White Matter").sum() * t1.voxel_volume_ml
    gm = gw.mask("Grey Matter").sum() * t1.voxel_volume_ml
    assert 300 < wm < 800 and 400 < gm < 1000 and gm > wm


@pytest.mark.heavy
def test_brain_mask_covers_the_parcellated_brain(t1):
    mask = segment_brain(t1, "mindgrab", device="cpu")
    brain = mask.labels == 1
    parc = segment_brain(t1, device="cpu").labels > 0
    dice = 2 * (brain & parc).sum() / (brain.sum() + parc.sum())
    assert 900 < brain.sum() * t1.voxel_volume_ml < 1900 and dice > 0.85


def test_half_precision_on_cuda_agrees_with_fp32(t1):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    clear_brain_cache()
    fp32 = segment_brain(t1, device="cuda", precision="fp32")
    fp16 = segment_brain(t1, device="cuda", precision="fp16")
    assert fp16.model.precision == "fp16" and fp16.model.device == "cuda"
    assert (fp16.labels == fp32.labels).mean() >= 0.995
    cpu = segment_brain(t1, regions=["Left-Hippocampus"], device="cpu")
    box = cpu.valid_box
    sl = tuple(slice(a, b + 1) for a, b in zip(box.min_voxel, box.max_voxel))
    assert (fp32.labels[sl] == cpu.labels[sl]).mean() > 0.999


@pytest.mark.slow
def test_prefetch_yields_to_a_foreground_finding_and_fills_the_cache(t1):
    from napari_medground.models.brain.segment import prefetch_brain

    clear_brain_cache()
    fut = prefetch_brain(t1, "model5_gw_ae", device="cpu")
    time.sleep(0.5)
    seg = segment_brain(t1, regions=["Right-Hippocampus"], device="cpu")  # runs while the prefetch pauses
    assert 3 <= seg.mask("Right-Hippocampus").sum() * t1.voxel_volume_ml <= 6
    fut.result(timeout=600)
    t = time.perf_counter()
    gw = segment_brain(t1, "model5_gw_ae", device="cpu")
    assert time.perf_counter() - t < 1.0 and gw.complete is None
    assert 300 < gw.mask("White Matter").sum() * t1.voxel_volume_ml < 800


def test_half_precision_path_keeps_the_labels(conformed):
    """The fp16 code path (CUDA's default) checked on the CPU: >= 99.5% of voxels agree."""
    from napari_medground.models.brain.meshnet import MeshNetRunner

    m = get_manifest("model21_104class")
    state = load_state_dict(weights_path(m), m.weights.format)
    spec = parse_spec(json.loads(m.file_path("spec").read_text()), state)
    x = conformed.network_input(_crop(conformed, (140, 140, 120), 40))
    fp32 = MeshNetRunner(spec, state, "cpu", "fp32").predict(x)
    fp16 = MeshNetRunner(spec, state, "cpu", "fp16").predict(x)
    assert (fp16 == fp32).mean() >= 0.995


def test_a_wrong_prior_grows_until_the_region_is_whole(t1, hippocampi, monkeypatch):
    """Start from a 12-voxel box inside the hippocampus: the ROI must grow to the same answer."""
    import napari_medground.models.brain.segment as brain

    seg, _ = hippocampi
    want = seg.mask("Left-Hippocampus")
    c = np.rint(np.argwhere(want).mean(axis=0)).astype(int)[::-1]  # study (k, j, i) -> model (i, j, k)
    monkeypatch.setattr(brain, "prior_box", lambda *a, **k: (tuple(c - 6), tuple(c + 6)))
    clear_brain_cache()
    grown = segment_brain(t1, regions=["Left-Hippocampus"], device="cpu")
    assert any("after growing it" in n for n in grown.notes)
    assert np.array_equal(grown.mask("Left-Hippocampus"), want)
