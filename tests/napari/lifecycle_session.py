"""Viewer lifecycles run in a child process, so that an abort shows as an exit code.

``python -m tests.napari.lifecycle_session SCENARIO OUT [ARG]`` runs one scenario (or
``all``, each on its own viewer) and writes one JSON record per scenario to ``OUT``:
what the test then checks (threads still running after the close, the status line, an
autosave left unfinished, the files an export left). Scenarios:

- ``reader-close ARG``: open ARG (a DICOM folder) through the plugin reader with the
  dock, close the viewer while the dock's start-up work (device check, autosave look-up)
  still runs, and exit at once.
- ``ground-close`` / ``edit-close`` / ``export-close`` / ``warm-close``: close the viewer
  while a grounding, an edit re-run (with its autosave), an export, or the box-model
  warm-up runs.
- ``remove-ground``: remove the study layer while its grounding runs.
- ``another-cancel``: open a second study while the first is grounded, then Cancel.
- ``edit-cancel``: Cancel while an edit re-runs its dependants: the edit is rolled back.
- ``cycles ARG``: ARG open-work-close cycles (open, ground, close; every fifth also accepts
  a step and closes the viewer while the export runs).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

FINDING = "right lung"  # classical CT backend: about a second on the phantom


def _wait(cond, timeout_s: float = 120.0) -> bool:
    from qtpy.QtWidgets import QApplication

    app, t0 = QApplication.instance(), time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() - t0 > timeout_s:
            return False
    return True


def _running(widget) -> int:
    """Threads of the dock's workers still running (the global pool before there was one)."""
    from qtpy.QtCore import QThreadPool

    pool = widget.__dict__.get("pool")  # never the deleted C++ side
    return pool.running if pool is not None else QThreadPool.globalInstance().activeThreadCount()


def _viewer(study=None, path: str | None = None):
    import napari

    from napari_medground.napari.contrast import image_layer_data
    from napari_medground.napari.widget import GroundingWidget

    viewer = napari.Viewer(show=True)
    if path is not None:
        viewer.open(path, plugin="napari-medground")
    else:
        data, kwargs, _ = image_layer_data(study, name="CT phantom")
        viewer.add_image(data, **kwargs)
    widget = GroundingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MedGround", area="right")
    widget.ui.device.setCurrentText("cpu")
    return viewer, widget


def _grounded(study):
    viewer, widget = _viewer(study)
    widget.run_finding(FINDING)
    assert _wait(lambda: widget.worker is None and widget.session().result is not None), "no result"
    return viewer, widget


def _close(viewer, widget, **extra) -> dict:
    t0 = time.perf_counter()
    viewer.close()
    rec = {"close_s": round(time.perf_counter() - t0, 3), "running_after_close": _running(widget),
           "status": widget.ui.status.text() if _alive(widget) else ""}
    rec.update(extra)
    return rec


def _alive(widget) -> bool:
    try:
        widget.objectName()
        return True
    except RuntimeError:
        return False


def reader_close(path: str) -> dict:
    viewer, widget = _viewer(path=path)
    busy = _running(widget)
    rec = _close(viewer, widget, busy_at_close=busy)
    rec["layers"] = 0
    return rec


def ground_close(study) -> dict:
    viewer, widget = _viewer(study)
    _wait(lambda: widget.warming == 0, 60)
    widget.run_finding(FINDING)
    return _close(viewer, widget, busy_at_close=widget.worker is not None)


def edit_close(study) -> dict:
    viewer, widget = _grounded(study)
    seg = next(s for s in widget.session().result.steps if s.kind.value == "segment")
    widget._edit("reject", seg.id)  # its dependants are re-run, the edit autosaved
    return _close(viewer, widget, busy_at_close=widget.worker is not None)


def export_close(study, out: Path) -> dict:
    viewer, widget = _grounded(study)
    folder = out / "export"
    folder.mkdir()
    widget.export_to(str(folder))
    return _close(viewer, widget, busy_at_close=widget.worker is not None, export=str(folder))


def warm_close(study) -> dict:
    viewer, widget = _viewer(study)
    _wait(lambda: widget.warming == 0, 60)
    widget.warm_box_model()  # LiteMedSAM loads while the clinician draws the box
    return _close(viewer, widget, busy_at_close=widget.warming > 0)


