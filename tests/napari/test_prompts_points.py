"""Point and scribble prompts in the dock: each one changes the finding's mask, and Undo
walks back through them to the first mask exactly (LiteMedSAM runs for real, on CPU)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.napari.conftest import save_screenshot, wait_idle

pytestmark = pytest.mark.gui


def _prompted(qtbot, widget) -> None:
    """Wait for the prompt the layer event queued (it starts on the next event-loop turn),
    then for its job."""
    qtbot.waitUntil(lambda: widget.worker is not None or widget.ui.status.text().endswith(")"), timeout=10_000)
    wait_idle(qtbot, widget)


def _mask(s, name="right lung"):
    f = next(f for f in s.result.findings if f.name == name)
    return s.result.masks[f.mask_id].copy()


def test_points_and_a_scribble_change_the_mask_and_undo_gives_it_back(viewer_with_widget, qtbot, phantom,
                                                                       screenshot_dir):
    viewer, widget = viewer_with_widget
    study, truth = phantom
    s = widget.session()
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    first = _mask(s)
    z = int(np.round(study.lps_to_index(np.asarray(truth["nodule_center_lps"], float))[0]))
    sec = first[z]
    assert sec.sum() > 200, "the right lung is not on the nodule's slice"
    geo = s.geometry

    widget.ui.point.setChecked(True)
    points = next(lyr for lyr in viewer.layers if lyr.name == "point prompts")
    assert points.mode == "add"
    # show the nodule's slice (the clinician clicks on the slice shown)
    world = viewer.layers["CT phantom"].data_to_world(geo.study_to_display(np.array([z, 0, 0], float)))
    slider = viewer.dims.order[0]
    viewer.dims.set_point(slider, world[slider])
    # 1. negative point on the lung's most lateral part: that part goes
    yx = np.argwhere(sec)
    far = yx[np.argmax(np.abs(yx[:, 1] - yx[:, 1].mean()))]
    widget.ui.negative.setChecked(True)
    points.add(geo.study_to_display(np.array([z, *far], float)))
    _prompted(qtbot, widget)
    after_neg = _mask(s)
    assert after_neg.sum() < first.sum() and not after_neg[z][tuple(far)], widget.ui.status.text()
    # 2. positive point back in the removed part: LiteMedSAM adds a region there
    removed = first[z] & ~after_neg[z]
    back = np.argwhere(ndimage.binary_erosion(removed, iterations=2))
    back = back[len(back) // 2] if len(back) else np.argwhere(removed)[0]
    widget.ui.negative.setChecked(False)
    points.add(geo.study_to_display(np.array([z, *back], float)))
    _prompted(qtbot, widget)
    after_pos = _mask(s)
    assert after_pos.sum() > after_neg.sum() and after_pos[z][tuple(back)], widget.ui.status.text()
    assert [tuple(c) for c in np.round(points.face_color[:, :3], 2)] == [(1.0, 0.42, 0.42), (0.32, 0.81, 0.4)]
    save_screenshot(viewer, screenshot_dir, "widget_point_prompts.png")
    # 3. negative scribble across the lung section
    widget.ui.scribble.setChecked(True)
    shapes = next(lyr for lyr in viewer.layers if lyr.name == "scribble prompts")
    assert shapes.mode == "add_path" and not widget.ui.point.isChecked()
    widget.ui.negative.setChecked(True)
    rows = np.flatnonzero(after_pos[z].any(1))
    cols = np.flatnonzero(after_pos[z].any(0))
    r = int(np.median(rows))
    path = np.array([[z, r, cols[0] - 2], [z, r, cols[-1] + 2]], float)
    shapes.add_paths([geo.study_to_display(path)])
    _prompted(qtbot, widget)
    after_scribble = _mask(s)
    assert after_scribble.sum() < after_pos.sum() and not after_scribble[z, r, cols].any(), \
        widget.ui.status.text()
    save_screenshot(viewer, screenshot_dir, "widget_scribble_prompt.png")
    hows = [e.after.get("how", "") for e in s.grounding.result.edit_log if e.action == "edit_mask"]
    assert [h.split(" ", 2)[:2] for h in hows] == [["negative", "point"], ["positive", "point"],
                                                  ["negative", "scribble:"]], hows  # in the audit
    # three interactions back: the first mask, voxel for voxel; redo brings the first edit back
    for _ in range(3):
        assert widget.ui.undo.isEnabled()
        widget.ui.undo.click()
        wait_idle(qtbot, widget)
    assert np.array_equal(_mask(s), first)
    widget.ui.redo.click()
    wait_idle(qtbot, widget)
    assert np.array_equal(_mask(s), after_neg)
    labels = viewer.layers["right lung"]
    assert np.array_equal(geo.from_display(labels.data > 0), after_neg)  # the view follows
    # switching the sign with both prompt layers present leaves the chosen tool in charge
    widget.ui.point.setChecked(True)
    widget.ui.negative.setChecked(False)
    assert viewer.layers.selection.active is points and points.mode == "add"
    assert shapes.mode == "pan_zoom"
