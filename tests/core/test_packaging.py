"""resources/ must be found from a source checkout and from an installed wheel."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from napari_medground.resources import resource_path, resources_dir

REPO = Path(__file__).resolve().parents[2]


def test_source_checkout_finds_resources():
    assert resources_dir() == REPO / "resources"
    for part in (("vocabulary", "anatomy.json"), ("criteria", "chest.json"), ("models", "litemedsam.json"),
                 ("weights", "brainchop", "LICENSE")):
        assert resource_path(*part).is_file(), part


def test_wheel_carries_resources_and_finds_them(tmp_path):
    pytest.importorskip("hatchling")
    out = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                        "-w", str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = next(out.glob("napari_medground-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    assert "napari_medground/napari.yaml" in names
    assert any(n.startswith("napari_medground/resources/weights/brainchop/") for n in names)
    assert "napari_medground/resources/criteria/chest.json" in names
    site = tmp_path / "site"
    code = (f"import sys; sys.path.insert(0, {str(site)!r}); "  # the extracted wheel before the checkout
            "from napari_medground.resources import resources_dir; from napari_medground import criteria; "
            "print(resources_dir()); print(criteria.get_criterion('ctr_cardiomegaly').threshold)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.split()
    assert Path(lines[0]) == tmp_path / "site" / "napari_medground" / "resources"
    assert float(lines[1]) == 0.5
