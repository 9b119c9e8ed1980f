"""The DICOM source series of a study, frame by frame, for SEG and SR export.

Masks live on the study grid (array order, LPS affine). A DICOM SEG must describe the
source frames instead, so each source frame is mapped back to the study grid through
its own geometry (Image Position/Orientation, Pixel Spacing; per-frame functional
groups for enhanced multi-frame images) and the mask is sampled at its pixel centres.
This does not assume that the loader kept the file order, the row direction or the
frame order. Images without geometry (DX/CR/SC) are matched pixel for pixel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameGeometry:
    """Where one source frame lies: pixel (r, c) -> LPS = position + c*col_sp*row_dir + r*row_sp*col_dir."""

    dataset_index: int
    frame_number: int | None  # 1-based for multi-frame images, None for single-frame
    rows: int
    cols: int
    position: np.ndarray | None  # LPS mm of the centre of pixel (0, 0)
    row_dir: np.ndarray | None  # unit vector along a row (increasing column index)
    col_dir: np.ndarray | None  # unit vector along a column (increasing row index)
    spacing: tuple[float, float] | None  # (between rows, between columns) mm


@dataclass
class SourceSeries:
    """The source datasets (metadata only) and their frames, in file/frame order."""

    datasets: list[Any]
    frames: list[FrameGeometry]
    repaired: list[str]

    @property
    def has_geometry(self) -> bool:
        return all(f.position is not None for f in self.frames)

    @property
    def frame_of_reference_uid(self) -> str | None:
        return getattr(self.datasets[0], "FrameOfReferenceUID", None) or None


def require_dicom(study: Any, what: str) -> None:
    """Raise :class:`ExportError` unless ``study`` came from DICOM files that still exist."""
    fmt = getattr(study, "source_format", "") or "unknown"
    name = getattr(study, "name", "study")
    if study is None:
        raise ExportError(f"{what} needs the study (Result.study is None): load the study and ground again")
    if fmt != "dicom" or not study.source_paths:
        kind = fmt.upper() if fmt != "unknown" else "not DICOM"
        raise ExportError(f"{what} needs a DICOM source series; {name} is {kind}")
    missing = [p for p in study.source_paths if not Path(p).exists()]
    if missing:
        raise ExportError(
            f"{what} needs the DICOM source files; {missing[0]} is gone ({len(missing)} missing)"
        )


def read_sources(study: Any) -> SourceSeries:
    """Read the source datasets of a DICOM study (no pixel data) and their frame geometry.

    Anonymised files sometimes carry empty UIDs (SOP Class/Instance in the file meta
    only, no Study/Series UID); those are filled in memory, from the file meta or the
    study, else a UID derived deterministically from the study, and listed in
    ``repaired`` so that the audit trail can say so.
    """
    import pydicom

    require_dicom(study, "DICOM export")
    paths = list(dict.fromkeys(Path(p) for p in study.source_paths))
    datasets, frames, repaired = [], [], []
    for i, path in enumerate(paths):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types
            raise ExportError(f"{path}: cannot read the DICOM source ({exc})") from None
        repaired += _repair_uids(ds, study, i)
        datasets.append(ds)
        frames += _frames_of(ds, len(datasets) - 1)
    if repaired:
        log.warning("%s: filled empty UIDs in memory: %s", study.name, ", ".join(sorted(set(repaired))))
    return SourceSeries(datasets, frames, sorted(set(repaired)))


def _repair_uids(ds: Any, study: Any, index: int) -> list[str]:
    from pydicom.uid import generate_uid

    fixed = []
    meta = getattr(ds, "file_meta", None)
    if not ds.get("SOPClassUID") and meta is not None and meta.get("MediaStorageSOPClassUID"):
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        fixed.append("SOPClassUID")
    if not ds.get("SOPInstanceUID"):
        uids = getattr(study, "sop_instance_uids", ()) or ()
        from_meta = meta.get("MediaStorageSOPInstanceUID") if meta is not None else None
        ds.SOPInstanceUID = from_meta or (
            uids[index]
            if index < len(uids)
            else generate_uid(entropy_srcs=[study.fingerprint, "sop", str(index)])
        )
        fixed.append("SOPInstanceUID")
    for key, attr in (("SeriesInstanceUID", "series_uid"), ("StudyInstanceUID", "study_uid")):
        if not ds.get(key):
            ds[key] = _uid_element(
                key, getattr(study, attr, None) or generate_uid(entropy_srcs=[study.fingerprint, key])
            )
            fixed.append(key)
    return fixed


def _uid_element(keyword: str, value: str) -> Any:
    from pydicom.dataelem import DataElement
    from pydicom.datadict import tag_for_keyword

    return DataElement(tag_for_keyword(keyword), "UI", value)


def _frames_of(ds: Any, index: int) -> list[FrameGeometry]:
    rows, cols = int(ds.Rows), int(ds.Columns)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" not in ds:
        pos, rdir, cdir, sp = _plane(ds, ds, ds)
        return [
            FrameGeometry(index, None if n == 1 else k + 1, rows, cols, pos, rdir, cdir, sp) for k in range(n)
        ]
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    out = []
    for k, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        pos_src = _first(item, "PlanePositionSequence") or _first(shared, "PlanePositionSequence")
        ori_src = _first(item, "PlaneOrientationSequence") or _first(shared, "PlaneOrientationSequence")
        mea_src = _first(item, "PixelMeasuresSequence") or _first(shared, "PixelMeasuresSequence")
        pos, rdir, cdir, sp = _plane(pos_src, ori_src, mea_src)
        out.append(FrameGeometry(index, k + 1, rows, cols, pos, rdir, cdir, sp))
    return out


def _first(container: Any, keyword: str) -> Any:
    if container is None or keyword not in container or not len(container[keyword].value):
        return None
    return container[keyword].value[0]


def _plane(pos_src: Any, ori_src: Any, mea_src: Any) -> tuple:
    try:
        pos = np.asarray([float(v) for v in pos_src.ImagePositionPatient])
        iop = np.asarray([float(v) for v in ori_src.ImageOrientationPatient])
        sp = tuple(float(v) for v in mea_src.PixelSpacing)
    except (AttributeError, TypeError, ValueError):
        return None, None, None, None
    return pos, iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:]), (sp[0], sp[1])


def frames_from_mask(mask: np.ndarray, study: Any, sources: SourceSeries) -> np.ndarray:
    """Sample a study-grid mask at each source frame's pixels -> (n_frames, rows, cols) bool.

    Raises :class:`ExportError` when a frame's geometry cannot be related to the study
    grid (a 2D image of another size, frames outside the study volume).
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros((len(sources.frames), sources.frames[0].rows, sources.frames[0].cols), dtype=bool)
    if study.is_2d or not sources.has_geometry:
        return _frames_by_pixels(mask, study, sources, out)
    inv = np.linalg.inv(study.affine_lps)
    for k, fr in enumerate(sources.frames):
        idx = grid_indices(inv, fr.position, fr.row_dir, fr.col_dir, fr.spacing, (fr.rows, fr.cols))
        if idx is None:
            log.info("frame %d is not on the study grid: nearest-neighbour sampling", k + 1)
            idx = _nearest_indices(inv, fr)
        inside = np.ones((fr.rows, fr.cols), dtype=bool)
        for i in range(3):
            inside &= (idx[i] >= 0) & (idx[i] < mask.shape[i])
        if not inside.any():
            raise ExportError(
                f"{study.name}: source frame {k + 1} lies outside the study grid; "
                "the study was not loaded from these files"
            )
        out[k][inside] = mask[tuple(np.broadcast_to(i, inside.shape)[inside] for i in idx)]
    return out


