"""The cohort manifest of `medground batch`: a CSV of ``study,finding[,box]`` rows.

Format (UTF-8, comma-separated, one header line; column names are case-insensitive)::

    study,finding,box
    ct/patient01.nii.gz,right lung,
    cxr/00000001_000.png,cardiomegaly,
    ct/patient02/,liver lesion,"10,40,40,20,90,90"

- ``study``: a file (NIfTI, NRRD, MHA, DICOM, PNG/JPEG) or a DICOM folder; a relative
  path is taken from the manifest's own folder (so a manifest travels with its data).
- ``finding``: the typed finding, as for ``medground ground`` (``text`` is accepted too).
- ``box`` (optional): ``A0,A1,A2,B0,B1,B2`` voxel indices in array order, inclusive
  (2D: four numbers); quote it. An unquoted box spilling into extra columns is joined
  (only when ``box`` is the last column).
- ``reference`` (optional): a label file to score the row's labels against (relative
  to the manifest's folder, like ``study``); ``reference_names`` (optional): its label
  names, a JSON table or ``totalseg``; ``labels`` (optional): an explicit label map as
  for ``medground evaluate --labels``. See :mod:`napari_medground.evaluate.cohort`.
- Blank lines and lines whose first cell starts with ``#`` are ignored.

Each row gets a stable id: its 1-based row number (blank and ``#`` lines not counted)
and a slug of the study and the finding, e.g. ``0003-patient01-right-lung``: the
row's output folder is ``OUT/<row id>/``.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import BatchError

_STUDY_COLUMNS = ("study", "path", "image")
_FINDING_COLUMNS = ("finding", "text", "query")
_REFERENCE_COLUMNS = ("reference", "reference_names", "labels")
_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".png", ".jpg", ".jpeg", ".gz")




@dataclass(frozen=True)
class ManifestRow:
    """One row of the manifest; ``study`` is an absolute path (string)."""

    index: int  # 1-based row number
    study: str
    finding: str
    box: str | None = None  # "A0,A1,A2,B0,B1,B2" as written, or None
    row_id: str = ""
    reference: str | None = None  # absolute path of the reference labels, or None
    reference_names: str | None = None  # "totalseg" or a JSON table path
    labels: str | None = None  # an explicit label map (evaluate --labels)

    def to_dict(self) -> dict[str, Any]:
        d = {"row": self.index, "row_id": self.row_id, "study": self.study,
             "finding": self.finding, "box": self.box}
        if self.reference:
            d.update(reference=self.reference, reference_names=self.reference_names, labels=self.labels)
        return d


def slug(text: str, limit: int = 32) -> str:
    """Lower-case ASCII words joined by '-', at most ``limit`` characters ('x' if empty)."""
    s = "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:limit].strip("-")
    return s or "x"


def study_slug(study: str) -> str:
    """The study's file or folder name without its image suffix, as a slug."""
    name = Path(study.rstrip("/\\")).name
    for suf in _SUFFIXES:
        if name.lower().endswith(suf) and len(name) > len(suf):
            name = name[: -len(suf)]
            break
    return slug(name)


def make_row_id(index: int, study: str, finding: str, width: int = 4) -> str:
    """``<row number, zero-padded>-<study slug>-<finding slug>``."""
    return f"{index:0{width}d}-{study_slug(study)}-{slug(finding, 24)}"


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read a manifest CSV (see the module docstring); relative studies resolve against its folder.

    Raises
    ------
    BatchError
        The file is missing or unreadable, has no ``study``/``finding`` header, or no rows.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"manifest {path}: cannot be read ({exc.__class__.__name__}: {exc}); "
                         "give a CSV file with a study,finding[,box] header") from None
    lines = [ln for ln in csv.reader(text.splitlines()) if any(c.strip() for c in ln)]
    lines = [ln for ln in lines if not ln[0].lstrip().startswith("#")]
    if not lines:
        raise BatchError(f"manifest {path}: empty; expected a study,finding[,box] header "
                         "and one row per study")
    header = [c.strip().lower() for c in lines[0]]
    s_col = _column(header, _STUDY_COLUMNS)
    f_col = _column(header, _FINDING_COLUMNS)
    if s_col is None or f_col is None:
        raise BatchError(f"manifest {path}: header {lines[0]} lacks a 'study' and a 'finding' column; "
                         "the first line must be study,finding[,box]")
    b_col = header.index("box") if "box" in header else None
    extra = {k: header.index(k) for k in _REFERENCE_COLUMNS if k in header}
    records = []
    for cells in lines[1:]:
        cells = [c.strip() for c in cells]
        if b_col is not None and b_col == len(header) - 1 and len(cells) > len(header):
            cells = cells[:b_col] + [",".join(c for c in cells[b_col:] if c)]
        get = (lambda i: cells[i] if i is not None and i < len(cells) else "")  # noqa: E731
        records.append({"study": get(s_col), "finding": get(f_col), "box": get(b_col) or None,
                        **{k: get(i) or None for k, i in extra.items()}})
    if not records:
        raise BatchError(f"manifest {path}: a header but no rows; "
                         "add one line per study: study,finding[,box]")
    return rows_from(records, base=path.resolve().parent)


def rows_from(records: Iterable[Mapping[str, Any] | Sequence[Any] | ManifestRow], *,
              base: str | Path | None = None) -> list[ManifestRow]:
    """Rows from dicts (``study``, ``finding``, optional ``box``), tuples or ManifestRows.

    Relative study paths resolve against ``base`` (default: the current folder); ids
    are (re)made from the position in ``records``, starting at 1.
    """
    base = Path(base) if base is not None else Path.cwd()
    items = list(records)
    width = max(4, len(str(len(items))))
    rows = []
    for i, rec in enumerate(items, start=1):
        ref: dict[str, Any] = {}
        if isinstance(rec, ManifestRow):
            study, finding, box = rec.study, rec.finding, rec.box
            ref = {k: getattr(rec, k) for k in _REFERENCE_COLUMNS}
        elif isinstance(rec, Mapping):
            study, finding, box = rec.get("study", ""), rec.get("finding", ""), rec.get("box")
            ref = {k: rec.get(k) for k in _REFERENCE_COLUMNS}
        else:
            seq = list(rec) + [None, None, None]
            study, finding, box = seq[0] or "", seq[1] or "", seq[2]
        study, finding = str(study).strip(), str(finding).strip()
        box = _box_text(box)
        if study:
            p = Path(study).expanduser()
            study = str(p if p.is_absolute() else (base / p).resolve())
        rows.append(ManifestRow(i, study, finding, box, make_row_id(i, study or "no-study", finding, width),
                                **_reference_fields(ref, base)))
    return rows


def _reference_fields(ref: Mapping[str, Any], base: Path) -> dict[str, str | None]:
    """reference (absolute), reference_names and labels of a record; names that look like
    files resolve against ``base`` too."""
    out: dict[str, str | None] = {}
    for k in _REFERENCE_COLUMNS:
        v = str(ref.get(k) or "").strip() or None
        if v and (k == "reference" or (k == "reference_names" and v.lower().endswith(".json"))):
            p = Path(v).expanduser()
            v = str(p if p.is_absolute() else (base / p).resolve())
        out[k] = v
    return out


def _box_text(box: Any) -> str | None:
    if box is None:
        return None
    if hasattr(box, "min_voxel"):  # a result.Box
        box = list(box.min_voxel) + list(box.max_voxel)
    if isinstance(box, (list, tuple)):
        box = ",".join(str(v) for v in box)
    box = str(box).strip()
    return box or None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((header.index(n) for n in names if n in header), None)
