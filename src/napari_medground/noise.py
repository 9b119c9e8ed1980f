"""Third-party logging and warnings: folded into our own messages, never raw on the terminal.

pydicom, highdicom, nibabel, SimpleITK and napari report problems through their own
loggers (pydicom logs whole decoder tracebacks) and through :mod:`warnings`. The user
should see one line naming the file and the problem, or an entry in ``warnings``:

* :func:`collect` (used around a study load) gathers, in the calling thread only, the
  messages those libraries log or warn while it is active; the caller folds what
  matters into its own warnings (:func:`fold`).
* :func:`quiet_libraries` (called once by the CLI) stops library loggers and Python
  warnings from reaching stderr unless ``--verbose``; with it they are shown as log
  lines (``INFO py.warnings: ...``), tracebacks included.

No message is altered or dropped from the logging system itself: library records still
go to the library's logger; only their propagation to the terminal handler changes.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from typing import Iterator

LIBRARY_LOGGERS = ("pydicom", "highdicom", "nibabel", "napari", "SimpleITK", "PIL", "vispy", "distributed",
                   "dask", "torch", "urllib3", "matplotlib", "fsspec")
_MAX_FOLDED = 3
_local = threading.local()
_lock = threading.Lock()
_warn_log = logging.getLogger("py.warnings")


class _FoldHandler(logging.Handler):
    """Adds the first line of each library record to the active collection of its thread."""

    def emit(self, record: logging.LogRecord) -> None:
        bucket = getattr(_local, "bucket", None)
        if bucket is None:
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break the load
            text = str(record.msg)
        _add(bucket, record.name.split(".")[0], text)


_HANDLER = _FoldHandler(level=logging.WARNING)
_state = {"cli": False, "verbose": False, "previous": None}


def _add(bucket: list[tuple[str, str]], source: str, text: str) -> None:
    line = " ".join(str(text).strip().splitlines()[:1]).strip()
    if line and (source, line) not in bucket:
        bucket.append((source, line))


def _source_of(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for name in LIBRARY_LOGGERS + ("numpy", "skimage", "scipy"):
        if name in parts:
            return name
    return "python"


_DEVELOPER_WARNINGS = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning, FutureWarning,
                       ImportWarning)


def _showwarning(message, category, filename, lineno, file=None, line=None) -> None:
    bucket = getattr(_local, "bucket", None)
    if bucket is not None and not issubclass(category, _DEVELOPER_WARNINGS):  # for developers, not users
        _add(bucket, _source_of(str(filename)), f"{message}")
    if _state["cli"]:
        # never a raw warning on the terminal: a log line, shown with --verbose
        _warn_log.log(logging.INFO if _state["verbose"] else logging.DEBUG, "%s: %s (%s:%s)",
                      category.__name__, message, filename, lineno)
        return
    if bucket is not None:
        return
    previous = _state["previous"]
    if previous is not None and previous is not _showwarning:
        previous(message, category, filename, lineno, file, line)


def refresh() -> None:
    """Re-apply the set-up after a library was imported (nibabel adds its own stderr handler)."""
    _install_hooks()


def _install_hooks() -> None:
    with _lock:
        for name in LIBRARY_LOGGERS:
            lg = logging.getLogger(name)
            if _HANDLER not in lg.handlers:
                lg.addHandler(_HANDLER)
        if warnings.showwarning is not _showwarning:
            _state["previous"] = warnings.showwarning
            warnings.showwarning = _showwarning
        if _state["cli"] and not _state["verbose"]:
            _mute_library_handlers()


def _mute_library_handlers() -> None:
    """Remove the stderr handlers some libraries attach to their own loggers (nibabel.global)."""
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger) or name.split(".")[0] not in LIBRARY_LOGGERS:
            continue
        for h in list(lg.handlers):
            if h is not _HANDLER and type(h) is logging.StreamHandler:
                lg.removeHandler(h)


@contextlib.contextmanager
def collect() -> Iterator[list[tuple[str, str]]]:
    """Gather (library, first line) of what libraries log (WARNING+) or warn in this thread.

    Warnings raised inside the block do not reach the terminal (they are collected);
    nested blocks each collect their own. Thread-safe: other threads are unaffected.
    """
    _install_hooks()
    outer = getattr(_local, "bucket", None)
    bucket: list[tuple[str, str]] = []
    _local.bucket = bucket
    # the filters are process-wide: only the main thread turns "show repeats" on, and back off
    main = threading.current_thread() is threading.main_thread()
    try:
        with warnings.catch_warnings() if main else contextlib.nullcontext():
            if main:
                warnings.simplefilter("always")  # a repeated warning is still the user's to see
                warnings.showwarning = _showwarning
            yield bucket
    finally:
        _local.bucket = outer
        if outer is not None:
            outer.extend(item for item in bucket if item not in outer)


def fold(bucket: list[tuple[str, str]], where: str) -> list[str]:
    """Collected library messages as at most ``_MAX_FOLDED + 1`` warning lines naming ``where``."""
    out = [f"{where}: {source} reported: {text[:200]}" for source, text in bucket[:_MAX_FOLDED]]
    if len(bucket) > _MAX_FOLDED:
        out.append(f"{where}: and {len(bucket) - _MAX_FOLDED} more library message(s) (--verbose shows them)")
    return out


def quiet_libraries(verbose: bool) -> None:
    """CLI set-up: library loggers and Python warnings reach stderr only with ``verbose``."""
    _state["cli"], _state["verbose"] = True, bool(verbose)
    _install_hooks()
    logging.captureWarnings(False)
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        lg.propagate = bool(verbose)
        if verbose:
            lg.setLevel(logging.INFO)
    _warn_log.propagate = True


def verbose() -> bool:
    """True when the CLI asked for library detail (``--verbose``)."""
    return bool(_state["verbose"])


__all__ = ["collect", "fold", "quiet_libraries", "refresh", "verbose", "LIBRARY_LOGGERS"]
