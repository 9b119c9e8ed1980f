"""The dock's lifecycle: who owns the background work, and what closing does (UI thread).

Every worker of the dock runs on its :class:`~.workers.WorkerPool`. Closing the viewer
(``viewer.close()``, the window's close button, the application quitting, the dock
being destroyed, the interpreter exiting) cancels the running job, waits until every
worker has returned, drops their results, and then marks the autosaves cleanly
finished, so that only a crash leaves a session to recover and nothing is half-written.
Taking the dock away ("x" on the dock) or closing the dock widget closes the autosaves
only: the dock may come back, and its jobs end on their own.
"""
from __future__ import annotations

import logging
import weakref
from typing import Any

from qtpy.QtCore import QEvent

from .workers import WorkerPool

log = logging.getLogger(__name__)


class LifecycleHandlers:
    """Mixed into :class:`~napari_medground.napari.widget.GroundingWidget`."""

    def _own_workers(self) -> None:
        self.pool = WorkerPool()
        self.pool.on_shutdown(before=self._cancel_all, after=self.close_autosaves)
        pool = self.pool  # the lambda must not hold the widget, whose C++ side is going
        self.destroyed.connect(lambda *_: pool.shutdown())

    def _cancel_all(self) -> None:
        for s, _ctl in list(self.sessions.values()):
            s.cancel()

    def shutdown(self) -> bool:
        """Cancel and join every background job, then close the autosaves (idempotent).
        True when every job returned within the pool's timeout."""
        ok = self.pool.shutdown()
        self.worker = None
        return ok

    def _drop_session(self, key: int) -> None:
        """The study layer was removed: stop its job, close its autosave cleanly (a job
        still running is dropped when it ends, see :meth:`_gone`)."""
        s, ctl = self.sessions.pop(key)
        self._recoverable.pop(key, None)
        s.cancel()
        ctl.detach()
        if s is not self._job_session:
            s.close_autosave()

    def _gone(self, s: Any) -> bool:
        """A job ended for a study that was closed meanwhile: nothing of it is kept (its
        autosave is closed cleanly, so it is not offered for recovery)."""
        if any(ss is s for ss, _c in self.sessions.values()):
            return False
        s.close_autosave()
        self._status(f"{s.study.name} was closed: its {self.job or 'job'} was dropped.")
        return True

    def close_autosaves(self) -> None:
        """Mark every autosave of this dock as cleanly finished (viewer, dock or app closing),
        that of a job on a study closed meanwhile included."""
        sessions = [s for s, _ctl in list(self.sessions.values())]
        job = getattr(self, "_job_session", None)
        for s in dict.fromkeys(sessions + ([job] if job is not None else [])):
            s.close_autosave()

    def _watch_window(self) -> None:
        """Follow the main window's close (once the dock has a window)."""
        win = self.window()
        if win is not self and win is not self._watched():
            win.installEventFilter(self)
            self._watched_window = weakref.ref(win)  # never keep the viewer's window alive

    def _watched(self) -> Any:
        ref = getattr(self, "_watched_window", None)
        return ref() if ref is not None else None

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Close and obj is self._watched():
            if event.spontaneous():
                # the close button: napari may still ask and be refused; the window's
                # deletion, the application's quit or the exit hook joins the jobs
                self.close_autosaves()
            else:
                self.shutdown()  # viewer.close(): nothing can refuse it
        return False

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self._watch_window()
        super().showEvent(event)

    def event(self, event: Any) -> bool:  # noqa: A003 - Qt API
        if (event.type() == QEvent.ParentChange and self.parent() is None
                and getattr(self, "_watched_window", None) is not None):  # was in a window
            self.close_autosaves()  # napari took the dock away ("x" on the dock)
        return super().event(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.close_autosaves()
        super().closeEvent(event)