def remove_ground(study) -> dict:
    viewer, widget = _viewer(study)
    _wait(lambda: widget.warming == 0, 60)
    widget.run_finding(FINDING)
    busy = widget.worker is not None
    viewer.layers.remove(viewer.layers["CT phantom"])
    ok = _wait(lambda: widget.worker is None, 60)
    _wait(lambda: False, 0.3)  # any late handler runs now
    names = [lyr.name for lyr in viewer.layers]
    return _close(viewer, widget, busy_at_close=busy, idle=ok, layers_left=names,
                  status_after_remove=widget.ui.status.text())


def another_cancel(study) -> dict:
    from napari_medground.napari.contrast import image_layer_data

    viewer, widget = _viewer(study)
    _wait(lambda: widget.warming == 0, 60)
    first = widget.session()
    _held(first, "ground")
    widget.run_finding(FINDING)
    data, kwargs, _ = image_layer_data(study, name="second study")
    viewer.add_image(data, **kwargs)  # napari selects the new layer: the dock follows it
    _wait(lambda: False, 0.2)
    selected = widget.current_layer().name
    widget.cancel()
    ok = _wait(lambda: widget.worker is None, 60)
    return _close(viewer, widget, idle=ok, selected=selected, status_after_cancel=widget.ui.status.text(),
                  first_result=first.result is not None)


def _held(session, name: str) -> None:
    """Hold ``session.<name>`` (the real method) at its start until Cancel is pressed, so
    that the Cancel below arrives while the job runs, whatever the machine's speed."""
    real = getattr(session, name)

    def held(*a, **k):
        t0 = time.monotonic()
        while not session.is_cancelled() and time.monotonic() - t0 < 20:
            time.sleep(0.01)
        return real(*a, **k)

    setattr(session, name, held)


def edit_cancel(study) -> dict:
    import numpy as np

    viewer, widget = _grounded(study)
    s = widget.session()
    r = s.result
    f = r.findings[0]
    before = (len(r.edit_log), [x.status.value for x in r.steps], int(r.masks[f.mask_id].sum()))
    grown = np.array(r.masks[f.mask_id], copy=True)
    grown[tuple(np.argwhere(~grown)[0])] = True  # one voxel more: the measure step re-runs
    _held(s, "edit")
    widget._edit("edit_mask", f.mask_id, grown)
    widget.cancel()
    ok = _wait(lambda: widget.worker is None, 60)
    r = s.result
    after = (len(r.edit_log), [x.status.value for x in r.steps], int(r.masks[f.mask_id].sum()))
    return _close(viewer, widget, idle=ok, unchanged=before == after,
                  status_after_cancel=widget.ui.status.text())


def cycles(study, out: Path, n: int) -> dict:
    times, phases = [], []
    for i in range(n):
        t0 = time.perf_counter()
        viewer, widget = _viewer(study)
        t1 = time.perf_counter()
        widget.run_finding(FINDING)
        assert _wait(lambda: widget.worker is None and widget.session().result is not None), "no result"
        t2 = time.perf_counter()
        t3 = time.perf_counter()
        if i % 5 == 4:  # every fifth cycle also accepts a step (autosaved) and exports
            widget.ui.panel.cards[0].accept_btn.click()
            assert _wait(lambda: widget.worker is None), "accept did not finish"
            t3 = time.perf_counter()
            folder = out / f"cycle{i}"
            folder.mkdir()
            widget.export_to(str(folder))
        rec = _close(viewer, widget)
        assert rec["running_after_close"] == 0, rec
        t4 = time.perf_counter()
        times.append(round(t4 - t0, 2))
        phases.append([round(x, 2) for x in (t1 - t0, t2 - t1, t3 - t2, t4 - t3)])
    return {"cycles": n, "seconds": times, "phases": phases, "running_after_close": 0}


def main(argv: list[str]) -> int:
    from napari_medground.phantom import make_ct_phantom

    scenario, out = argv[0], Path(argv[1])
    arg = argv[2] if len(argv) > 2 else None
    study = None if scenario == "reader-close" else make_ct_phantom()[0]
    runs = {
        "reader-close": lambda: reader_close(arg),
        "ground-close": lambda: ground_close(study),
        "edit-close": lambda: edit_close(study),
        "export-close": lambda: export_close(study, out),
        "warm-close": lambda: warm_close(study),
        "remove-ground": lambda: remove_ground(study),
        "another-cancel": lambda: another_cancel(study),
        "edit-cancel": lambda: edit_cancel(study),
        "cycles": lambda: cycles(study, out, int(arg or 20)),
    }
    names = [k for k in runs if k not in ("reader-close", "cycles")] if scenario == "all" else [scenario]
    for name in names:
        rec = runs[name]()
        (out / f"{name}.json").write_text(json.dumps(rec))
        print(name, json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
