"""`medground ground STUDY "TEXT" --out DIR`: result.json + labels.nii.gz (+ exports)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import QueryError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="a file (NIfTI, NRRD, MHA, DICOM, PNG/JPEG) or a folder of DICOM")
    p.add_argument("text", help='the finding, e.g. "left hippocampus", "nodule in the right upper lobe"')
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--box", help="box prompt: A0,A1,A2,B0,B1,B2 voxel indices in array order, inclusive "
                                 "(2D: four numbers)")
    p.add_argument("--point", action="append", default=[], metavar="I,J,K",
                   help="positive click prompt, voxel indices in array order (2D: two numbers); repeatable")
    p.add_argument("--neg-point", action="append", default=[], metavar="I,J,K",
                   help="negative click prompt (carves the mask), same order; repeatable")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--export", default="", help="extra formats, comma-separated: nifti,seg,sr,csv,json")
    p.add_argument("--series", help="SeriesInstanceUID to load from a DICOM folder with several series")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    p.add_argument("--json", action="store_true", help="print result.json to stdout")


def parse_box(text: str | None):
    """'A0,A1,A2,B0,B1,B2' -> Box (validated against the study later)."""
    from ..result import Box

    if not text:
        return None
    try:
        nums = [int(round(float(v))) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise QueryError(f"--box {text!r}: expected comma-separated voxel indices") from None
    if len(nums) not in (4, 6):
        raise QueryError(f"--box {text!r}: expected 4 (2D) or 6 (3D) numbers, got {len(nums)}")
    half = len(nums) // 2
    return Box(tuple(nums[:half]), tuple(nums[half:]))


def parse_point(text: str, flag: str = "--point") -> tuple[int, ...]:
    """'I,J,K' (or 'I,J' in 2D) -> integer voxel indices (checked against the study later)."""
    try:
        nums = tuple(int(round(float(v))) for v in text.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise QueryError(f"{flag} {text!r}: expected comma-separated voxel indices") from None
    if len(nums) not in (2, 3):
        raise QueryError(f"{flag} {text!r}: expected 2 (2D) or 3 (3D) numbers, got {len(nums)}")
    return nums


def run(args: argparse.Namespace) -> int:
    from ..reasoning.api import ground
    from ..study import load_study

    from ..export.files import check_writable, output_lock

    box = parse_box(args.box)
    points = [parse_point(t) for t in args.point]
    neg_points = [parse_point(t, "--neg-point") for t in args.neg_point]
    check_writable(args.out)  # a read-only or misnamed --out fails now, not after the work
    with output_lock(args.out, what="ground"):  # a second run on the same --out says so and stops
        study = load_study(args.study, series_uid=args.series)
        progress = _stderr_progress if args.verbose else None
        result = ground(study, args.text, out_dir=args.out, box=box, device=args.device, progress=progress,
                        export=[f for f in args.export.split(",") if f], overwrite=args.overwrite,
                        points=points, neg_points=neg_points)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
        return 0
    for w in study.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(result.conclusion.text or "(no conclusion)")
    for f in result.findings:
        ms = ", ".join(f"{m.name} {m.value:.4g} {m.unit}" for m in f.measurements
                       if m.name in ("volume", "area", "long_axis", "short_axis", "ratio", "mean", "evans_index"))
        conf = f"{f.confidence:.2f}" if f.confidence is not None else "-"
        print(f"  [{f.status.value}] {f.name} (label {f.label_value}, confidence {conf}) {ms}")
    devices = ", ".join(f"{m.name} on {m.device} {m.seconds:.1f} s" for m in result.models) or "no model"
    print(f"  models: {devices}; total {result.timings_s.get('total', 0):.1f} s; written to {args.out}")
    return 0


def _stderr_progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)
