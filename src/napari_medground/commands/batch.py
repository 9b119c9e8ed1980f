"""`medground batch MANIFEST.csv --out DIR`: ground every manifest row on Dask.

The manifest is a CSV with a ``study,finding[,box]`` header (relative study paths are
taken from the manifest's folder); see :mod:`napari_medground.batch.manifest`.
Writes ``DIR/<row id>/`` per row (result.json, labels.nii.gz, status.json),
``DIR/cohort.csv`` and ``DIR/summary.json``; prints the summary. Exit 0 when every row
ran (failed rows are recorded, listed, and give exit 1 with ``--strict``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", type=Path, metavar="MANIFEST.csv",
                   help="CSV with a header study,finding[,box]; one grounding per row")
    p.add_argument("--out", required=True, type=Path, help="output folder (created): one folder per row, "
                                                           "cohort.csv, summary.json")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786 "
                                                          "(default: a local cluster of worker processes)")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core, "
                                                            "or one per GPU; at most one per row)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true", help="skip rows already done, or failed on their input "
                                                         "(a missing file, a finding not understood)")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: run rows that failed again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--strict", action="store_true", help="exit 1 when any row failed")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the text summary")


def run(args: argparse.Namespace) -> int:
    from ..batch import format_summary, run_batch
    from ..batch.report import TerminalProgress

    if not getattr(args, "verbose", False):
        import distributed  # noqa: F401 - its import sets its own log level, which we lower after

        # Dask logs its cluster's life at INFO on stderr: keep errors only unless -v
        logging.getLogger("distributed").setLevel(logging.ERROR)
    progress = None if args.no_progress else TerminalProgress(sys.stderr)
    summary = run_batch(args.manifest, args.out, scheduler=args.scheduler, workers=args.workers,
                        device=args.device, resume=args.resume, progress=progress,
                        retry_failed=args.retry_failed)
    d = summary.to_dict()
    if args.json:
        json.dump(d, sys.stdout, indent=1)
        print()
    else:
        print(format_summary(d))
    return 1 if args.strict and summary.failed else 0
