"""Box prompts (LiteMedSAM), cancelling a running step, and a UI that never freezes."""
from __future__ import annotations

import numpy as np
import pytest

from tests.napari.conftest import Heartbeat, save_screenshot, wait_idle

pytestmark = pytest.mark.gui


def _load_per_core() -> float:
    import os

    return os.getloadavg()[0] / (os.cpu_count() or 1)


def _nodule_rectangle(study, truth, geo, half_mm: float = 9.0):
    """A rectangle around the phantom's nodule on its central slice (display indices)."""
    centre = geo.study_to_display(study.lps_to_index(np.asarray(truth["nodule_center_lps"], float)))
    k = float(np.round(centre[0]))
    hy, hx = half_mm / geo.scale[1], half_mm / geo.scale[2]
    y0, y1, x0, x1 = centre[1] - hy, centre[1] + hy, centre[2] - hx, centre[2] + hx
    return np.array([[k, y0, x0], [k, y0, x1], [k, y1, x1], [k, y1, x0]])


def test_box_prompt_segments_the_nodule_without_blocking_the_ui(viewer_with_widget, qtbot, phantom,
                                                               screenshot_dir):
    viewer, widget = viewer_with_widget
    study, truth = phantom
    s = widget.session()
    widget.ui.text.setText("nodule")  # the clinician names what the box holds
    widget.ui.box.setChecked(True)  # also loads LiteMedSAM in the background
    prompt = next(lyr for lyr in viewer.layers if lyr.name == "box prompt")
    assert prompt.mode == "add_rectangle" and viewer.dims.ndisplay == 2
    qtbot.waitUntil(lambda: widget.warming == 0, timeout=240_000)  # the clinician is still drawing
    beat = Heartbeat(lambda: widget.worker is not None)
    prompt.add_rectangles(_nodule_rectangle(study, truth, s.geometry))
    qtbot.waitUntil(lambda: widget.worker is not None, timeout=5000)
    wait_idle(qtbot, widget)
    beat.stop()
    r = s.result
    assert r is not None, widget.ui.status.text()
    f = r.findings[0]
    assert f.name == "nodule" and f.status.value == "present"
    assert "box prompt" not in [lyr.name for lyr in viewer.layers]
    mask = r.masks[f.mask_id]
    inter = np.sum(mask & truth["nodule"])
    assert inter / np.sum(mask | truth["nodule"]) > 0.3  # LiteMedSAM found the nodule
    labels = viewer.layers["nodule"]
    assert np.array_equal(s.geometry.from_display(labels.data > 0), mask)
    # the UI thread kept ticking while the model ran (a 200 ms target; on a machine loaded
    # beyond its cores the OS alone delays a waking thread, so the bound is relaxed there)
    assert beat.ticks > 10
    limit = 0.2 if _load_per_core() < 1.5 else 0.5
    print(f"heartbeat: longest UI gap {beat.max_gap * 1000:.0f} ms over {beat.ticks} ticks, "
          f"load/core {_load_per_core():.1f}")
    assert beat.max_gap < limit, f"UI blocked for {beat.max_gap * 1000:.0f} ms"
    save_screenshot(viewer, screenshot_dir, "widget_box_prompt.png")


def test_cancel_leaves_the_previous_state(viewer_with_widget, qtbot, phantom):
    viewer, widget = viewer_with_widget
    study, truth = phantom
    s = widget.session()
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    before_result = s.result
    before_layers = [lyr.name for lyr in viewer.layers]
    before_mask = before_result.masks[before_result.findings[0].mask_id].copy()

    # cancel a box prompt while LiteMedSAM runs
    widget.ui.text.setText("nodule")
    widget.ui.box.setChecked(True)
    prompt = next(lyr for lyr in viewer.layers if lyr.name == "box prompt")
    prompt.add_rectangles(_nodule_rectangle(study, truth, s.geometry))
    qtbot.waitUntil(lambda: widget.worker is not None, timeout=5000)
    qtbot.waitUntil(lambda: s.progress_state.fraction > 0.05, timeout=60000)
    qtbot.mouseClick(widget.ui.cancel, 1)
    wait_idle(qtbot, widget)
    assert "cancelled" in widget.ui.status.text()
    assert s.result is before_result
    assert [lyr.name for lyr in viewer.layers] == before_layers
    assert np.array_equal(before_result.masks[before_result.findings[0].mask_id], before_mask)
    assert widget.ui.run.isEnabled() and not widget.ui.cancel.isEnabled()

    # cancel an edit that re-runs steps: rolled back, nothing half-applied, no bogus redo
    from napari_medground.progress import Cancelled

    locate = next(st for st in before_result.steps if st.kind.value == "locate")
    could_undo = s.grounding.can_undo
    s.cancel()  # pressed while the edit runs: its first re-run step stops
    with pytest.raises(Cancelled):
        s.edit("reject", locate.id)
    assert s.result.step(locate.id).status.value == "proposed"
    assert s.result.findings[0].status.value == "present"
    assert s.grounding.can_undo == could_undo and not s.grounding.can_redo

    # and the UI is still usable
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    assert s.result is not before_result and s.result.findings[0].status.value == "present"
