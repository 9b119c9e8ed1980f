"""Optional adapters: TotalSegmentator label names -> our vocabulary (real label_names.json),
the "package missing" and "weights missing" messages (real code paths here: neither
package is installed), grids, and no network access."""
from __future__ import annotations

import importlib.util
import json
import socket

import numpy as np
import pytest

from napari_medground.errors import ModelUnavailable
from napari_medground.models.adapters import NetworkBlocked, adapter_status, block_network
from napari_medground.models.adapters import monai_bundle as mb
from napari_medground.models.adapters import totalsegmentator as ts
from napari_medground.models.adapters.common import labels_onto_grid
from napari_medground.study.model import Study
from tests.data.shared import shared_path

HAS_TS = importlib.util.find_spec("totalsegmentator") is not None
HAS_MONAI = importlib.util.find_spec("monai") is not None


@pytest.fixture
def label_names():
    path = shared_path("totalseg", "label_names.json")
    return {task: ts.load_label_names(path, task) for task in ("total", "total_mr")}


@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) any attempt to open a network connection or resolve a name."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture
def totalseg_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TOTALSEG_WEIGHTS_PATH", raising=False)
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path / "ts_home"))
    return tmp_path / "ts_home" / "nnunet" / "results"


def _study(shape=(8, 10, 12)):
    a = np.diag([2.0, 1.0, 1.5, 1.0])
    return Study(array=np.zeros(shape, np.int16), affine_lps=a, modality="CT")


# ------------------------------------------------------------------ label names
def test_every_totalsegmentator_name_maps_to_a_term_and_side(label_names):
    for task, names in label_names.items():
        assert len(names) == {"total": 117, "total_mr": 50}[task]
        for name in names.values():
            term, side = ts.totalseg_term(name)
            assert term and "_" not in term, name
            expected = "left" if "_left" in name else "right" if "_right" in name else None
            if name == "atrial_appendage_left":
                expected = None  # the left atrium's appendage, not a side
            assert side == expected, name


@pytest.mark.parametrize("name, term, side", [
    ("liver", "liver", None), ("kidney_left", "kidney", "left"),
    ("adrenal_gland_right", "adrenal gland", "right"),
    ("lung_upper_lobe_left", "upper lobe of lung", "left"),
    ("lung_lower_lobe_right", "lower lobe of lung", "right"),
    ("vertebrae_L3", "L3 vertebra", None), ("clavicula_right", "clavicle", "right"),
    ("rib_left_7", "rib", "left"), ("atrial_appendage_left", "left atrial appendage", None),
    ("gluteus_medius_right", "gluteus medius muscle", "right"), ("lung_left", "lung", "left"),
    ("urinary_bladder", "urinary bladder", None),
])
def test_specific_names(label_names, name, term, side):
    assert name in set(label_names["total"].values()) | set(label_names["total_mr"].values())
    assert ts.totalseg_term(name) == (term, side)


def test_vocabulary_terms_back_to_totalsegmentator_names(label_names):
    total, mr = label_names["total"].values(), label_names["total_mr"].values()
    right_lung = ts.totalseg_names_for("lung", "right", total)
    assert right_lung == ["lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right"]
    # the ids the acceptance test of issue 6 uses for the right lung: 12-14
    ids = sorted(v for v, n in label_names["total"].items() if n in right_lung)
    assert ids == [12, 13, 14]
    assert ts.totalseg_names_for("lung", "left", mr) == ["lung_left"]
    assert sorted(ts.totalseg_names_for("kidney", None, total)) == ["kidney_left", "kidney_right"]
    assert ts.totalseg_names_for("kidney", "left", total) == ["kidney_left"]
    assert len(ts.totalseg_names_for("rib", "right", total)) == 12
    assert ts.totalseg_names_for("pituitary gland", None, total) == []
    assert ts._resolve_structures(["left kidney", "liver", "aorta"], total, "total") == \
        ["kidney_left", "liver", "aorta"]
    with pytest.raises(ValueError, match="no label for 'pituitary gland'"):
        ts._resolve_structures(["pituitary gland"], total, "total")


# ------------------------------------------------------------------ missing package / weights
@pytest.mark.skipif(HAS_TS, reason="TotalSegmentator is installed here: its 'missing' path cannot run")
def test_totalsegmentator_missing_package_and_weights(totalseg_home, no_network):
    with pytest.raises(ModelUnavailable) as err:
        ts.segment_with_totalsegmentator(_study(), ["liver"], device="cpu")
    msg = str(err.value)
    assert "pip install 'napari-medground[totalsegmentator]'" in msg
    assert str(totalseg_home) in msg and "totalseg_download_weights -t total_fast" in msg
    assert "never downloads" in msg and "297" in msg and "298" in msg
    assert no_network == []


@pytest.mark.skipif(HAS_TS, reason="TotalSegmentator is installed here: its 'missing' path cannot run")
def test_weights_present_leaves_only_the_package_message(totalseg_home, no_network):
    for ds in ("Dataset297_TotalSegmentator_total_3mm_1559subj",
               "Dataset298_TotalSegmentator_total_6mm_1559subj"):
        ck = totalseg_home / ds / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0" / "checkpoint_final.pth"
        ck.parent.mkdir(parents=True)
        ck.write_bytes(b"x")
    assert ts.missing_weights("total", fast=True, subset=True) == []
    with pytest.raises(ModelUnavailable) as err:
        ts.segment_with_totalsegmentator(_study(), ["liver"])
    assert "pip install" in str(err.value) and "weights" not in str(err.value)


