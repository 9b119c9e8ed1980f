"""`medground demo` on a machine without a display: one line and exit code 2, never Qt's abort."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from napari_medground.napari.display import XVFB_MARK, display_missing, xvfb_command

_ROOT = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT / "src"), env.get("PYTHONPATH", "")])
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "napari_medground.cli", "demo", *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Aborted" not in proc.stderr and "Traceback" not in proc.stderr
    return lines[0]


def test_demo_without_display_says_what_to_run(tmp_path):
    line = _one_line(_demo(tmp_path))
    assert line.startswith("medground demo: no display") and "xvfb-run -a medground demo --screenshot" in line


def test_demo_screenshot_without_display_or_xvfb(tmp_path):
    """--screenshot would re-run under xvfb-run; where that is not installed, the line says so."""
    line = _one_line(_demo(tmp_path, "--screenshot", "demo.png", path=str(Path(sys.executable).parent)))
    assert "apt-get install xvfb" in line
    assert not (tmp_path / "demo.png").exists()


def test_display_rules():
    assert display_missing({}, "linux")
    assert not display_missing({"DISPLAY": ":0"}, "linux")
    assert not display_missing({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not display_missing({"QT_QPA_PLATFORM": "offscreen"}, "linux")  # the user's choice
    assert not display_missing({}, "darwin") and not display_missing({}, "win32")
    assert xvfb_command(["medground", "demo"], {"DISPLAY": ":0"}) is None
    assert xvfb_command(["medground", "demo"], {XVFB_MARK: "1"}) is None  # never twice
