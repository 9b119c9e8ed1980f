"""`medground demo [--finding TEXT] [--screenshot PATH]`: the whole flow in under a minute.

Opens napari on the bundled example CT (``resources/samples/example_ct.nii.gz``: a real
abdomen-pelvis CT from TotalSegmentator's test data, Apache-2.0, see its NOTICE), docks
the grounding widget and runs one finding, so a new user sees the masks, boxes,
measurements and the steps to accept, edit or reject on real anatomy. ``--phantom``
opens the synthetic CT phantom instead (known truth, no file). ``--screenshot PATH`` saves the window (viewer and dock)
once the finding is shown, then exits (used for the README image).

Without a display (Linux, no ``DISPLAY``/``WAYLAND_DISPLAY``): with ``--screenshot`` the
demo re-runs itself under ``xvfb-run`` when that is installed (the result is a file, so a
virtual screen serves); otherwise it stops before Qt starts, with one line saying what to
run instead (exit code 2), never Qt's abort.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_FINDING = "enlarged spleen"
FALLBACK_FINDING = "liver"
PHANTOM_FINDING = "nodule in the right lung"
PHANTOM_FALLBACK = "right lung"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--finding", default=None,
                        help=f"the finding to ground (default: '{DEFAULT_FINDING}' on the example CT, "
                             f"'{PHANTOM_FINDING}' on the phantom)")
    parser.add_argument("--phantom", action="store_true",
                        help="open the synthetic CT phantom instead of the bundled example CT")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="compute device (default: auto)")
    parser.add_argument("--screenshot", metavar="PATH", default=None,
                        help="save a screenshot of the window once the finding is shown, then exit")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="with --screenshot: give up after this many seconds (default 300)")


def run(args: argparse.Namespace) -> int:
    from ..viewer.display import XVFB_MARK, require_display, xvfb_command

    if args.screenshot:
        cmd = xvfb_command([sys.executable, "-m", "napari_medground.cli", "demo", *_argv(args)])
        if cmd is not None:
            log.info("no display: running the demo under %s", " ".join(cmd[:2]))
            return subprocess.run(cmd, env=dict(os.environ, **{XVFB_MARK: "1"})).returncode
    require_display("the demo", "xvfb-run -a medground demo --screenshot demo.png")
    return _show(args)


def _argv(args: argparse.Namespace) -> list[str]:
    """The demo's own options, to run it again as they were given."""
    out = (["--finding", args.finding] if args.finding else []) + (["--phantom"] if args.phantom else [])
    out += ["--device", args.device, "--timeout", str(args.timeout)]
    return out + (["--screenshot", str(Path(args.screenshot).resolve())] if args.screenshot else [])


def _show(args: argparse.Namespace) -> int:
    import napari
    from qtpy.QtCore import QTimer

    from ..viewer.contrast import image_layer_data
    from ..viewer.widget import GroundingWidget

    t0 = time.perf_counter()
    study, name, finding, fallback = _sample(args)
    viewer = napari.Viewer(title="napari-medground demo")
    data, kwargs, _ = image_layer_data(study, name=name)
    viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MedGround", area="right")
    viewer.window._qt_window.resize(1600, 1000)  # noqa: SLF001 - the size the screenshot wants
    QTimer.singleShot(150, viewer.reset_view)  # once the window has its size
    widget.ui.device.setCurrentText(args.device)
    widget.ui.text.setText(finding)
    state = {"tries": [finding] + ([fallback] if finding != fallback else []),
             "code": 0}

    def start() -> None:
        viewer.reset_view()
        widget.run_finding(state["tries"].pop(0))

    def watch() -> None:
        if widget.worker is not None:
            return
        s = widget.session()
        result = s.result if s else None
        shown = result is not None and any(f.mask_id in result.masks for f in result.findings)
        if not shown and state["tries"] and (result is None or not result.masks):
            log.info("demo: '%s' showed no mask; trying '%s'", widget.ui.text.text(), state["tries"][0])
            widget.ui.text.setText(state["tries"][0])
            start()
            return
        timer.stop()
        print(f"demo ready: '{widget.ui.text.text()}' shown in {time.perf_counter() - t0:.1f} s", flush=True)
        _show_reasoning(widget)
        if args.screenshot:
            QTimer.singleShot(800, lambda: _save_and_quit(viewer, Path(args.screenshot), state))

    def deadline() -> None:
        if args.screenshot and timer.isActive():
            log.error("demo: no result after %.0f s; saving what is shown", args.timeout)
            state["code"] = 1
            timer.stop()
            _save_and_quit(viewer, Path(args.screenshot), state)

    timer = QTimer()
    timer.setInterval(250)
    timer.timeout.connect(watch)
    QTimer.singleShot(300, start)
    QTimer.singleShot(600, timer.start)
    QTimer.singleShot(int(args.timeout * 1000), deadline)
    napari.run()
    return int(state["code"])


def _sample(args: argparse.Namespace) -> tuple:
    """(study, layer name, finding, fallback finding) for the demo's sample."""
    if args.phantom:
        from ..synthetic.phantom import make_ct_phantom

        study, _truth = make_ct_phantom()
        return study, "CT phantom", args.finding or PHANTOM_FINDING, PHANTOM_FALLBACK
    from ..viewer.sample_data import example_ct_study

    return example_ct_study(), "example CT", args.finding or DEFAULT_FINDING, FALLBACK_FINDING


def _show_reasoning(widget) -> None:
    """Open the panel on the first compare step (its plot against the criterion)."""
    panel = widget.ui.panel
    card = next((c for c in panel.cards if c.step.kind.value == "compare"), None)
    if card is not None:
        panel.set_current(card.step.id, jump=False, focus=False)
        panel.scroll.verticalScrollBar().setValue(card.y())  # the compare step at the top, whole
    s = widget.session()
    widget.viewer.reset_view()  # the window has its final size now
    if s is not None and s.result is not None and s.result.findings:
        import numpy as np

        from ..viewer.controller import camera

        f = s.result.findings[0]
        cam = camera(widget.viewer)
        whole = np.asarray(cam.center, dtype=float)
        zoom = 1.0
        if f.box is not None:  # closer to a small finding, at most 1.3x (keep the anatomy in view)
            size = (np.asarray(f.box.max_voxel) - f.box.min_voxel + 1) * np.asarray(s.study.spacing_mm)
            field = np.asarray(s.study.shape) * np.asarray(s.study.spacing_mm)
            zoom = float(np.clip(0.3 * field.max() / max(size.max(), 1e-3), 1.0, 1.3))
        cam.zoom *= zoom
        widget.controller().jump_to_finding(f.name)  # its slice, its layer selected, centred on it
        # then halfway back to the middle of the image: the finding and the body around it both show
        cam.center = tuple(0.5 * (whole[-len(cam.center):] + np.asarray(cam.center, dtype=float)))


def _save_and_quit(viewer, path: Path, state: dict) -> None:
    _dismiss_toasts(viewer)
    viewer.help = ""  # napari's key hints for the selected layer would fill the status bar
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False)
    print(f"screenshot saved: {path}")
    viewer.close()


def _dismiss_toasts(viewer) -> None:
    """Close napari's notification pop-ups (e.g. its PyQt5 deprecation notice) before a screenshot."""
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification
        from qtpy.QtWidgets import QApplication

        for w in QApplication.allWidgets():
            if isinstance(w, NapariQtNotification):
                w.close()
        QApplication.processEvents()
    except Exception:  # noqa: BLE001 - cosmetic only (a private napari class)
        log.debug("could not dismiss notifications", exc_info=True)
