"""FreeSurfer .mgz/.mgh (issue 15, item 6): read with nibabel's geometry, exactly; `info` says
what each format keeps."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.study import load_study
from tests.data.shared import shared_path

MEDGROUND = Path(sys.executable).with_name("medground")
REVERSE = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)  # (k, j, i) -> (i, j, k)
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _oblique(spacing: tuple[float, float, float], degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    rot = rot @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])  # a LIA-like conformed frame, turned
    a = np.eye(4)
    a[:3, :3] = rot * np.asarray(spacing)
    a[:3, 3] = [12.5, -30.0, 7.25]
    return a


def test_mgz_and_mgh_from_t1_keep_nibabel_geometry_exactly(tmp_path):
    nii = load_study(shared_path("brain", "t1_crop.nii.gz"))
    src = nib.load(shared_path("brain", "t1_crop.nii.gz"))
    for suffix in (".mgz", ".mgh"):
        path = tmp_path / f"t1{suffix}"
        nib.save(nib.MGHImage(np.asanyarray(src.dataobj), src.affine), path)
        study = load_study(path)
        expected = RAS_TO_LPS @ nib.load(path).affine @ REVERSE
        np.testing.assert_array_equal(study.affine_lps, expected)
        np.testing.assert_allclose(study.affine_lps, nii.affine_lps, atol=1e-4)  # MGH stores float32 geometry
        assert study.orientation == nii.orientation == "AIL"
        assert np.array_equal(study.array, nii.array) and study.source_format == "mgh"


@pytest.mark.parametrize("spacing, degrees", [((0.5, 0.5, 0.5), 0.0), ((1.0, 2.0, 3.0), 20.0),
                                              ((5.0, 5.0, 5.0), -35.0)])
def test_mgh_voxel_sizes_and_oblique_frames(tmp_path, spacing, degrees):
    src = nib.load(shared_path("brain", "t1_crop.nii.gz"))
    crop = np.asanyarray(src.dataobj)[100:140:2, 90:130:3, 110:134]  # a real crop, anisotropic grid
    affine = _oblique(spacing, degrees)
    path = tmp_path / "crop.mgz"
    nib.save(nib.MGHImage(crop.astype(np.float32), affine), path)
    study = load_study(path)
    np.testing.assert_array_equal(study.affine_lps, RAS_TO_LPS @ nib.load(path).affine @ REVERSE)
    np.testing.assert_allclose(study.spacing_mm, spacing[::-1], rtol=1e-5)
    i, j, k = 3, 5, 7  # a voxel lands where nibabel says, in LPS
    ras = nib.load(path).affine @ [i, j, k, 1]
    np.testing.assert_allclose(study.index_to_lps([k, j, i]), RAS_TO_LPS[:3, :3] @ ras[:3], atol=1e-4)
    assert study.array[k, j, i] == crop[i, j, k]


def test_corrupt_mgz_is_one_line(tmp_path):
    path = tmp_path / "broken.mgz"
    path.write_bytes(b"\x1f\x8b" + bytes(200))
    with pytest.raises(StudyLoadError, match=r"broken.mgz: not a readable FreeSurfer MGH/MGZ file"):
        load_study(path)


def test_info_lists_what_each_format_keeps(tmp_path):
    src = nib.load(shared_path("brain", "t1_crop.nii.gz"))
    nib.save(nib.MGHImage(np.asanyarray(src.dataobj)[::8, ::8, ::8], src.affine), tmp_path / "small.mgz")
    nib.save(nib.Nifti1Image(np.asanyarray(src.dataobj)[::8, ::8, ::8], src.affine), tmp_path / "small.nii.gz")
    keeps = {}
    for name in ("small.mgz", "small.nii.gz"):
        proc = subprocess.run([str(MEDGROUND), "info", "--json", str(tmp_path / name)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        info = json.loads(proc.stdout)
        for key in ("shape", "spacing_mm", "affine_lps", "orientation", "modality", "series_uid", "warnings"):
            assert key in info  # DESIGN.md keys intact
        keeps[name] = info["format_keeps"]
    assert "vox2ras" in keeps["small.mgz"] and "no modality" in keeps["small.mgz"]
    assert "sform" in keeps["small.nii.gz"]
    text = subprocess.run([str(MEDGROUND), "info", str(tmp_path / "small.mgz")], capture_output=True, text=True,
                          timeout=120).stdout
    assert any(line.startswith("keeps ") and "vox2ras" in line for line in text.splitlines())
