"""Overlay data and the criterion plot model (numpy only: no display needed)."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.viewer.layers import display_geometry
from napari_medground.viewer.overlays import build_overlays, rectangles_to_box
from napari_medground.result import (
    Box,
    Criterion,
    Finding,
    FindingStatus,
    LineSegment,
    Measurement,
    Result,
    Step,
    StepKind,
)
from tests.napari.test_geometry import _study


def _result(study, mask, box):
    f = Finding("lesion", FindingStatus.PRESENT, label_value=2, mask_id="mask-2", box=box,
                centroid_voxel=tuple(np.argwhere(mask).mean(axis=0)), color=(0.2, 0.6, 0.9),
                measurements=[Measurement("volume", 1.5, "mL"), Measurement("long_axis", 12.0, "mm")])
    line = LineSegment("long_axis", tuple(float(v) for v in box.min_voxel),
                       tuple(float(v) for v in box.max_voxel), 12.0)
    s = Step("s1-measure", StepKind.MEASURE, "Measure", finding="lesion")
    s.evidence.lines = [line]
    return Result(study_info=study.info(), query={}, findings=[f], steps=[s], masks={"mask-2": mask},
                  study=study)


@pytest.mark.parametrize("code,rot", [("LIA", 0), ("RAS", 0), ("SPL", 0), ("RAS", 17.0)])
def test_overlays_on_the_display_grid(code, rot):
    study = _study(code, shape=(10, 12, 14), rotate_deg=rot)
    mask = np.zeros(study.shape, bool)
    mask[2:6, 3:9, 4:7] = True
    box = Box((2, 3, 4), (5, 8, 6))
    geo = display_geometry(study)
    ov = build_overlays(_result(study, mask, box), geo).findings[0]
    assert np.array_equal(ov.labels, geo.to_display(mask).astype(np.uint8) * 2)
    # the headline number is said once: on its measured line, not again on the box
    assert ov.line_texts == ("long axis 12.0 mm",) and ov.box_text == "lesion"
    # ...and that label is moved under the box, not drawn across it
    bottom = max(r[:, -2].max() for r in ov.box_rects)
    assert ov.lines[0][:, -2].max() + ov.line_text_shift[-2] > bottom
    # one rectangle per display slice of the box, enclosing every masked voxel of that slice
    d = np.argwhere(ov.labels > 0)
    slices = sorted({int(r[0, 0]) for r in ov.box_rects})
    assert slices == list(range(d[:, 0].min(), d[:, 0].max() + 1))
    for r in ov.box_rects:
        inside = d[d[:, 0] == int(r[0, 0])]
        assert np.all(inside[:, 1:] > r[:, 1:].min(axis=0)) and np.all(inside[:, 1:] < r[:, 1:].max(axis=0))
    # rectangles back to the same study box (an unedited box round-trips)
    assert rectangles_to_box(list(ov.box_rects), geo) == box
    assert len(ov.box_wire) == 6
    # the measured line keeps its end points (display indices of the study voxels)
    assert np.allclose(geo.display_to_study(ov.lines[0]), [box.min_voxel, box.max_voxel])
    assert np.allclose(geo.display_to_study(ov.centre), np.argwhere(mask).mean(axis=0))
    # without a measured line the box carries the headline number
    r = _result(study, mask, box)
    r.steps[0].evidence.lines = []
    assert build_overlays(r, geo).findings[0].box_text == "lesion · long axis 12.0 mm"


def test_plot_model_threshold_range_bands():
    from napari_medground.viewer.plot import MEETS, NORMAL, plot_model

    ctr = Criterion("ctr", "CTR", 0.5, "1", ">", "Danzer 1919")
    m = plot_model(ctr, 0.557)
    assert m.lo < 0.5 < 0.557 < m.hi and m.ticks == (0.5,)
    assert [s.color for s in m.segments] == [NORMAL, MEETS]
    assert 0.557 < m.hi - 0.1  # not pinned to the edge
    rng = Criterion("v", "volume", None, "mL", "range", "src", normal_range=(1060.0, 2223.0))
    m = plot_model(rng, 2500.0)
    assert [s.color for s in m.segments] == [MEETS, NORMAL, MEETS] and m.hi > 2500
    bands = Criterion("f", "Fleischner", None, "mm", "bands", "src", bands=(
        {"label": "<6 mm: none", "upper": 6, "meets": False},
        {"label": "6-8 mm", "lower": 6, "upper": 8, "meets": None},
        {"label": ">8 mm", "lower": 8, "meets": True}))
    m = plot_model(bands, 7.2)
    assert m.ticks == (6.0, 8.0) and m.segments[1].label == "6-8 mm"
    assert plot_model(ctr, float("nan")) is None
