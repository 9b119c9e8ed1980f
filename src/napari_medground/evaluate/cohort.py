"""Cohort scoring for ``medground batch``: each row's labels against its reference, then
per-structure summaries (mean, median, IQR) and one box plot of Dice per structure.

A row is scored on the findings it grounded: each finding's name is looked up among
the reference's labels (``reference_names``: a JSON table or ``totalseg``; a reference
without names is read as TotalSegmentator ids); a finding the reference does not hold
is left out (listed under ``not_in_reference``); a finding the reference holds but the
row did not find (absent, no mask) scores Dice 0. Numbers on the reference's grid,
volumes in mL, distances in mm.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import MedgroundError
from .metrics import DEFAULT_TOLERANCE_MM

SUMMARY_METRICS = ("dice", "hd95_mm", "surface_dice", "volume_diff_ml", "volume_diff_pct", "centroid_distance_mm")
ROW_COLUMNS = ("row", "row_id", "study", "reference", "structure", "dice", "hd95_mm", "surface_dice",
               "pred_volume_ml", "ref_volume_ml", "volume_diff_ml", "volume_diff_pct", "centroid_distance_mm")


def score_row(labels_path: str | Path, result: Mapping[str, Any], reference: str | Path, *,
              reference_names: str | None = None, labels: str | None = None,
              tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> dict[str, Any]:
    """``{"structures": [...], "not_in_reference": [...]}`` for one row, or ``{"error": line}``."""
    from .core import evaluate_arrays, load_labels
    from .labels import LabelPair, parse_label_map, read_table, resolve_name

    try:
        ps, parr = load_labels(Path(labels_path), "labels")
        rs, rarr = load_labels(Path(reference), "reference")
        rtab = read_table(reference_names) if reference_names else None
        missing: list[str] = []
        if labels:
            ptab = {int(d["value"]): d["name"] for d in result.get("labels", []) if d.get("value")}
            pairs = parse_label_map(labels, ptab, rtab)
        else:
            pairs = []
            for f in result.get("findings", []):
                rv = resolve_name(f["name"], rtab)
                if not rv:
                    missing.append(f["name"])
                    continue
                pairs.append(LabelPair(f["name"], (int(f["label_value"]),) if f.get("label_value") else (), rv))
        if not pairs:
            return {"structures": [], "not_in_reference": missing,
                    "error": f"no finding of this row is a label of the reference {reference}"}
        ev = evaluate_arrays(parr, ps.affine_lps, rarr, rs.affine_lps, pairs, tolerance_mm=tolerance_mm,
                             names=(str(labels_path), str(reference)))
    except MedgroundError as exc:
        return {"structures": [], "error": " ".join(str(exc).split())}
    return {"structures": [s.to_dict() for s in ev.structures],
            "not_in_reference": missing, "tolerance_mm": ev.tolerance_mm}


def _stats(values: list[float]) -> dict[str, float | int | None]:
    v = np.asarray([x for x in values if x is not None], float)
    if not v.size:
        return {"n": 0, "mean": None, "median": None, "q1": None, "q3": None, "iqr": None}
    q1, med, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    return {"n": int(v.size), "mean": float(v.mean()), "median": med, "q1": q1, "q3": q3, "iqr": q3 - q1}


def summarise(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per structure and metric: n, mean, median, q1, q3, iqr over the scored rows."""
    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        for s in (r.get("evaluation") or {}).get("structures", []):
            by.setdefault(s["structure"], []).append(s)
    return {name: {"rows": len(items), **{m: _stats([s.get(m) for s in items]) for m in SUMMARY_METRICS}}
            for name, items in sorted(by.items())}


def write_cohort_evaluation(out: Path, outcomes: list[Mapping[str, Any]]) -> dict[str, Path]:
    """``evaluation.csv`` (row x structure), ``evaluation_summary.csv/.json`` and
    ``evaluation_dice.png`` in ``out``; {} when no row has a reference."""
    scored = [o for o in outcomes if o.get("reference")]
    if not scored:
        return {}
    out = Path(out)
    rows_csv = out / "evaluation.csv"
    with rows_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS + ("error",), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for o in scored:
            ev = o.get("evaluation") or {}
            base = {k: o.get(k) for k in ("row", "row_id", "study", "reference")}
            if not ev.get("structures"):
                w.writerow({**base, "error": ev.get("error") or o.get("reason") or "not scored"})
            for s in ev.get("structures", []):
                w.writerow({**base, **{k: s.get(k) for k in ROW_COLUMNS if k in s}})
    summary = summarise(scored)
    js = out / "evaluation_summary.json"
    js.write_text(json.dumps({"rows_with_reference": len(scored), "structures": summary}, indent=1) + "\n",
                  encoding="utf-8")
    sc = out / "evaluation_summary.csv"
    with sc.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["structure", "metric", "n", "mean", "median", "q1", "q3", "iqr"])
        for name, d in summary.items():
            for m in SUMMARY_METRICS:
                st = d[m]
                w.writerow([name, m, st["n"]] + ["" if st[k] is None else f"{st[k]:.6g}"
                                                 for k in ("mean", "median", "q1", "q3", "iqr")])
    files = {"evaluation_csv": rows_csv, "evaluation_summary_json": js, "evaluation_summary_csv": sc}
    plot = plot_dice(scored, out / "evaluation_dice.png")
    if plot is not None:
        files["evaluation_plot"] = plot
    return files


def plot_dice(outcomes: list[Mapping[str, Any]], path: Path) -> Path | None:
    """Box plot of Dice per structure (points on top), matplotlib Agg; None without scores."""
    by: dict[str, list[float]] = {}
    for o in outcomes:
        for s in (o.get("evaluation") or {}).get("structures", []):
            by.setdefault(s["structure"], []).append(float(s["dice"]))
    if not by:
        return None
    from matplotlib.figure import Figure  # no pyplot: renders with Agg, touches no GUI backend

    names = sorted(by)
    fig = Figure(figsize=(max(4.0, 1.1 * len(names) + 2), 4.0), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    ax.boxplot([by[n] for n in names], showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), labels=names, rotation=30 if len(names) > 4 else 0, ha="right"
                  if len(names) > 4 else "center")
    for i, n in enumerate(names, start=1):
        x = np.full(len(by[n]), float(i)) + np.linspace(-0.08, 0.08, len(by[n]))
        ax.plot(x, by[n], "o", ms=4, alpha=0.7, color="tab:blue")
        ax.annotate(f"n={len(by[n])}", (i, 0.02), ha="center", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Dice to reference")
    scored = sum(bool((o.get("evaluation") or {}).get("structures")) for o in outcomes)
    ax.set_title(f"Dice per structure ({scored} of {len(outcomes)} rows with a reference scored)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(str(path))
    return Path(path)


__all__ = ["plot_dice", "score_row", "summarise", "write_cohort_evaluation"]
