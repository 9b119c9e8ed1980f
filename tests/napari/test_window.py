"""Window presets per finding: which window a grounding calls for (pure), the MR brain
window from the tissue, and the dock switching it unless the clinician chose one."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.language import parse
from napari_medground.viewer.contrast import (
    CT_PRESETS,
    foreground_limits,
    window_for_result,
    window_to_limits,
)
from napari_medground.result import Result
from napari_medground.study.model import Study


def _result(text: str, modality: str) -> Result:
    study = Study(np.zeros((4, 8, 8), np.int16), np.eye(4), modality=modality)
    return Result(study_info=study.info(), query=parse(text).to_dict(), findings=[], steps=[], masks={},
                  study=study)


@pytest.mark.parametrize("text,modality,expected", [
    ("nodule in the right lung", "CT", "lung"),
    ("right upper lobe", "CT", "lung"),  # a lobe: its parent in the vocabulary is the lung
    ("pneumothorax", "CT", "lung"),  # a lung finding without an organ
    ("bronchus", "CT", "lung"),
    ("liver", "CT", "soft tissue"),
    ("enlarged spleen", "CT", "soft tissue"),
    ("liver lesion", "CT", "soft tissue"),
    ("L3 vertebra", "CT", "bone"),
    ("left hippocampal atrophy", "MR", "brain"),
    ("ventriculomegaly", "MR", "brain"),
    ("liver", "MR", None),  # MR of the abdomen: no brain window
    ("cardiomegaly", "DX", None),  # X-ray: keep the file's window
    ("xyzzy", "CT", None),
])
def test_window_for_result(text, modality, expected):
    assert window_for_result(_result(text, modality)) == expected


def test_mr_brain_window_comes_from_the_tissue():
    rng = np.random.default_rng(1)
    head = np.zeros((40, 64, 64), np.float32)  # air around the head reads 0
    zz, yy, xx = np.mgrid[:40, :64, :64]
    inside = ((zz - 20) / 16) ** 2 + ((yy - 32) / 26) ** 2 + ((xx - 32) / 26) ** 2 < 1
    head[inside] = rng.normal(300, 40, inside.sum())  # brain tissue
    head[inside & (xx < 8)] = 2500  # a few bright voxels (fat, vessels)
    lo, hi = foreground_limits(head)
    assert 100 < lo < 300 < hi  # the window starts in the tissue, not at the air
    whole_lo, _ = np.percentile(head, (1, 99.5))
    assert whole_lo == 0.0 and lo > whole_lo


@pytest.mark.gui
def test_dock_switches_to_the_lung_window_unless_chosen(viewer_with_widget, qtbot):
    from tests.napari.conftest import wait_idle

    viewer, widget = viewer_with_widget
    image = viewer.layers["CT phantom"]
    lung = window_to_limits(*CT_PRESETS["lung"])
    assert not np.allclose(image.contrast_limits, lung)  # opens in the soft-tissue window
    widget.run_finding("right lung")
    wait_idle(qtbot, widget)
    assert np.allclose(image.contrast_limits, lung)
    assert "lung window" in widget.ui.status.text() and widget.ui.window.currentText() == "lung"
    # the clinician drags the contrast slider: their choice is kept for the next findings
    image.contrast_limits = (-200.0, 300.0)
    widget.run_finding("left lung")
    wait_idle(qtbot, widget)
    assert np.allclose(image.contrast_limits, (-200.0, 300.0))
    assert "window" not in widget.ui.status.text()
