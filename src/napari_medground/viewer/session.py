"""The inference session the dock widget owns (no Qt): one study, its live grounding.

Every method that runs models or re-runs steps (:meth:`GroundingSession.ground`,
:meth:`GroundingSession.edit`) is meant to be called from a worker thread; the widget
only starts one job at a time and reads :attr:`progress_state` from a UI timer, so no
callback here ever touches Qt. A cancelled job raises
:class:`~napari_medground.progress.Cancelled` and leaves the previous state intact: a
cancelled grounding is simply dropped, a cancelled edit is rolled back.

Autosave: each grounding gets a core :class:`~napari_medground.session.autosave.Session`
(created in the worker that ran it); every edit is persisted by the Grounding's listener,
in the worker thread that applied the edit, before the edit returns. The session lives
next to the last export folder of this study (else in the user data folder); a clean
close marks it finished, so that only a crash leaves one to recover.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..result import Box, Result
from .layers import DisplayGeometry, display_geometry
from .overlays import OverlaySet, build_overlays

log = logging.getLogger(__name__)

WORKER_NICENESS = 5


def yield_to_ui() -> None:
    """Lower this worker thread's CPU priority (Linux: per thread; the torch/OpenMP threads
    it starts inherit it), so the UI thread wins the cores while a model runs. Measured
    here: the longest UI stall during LiteMedSAM fell from 289 ms to 51 ms at load 10 on
    2 cores. Elsewhere (or when not allowed) a no-op."""
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < WORKER_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICENESS)
    except (AttributeError, OSError):
        pass


def warm_up(device: str = "auto", box_model: bool = False) -> str:
    """Import what a grounding needs (torch, the reasoning and language code) and, for
    box prompts, load LiteMedSAM, in a worker before the clinician runs anything: these
    imports hold the interpreter lock for up to a second. Returns the resolved device."""
    yield_to_ui()
    import importlib

    from ..language import parse
    from ..models.device import resolve_device

    importlib.import_module(f"{__package__.rsplit('.', 1)[0]}.reasoning.api")  # the import is the warm-up
    dev = resolve_device(device)
    parse("right lung")  # loads the vocabulary
    if box_model:
        from ..models.litemedsam import load_model

        load_model(dev)
    return dev


@dataclass(frozen=True)
class JobOutcome:
    """What a worker hands back to the UI thread: the grounding and ready layer data."""

    grounding: Any
    overlays: OverlaySet
    changed_masks: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    autosave: Any = None  # the new autosave Session (groundings and recoveries)


@dataclass
class ProgressState:
    """Latest progress of the running job (written by the worker, read by a UI timer)."""

    fraction: float = 0.0
    message: str = ""
    updated: float = field(default_factory=time.monotonic)


class GroundingSession:
    """One study and its grounding; thread-safe progress and cancellation.

    Parameters
    ----------
    study : Study
        The study the findings are grounded on (study grid = ``study.array``).
    """

    def __init__(self, study: Any) -> None:
        self.study = study
        self.geometry: DisplayGeometry = display_geometry(study)
        self.grounding: Any = None
        self.text: str = ""
        self.progress_state = ProgressState()
        self.autosave: Any = None  # session.Session of the current grounding
        self._unadopted: Any = None  # the autosave of a finished job the UI has not adopted yet
        self.autosave_folder: str | None = None  # the last export folder (None: user data folder)
        self.live = True  # False for a recovered result: its steps have no functions to re-run
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state
    @property
    def result(self) -> Result | None:
        return self.grounding.result if self.grounding is not None else None

    def progress(self, fraction: float, message: str) -> None:
        """The core's progress callback (any thread)."""
        self.progress_state = ProgressState(float(fraction), str(message))

    def cancel(self) -> None:
        """Ask the running job to stop at its next check (any thread)."""
        self._cancel.set()

    def reset_cancel(self) -> None:
        """Clear an earlier cancel request; the widget calls it before starting a job."""
        self._cancel.clear()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    # ------------------------------------------------------------------ jobs (worker thread)
    def ground(self, text: str, *, box: Box | None = None, device: str = "auto",
               points: tuple = ()) -> JobOutcome:
        """Run ``start_grounding`` and prepare every overlay (worker thread).

        The session's ``grounding`` is not replaced here: the UI thread adopts the
        returned outcome (:meth:`adopt`), so a cancelled or failed run leaves no trace.
        """
        from ..reasoning.api import start_grounding

        yield_to_ui()
        with self._lock:
            self.progress(0.0, "starting")
            t0 = time.perf_counter()
            g = start_grounding(self.study, text, box=box, device=device, points=points,
                                progress=self.progress, cancel=self.is_cancelled)
            overlays = build_overlays(g.result, self.geometry)
            autosave = self._new_autosave(g.result, self.autosave_folder)
            return JobOutcome(g, overlays, tuple(g.result.masks), f"'{text}' grounded",
                              time.perf_counter() - t0, autosave)

    def adopt(self, outcome: JobOutcome, text: str, *, live: bool = True) -> None:
        """Make a finished grounding (or a recovered one) the current one (UI thread)."""
        self.grounding = outcome.grounding
        self.text = text
        self.live = live
        if outcome.autosave is not None:
            if self._unadopted is outcome.autosave:
                self._unadopted = None
            self.autosave = outcome.autosave
            self.grounding.listeners.append(self._autosave_edit)

    # ------------------------------------------------------------------ autosave (worker thread)
    def _autosave_edit(self, g: Any, record: Any, changed: list[str]) -> None:
        """Grounding listener: persist the edit now, in the thread that applied it."""
        if self.autosave is not None and g is self.grounding:
            self.autosave.record_edit(g.result, record, changed)

    def _new_autosave(self, result: Result, folder: str | None) -> Any:
        """Close the current autosave cleanly (its grounding is being replaced), then start
        one for ``result``. A failure to autosave is logged, never fatal to the grounding."""
        from ..session.autosave import Session

        self.close_autosave()
        try:
            self._unadopted = Session(result, folder)
            return self._unadopted
        except Exception:  # noqa: BLE001 - the grounding stands even where nothing can be written
            log.exception("autosave could not start for %s", self.study.name)
            return None

    def close_autosave(self) -> None:
        """Mark the autosave as cleanly finished (not offered for recovery; any thread), and
        the one of a finished job whose result was never adopted (the viewer or the study
        closed meanwhile). A later edit of the same grounding reopens it."""
        pending, self._unadopted = self._unadopted, None
        for autosave in dict.fromkeys(x for x in (self.autosave, pending) if x is not None):
            try:
                autosave.close()
            except Exception:  # noqa: BLE001 - closing must never stop the viewer from closing
                log.exception("autosave of %s could not be closed", self.study.name)

    def find_recoverable(self) -> Any:
        """The newest unfinished autosave of this study (``SessionInfo``) or None (worker)."""
        from ..session.autosave import Session

        yield_to_ui()
        folders = [self.autosave_folder] if self.autosave_folder else []
        info = Session.find_recoverable(self.study, folders)
        if info is not None and self.autosave is not None and info.folder == self.autosave.folder:
            return None  # that is this widget's own live session
        return info

    def recover(self, info: Any) -> JobOutcome:
        """Rebuild the findings of an unfinished autosave (worker thread).

        The recovered Result has no step functions, so its grounding is a *review* one:
        accept, reject, paint masks, edit the conclusion, undo/redo and export work;
        steps that depend on an edit are marked stale instead of re-run. Autosave
        continues in the same folder (the unfinished files are kept in ``previous/``).
        """
        from ..session.autosave import Session

        yield_to_ui()
        with self._lock:
            t0 = time.perf_counter()
            result = Session.recover(info, self.study)
            g = review_grounding(result)
            overlays = build_overlays(result, self.geometry)
            autosave = self._new_autosave(result, _parent_of_session(info.folder))
            return JobOutcome(g, overlays, tuple(result.masks), "recovered",
                              time.perf_counter() - t0, autosave)

    def discard(self, info: Any) -> None:
        """Set an unfinished autosave aside: it is kept in ``previous/`` and no longer offered."""
        from ..session.autosave import Session

        from ..errors import StudyLoadError

        yield_to_ui()
        try:
            result = Session.recover(info, self.study)
        except (StudyLoadError, ValueError, OSError) as exc:  # unreadable: nothing to set aside
            log.warning("the unfinished session in %s cannot be read (%s); left as it is", info.folder, exc)
            return
        Session(result, _parent_of_session(info.folder)).close()

    def edit(self, action: str, *args: Any) -> JobOutcome:
        """Apply one Grounding edit (``accept``, ``reject``, ``edit_mask``, ``edit_box``,
        ``edit_number``, ``edit_conclusion``, ``accept_all``, ``undo``, ``redo``) and
        prepare the refreshed overlays (worker thread). A cancelled re-run is rolled back.
        """
        g = self.grounding
        if g is None:
            raise RuntimeError("no grounding to edit yet")
        method: Callable[..., Any] = getattr(g, action)
        changed: list[str] = []

        def listen(_g, _record, ids) -> None:
            changed.extend(ids)

        yield_to_ui()
        with self._lock:
            t0 = time.perf_counter()
            before = {k: id(v) for k, v in g.result.masks.items()}
            g.listeners.append(listen)
            try:
                method(*args)  # a cancelled or failed edit is rolled back by the Grounding
            finally:
                g.listeners.remove(listen)
            after = g.result.masks
            changed += [k for k, v in after.items() if before.get(k) != id(v)]
            changed += [k for k in before if k not in after]
            overlays = build_overlays(g.result, self.geometry)
            return JobOutcome(g, overlays, tuple(dict.fromkeys(changed)), action.replace("_", " "),
                              time.perf_counter() - t0)

    def edit_numbers(self, step_id: str, numbers: dict[str, float]) -> JobOutcome:
        """Several corrected numbers of one step, applied in turn (worker thread)."""
        out = None
        for name, value in numbers.items():
            out = self.edit("edit_number", step_id, name, float(value))
        if out is None:
            raise ValueError(f"no numbers to change on step {step_id}")
        return out

    def edit_mask_from_display(self, mask_id: str, display_labels: np.ndarray) -> JobOutcome:
        """A Labels layer painted on the display grid -> ``edit_mask`` on the study grid."""
        mask = np.ascontiguousarray(self.geometry.from_display(np.asarray(display_labels) > 0))
        return self.edit("edit_mask", mask_id, mask)

    def export(self, out_dir: str, formats: tuple[str, ...], overwrite: bool = False) -> dict:
        """write_outputs of the current result (worker thread)."""
        from pathlib import Path

        from ..reasoning.api import write_outputs

        if self.result is None:
            raise RuntimeError("nothing to export yet")
        yield_to_ui()
        with self._lock:
            paths = write_outputs(self.result, Path(out_dir), formats, overwrite=overwrite)
            # from now on the autosave lives next to the outputs; it is clean until the next edit
            self.autosave_folder = str(out_dir)
            new = self._new_autosave(self.result, self.autosave_folder)
            if new is not None:
                new.close()
                self.autosave, self._unadopted = new, None
            return paths


def review_grounding(result: Result) -> Any:
    """A Grounding over a Result whose step functions are gone (a recovered autosave):
    its edits work, and the steps depending on an edit are marked stale, not re-run."""
    from ..reasoning.graph import Grounding, Node

    g = Grounding(result)
    for step in result.steps:
        g.nodes[step.id] = Node(step, None)
    return g


def _parent_of_session(folder: Any) -> str | None:
    """The folder a session folder sits next to (None: it is in the user data folder)."""
    from pathlib import Path

    from ..session.autosave import SESSION_PREFIX

    folder = Path(folder)
    return str(folder.parent) if folder.name.startswith(SESSION_PREFIX) else None
