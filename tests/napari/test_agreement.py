"""The reasoning panel shows how far a painted edit moved the AI mask, and the DICOM SR
written after it carries that agreement (dciodvfy-clean)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from qtpy.QtCore import Qt

from tests.data.shared import shared_path
from tests.napari.conftest import save_screenshot, wait_idle

pytestmark = pytest.mark.gui


def _card(widget, kind):
    return next(c for c in widget.ui.panel.cards if c.step.kind.value == kind)


def test_paint_shows_agreement_and_sr_carries_it(make_napari_viewer, qtbot, tmp_path, screenshot_dir):
    import highdicom as hd

    from napari_medground.napari.contrast import image_layer_data
    from napari_medground.napari.widget import GroundingWidget
    from napari_medground.study import load_study
    from tests.core.test_export_dicom import dciodvfy_errors

    study = load_study(shared_path("totalseg", "example_ct_dicom"))
    viewer = make_napari_viewer(show=True)
    data, kwargs, _ = image_layer_data(study, name="CT")
    viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MedGround", area="right")
    viewer.window._qt_window.resize(1500, 950)
    widget.ui.device.setCurrentText("cpu")
    widget.run_finding("bone")
    wait_idle(qtbot, widget)
    s = widget.session()
    r = s.result
    f = r.findings[0]
    assert f.status.value == "present", widget.ui.status.text()
    ai = r.masks[f.mask_id].copy()
    assert not hasattr(_card(widget, "segment"), "agreement_label")  # nothing edited yet

    qtbot.mouseClick(_card(widget, "segment").edit_btn, Qt.LeftButton)
    labels = viewer.layers["bone"]
    assert labels.mode == "paint"
    n0 = int((labels.data > 0).sum())
    k = int(viewer.dims.current_step[0])
    free = np.argwhere(labels.data[k] == 0)
    spot = free[np.argmin(np.abs(free - np.asarray(labels.data.shape[1:]) // 2).sum(axis=1))]
    labels.brush_size = 60
    labels.paint((k, *spot), labels.selected_label)
    added = int((labels.data > 0).sum()) - n0
    assert added > 100
    qtbot.mouseClick(_card(widget, "segment").done_btn, Qt.LeftButton)
    wait_idle(qtbot, widget)

    final = r.masks[f.mask_id]
    want_dice = 2 * np.sum(ai & final) / (ai.sum() + final.sum())
    want_ml = (final.sum() - ai.sum()) * study.voxel_volume_ml
    card = _card(widget, "segment")
    text = card.agreement_label.text()
    m = re.match(r"edited: Dice (\d\.\d\d) to the AI mask, ([+-]\d+(?:\.\d+)?) mL", text)
    assert m, text
    assert float(m.group(1)) == pytest.approx(want_dice, abs=0.005)
    assert float(m.group(2)) == pytest.approx(want_ml, abs=0.51)
    assert card.agreement_label.isVisible()
    save_screenshot(viewer, screenshot_dir, "widget_edit_agreement.png")

    files = s.export(str(tmp_path / "out"), ("sr",))
    sr_path = files["sr"] if isinstance(files, dict) and "sr" in files else tmp_path / "out" / "sr.dcm"
    assert dciodvfy_errors(sr_path) == []
    sr = hd.sr.srread(str(sr_path))
    group = sr.content.get_volumetric_roi_measurement_groups()[0]
    values = {m.name.value: float(m.value) for m in group.get_measurements()}
    assert values["dice_to_ai"] == pytest.approx(want_dice, abs=1e-6)
    assert values["dvol_from_ai"] == pytest.approx(want_ml, abs=1e-3)
