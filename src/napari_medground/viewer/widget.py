"""The dock widget: type a finding, see it grounded, accept / edit / reject each step.

Three layers (STYLE.md, after napari-nninteractive): the layout (:mod:`.widget_gui`),
layer control (:mod:`.controller`) and the inference session (:mod:`.session`, no Qt).
Model work runs in workers (superqt's, on the dock's own thread pool; failures become
one status line, not napari's traceback notification) whose functions never touch Qt;
only the ``returned``/``errored`` handlers here do, and a UI timer reads the progress.
One job at a time: the step buttons are disabled while one runs; Cancel stops it and
leaves the previous state as it was. Workers are owned and joined on close
(:mod:`.widget_lifecycle`); autosave and recovery: :mod:`.widget_recovery`; window
presets per finding: :mod:`.widget_window`.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QWidget

from ..errors import MedgroundError
from ..progress import Cancelled
from .controller import LayerController, show_scale_bar
from .reader import notify_error
from .overlays import FINDING_STATUS_COLORS, FINDING_STATUS_WORDS
from .prefetcher import SlicePrefetcher
from .session import GroundingSession, JobOutcome, warm_up
from .widget_edits import EditHandlers
from .widget_prompts import PromptHandlers
from .widget_gui import build_gui
from .widget_lifecycle import LifecycleHandlers
from .widget_recovery import RecoveryHandlers
from .widget_window import WindowHandlers

if TYPE_CHECKING:  # pragma: no cover
    import napari

log = logging.getLogger(__name__)
_CPU_NOTE = ("Running on the CPU: fine for these models, but slower (LiteMedSAM encodes a slice in "
             "≈ 0.2–0.4 s with OpenVINO, ≈ 1–2 s in torch). "
             "Results match the GPU within tolerance.")


def _summary(result: Any, most: int = 3) -> str:
    """One status line: each finding and its status in words (the conclusion has the rest)."""
    fs = result.findings
    parts = [f"{f.name} {FINDING_STATUS_WORDS[f.status.value].lower().replace('_', ' ')}" for f in fs[:most]]
    more = f"; +{len(fs) - most} more" if len(fs) > most else ""
    return ("; ".join(parts) + more) if parts else "no finding"


def widen_contrast_range(layer: Any) -> None:
    """Let the contrast slider reach the whole data range (napari sets it to the limits given)."""
    rng = layer.metadata.get("contrast_range")
    if rng and not layer.metadata.get("_range_set"):
        lo, hi = layer.contrast_limits_range
        layer.contrast_limits_range = (min(lo, rng[0]), max(hi, rng[1]))
        layer.metadata["_range_set"] = True


class GroundingWidget(LifecycleHandlers, EditHandlers, PromptHandlers, RecoveryHandlers, WindowHandlers, QWidget):
    """Dock widget of napari-medground (``napari_viewer`` is injected by napari)."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.ui = build_gui(self)
        self.sessions: dict[int, tuple[GroundingSession, LayerController]] = {}
        self.worker: Any = None
        self.job: str | None = None
        self._job_session: GroundingSession | None = None  # the session the running job works on
        self._job_started = 0.0
        self._editing: tuple[str, str] | None = None  # (step id, kind)
        self.warming = 0  # background warm-ups running (imports, model load)
        self.recovery_checks = 0  # background looks for unfinished autosaves
        self._recovery_checked: set[int] = set()  # study layers already looked at
        self._recoverable: dict[int, Any] = {}  # study layer id -> SessionInfo offered
        self._window_hooked: set[int] = set()
        self._window_user: set[int] = set()  # study layers whose window the clinician chose
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._poll_progress)
        self._own_workers()
        self.prefetcher = SlicePrefetcher(self)
        self._wire()
        self._refresh_studies()
        self._check_device()
        show_scale_bar(self.viewer)

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        ui = self.ui
        ui.run.clicked.connect(lambda: self.run_finding(ui.text.text()))
        ui.text.submitted.connect(self.run_finding)
        ui.cancel.clicked.connect(self.cancel)
        ui.box.toggled.connect(self._toggle_box_prompt)
        self._wire_prompts()
        ui.device.currentTextChanged.connect(lambda _t: self._check_device())
        ui.study.currentIndexChanged.connect(lambda _i: self._show_session())
        ui.window.currentTextChanged.connect(self._apply_window)
        ui.accept_all.clicked.connect(lambda: self._edit("accept_all"))
        ui.undo.clicked.connect(lambda: self._edit("undo"))
        ui.redo.clicked.connect(lambda: self._edit("redo"))
        ui.save_conclusion.clicked.connect(
            lambda: self._edit("edit_conclusion", ui.conclusion.toPlainText().strip()))
        ui.export.clicked.connect(self._choose_export_folder)
        ui.recover.clicked.connect(self.recover)
        ui.discard.clicked.connect(self.discard_recovery)
        p = ui.panel
        p.accept_requested.connect(lambda sid: self._edit("accept", sid))
        p.reject_requested.connect(lambda sid: self._edit("reject", sid))
        p.edit_started.connect(self._edit_started)
        p.edit_done.connect(self._edit_done)
        p.edit_cancelled.connect(self._edit_cancelled)
        p.step_selected.connect(self._select_step)
        p.finding_selected.connect(lambda name: self.controller() and self.controller().jump_to_finding(name))
        self.viewer.layers.events.inserted.connect(self._refresh_studies)
        self.viewer.layers.events.removed.connect(self._refresh_studies)
        self.viewer.layers.selection.events.active.connect(self._follow_selection)

    # ------------------------------------------------------------------ studies
    def study_layers(self) -> list:
        return [lyr for lyr in self.viewer.layers
                if lyr.__class__.__name__ == "Image" and isinstance(lyr.metadata, dict)
                and lyr.metadata.get("study") is not None]

    def _refresh_studies(self, *_: Any) -> None:
        combo = self.ui.study
        layers = self.study_layers()
        current = self.current_layer()
        names = [(lyr.name, id(lyr)) for lyr in layers]
        if names and names == [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]:
            return  # an overlay layer came or went: the studies are the same
        combo.blockSignals(True)
        combo.clear()
        for lyr in layers:
            combo.addItem(lyr.name, id(lyr))
        if current in layers:
            combo.setCurrentIndex(layers.index(current))
        combo.blockSignals(False)
        self._setting_window = True  # widening the slider's range is not a manual choice
        try:
            for lyr in layers:
                widen_contrast_range(lyr)
        finally:
            self._setting_window = False
        live = {id(x) for x in layers}
        for key in [k for k in self.sessions if k not in live]:
            self._drop_session(key)
        for lyr in layers:
            self._hook_window(lyr)
            self._check_recovery(lyr)
        if not layers:
            self._status("Open a study (File > Open, or File > Open Sample > MedGround) to begin.")
        self._show_session()

    def _follow_selection(self, event: Any = None) -> None:
        lyr = self.viewer.layers.selection.active
        layers = self.study_layers()
        if lyr in layers and self.ui.study.currentIndex() != layers.index(lyr):
            self.ui.study.setCurrentIndex(layers.index(lyr))

    def current_layer(self):
        key = self.ui.study.currentData()
        return next((x for x in self.study_layers() if id(x) == key), None)

    def session(self) -> GroundingSession | None:
        pair = self._pair()
        return pair[0] if pair else None

    def controller(self) -> LayerController | None:
        pair = self._pair()
        return pair[1] if pair else None

    def _pair(self):
        lyr = self.current_layer()
        return None if lyr is None else self._pair_of(lyr)

    def _pair_of(self, lyr: Any) -> tuple[GroundingSession, LayerController]:
        if id(lyr) not in self.sessions:
            s = GroundingSession(lyr.metadata["study"])
            self.sessions[id(lyr)] = (s, LayerController(self.viewer, f"{id(lyr):x}", s.geometry, s.study))
        return self.sessions[id(lyr)]

    def _layer_of(self, s: GroundingSession) -> Any:
        key = next((k for k, (ss, _c) in self.sessions.items() if ss is s), None)
        return next((x for x in self.study_layers() if id(x) == key), None)

    def _show_session(self) -> None:
        s = self.session()
        is_ct = s is not None and s.study.modality == "CT"
        self.ui.window.setVisible(is_ct)
        self.ui.window_label.setVisible(is_ct)
        self._show_result(s.result if s else None)
        self._show_banner()

    # ------------------------------------------------------------------ device
    def _check_device(self) -> None:
        choice = self.ui.device.currentText()
        self.ui.device_note.setText("checking the device…")
        self._warm(warm_up, choice, returned=self._device_ok)

    def warm_box_model(self) -> None:
        """Load LiteMedSAM in the background while the clinician draws the box."""
        self._warm(warm_up, self.ui.device.currentText(), True)

    def _warm(self, fn: Callable, *args: Any, returned: Callable | None = None) -> None:
        connect = {"errored": self._device_error, "finished": self._warm_finished}
        if returned is not None:
            connect["returned"] = returned
        if self.pool.start(fn, *args, connect=connect) is not None:
            self.warming += 1

    def _warm_finished(self) -> None:
        self.warming -= 1

    def _device_ok(self, device: str) -> None:
        cpu = device == "cpu"
        self.ui.device_note.setText(_CPU_NOTE if cpu else f"Running on {device} (half precision).")
        self.ui.device_note.setStyleSheet("color:#f0a000;" if cpu else "color:#69db7c;")

    def _device_error(self, exc: Exception) -> None:
        self.ui.device_note.setText(str(exc))
        self.ui.device_note.setStyleSheet("color:#fa5252;")

    # ------------------------------------------------------------------ jobs
    def run_finding(self, text: str, box: Any = None, points: tuple = ()) -> None:
        """Ground ``text`` (or a box or point prompt) on the selected study, in a worker."""
        text = (text or "").strip()
        s = self.session()
        if s is None:
            self._status("No study: open one first (File > Open).", error=True)
            return
        if not text and box is None and not points:
            self._status("Type a finding first, " + self.ui.text.placeholderText(), error=True)
            return
        if (box is not None or points) and not text:
            text = "prompted region"
        if self._drop_offer(self.current_layer()) is not None:
            log.info("a new finding replaces the unsaved session offered (kept in its previous/)")
        self.ui.text.remember(text)
        device = self.ui.device.currentText()
        self._start("ground", s.ground, text, box=box, device=device, points=tuple(points),
                    on_done=lambda out: self._ground_done(s, out, text))

    def _start(self, job: str, fn: Callable, *args: Any, on_done: Callable[[Any], None],
               **kwargs: Any) -> None:
        if self.worker is not None:
            self._status(f"Busy with {self.job}: wait or Cancel.", error=True)
            return
        s = self.session()
        if s is not None:
            s.reset_cancel()
        worker = self.pool.start(fn, *args, **kwargs, connect={
            "returned": lambda out: self._finish(on_done, out),
            "errored": self._failed,
        })
        if worker is None:
            return  # the dock is closing
        self.worker, self._job_session = worker, s
        self.job, self._job_started = job, time.perf_counter()
        self._set_busy(True)

    def _finish(self, on_done: Callable[[Any], None], out: Any) -> None:
        s = self._job_ended()
        if s is not None and self._gone(s):
            return
        try:
            on_done(out)
        except Exception as exc:  # noqa: BLE001 - shown as one line, logged in full
            log.exception("updating the view failed")
            self._status(f"Could not show the result: {type(exc).__name__}: {exc}", error=True)

    def _failed(self, exc: Exception) -> None:
        job = self.job
        s = self._job_ended()
        if s is not None and self._gone(s):
            return
        if isinstance(exc, Cancelled):
            self._status(f"{job} cancelled: nothing was changed.")
            self._show_session()
        elif isinstance(exc, MedgroundError):
            self._status(str(exc), error=True)
            notify_error(str(exc))
        else:
            log.error("%s failed", job, exc_info=exc)
            self._status(f"{job} failed: {type(exc).__name__}: {exc}", error=True)
            notify_error(f"{job} failed: {type(exc).__name__}: {exc}")

    def _job_ended(self) -> GroundingSession | None:
        s, self._job_session, self.worker = self._job_session, None, None
        self._set_busy(False)
        return s

    def cancel(self) -> None:
        """Stop the running job, whichever study is selected now."""
        s = self._job_session
        if self.worker is not None and s is not None:
            s.cancel()
            self._status(f"cancelling {self.job}…")

    def _set_busy(self, busy: bool) -> None:
        ui = self.ui
        ui.cancel.setEnabled(busy)
        for w in (ui.run, ui.accept_all, ui.undo, ui.redo, ui.save_conclusion, ui.export, ui.study,
                  ui.device, ui.recover, ui.discard):
            w.setEnabled(not busy)
        ui.panel.set_busy(busy)
        if busy:
            ui.progress.setValue(0)
            self.timer.start()
        else:
            self.timer.stop()
            self._update_undo()

    def _poll_progress(self) -> None:
        s = self._job_session
        if s is None or self.worker is None:
            return
        st = s.progress_state
        self.ui.progress.setValue(int(1000 * st.fraction))
        took = time.perf_counter() - self._job_started
        self.ui.status.setStyleSheet("")
        self.ui.status.setText(f"{self.job}: {st.message} ({took:.0f} s)")

    # ------------------------------------------------------------------ results
    def _ground_done(self, s: GroundingSession, out: JobOutcome, text: str) -> None:
        s.adopt(out, text)
        ctl = self._controller_of(s)
        ctl.show(out.overlays, out.grounding.result)
        if s is not self.session():  # another study was opened and selected meanwhile
            self._status(f"'{text}' on {s.study.name} ({out.seconds:.1f} s): "
                         f"{_summary(out.grounding.result)}")
            return
        self._show_result(out.grounding.result)
        first = next((f for f in out.overlays.findings if f.centre is not None), None)
        if first is not None:
            ctl.jump_to_finding(first.name)
        self.ui.progress.setValue(1000)
        r = out.grounding.result
        window = self.auto_window(self._layer_of(s), s.study, r)
        self._status(f"'{text}' ({out.seconds:.1f} s): {_summary(r)}" + (f" · {window}" if window else ""),
                     color=FINDING_STATUS_COLORS.get(r.conclusion.status.value))

    def _edit_done_view(self, s: GroundingSession, out: JobOutcome) -> None:
        ctl = self._controller_of(s)
        ctl.show(out.overlays, out.grounding.result, out.changed_masks)
        if s is not self.session():
            self._status(f"{out.message} on {s.study.name} done ({out.seconds:.1f} s)")
            return
        self._show_result(out.grounding.result)
        r = out.grounding.result
        self._status(f"{out.message} done ({out.seconds:.1f} s): {_summary(r)}",
                     color=FINDING_STATUS_COLORS.get(r.conclusion.status.value))

    def _controller_of(self, s: GroundingSession) -> LayerController:
        return next(c for ss, c in self.sessions.values() if ss is s)

    def _show_result(self, result: Any) -> None:
        s = self.session()
        self.ui.panel.show_result(result, live=s is None or s.live)
        self.ui.conclusion.setPlainText(result.conclusion.text if result is not None else "")
        models = [] if result is None else [f"{m.name} {m.version} on {m.device} ({m.seconds:.1f} s)"
                                            for m in result.models]
        self.ui.models.setText(("Models: " + "; ".join(models)) if models else "")
        self._update_undo()

    def _update_undo(self) -> None:
        s = self.session()
        g = s.grounding if s else None
        idle = self.worker is None
        self.ui.undo.setEnabled(idle and g is not None and g.can_undo)
        self.ui.redo.setEnabled(idle and g is not None and g.can_redo)
        for w in (self.ui.accept_all, self.ui.save_conclusion, self.ui.export):
            w.setEnabled(idle and g is not None)

    def _status(self, text: str, *, error: bool = False, color: str | None = None) -> None:
        self.ui.status.setText(text)
        self.ui.status.setStyleSheet("color:#fa5252;" if error else f"color:{color};" if color else "")
        if error:
            log.warning(text)

    # ------------------------------------------------------------------ edits
    def _edit(self, action: str, *args: Any) -> None:
        s = self.session()
        if s is None or s.grounding is None:
            return
        self._start(action.replace("_", " "), s.edit, action, *args,
                    on_done=lambda out: self._edit_done_view(s, out))

    def _select_step(self, step_id: str) -> None:
        s, ctl = self.session(), self.controller()
        if s is None or s.result is None or ctl is None:
            return
        ctl.select_step(s.result.step(step_id))

