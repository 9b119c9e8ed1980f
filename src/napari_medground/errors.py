"""Specific exception classes of the core.

Every message names the file (or input) and the problem in one line, so that the CLI
and the widget can show it as is. The CLI maps :class:`MedgroundError` to exit code 2.
"""
from __future__ import annotations


class MedgroundError(Exception):
    """Base class: a failure the user can act on, with a one-line message."""


class StudyLoadError(MedgroundError):
    """A study file or folder cannot be read as an image (names the path and why)."""


class QueryError(MedgroundError):
    """The typed finding cannot be used at all (e.g. empty text)."""


class ModelUnavailable(MedgroundError):
    """A model's code or weights are missing; the message says what to install."""


class DeviceError(MedgroundError):
    """The requested compute device does not exist here; lists the valid choices."""


class ExportError(MedgroundError):
    """An export cannot be written (e.g. DICOM SEG without a DICOM source)."""


class OutputWriteError(ExportError, OSError):
    """An output file or folder cannot be written (read-only, disk full, not a folder, locked).

    Also an :class:`OSError` (with ``errno`` set when known), so callers that fall back
    to another folder on OS errors keep working. Nothing half-written is left behind.
    """


class EditError(MedgroundError):
    """An edit of a reasoning step is not allowed or refers to something unknown."""


class CriteriaFileError(MedgroundError):
    """A criteria file is unreadable or an entry breaks the schema (names file and entry)."""


class BatchError(MedgroundError):
    """The batch as a whole cannot run (unreadable manifest, unreachable scheduler, ...)."""


class EvaluationError(MedgroundError):
    """Two label files cannot be compared (unreadable, no common extent or labels)."""
