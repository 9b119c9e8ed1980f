"""``measurements.csv``: one row per finding x measurement, with units and status.

A finding without measurements (absent, not assessable) still gets one row with empty
measurement columns, so the table lists every answer. Values are written with full
precision (``repr`` of the float); the file is UTF-8 with a header row.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from .files import atomic_write_text

COLUMNS = (
    "study",
    "finding",
    "label_value",
    "status",
    "confidence",
    "edited",
    "measurement",
    "value",
    "unit",
    "measurement_label",
    "method",
    "anatomy_code",
    "finding_code",
    "steps",
)


def measurement_rows(result: Any) -> list[dict[str, Any]]:
    """The CSV rows as dicts (keys :data:`COLUMNS`)."""
    study = (
        (result.study.name if result.study is not None else "") or result.study_info.get("series_uid") or ""
    )
    rows = []
    for f in result.findings:
        base = {
            "study": study,
            "finding": f.name,
            "label_value": f.label_value if f.label_value is not None else "",
            "status": f.status.value,
            "confidence": "" if f.confidence is None else float(f.confidence),
            "edited": bool(f.edited),
            "anatomy_code": _code(f.anatomy_code),
            "finding_code": _code(f.finding_code),
            "steps": " ".join(f.steps),
        }
        empty = {"measurement": "", "value": "", "unit": "", "measurement_label": "", "method": ""}
        if not f.measurements:
            rows.append({**base, **empty})
        for m in f.measurements:
            value = "" if m.value is None else float(m.value)
            rows.append(
                {
                    **base,
                    "measurement": m.name,
                    "value": value,
                    "unit": m.unit,
                    "measurement_label": m.label,
                    "method": m.method,
                }
            )
    return rows


def measurements_csv(result: Any) -> str:
    """The CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in measurement_rows(result):
        writer.writerow({k: ("" if v == "" else v) for k, v in row.items()})
    return buf.getvalue()


def write_measurements(result: Any, path: Path) -> Path:
    """Write ``measurements.csv`` atomically."""
    return atomic_write_text(path, measurements_csv(result))


def _code(code: dict[str, str] | None) -> str:
    if not code:
        return ""
    return f"{code.get('scheme', '')}:{code.get('value', '')} {code.get('meaning', '')}".strip()
