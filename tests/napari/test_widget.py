"""The dock widget end to end on the bundled phantom and a real chest X-ray."""
from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from tests.data.shared import shared_path
from tests.napari.conftest import save_screenshot, wait_idle

pytestmark = pytest.mark.gui


def _card(widget, kind):
    return next(c for c in widget.ui.panel.cards if c.step.kind.value == kind)


def _measure_volume(result, finding):
    step = next(s for s in result.steps if s.kind.value == "measure" and s.finding == finding)
    return next(m.value for m in step.evidence.measurements if m.name == "volume")


def test_ground_accept_paint_reject_undo(viewer_with_widget, qtbot, phantom, screenshot_dir):
    viewer, widget = viewer_with_widget
    study, truth = phantom
    widget.ui.text.setText("right lung")
    qtbot.keyClick(widget.ui.text, Qt.Key_Return)  # Enter runs
    wait_idle(qtbot, widget)
    s = widget.session()
    r = s.result
    assert r is not None, widget.ui.status.text()
    f = r.findings[0]
    assert f.name == "right lung" and f.status.value == "present"

    # layers named after the finding, in the image's physical space
    image = viewer.layers["CT phantom"]
    labels = viewer.layers["right lung"]
    assert type(labels).__name__ == "Labels"
    for name in ("right lung box", "right lung centre"):
        assert name in viewer.layers
        assert np.allclose(viewer.layers[name].scale, image.scale)
    assert np.allclose(labels.scale, image.scale) and np.allclose(labels.translate, image.translate)
    assert np.array_equal(s.geometry.from_display(labels.data > 0), r.masks[f.mask_id])
    truth_right = s.geometry.to_display(truth["lung_right"])
    dice = 2 * np.sum((labels.data > 0) & truth_right) / (np.sum(labels.data > 0) + truth_right.sum())
    assert dice > 0.8
    assert np.nonzero(labels.data)[2].mean() < labels.data.shape[2] / 2  # patient right: screen left
    # the viewer jumped to the finding: slider on the centroid's slice
    centre_world = s.geometry.study_to_world(np.asarray(f.centroid_voxel))
    assert abs(viewer.dims.point[0] - centre_world[0]) <= image.scale[0]
    assert len(widget.ui.panel.cards) == len(r.steps)
    assert "present" in widget.ui.status.text()
    save_screenshot(viewer, screenshot_dir, "widget_right_lung.png")

    # accept a step
    first = widget.ui.panel.cards[0]
    qtbot.mouseClick(first.accept_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)
    assert r.steps[0].status.value == "accepted"
    assert widget.ui.undo.isEnabled()

    # paint into the mask with napari's brush -> the measured volume changes in the panel
    before = _measure_volume(r, f.name)
    seg = _card(widget, "segment")
    qtbot.mouseClick(seg.edit_btn, Qt.LeftButton)
    assert labels.mode == "paint" and viewer.layers.selection.active is labels
    n0 = int((labels.data > 0).sum())
    outside = np.argwhere(~(labels.data > 0) & s.geometry.to_display(truth["liver"]))[0]
    labels.brush_size = 6
    labels.paint(tuple(outside), labels.selected_label)
    added = int((labels.data > 0).sum()) - n0
    assert added > 5
    qtbot.mouseClick(_card(widget, "segment").done_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)
    after = _measure_volume(r, f.name)
    assert after - before == pytest.approx(added * study.voxel_volume_ml, rel=1e-6)
    labels_of_card = _card(widget, "measure").findChildren(type(widget.ui.status))
    measure_text = " ".join(lab.text() for lab in labels_of_card)
    assert f"volume {after:.0f} mL" in measure_text
    assert _card(widget, "segment").step.status.value == "edited"

    # reject the locate step -> the finding becomes not assessable, and says so
    qtbot.mouseClick(_card(widget, "locate").reject_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)
    assert r.findings[0].status.value == "not_assessable"
    summary = " ".join(lab.text() for lab in widget.ui.panel.summary.findChildren(type(widget.ui.status)))
    assert "NOT ASSESSABLE" in summary
    save_screenshot(viewer, screenshot_dir, "widget_rejected_locate.png")

    # undo brings the finding back; the conclusion text is editable
    qtbot.mouseClick(widget.ui.undo, Qt.LeftButton)
    wait_idle(qtbot, widget)
    assert s.result.findings[0].status.value == "present"
    widget.ui.conclusion.setPlainText("Right lung volume reviewed.")
    qtbot.mouseClick(widget.ui.save_conclusion, Qt.LeftButton)
    wait_idle(qtbot, widget)
    assert s.result.conclusion.text == "Right lung volume reviewed." and s.result.conclusion.edited


