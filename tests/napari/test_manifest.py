"""Every python_name in napari.yaml imports and is callable (micro-sam's check)."""
from __future__ import annotations

import importlib
from pathlib import Path

import yaml

import napari_medground

MANIFEST = Path(napari_medground.__file__).parent / "napari.yaml"


def test_every_python_name_imports():
    manifest = yaml.safe_load(MANIFEST.read_text())
    commands = manifest["contributions"]["commands"]
    assert len(commands) >= 4
    for cmd in commands:
        module, _, attr = cmd["python_name"].partition(":")
        obj = getattr(importlib.import_module(module), attr)
        assert callable(obj), cmd["python_name"]
    ids = {c["id"] for c in commands}
    contrib = manifest["contributions"]
    for kind in ("readers", "writers", "sample_data", "widgets"):
        for entry in contrib[kind]:
            assert entry["command"] in ids, f"{kind}: {entry['command']} is not a declared command"


def test_reader_refuses_what_it_does_not_take(tmp_path):
    from napari_medground.viewer.reader import get_reader

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    fake = tmp_path / "fake.dcm"
    fake.write_text("not a DICOM file either")
    empty = tmp_path / "empty"
    empty.mkdir()
    for p in (text, fake, empty, tmp_path / "missing.nii.gz", [str(text), str(fake)]):
        assert get_reader(str(p) if not isinstance(p, list) else p) is None


def test_writer_without_study_uses_layer_transform(tmp_path):
    """A Labels layer from elsewhere is written on its own grid with its napari transform."""
    import nibabel as nib
    import numpy as np

    from napari_medground.viewer.writer import write_labels

    data = np.zeros((4, 5, 6), np.uint8)
    data[1, 2, 3] = 7
    meta = {"name": "x", "scale": (3.0, 2.0, 1.5), "translate": (10.0, -5.0, 2.0), "metadata": {}}
    out = write_labels(str(tmp_path / "x.nii.gz"), data, meta)
    img = nib.load(out[0])
    arr = np.asarray(img.dataobj)
    assert arr.sum() == 7
    ijk = np.argwhere(arr == 7)[0]
    ras = img.affine @ np.r_[ijk, 1.0]
    lps = ras[:3] * np.array([-1, -1, 1])
    # world (S, P, L) of data index (1, 2, 3) = scale * idx + translate
    assert np.allclose(lps[::-1], np.array([3.0, 4.0, 4.5]) + np.array([10.0, -5.0, 2.0]))


def test_no_subpackage_shadows_an_installed_module():
    """The adapter lives in ``viewer/``: no sub-package is named like an importable top-level module."""
    import importlib.util

    package = Path(napari_medground.__file__).parent
    subpackages = [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    assert "viewer" in subpackages
    shadowing = [name for name in subpackages if importlib.util.find_spec(name) is not None]
    assert not shadowing, f"sub-packages named like installed modules: {shadowing}"
