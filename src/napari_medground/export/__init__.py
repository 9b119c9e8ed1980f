"""Export a Result (NIfTI + sidecar, DICOM SEG, DICOM SR, CSV, JSON + audit), import
existing labels, and autosave a session so that no edit is lost.

Main entry point::

    from napari_medground.export import export_result
    files = export_result(result, "out/", formats=("nifti", "seg", "sr", "csv", "json"))

Writes are atomic and never overwrite silently (see :func:`export_result`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

from ..errors import ExportError

log = logging.getLogger(__name__)

FORMATS = ("nifti", "seg", "sr", "csv", "json")
FILE_NAMES = {
    "nifti": "labels.nii.gz",
    "nifti_sidecar": "labels.json",
    "seg": "seg.dcm",
    "sr": "sr.dcm",
    "csv": "measurements.csv",
    "json": "result.json",
    "audit": "audit.json",
}

_FORMAT_NAMES = {"nifti": "NIfTI", "array": "an in-memory array", "jpeg": "JPEG", "png": "PNG"}

__all__ = [
    "export_result",
    "FORMATS",
    "FILE_NAMES",
    "import_seg",
    "import_nifti_labels",
    "ImportedLabel",
    "labels_to_findings",
    "Session",
    "SessionInfo",
]


def export_result(
    result: Any,
    out_dir: str | Path,
    formats: Iterable[str] | str = ("nifti", "csv", "json"),
    *,
    overwrite: bool = False,
    strict: bool = True,
    hash_sources: bool = True,
) -> dict[str, Path]:
    """Write the requested exports of ``result`` into ``out_dir``; returns kind -> path.

    Kinds (keys of the returned dict): ``nifti`` (labels.nii.gz on the study grid),
    ``nifti_sidecar`` (labels.json), ``seg`` (seg.dcm), ``sr`` (sr.dcm), ``csv``
    (measurements.csv), ``json`` (result.json) and ``audit`` (audit.json, written with
    "json"). "sr" also writes the SEG it references when a finding has a mask.

    Existing files are never replaced silently: without ``overwrite`` an
    :class:`ExportError` names them and nothing is written; with it, each is kept as
    ``<name>.bak``. A DICOM SEG/SR request for a study that is not DICOM writes every
    other requested format first and then raises :class:`ExportError` saying why and
    what was written (``strict=False`` logs a warning and returns instead).
    """
    t0 = time.perf_counter()
    kinds = _normalise_formats(formats)
    out = Path(out_dir)
    study = result.study
    dicom_ok = study is not None and study.source_format == "dicom" and bool(study.source_paths)
    wanted_dicom = [k for k in ("seg", "sr") if k in kinds]
    if "sr" in kinds and dicom_ok and "seg" not in kinds:
        kinds.append("seg")  # the SR references its SEG segments
    planned = _planned(kinds, dicom_ok, out)
    from .files import protect_outputs, rollback_on_failure

    backups = protect_outputs(planned.values(), overwrite=overwrite)
    with rollback_on_failure(planned.values(), backups):  # a full disk leaves the previous files
        return _write_planned(result, out, kinds, planned, backups, wanted_dicom, dicom_ok,
                              strict=strict, hash_sources=hash_sources, t0=t0)


def _write_planned(result: Any, out: Path, kinds: list[str], planned: dict[str, Path], backups: list[Path],
                   wanted_dicom: list[str], dicom_ok: bool, *, strict: bool, hash_sources: bool,
                   t0: float) -> dict[str, Path]:
    notes = [f"replaced {b.name[:-4]} (previous kept as {b.name})" for b in backups]
    written: dict[str, Path] = {}
    if "nifti" in kinds:
        from .nifti import write_labels, write_sidecar

        written["nifti"] = write_labels(result, planned["nifti"])
        written["nifti_sidecar"] = write_sidecar(result, planned["nifti_sidecar"], planned["nifti"].name)
    if "csv" in kinds:
        from .table import write_measurements

        written["csv"] = write_measurements(result, planned["csv"])
    problem = None
    if dicom_ok and wanted_dicom:
        try:
            written.update(_write_dicom(result, kinds, planned, notes))
        except ExportError as exc:  # keep the other formats: the work must not be lost
            problem = str(exc)
    elif wanted_dicom:
        problem = _not_dicom_message(result, wanted_dicom)
    if problem:
        problem = f"{problem}: {_exported(written, kinds)}"
        notes.append(problem)
    if "json" in kinds:
        from .files import atomic_write_json

        written["json"] = atomic_write_json(planned["json"], result.to_dict())
        _write_audit(result, planned["audit"], written, notes, t0, hash_sources)
        written["audit"] = planned["audit"]
    if problem:
        if strict:
            raise ExportError(problem)
        log.warning("%s", problem)
    return written


def _normalise_formats(formats: Iterable[str] | str) -> list[str]:
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    kinds = []
    for f in items:
        k = str(f).strip().lower()
        k = {"nii": "nifti", "nii.gz": "nifti", "dicom-seg": "seg", "dicom-sr": "sr", "table": "csv"}.get(
            k, k
        )
        if not k:
            continue
        if k not in FORMATS:
            raise ExportError(f"export format {f!r} is unknown: choose from {', '.join(FORMATS)}")
        if k not in kinds:
            kinds.append(k)
    return kinds


def _planned(kinds: list[str], dicom_ok: bool, out: Path) -> dict[str, Path]:
    names = {}
    for k in kinds:
        if k in ("seg", "sr") and not dicom_ok:
            continue
        names[k] = out / FILE_NAMES[k]
        if k == "nifti":
            names["nifti_sidecar"] = out / FILE_NAMES["nifti_sidecar"]
        if k == "json":
            names["audit"] = out / FILE_NAMES["audit"]
    return names


def _write_dicom(
    result: Any, kinds: list[str], planned: dict[str, Path], notes: list[str]
) -> dict[str, Path]:
    from .dicom_source import read_sources
    from .files import atomic_write
    from .seg import build_seg
    from .sr import build_sr

    sources = read_sources(result.study)
    if sources.repaired:
        notes.append(
            f"source DICOM had empty {', '.join(sources.repaired)}: filled in memory for SEG/SR references"
        )
    seg = build_seg(result, sources=sources)
    written: dict[str, Path] = {}
    if seg is None:
        notes.append("no finding has a non-empty mask: no DICOM SEG written")
    else:
        notes += list(seg.notes)
        written["seg"] = atomic_write(planned["seg"], lambda p: seg.dataset.save_as(str(p)))
    if "sr" in kinds:
        sr = build_sr(result, seg, sources=sources)
        written["sr"] = atomic_write(planned["sr"], lambda p: sr.save_as(str(p)))
    return written


def _not_dicom_message(result: Any, wanted: list[str]) -> str:
    study = result.study
    what = " and ".join({"seg": "DICOM SEG", "sr": "DICOM SR"}[k] for k in wanted)
    fmt = study.source_format if study is not None and study.source_format else ""
    fmt = _FORMAT_NAMES.get(fmt, fmt.upper() or "not DICOM")
    name = study.name if study is not None else "the study"
    verb = "needs" if len(wanted) == 1 else "need"
    return f"{what} {verb} a DICOM source series; {name} is {fmt}"


def _exported(written: dict[str, Path], kinds: list[str]) -> str:
    done = [p.name for k, p in written.items() if k not in ("seg", "sr")]
    done += [FILE_NAMES[k] for k in ("json", "audit") if "json" in kinds]
    return f"exported {', '.join(done)} instead" if done else "nothing else was requested"


def _write_audit(
    result: Any, path: Path, written: dict[str, Path], notes: list[str], t0: float, hash_sources: bool
) -> None:
    from .audit import build_audit
    from .files import atomic_write_json

    data = build_audit(
        result, written, notes=notes, export_seconds=time.perf_counter() - t0, hash_sources=hash_sources
    )
    atomic_write_json(path, data)


def __getattr__(name: str) -> Any:
    # Lazy: importers and the session pull in highdicom/platformdirs only when used.
    if name in ("import_seg", "import_nifti_labels", "ImportedLabel", "labels_to_findings"):
        from . import importers

        return getattr(importers, name)
    if name in ("Session", "SessionInfo"):
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