def grid_indices(
    inv: np.ndarray,
    position: np.ndarray,
    row_dir: np.ndarray,
    col_dir: np.ndarray,
    spacing: tuple[float, float],
    size: tuple[int, int],
) -> list[np.ndarray] | None:
    """Integer study indices of a frame's pixels when they are study voxels (same spacing,
    axis-aligned, any flip or axis order), as three broadcastable (rows, cols) arrays; else None."""
    origin = inv[:3, :3] @ position + inv[:3, 3]
    d_row = inv[:3, :3] @ (col_dir * spacing[0])
    d_col = inv[:3, :3] @ (row_dir * spacing[1])
    steps = [np.rint(d) for d in (d_row, d_col)]
    if np.abs(origin - np.rint(origin)).max() > 1e-3:
        return None
    for d, st in zip((d_row, d_col), steps):
        if np.abs(d - st).max() > 1e-3 or np.abs(st).sum() != 1:
            return None
    o = np.rint(origin).astype(np.int64)
    r = np.arange(size[0], dtype=np.int64)[:, None]
    c = np.arange(size[1], dtype=np.int64)[None, :]
    return [o[i] + r * int(steps[0][i]) + c * int(steps[1][i]) for i in range(3)]


def _nearest_indices(inv: np.ndarray, fr: FrameGeometry) -> list[np.ndarray]:
    origin = inv[:3, :3] @ fr.position + inv[:3, 3]
    d_row = inv[:3, :3] @ (fr.col_dir * fr.spacing[0])
    d_col = inv[:3, :3] @ (fr.row_dir * fr.spacing[1])
    r = np.arange(fr.rows, dtype=float)[:, None]
    c = np.arange(fr.cols, dtype=float)[None, :]
    return [np.rint(origin[i] + r * d_row[i] + c * d_col[i]).astype(np.int64) for i in range(3)]


def _frames_by_pixels(mask: np.ndarray, study: Any, sources: SourceSeries, out: np.ndarray) -> np.ndarray:
    """2D images (or sources without geometry): frame k is array slice k, pixel for pixel."""
    planes = mask[None] if mask.ndim == 2 else mask
    if planes.shape != out.shape:
        raise ExportError(
            f"{study.name}: study grid {mask.shape} does not match the source frames "
            f"{out.shape[1:]} x {out.shape[0]} and they carry no geometry to map through"
        )
    out[:] = planes
    return out


_TEXT_VRS = ("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI")


def sanitise_copied(ds: Any) -> list[str]:
    """Repair top-level values copied from the source that break their VR (e.g. Patient's
    Age "62" -> "062Y"); a value that cannot be repaired is emptied. Returns notes."""
    from pydicom import config
    from pydicom.valuerep import validate_value

    notes = []
    for elem in list(ds):
        if elem.VR not in _TEXT_VRS or elem.value in (None, "") or elem.tag.group == 0x0002:
            continue
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        if not all(isinstance(v, str) for v in values):  # numbers set by highdicom are valid
            continue
        try:
            for v in values:
                validate_value(elem.VR, v, config.RAISE)
            continue
        except ValueError:
            pass
        text = str(elem.value).strip()
        if elem.VR == "AS" and text.isdigit() and len(text) <= 3:
            elem.value = f"{int(text):03d}Y"
        else:
            elem.value = ""
        what = elem.keyword or str(elem.tag)
        notes.append(f"{what}: source value {text!r} was invalid for {elem.VR}; wrote {elem.value!r}")
    for n in notes:
        log.warning("%s", n)
    return notes
