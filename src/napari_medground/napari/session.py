"""The inference session the dock widget owns (no Qt): one study, its live grounding.

Every method that runs models or re-runs steps (:meth:`GroundingSession.ground`,
:meth:`GroundingSession.edit`) is meant to be called from a worker thread; the widget
only starts one job at a time and reads :attr:`progress_state` from a UI timer, so no
callback here ever touches Qt. A cancelled job raises
:class:`~napari_medground.progress.Cancelled` and leaves the previous state intact: a
cancelled grounding is simply dropped, a cancelled edit is rolled back.
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
        from ..models.litemedsam_runtime import load_model

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
    def ground(self, text: str, *, box: Box | None = None, device: str = "auto") -> JobOutcome:
        """Run ``start_grounding`` and prepare every overlay (worker thread).

        The session's ``grounding`` is not replaced here: the UI thread adopts the
        returned outcome (:meth:`adopt`), so a cancelled or failed run leaves no trace.
        """
        from ..reasoning.api import start_grounding

        yield_to_ui()
        with self._lock:
            self.progress(0.0, "starting")
            t0 = time.perf_counter()
            g = start_grounding(self.study, text, box=box, device=device,
                                progress=self.progress, cancel=self.is_cancelled)
            overlays = build_overlays(g.result, self.geometry)
            return JobOutcome(g, overlays, tuple(g.result.masks), f"'{text}' grounded",
                              time.perf_counter() - t0)

    def adopt(self, outcome: JobOutcome, text: str) -> None:
        """Make a finished grounding the current one (UI thread)."""
        self.grounding = outcome.grounding
        self.text = text

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
            return write_outputs(self.result, Path(out_dir), formats, overwrite=overwrite)
