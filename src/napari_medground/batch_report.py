"""What a batch reports: the cohort CSV, the summary text, and a terminal progress line.

``cohort.csv`` has one line per row x finding x measurement (a row without findings or
a finding without measurements still gets one line; a failed row gets one line with
its ``error``). Columns: :data:`COHORT_COLUMNS`. ``status`` is the finding's status
(present/absent/uncertain/not_assessable); ``row_status`` is the row's (done/failed).
"""
from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, TextIO

COHORT_COLUMNS = ("row", "row_id", "study", "finding_text", "box", "row_status", "finding_name", "status",
                  "confidence", "measurement", "measurement_label", "value", "unit", "error")


def cohort_lines(status: Mapping[str, Any], result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The cohort CSV lines of one row, from its ``status.json`` and ``result.json`` objects."""
    base = {"row": status.get("row"), "row_id": status.get("row_id"), "study": status.get("study"),
            "finding_text": status.get("finding"), "box": status.get("box") or "",
            "row_status": status.get("status"), "error": status.get("reason") or ""}
    findings = (result or {}).get("findings") or []
    if not findings:
        return [base]
    lines = []
    for f in findings:
        head = {**base, "finding_name": f.get("name"), "status": f.get("status"),
                "confidence": f.get("confidence")}
        ms = f.get("measurements") or []
        if not ms:
            lines.append(head)
        for m in ms:
            lines.append({**head, "measurement": m.get("name"), "measurement_label": m.get("label", ""),
                          "value": m.get("value"), "unit": m.get("unit")})
    return lines


def write_cohort(path: Path, lines: Iterable[Mapping[str, Any]]) -> Path:
    """Write the cohort CSV atomically (ordered as given; an identical file is left as is)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COHORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for line in lines:
        w.writerow({k: ("" if line.get(k) is None else line.get(k)) for k in COHORT_COLUMNS})
    data = buf.getvalue().encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def format_summary(summary: Mapping[str, Any]) -> str:
    """The printed form of ``summary.json``."""
    earlier = summary.get("skipped_failed") or 0
    lines = [
        f"rows {summary['rows']}: done {summary['done']}, failed {summary['failed']}, "
        f"skipped {summary['skipped']}" + (" (already complete" if summary["skipped"] else "")
        + (f"; {earlier} of them failed earlier, see cohort.csv" if earlier else "")
        + (")" if summary["skipped"] else ""),
        f"time {summary['seconds']:.1f} s, {summary['rows_per_second']:.3g} rows/s "
        f"on {summary['workers']} worker(s); tasks submitted {summary['tasks_submitted']}",
    ]
    for f in summary.get("failures", []):
        lines.append(f"  failed {f['row_id']}: {f['reason']}")
    lines.append(f"cohort  {summary['cohort_csv']}")
    ev = summary.get("evaluation_files") or {}
    if ev:
        lines.append(f"scores  {ev.get('evaluation_csv')} (summary {ev.get('evaluation_summary_csv')}, "
                     f"plot {ev.get('evaluation_plot', 'none')})")
    lines.append(f"summary {summary['summary_json']}")
    return "\n".join(lines)


class TerminalProgress:
    """A one-line progress bar on a stream (stderr): ``[#####.....] 5/12 rows ...``.

    Use as a ``progress(fraction, message)`` callback. On a terminal the line is
    redrawn in place; otherwise a line is written at most every ``interval_s`` and at 100%.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, interval_s: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interval_s = interval_s
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        done = fraction >= 1.0
        if not self._tty and not done and now - self._last < self.interval_s:
            return
        self._last = now
        filled = int(round(self.width * max(0.0, min(1.0, fraction))))
        bar = "#" * filled + "." * (self.width - filled)
        text = f"[{bar}] {fraction * 100:5.1f}% {message}"
        if self._tty:
            self.stream.write("\r" + text + ("\n" if done else "\x1b[K"))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
