"""``medground models``: each model, its licence, where its weights are, whether present."""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--no-verify", action="store_true",
                        help="only look for the weights files, do not check their sha256")


def run(args: argparse.Namespace) -> int:
    from ..models.registry import list_models, weights_status
    from ..models.weights import candidate_paths, models_cache_dir

    rows = []
    for m in list_models():
        if getattr(args, "no_verify", False) and m.weights is not None and m.weights.file:
            found = next((p for p in candidate_paths(m) if p.is_file()), None)
            status = {"present": found is not None, "location": str(found) if found else None,
                      "detail": "found (not verified)" if found else "missing"}
        else:
            status = weights_status(m)
        rows.append({
            "name": m.name, "title": m.title, "version": m.version, "task": m.task, "backend": m.backend,
            "modalities": list(m.modalities), "licence": m.licence, "devices": list(m.devices),
            "n_labels": len(m.labels), "optional": m.optional,
            "weights": None if m.weights is None else (m.weights.file or m.weights.external),
            "sha256": m.weights.sha256 if m.weights else None,
            **status,
        })
    if getattr(args, "json", False):
        json.dump({"models": rows, "cache_dir": str(models_cache_dir())}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "present" if r["present"] else "MISSING"
        where = (r["location"] or r["detail"]) if r["present"] else r["detail"]
        licence = r["licence"].split(" ")[0]
        print(f"{r['name']:<{width}}  {state:<7}  {licence:<10}  {where}")
    print(f"weights folder for downloaded/user models: {models_cache_dir()} "
          "(set MEDGROUND_MODELS to move it)")
    return 0
