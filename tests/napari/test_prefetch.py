"""Background encoding around the shown slice while a prompt tool is on (issue 14): the
slices near the one on screen are in the embedding cache before the clinician clicks."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.viewer.prefetcher import RADIUS, slices_around

pytestmark = pytest.mark.gui


def test_slices_around_nearest_first_and_clipped():
    assert slices_around(5, 100, 2) == [5, 6, 4, 7, 3]
    assert slices_around(0, 3, 2) == [0, 1, 2]
    assert slices_around(None, 1) == [None]


def _show(viewer, geo, layer, z):
    world = layer.data_to_world(geo.study_to_display(np.array([z, 0, 0], float)))
    slider = viewer.dims.order[0]
    viewer.dims.set_point(slider, world[slider])


def test_point_tool_encodes_around_the_shown_slice_and_follows_the_slider(viewer_with_widget, qtbot):
    from napari_medground.models.litemedsam import runtime as rt
    from napari_medground.models.litemedsam.segment import open_session

    viewer, widget = viewer_with_widget
    s = widget.session()
    layer = viewer.layers["CT phantom"]
    rt.EMBEDDINGS.clear()
    widget.ui.box.setChecked(False)
    _show(viewer, s.geometry, layer, 20)
    assert widget.prefetcher.shown_slice() == 20
    assert widget.prefetcher.started == 0  # nothing is encoded while no prompt tool is on
    widget.ui.point.setChecked(True)
    want = len(slices_around(20, s.study.shape[0]))
    assert want == 2 * RADIUS + 1
    qtbot.waitUntil(lambda: widget.prefetcher.encoded >= want, timeout=240_000)
    probe = open_session(s.study, device="cpu")
    probe.embeddings([20, 20 + RADIUS, 20 - RADIUS])
    assert probe.encoded == 0 and probe.cache_hits == 3  # a click there runs the decoder only
    started = widget.prefetcher.started
    _show(viewer, s.geometry, layer, 40)
    assert widget.prefetcher.started > started and widget.prefetcher.shown_slice() == 40
    gen = widget.prefetcher.generation
    widget.ui.point.setChecked(False)  # the last tool off: the running prefetch is told to stop
    assert widget.prefetcher.generation > gen
    qtbot.waitUntil(lambda: widget.pool.running == 0, timeout=60_000)
