"""`medground demo --screenshot`: opens napari, runs one finding, saves the window, exits."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_demo_screenshot(tmp_path):
    """The default demo: the bundled example CT (real anatomy) and its default finding."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display: run under xvfb-run")
    out = tmp_path / "demo.png"
    proc = subprocess.run([sys.executable, "-m", "napari_medground.cli", "demo",
                           "--device", "cpu", "--screenshot", str(out), "--timeout", "240"],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo ready: 'enlarged spleen'" in proc.stdout, proc.stdout[-500:]  # no fall-back finding
    from PIL import Image

    img = np.asarray(Image.open(out))
    assert img.shape[0] >= 600 and img.shape[1] >= 1000 and img.std() > 10
