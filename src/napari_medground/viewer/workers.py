"""The dock's background workers: owned, cancelled and joined (UI thread API).

superqt's workers run on Qt's global thread pool, which nothing waits for: a viewer that
closes while one still runs (a warm-up importing torch, a grounding, an autosave) lets
the interpreter delete the worker's signals object under the running thread, and the
next ``emit`` aborts the process ("wrapped C/C++ object of type WorkerBaseSignals has
been deleted", then "Aborted"). A :class:`WorkerPool` runs the dock's workers on a
private ``QThreadPool`` instead, and :meth:`WorkerPool.shutdown` (viewer closing, dock
destroyed, application quitting, interpreter exiting) asks the jobs to stop, waits until
each has returned, and from then on drops their results, so that no handler touches a
widget that is gone. Work that must not be cut (an export, an autosave write) is waited
for, never killed: files are either the complete old ones or the complete new ones.
"""
from __future__ import annotations

import atexit
import logging
import time
import weakref
from typing import Any, Callable

from qtpy.QtCore import QThreadPool

log = logging.getLogger(__name__)

MIN_THREADS = 4
JOIN_TIMEOUT_S = 300.0  # a grounding stops at its next cancel check; an export is finished
_LIVE: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()
_HOOKED: list[bool] = []


def shutdown_all() -> None:
    """Stop and join every live pool (application quitting, interpreter exiting)."""
    for pool in list(_LIVE):
        pool.shutdown()


def _install_exit_hooks() -> None:
    """Once per process: join the pools when the Qt application quits and at exit."""
    if _HOOKED:
        return
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    app.aboutToQuit.connect(shutdown_all)
    atexit.register(shutdown_all)  # runs before the interpreter deletes Qt wrappers
    _HOOKED.append(True)


class WorkerPool:
    """Background jobs of one dock widget on a private thread pool.

    Parameters
    ----------
    join_timeout_s : float
        How long :meth:`shutdown` waits for the running jobs (seconds).
    """

    def __init__(self, join_timeout_s: float = JOIN_TIMEOUT_S) -> None:
        self._pool = QThreadPool()  # no Qt parent: it lives exactly as long as this object
        # a grounding must not queue behind a warm-up and an autosave look-up (2-core machines)
        self._pool.setMaxThreadCount(max(MIN_THREADS, self._pool.maxThreadCount()))
        self._workers: set[Any] = set()
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []
        self.join_timeout_s = float(join_timeout_s)
        self.closed = False
        _LIVE.add(self)
        _install_exit_hooks()

    @property
    def running(self) -> int:
        """Threads of this pool still running a job."""
        return int(self._pool.activeThreadCount())

    def on_shutdown(self, before: Callable[[], None] | None = None,
                    after: Callable[[], None] | None = None) -> None:
        """``before`` runs when shutdown starts (ask jobs to cancel), ``after`` once every
        job has returned (close what the jobs were writing)."""
        if before is not None:
            self._before.append(before)
        if after is not None:
            self._after.append(after)

    def start(self, fn: Callable[..., Any], *args: Any, connect: dict[str, Callable] | None = None,
              **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker; ``connect`` maps worker signals
        (``returned``, ``errored``, ``finished``) to UI-thread handlers, which are skipped
        once the pool is shut down. Returns the worker, or None after shutdown."""
        from superqt.utils import FunctionWorker

        if self.closed:
            log.debug("pool shut down: %s not started", getattr(fn, "__name__", fn))
            return None
        worker = FunctionWorker(fn, *args, **kwargs)
        for name, handler in (connect or {}).items():
            getattr(worker, name).connect(self._guard(handler))
        worker.finished.connect(lambda: self._workers.discard(worker))
        self._workers.add(worker)  # keeps the worker (and its signals) alive until it ends
        self._pool.start(worker)
        return worker

    def _guard(self, handler: Callable) -> Callable:
        def call(*args: Any) -> None:
            if not self.closed:
                handler(*args)
        return call

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel, join, then run the ``after`` hooks; True when every job returned in time.
        Idempotent; the handlers of jobs that end later are not called."""
        first = not self.closed
        self.closed = True
        # Queued jobs go first: a cancel hook can free a thread, which would start the next one.
        self._pool.clear()
        if first:
            _call_all(self._before, "cancelling")
        for w in list(self._workers):
            w.quit()
        t0 = time.perf_counter()
        wait_s = self.join_timeout_s if timeout_s is None else timeout_s
        ok = bool(self._pool.waitForDone(int(1000 * wait_s)))
        if not ok:
            log.warning("%d background job(s) still running after %.0f s", self.running,
                        time.perf_counter() - t0)
        elif first:
            log.debug("background jobs joined in %.2f s", time.perf_counter() - t0)
        if first:
            _call_all(self._after, "closing")
        return ok


def _call_all(hooks: list[Callable[[], None]], what: str) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - closing must never stop the viewer from closing
            log.exception("%s background work failed", what)
