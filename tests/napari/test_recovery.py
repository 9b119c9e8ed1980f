"""Autosave and crash recovery in the dock: a killed session is offered and restored
exactly; a cleanly closed one (viewer, dock) is not; Discard sets it aside."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medground.session.autosave import Session
from tests.napari.conftest import save_screenshot, wait_idle

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def _open(make_napari_viewer, study):
    from napari_medground.viewer.contrast import image_layer_data
    from napari_medground.viewer.widget import GroundingWidget

    viewer = make_napari_viewer(show=True)
    data, kwargs, _ = image_layer_data(study, name="CT phantom")
    viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MedGround", area="right")
    viewer.window._qt_window.resize(1500, 950)
    widget.ui.device.setCurrentText("cpu")
    return viewer, widget


def _card(widget, kind):
    return next(c for c in widget.ui.panel.cards if c.step.kind.value == kind)


def test_recover_after_the_process_is_killed(make_napari_viewer, qtbot, phantom, tmp_path,
                                             screenshot_dir):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display: run under xvfb-run")
    study, truth = phantom
    proc = subprocess.run([sys.executable, "-m", "tests.napari.crash_session", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    expected = np.load(tmp_path / "edited_mask.npy")
    before = json.loads((tmp_path / "edit.json").read_text())
    assert before["n_edits"] == 2

    # the study opened again in a fresh viewer: the banner offers the unsaved edits
    viewer, widget = _open(make_napari_viewer, study)
    qtbot.waitUntil(widget.ui.banner.isVisible, timeout=30_000)
    text = widget.ui.banner_text.text()
    assert "Unsaved edits from" in text and "(2 edits)" in text, text
    save_screenshot(viewer, screenshot_dir, "widget_recovery_banner.png")

    qtbot.mouseClick(widget.ui.recover, Qt.LeftButton)
    wait_idle(qtbot, widget)
    s = widget.session()
    r = s.result
    assert r is not None and not widget.ui.banner.isVisible(), widget.ui.status.text()
    f = r.findings[0]
    assert np.array_equal(r.masks[f.mask_id], expected)  # the painted mask, exactly
    labels = viewer.layers["right lung"]
    assert np.array_equal(s.geometry.from_display(labels.data > 0), expected)
    assert r.steps[0].status.value == "accepted" and _card(widget, "segment").step.status.value == "edited"
    vol = next(m.value for m in _card(widget, "measure").step.evidence.measurements if m.name == "volume")
    assert vol == pytest.approx(before["volume"], rel=1e-9)
    assert "Recovered 2 edit(s)" in widget.ui.status.text()

    # after recovery: paint again (autosaved at once), then export
    qtbot.mouseClick(_card(widget, "segment").edit_btn, Qt.LeftButton)
    assert labels.mode == "paint"
    spot = np.argwhere(~(labels.data > 0) & s.geometry.to_display(truth["liver"]))[-1]
    labels.paint(tuple(spot), labels.selected_label)
    qtbot.mouseClick(_card(widget, "segment").done_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)
    painted = r.masks[f.mask_id]
    assert painted.sum() > expected.sum() and _card(widget, "measure").step.stale
    assert not _card(widget, "measure").edit_btn.isEnabled()  # numbers cannot be re-measured here
    info = Session.find_recoverable(study)
    assert info is not None and info.n_edits == 3
    assert np.array_equal(Session.recover(info, study).masks[f.mask_id], painted)
    widget.export_to(str(tmp_path / "out"))
    wait_idle(qtbot, widget)
    assert (tmp_path / "out" / "labels.nii.gz").exists(), widget.ui.status.text()
    assert Session.find_recoverable(study, [tmp_path / "out"]) is None  # exported: a clean point


def test_clean_close_is_not_offered(make_napari_viewer, qtbot, phantom):
    study, _ = phantom
    viewer, widget = _open(make_napari_viewer, study)
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    t0 = time.time()
    widget._edit("accept", widget.session().result.steps[0].id)
    wait_idle(qtbot, widget)
    info = Session.find_recoverable(study)
    assert info is not None and info.n_edits == 1 and info.updated - t0 < 1.0  # on disk within 1 s
    viewer.close()
    assert Session.find_recoverable(study) is None
    viewer2, widget2 = _open(make_napari_viewer, study)
    qtbot.waitUntil(lambda: widget2.recovery_checks == 0, timeout=30_000)
    assert not widget2.ui.banner.isVisible()
    # closing the dock (its "x") also ends the session cleanly
    widget2.run_finding("left lung")
    wait_idle(qtbot, widget2)
    widget2._edit("accept", widget2.session().result.steps[0].id)
    wait_idle(qtbot, widget2)
    assert Session.find_recoverable(study) is not None
    viewer2.window.remove_dock_widget(widget2)
    assert Session.find_recoverable(study) is None


def test_discard_sets_the_session_aside(make_napari_viewer, qtbot, phantom):
    from napari_medground.reasoning.api import start_grounding

    study, _ = phantom
    g = start_grounding(study, "right lung", device="cpu")
    folder = Session(g.result).folder  # never closed: what a crash before the first edit leaves
    viewer, widget = _open(make_napari_viewer, study)
    qtbot.waitUntil(widget.ui.banner.isVisible, timeout=30_000)
    assert "Unsaved findings" in widget.ui.banner_text.text()
    qtbot.mouseClick(widget.ui.discard, Qt.LeftButton)
    wait_idle(qtbot, widget)
    assert not widget.ui.banner.isVisible() and "set aside" in widget.ui.status.text()
    assert Session.find_recoverable(study) is None
    assert (folder / "previous" / "state.json").exists()
    assert widget.session().result is None  # nothing was loaded
