"""A clinician's session that dies: run as ``python -m tests.napari.crash_session OUT``.

Opens napari on the CT phantom with the dock, grounds "right lung", accepts the first
step, paints into the mask with napari's brush and presses Done, writes what the mask and
the volume became to ``OUT`` (``edited_mask.npy``, ``edit.json``), then kills itself with
SIGKILL: no clean-up, no close, exactly what a crash leaves behind.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np


def _wait(app, cond, timeout_s: float = 240.0) -> None:
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() - t0 > timeout_s:
            print("timed out", file=sys.stderr)
            sys.exit(3)


def main(out: Path) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_medground.viewer.contrast import image_layer_data
    from napari_medground.viewer.widget import GroundingWidget
    from napari_medground.synthetic.phantom import make_ct_phantom

    viewer = napari.Viewer(show=False)
    app = QApplication.instance()
    study, truth = make_ct_phantom()
    data, kwargs, _ = image_layer_data(study, name="CT phantom")
    viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    widget.ui.device.setCurrentText("cpu")
    widget.run_finding("right lung")
    idle = lambda: widget.worker is None  # noqa: E731
    _wait(app, idle)
    s = widget.session()
    r = s.result
    widget.ui.panel.cards[0].accept_btn.click()
    _wait(app, idle)
    seg = next(c for c in widget.ui.panel.cards if c.step.kind.value == "segment")
    seg.edit_btn.click()
    labels = viewer.layers["right lung"]
    outside = np.argwhere(~(labels.data > 0) & s.geometry.to_display(truth["liver"]))[0]
    labels.brush_size = 6
    labels.paint(tuple(outside), labels.selected_label)
    next(c for c in widget.ui.panel.cards if c.step.kind.value == "segment").done_btn.click()
    _wait(app, idle)
    f = r.findings[0]
    measure = next(x for x in r.steps if x.kind.value == "measure" and x.finding == f.name)
    np.save(out / "edited_mask.npy", r.masks[f.mask_id])
    (out / "edit.json").write_text(json.dumps({
        "volume": next(m.value for m in measure.evidence.measurements if m.name == "volume"),
        "n_edits": len(r.edit_log), "status": widget.ui.status.text()}))
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