def test_keyboard_accept_reject_next(viewer_with_widget, qtbot):
    viewer, widget = viewer_with_widget
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    panel = widget.ui.panel
    panel.set_current(panel.cards[0].step.id)
    qtbot.keyClick(panel, Qt.Key_N)
    assert panel.current == panel.cards[1].step.id
    qtbot.keyClick(panel, Qt.Key_A)
    wait_idle(qtbot, widget)
    assert widget.session().result.step(panel.current).status.value == "accepted"
    qtbot.keyClick(panel, Qt.Key_P)
    assert panel.current == panel.cards[0].step.id
    assert "A accept" in panel.toolTip() and "R reject" in widget.ui.text.toolTip()
    # the finding box remembers what was run (Up/Down)
    box = widget.ui.text
    box.setText("liver")
    box.remember("liver")
    box.setText("")
    qtbot.keyClick(box, Qt.Key_Up)
    assert box.text() == "liver"
    qtbot.keyClick(box, Qt.Key_Up)
    assert box.text() == "right lung"
    qtbot.keyClick(box, Qt.Key_Down)
    qtbot.keyClick(box, Qt.Key_Down)
    assert box.text() == ""


def test_edit_number_and_box(viewer_with_widget, qtbot):
    viewer, widget = viewer_with_widget
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    s = widget.session()
    # type a corrected number on the measure step
    card = _card(widget, "measure")
    card.start_edit()
    card.spins["volume"].setValue(1500.0)
    card.finish_edit()
    wait_idle(qtbot, widget)
    step = _card(widget, "measure").step
    vol = next(m for m in step.evidence.measurements if m.name == "volume")
    assert vol.value == 1500.0 and "clinician" in vol.method and step.status.value == "edited"
    # move/resize the box on the locate step: the segmentation re-runs inside the new box
    before = int(s.result.masks[s.result.findings[0].mask_id].sum())
    loc = _card(widget, "locate")
    qtbot.mouseClick(loc.edit_btn, Qt.LeftButton)
    box_layer = viewer.layers["right lung box"]
    assert viewer.layers.selection.active is box_layer and box_layer.mode == "select"
    data = [np.array(d) for d in box_layer.data]
    mid = len(data) // 2
    x0, x1 = data[mid][:, 2].min(), data[mid][:, 2].max()
    data[mid][:, 2] = np.clip(data[mid][:, 2], x0, (x0 + x1) / 2)  # halve its width
    box_layer.data = data
    qtbot.mouseClick(_card(widget, "locate").done_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)
    f = s.result.findings[0]
    after = int(s.result.masks[f.mask_id].sum())
    assert 0 < after < before
    cols = s.geometry.to_display(s.result.masks[f.mask_id]).nonzero()[2]
    assert cols.max() <= (x0 + x1) / 2 + 0.5  # nothing right of the new box edge
    assert _card(widget, "locate").step.status.value == "edited"


def test_export_and_writer(viewer_with_widget, qtbot, tmp_path):
    import json

    from napari_medground.study.nifti_io import read_nifti

    viewer, widget = viewer_with_widget
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    widget.export_to(str(tmp_path))
    wait_idle(qtbot, widget)
    assert (tmp_path / "result.json").exists(), widget.ui.status.text()
    result = widget.session().result
    back = read_nifti(tmp_path / "labels.nii.gz")
    assert np.array_equal(back.array, result.label_array())
    assert "Exported" in widget.ui.status.text()
    # File > Save of the finding's Labels layer: study grid + result.json beside it
    viewer.layers.selection.active = viewer.layers["right lung"]
    written = viewer.layers.save(str(tmp_path / "saved" / "rl.nii.gz"), selected=True,
                                 plugin="napari-medground")
    assert sorted(p.split("/")[-1] for p in written) == ["rl.nii.gz", "rl.result.json"]
    saved = read_nifti(tmp_path / "saved" / "rl.nii.gz")
    assert np.array_equal(saved.array > 0, result.masks[result.findings[0].mask_id])
    sidecar = json.loads((tmp_path / "saved" / "rl.result.json").read_text())
    assert sidecar["findings"][0]["name"] == "right lung"


@pytest.mark.shared_data
def test_chest_xray_cardiomegaly(make_napari_viewer, qtbot, screenshot_dir):
    from napari_medground.viewer.plot import CriterionPlot
    from napari_medground.viewer.widget import GroundingWidget

    viewer = make_napari_viewer(show=True)
    viewer.open(str(shared_path("cxr", "00000001_000.png")), plugin="napari-medground")
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    viewer.window._qt_window.resize(1500, 950)
    widget.ui.device.setCurrentText("cpu")
    widget.run_finding("cardiomegaly")
    wait_idle(qtbot, widget)
    r = widget.session().result
    assert r is not None, widget.ui.status.text()
    lines = viewer.layers["cardiomegaly measurements"]
    assert lines.ndim == 2 and len(lines.data) >= 2
    assert np.allclose(lines.scale, viewer.layers[0].scale)
    compare = _card(widget, "compare")
    plots = compare.findChildren(CriterionPlot)
    assert len(plots) == 1 and plots[0].model.value == pytest.approx(
        next(m.value for m in compare.step.evidence.measurements))
    widget.ui.panel.set_current(compare.step.id)  # clicking a step selects its evidence layer
    viewer.reset_view()
    save_screenshot(viewer, screenshot_dir, "widget_cxr_cardiomegaly.png")