def test_weights_check_does_not_trust_empty_folders(totalseg_home, monkeypatch, tmp_path):
    (totalseg_home / "Dataset297_TotalSegmentator_total_3mm_1559subj" / "fold_0").mkdir(parents=True)
    assert ts.missing_weights("total", fast=True, subset=False) == [297]
    assert ts.missing_weights("total", fast=False, subset=True) == [291, 292, 293, 294, 295, 298]
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "elsewhere"))
    assert ts.totalseg_weights_dir() == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="not supported"):
        ts.missing_weights("lung_vessels")
    status = {s.name.split()[0]: s for s in adapter_status()}
    assert status["TotalSegmentator"].installed == HAS_TS and status["MONAI"].installed == HAS_MONAI


def test_totalsegmentator_refuses_2d_studies():
    flat = Study(array=np.zeros((10, 10)), affine_lps=np.eye(4), modality="DX")
    with pytest.raises(ValueError, match="3D"):
        ts.segment_with_totalsegmentator(flat, ["liver"])


# ------------------------------------------------------------------ MONAI bundles
def _bundle(tmp_path, *, weights=True, config=True):
    root = tmp_path / "spleen_ct_segmentation"
    (root / "configs").mkdir(parents=True)
    meta = {"name": "Spleen CT segmentation", "version": "0.5.9",
            "network_data_format": {"outputs": {"pred": {"type": "image", "num_channels": 2,
                                                         "channel_def": {"0": "background", "1": "spleen"}}}}}
    (root / "configs" / "metadata.json").write_text(json.dumps(meta))
    if config:
        (root / "configs" / "inference.json").write_text(json.dumps({"datalist": "$list()"}))
    if weights:
        (root / "models").mkdir()
        (root / "models" / "model.pt").write_bytes(b"weights")
    return root


def test_monai_bundle_folder_checks(tmp_path, no_network):
    with pytest.raises(ModelUnavailable, match="bundle folder not found"):
        mb.inspect_bundle(tmp_path / "nowhere")
    with pytest.raises(ModelUnavailable, match="configs/metadata.json is missing"):
        mb.inspect_bundle(tmp_path)
    with pytest.raises(ModelUnavailable, match="no model weights .*never downloads") as err:
        mb.segment_with_monai_bundle(_study(), _bundle(tmp_path, weights=False))
    assert "spleen_ct_segmentation" in str(err.value)
    info = mb.inspect_bundle(_bundle(tmp_path / "ok"))
    assert info.labels == {1: "spleen"} and info.version == "0.5.9" and info.weights.name == "model.pt"
    assert mb.inspect_bundle(_bundle(tmp_path / "ok2")).config.name == "inference.json"
    with pytest.raises(ModelUnavailable, match="no inference config"):
        mb.inspect_bundle(_bundle(tmp_path / "noconf", config=False))
    assert no_network == []


@pytest.mark.skipif(HAS_MONAI, reason="MONAI is installed here: its 'missing' path cannot run")
def test_monai_missing_package_message(tmp_path, no_network):
    with pytest.raises(ModelUnavailable, match=r"pip install 'napari-medground\[monai\]'"):
        mb.segment_with_monai_bundle(_study(), _bundle(tmp_path))


def test_bundle_label_names_to_terms():
    assert mb.bundle_term("left kidney") == ("kidney", "left")
    assert mb.bundle_term("kidney_right") == ("kidney", "right")
    assert mb.bundle_term("Spleen") == ("spleen", None)
    assert mb.bundle_labels({"network_data_format": {"outputs": {"pred": {"channel_def": {
        "0": "background", "1": "liver", "2": "liver tumor"}}}}}) == {1: "liver", 2: "liver tumor"}
    assert mb.bundle_labels({}) == {}


# ------------------------------------------------------------------ grids and network guard
def test_labels_come_back_onto_the_study_grid():
    st = _study()
    lab = Study(array=np.zeros(st.shape, np.uint8), affine_lps=st.affine_lps.copy())
    lab.array[2:4, 3:6, 4:9] = 5
    assert np.array_equal(labels_onto_grid(lab, st), lab.array)
    # the same labels on a grid with half the in-plane spacing: nearest neighbour back
    fine_aff = st.affine_lps @ np.diag([1.0, 0.5, 0.5, 1.0])
    fine = Study(array=np.repeat(np.repeat(lab.array, 2, axis=1), 2, axis=2), affine_lps=fine_aff)
    back = labels_onto_grid(fine, st)
    assert np.array_equal(back, lab.array)


def test_block_network_refuses_remote_and_allows_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with block_network("a test"):
            with pytest.raises(NetworkBlocked, match="blocks network access"):
                socket.create_connection(("203.0.113.7", 80), timeout=1)
            with pytest.raises(NetworkBlocked):
                socket.getaddrinfo("example.org", 80)
            c = socket.create_connection(server.getsockname(), timeout=1)
            c.close()
        assert "connect" not in socket.socket.__dict__  # restored
    finally:
        server.close()
