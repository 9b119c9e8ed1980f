"""Progress and cancellation for long work, as plain callables (no Qt).

Long functions take ``progress(fraction, message)`` and ``cancel() -> bool``; they call
:func:`check_cancel` between units of work, which raises :class:`Cancelled`.
"""
from __future__ import annotations

from typing import Callable, Optional

from .errors import MedgroundError

ProgressFn = Optional[Callable[[float, str], None]]
CancelFn = Optional[Callable[[], bool]]


class Cancelled(MedgroundError):
    """The user cancelled the work; nothing half-written is kept."""


def report(progress: ProgressFn, fraction: float, message: str) -> None:
    """Call ``progress`` if given, with the fraction clipped to 0..1."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def check_cancel(cancel: CancelFn, what: str = "work") -> None:
    """Raise :class:`Cancelled` when ``cancel()`` says so."""
    if cancel is not None and cancel():
        raise Cancelled(f"{what} cancelled")


def sub_progress(progress: ProgressFn, start: float, end: float) -> ProgressFn:
    """A progress callback that maps 0..1 onto ``start..end`` of the parent's range."""
    if progress is None:
        return None
    return lambda f, msg: progress(start + (end - start) * min(1.0, max(0.0, f)), msg)
