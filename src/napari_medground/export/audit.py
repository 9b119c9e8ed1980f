"""``audit.json``: what was done, with what, to which input, by whom, so a result can be
reproduced or reviewed.

It holds the software (package and library versions, Python, platform), the input
(study identity, geometry, fingerprint, every source file with its SHA-256), the query,
every model (name, version, weights SHA-256, device, precision, seconds), every step
(inputs, status, evidence, timing, device), every edit (before/after, who, when), the
timings, the export itself (files with their SHA-256) and any notes.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from pathlib import Path
from typing import Any

from .files import sha256_file

AUDIT_VERSION = 1
_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-image",
    "nibabel",
    "SimpleITK",
    "pydicom",
    "highdicom",
    "torch",
    "sentence-transformers",
    "napari",
)


def software() -> dict[str, Any]:
    """Package, Python and library versions (no library is imported to find its version)."""
    from .. import __version__

    libs = {}
    for name in _LIBRARIES:
        try:
            libs[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libs[name] = None
    return {
        "napari_medground": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": libs,
    }


def input_record(result: Any, *, hash_sources: bool = True) -> dict[str, Any]:
    """The study's identity: info, fingerprint, source files (path, size, SHA-256)."""
    study = result.study
    rec: dict[str, Any] = {"study": result.study_info}
    if study is None:
        return rec
    rec["fingerprint"] = study.fingerprint
    rec["source_format"] = study.source_format
    rec["frame_of_reference_uid"] = study.frame_of_reference_uid
    files = []
    for p in dict.fromkeys(Path(p) for p in study.source_paths):
        entry: dict[str, Any] = {"path": str(p.resolve()) if p.exists() else str(p)}
        if p.is_file():
            entry["bytes"] = p.stat().st_size
            if hash_sources:
                entry["sha256"] = sha256_file(p)
        else:
            entry["missing"] = True
        files.append(entry)
    rec["source_files"] = files
    return rec


def build_audit(
    result: Any,
    outputs: dict[str, Path],
    *,
    notes: list[str] | None = None,
    export_seconds: float | None = None,
    hash_sources: bool = True,
) -> dict[str, Any]:
    """The ``audit.json`` object for a Result and the files its export wrote."""
    data = result.to_dict()
    edits = [e.to_dict() | {"unix_time": float(e.time)} for e in result.edit_log]
    return {
        "audit_version": AUDIT_VERSION,
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "software": software(),
        "result_version": result.version,
        "input": input_record(result, hash_sources=hash_sources),
        "query": data["query"],
        "models": [m.to_dict() for m in result.models],
        "steps": data["steps"],
        "findings": data["findings"],
        "conclusion": data["conclusion"],
        "edits": edits,
        "agreement": data["agreement"],  # each edited mask versus the AI's (see Result.to_dict)
        "editors": sorted({e.user for e in result.edit_log}),
        "timings_s": data["timings_s"],
        "export": {
            "seconds": None if export_seconds is None else round(float(export_seconds), 4),
            "files": {
                kind: {"path": str(p), "sha256": sha256_file(p)}
                for kind, p in outputs.items()
                if Path(p).is_file()
            },
            "notes": list(notes or []),
        },
    }
