"""`medground info STUDY [--json] [--series UID]`: geometry and identity of a study.

JSON keys (DESIGN.md, stable): shape, spacing_mm, affine_lps, orientation, modality,
series_uid, warnings; plus study_uid, dtype, source_format, n_source_files,
other_series, description, window, pixel_spacing_source, value_range, format_keeps (what
the file format keeps, from resources/formats/keeps.json). Patient age
and sex are never printed. Errors are raised (cli.py turns them into one line, exit 2).
"""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY", help="a DICOM folder or file, NIfTI, FreeSurfer MGZ/MGH, NRRD, MHA/MHD, PNG or JPEG")
    parser.add_argument("--json", action="store_true", help="print the info object as JSON")
    parser.add_argument("--series", metavar="UID", default=None,
                        help="SeriesInstanceUID to load from a DICOM folder (default: the largest image series)")


def info_object(study) -> dict[str, Any]:
    """Study.info() plus a few display keys (no patient attributes)."""
    import numpy as np

    out = study.info()
    meta = study.metadata
    window = meta.get("window")
    arr = study.array
    out.update(
        description=study.description,
        window=list(window) if window else None,
        pixel_spacing_source=meta.get("pixel_spacing_source"),
        value_range=[float(np.min(arr)), float(np.max(arr))] if arr.size else None,
        origin_lps=list(study.origin_lps),
        format_keeps=format_keeps(study.source_format),
    )
    if "frame_order" in meta:
        out["frame_order"] = list(meta["frame_order"])
    return out


def format_keeps(source_format: str) -> str | None:
    """What ``source_format`` keeps (geometry, modality, identifiers), or None when unknown."""
    from ..resources import resource_path

    try:
        table = json.loads(resource_path("formats", "keeps.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, FileNotFoundError):
        return None
    return table.get(source_format)


def format_summary(info: dict[str, Any], name: str) -> str:
    """The human-readable form of :func:`info_object`."""
    shape = info["shape"]
    axes = "(z, y, x)" if len(shape) == 3 else "(y, x)"
    lines = [
        f"study        {name} ({info['source_format']}, {info['n_source_files']} file(s))",
        f"modality     {info['modality']}" + (f"  '{info['description']}'" if info.get("description") else ""),
        f"shape        {' x '.join(map(str, shape))} {axes}  {info['dtype']}",
        f"spacing      {' x '.join(f'{s:.4g}' for s in info['spacing_mm'])} mm",
        f"orientation  {info['orientation']}",
        f"origin       ({', '.join(f'{v:.2f}' for v in info['origin_lps'])}) mm LPS",
        f"values       {info['value_range'][0]:.6g} .. {info['value_range'][1]:.6g}",
    ]
    if info.get("format_keeps"):
        lines.append(f"keeps        {info['format_keeps']}")
    if info.get("window"):
        lines.append(f"window       center {info['window'][0]:g}, width {info['window'][1]:g}")
    if info.get("series_uid"):
        lines.append(f"series       {info['series_uid']}")
    for s in info.get("other_series", []):
        lines.append(f"other series {s['kind']} {s['modality']} '{s['description']}' ({s['n_files']} files) {s['series_uid']}")
    lines.append("affine_lps   " + "\n             ".join(
        "[" + ", ".join(f"{v:10.4f}" for v in row) + "]" for row in info["affine_lps"]))
    for w in info["warnings"]:
        lines.append(f"warning      {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..study import load_study

    study = load_study(args.study, series_uid=args.series)
    info = info_object(study)
    print(json.dumps(info, indent=2) if args.json else format_summary(info, study.name))
    return 0
