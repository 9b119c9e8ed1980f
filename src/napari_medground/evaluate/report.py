"""An :class:`~.core.Evaluation` as a terminal table, CSV and JSON files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .core import Evaluation

COLUMNS = ("structure", "dice", "hd95_mm", "surface_dice", "pred_volume_ml", "ref_volume_ml",
           "volume_diff_ml", "volume_diff_pct", "centroid_distance_mm", "pred_values", "ref_values")


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return "+".join(map(str, v))
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def format_table(ev: Evaluation) -> str:
    """A fixed-width table, one row per structure, then the grid used."""
    rows = [s.to_dict() for s in ev.structures]
    head = ["structure", "Dice", "HD95 mm", f"NSD@{ev.tolerance_mm:g}mm", "pred mL", "ref mL",
            "dV mL", "dV %", "centroid mm"]
    keys = COLUMNS[:9]
    body = [[_fmt(r[k], 1 if k.endswith(("_ml", "_pct", "_mm")) else 3) for k in keys] for r in rows]
    width = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, width)))
    out = [line(head), line(["-" * w for w in width])] + [line(b) for b in body]
    grid = "resampled onto REF's grid (nearest neighbour)" if ev.resampled else "same grid"
    out.append(f"grid: REF {' x '.join(map(str, ev.ref_shape))}, spacing "
               f"{' x '.join(f'{s:.3g}' for s in ev.ref_spacing_mm)} mm; PRED {grid}; "
               f"{100 * ev.pred_inside_fraction:.1f}% of REF inside PRED's field of view")
    return "\n".join(out)


def write_csv(ev: Evaluation, path: Path) -> Path:
    """One row per structure, the columns of :data:`COLUMNS` (empty cell = undefined)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS + ("tolerance_mm",))
        for s in ev.structures:
            d = s.to_dict()
            w.writerow([_cell(d[k]) for k in COLUMNS] + [ev.tolerance_mm])
    return path


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return "+".join(map(str, v))
    return repr(v) if isinstance(v, float) else str(v)


def write_outputs(ev: Evaluation, out_dir: Path) -> dict[str, Path]:
    """``evaluation.csv`` and ``evaluation.json`` in ``out_dir`` (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "evaluation.json"
    js.write_text(json.dumps(ev.to_dict(), indent=1) + "\n", encoding="utf-8")
    return {"csv": write_csv(ev, out_dir / "evaluation.csv"), "json": js}


__all__ = ["format_table", "write_csv", "write_outputs"]
