"""`medground evaluate PRED REF [--labels MAP] [--out DIR]`: per-structure agreement of a
label file with a reference label file, in world space (PRED resampled onto REF's grid
by nearest neighbour). Prints a table; with --out writes evaluation.csv and
evaluation.json. Exit 2 with one line on unreadable or unrelated inputs.
"""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", metavar="PRED", help="label file to score (NIfTI, NRRD, MHA, DICOM...)")
    p.add_argument("ref", metavar="REF", help="reference label file (any grid or orientation)")
    p.add_argument("--labels", metavar="MAP", help="pairs to score: 'liver=1:5,spleen=2:1', '1:5', names "
                                                   "('liver,right lung'), or a JSON file {\"liver\": [1, 5]}")
    p.add_argument("--pred-names", metavar="TABLE", help="PRED's label names: JSON {value: name} or 'totalseg' "
                                                         "(default: result.json beside PRED)")
    p.add_argument("--ref-names", metavar="TABLE", help="REF's label names: JSON {value: name}, a "
                                                        "label_names.json, or 'totalseg'")
    p.add_argument("--tolerance", type=float, default=2.0, metavar="MM",
                   help="surface Dice tolerance in mm (default 2)")
    p.add_argument("--out", metavar="DIR", help="write evaluation.csv and evaluation.json here")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate_files
    from ..evaluate.report import format_table, write_outputs

    ev = evaluate_files(args.pred, args.ref, labels=args.labels, pred_names=args.pred_names,
                        ref_names=args.ref_names, tolerance_mm=args.tolerance)
    if args.json:
        json.dump(ev.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(format_table(ev))
    if args.out:
        files = write_outputs(ev, args.out)
        if not args.json:
            print(f"wrote {files['csv']} and {files['json']}")
    return 0
