"""Cohorts on Dask: ``run_batch(manifest, out)`` grounds every manifest row (``medground batch``).

:mod:`.manifest` reads and validates the manifest, :mod:`.row` runs one row on a worker,
:mod:`.cluster` opens the Dask client, :mod:`.report` writes the cohort table and the
summary, :mod:`.run` drives them. The library never imports the CLI.
"""
from __future__ import annotations

from .manifest import BatchError, ManifestRow, read_manifest, rows_from
from .report import TerminalProgress
from .run import BatchSummary, RowOutcome, format_summary, resume_plan, run_batch

__all__ = ["BatchError", "BatchSummary", "ManifestRow", "RowOutcome", "TerminalProgress", "format_summary",
           "read_manifest", "resume_plan", "rows_from", "run_batch"]
