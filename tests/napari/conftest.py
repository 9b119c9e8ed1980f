"""Helpers for the GUI tests (run under xvfb-run; see the README)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

_PHANTOM = {}


@pytest.fixture(autouse=True)
def autosave_dir(tmp_path, monkeypatch):
    """Autosave sessions (and their index) go to a per-test folder, not the user's home."""
    d = tmp_path / "user-data"
    monkeypatch.setenv("MEDGROUND_DATA_DIR", str(d))
    return d


@pytest.fixture
def phantom():
    """The synthetic CT phantom and its truth (built once per test session)."""
    if not _PHANTOM:
        from napari_medground.synthetic.phantom import make_ct_phantom

        _PHANTOM["v"] = make_ct_phantom()
    return _PHANTOM["v"]


@pytest.fixture
def viewer_with_widget(make_napari_viewer, phantom, qtbot):
    """A shown viewer with the phantom (through the plugin's layer tuple) and the dock."""
    from napari_medground.viewer.contrast import image_layer_data
    from napari_medground.viewer.widget import GroundingWidget

    viewer = make_napari_viewer(show=True)
    study, _ = phantom
    data, kwargs, _ = image_layer_data(study, name="CT phantom")
    viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MedGround", area="right")
    viewer.window._qt_window.resize(1500, 950)
    qtbot.wait(100)  # let the window take its size before fitting the view
    viewer.reset_view()
    widget.ui.device.setCurrentText("cpu")
    return viewer, widget


def wait_idle(qtbot, widget, timeout_s: float = 240.0) -> None:
    """Wait until the widget's job (worker) has finished and its handler has run."""
    qtbot.waitUntil(lambda: widget.worker is None, timeout=int(timeout_s * 1000))
    qtbot.wait(50)


def save_screenshot(viewer, folder: Path, name: str) -> Path:
    path = Path(folder) / name
    img = viewer.screenshot(str(path), canvas_only=False, flash=False)
    assert np.asarray(img).std() > 1.0, "screenshot is blank"
    return path


class Heartbeat:
    """A 20 ms QTimer on the UI thread; records the longest gap between two ticks that
    both found ``active()`` true (a gap that began before the job is the UI's own work)."""

    def __init__(self, active) -> None:
        from qtpy.QtCore import QTimer

        self.active = active
        self.max_gap = 0.0
        self.ticks = 0
        self._last = time.perf_counter()
        self._was_active = False
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        active = bool(self.active())
        if active and self._was_active:
            self.max_gap = max(self.max_gap, now - self._last)
            self.ticks += 1
        self._last, self._was_active = now, active

    def stop(self) -> None:
        self.timer.stop()
