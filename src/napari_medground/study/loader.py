"""`load_study(path)`: any file or folder a radiologist opens -> :class:`Study`.

Dispatch is by content first (DICOM preamble, PNG/JPEG/NRRD/NIfTI magic bytes), then
by extension. Every failure is a :class:`StudyLoadError` whose one-line message names
the path and the problem; nothing else escapes for bad input.
"""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from ..noise import collect, fold
from ..progress import ProgressFn, report
from .dicom_scan import DicomHeader, is_dicom_file, read_header, scan_folder
from .dicom_series import SeriesGroup, choose_series, group_headers, mixed_warning
from .guards import check_geometry
from .model import Study

log = logging.getLogger(__name__)

_EXTENSIONS = {
    ".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd", ".nhdr": "nrrd", ".mha": "mha", ".mhd": "mha",
    ".mgz": "mgh", ".mgh": "mgh",
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".dcm": "dicom", ".dicom": "dicom", ".ima": "dicom", "": "dicom",
}
# keys every Study from load_study carries (None when the source has no such field)
STANDARD_METADATA = ("window", "sop_class_uid", "transfer_syntax", "body_part", "manufacturer",
                     "patient_age_years", "patient_sex", "pixel_spacing_source", "image_type")
SUPPORTED = "a DICOM file or folder, .nii/.nii.gz, .mgz/.mgh, .nrrd/.nhdr, .mha/.mhd, .png, .jpg/.jpeg"


def load_study(path, series_uid: str | None = None, *, progress: ProgressFn = None) -> Study:
    """Load a study from a file or a folder of DICOM files.

    Parameters
    ----------
    path : str or Path
        A DICOM folder (files found by content, recursively), a DICOM file, NIfTI
        (.nii/.nii.gz), FreeSurfer MGH (.mgz/.mgh), NRRD (.nrrd/.nhdr), MetaImage (.mha/.mhd), PNG or JPEG.
    series_uid : str, optional
        For DICOM: the SeriesInstanceUID to load; default the largest image series.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Study
        Voxels (z, y, x) or (y, x) and ``affine_lps`` (array index -> patient LPS mm);
        CT values in HU. ``warnings`` says what was assumed or found irregular.

    Raises
    ------
    StudyLoadError
        One line naming the path and the problem (missing, empty, not an image, corrupt,
        truncated, no decoder, untrustworthy geometry, unsupported type).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise StudyLoadError(f"{path}: no such file or folder")
    report(progress, 0.0, f"reading {path.name}")
    with collect() as library_notes:  # pydicom/nibabel/SimpleITK chatter: folded, never raw
        if path.is_dir():
            study = _load_dicom_folder(path, series_uid)
        else:
            kind = sniff(path)
            study = _load_dicom_file(path, series_uid) if kind == "dicom" else _read_other(path, kind)
        check_geometry(study)
        _replace_non_finite(study)
    study.warnings.extend(fold(library_notes, path.name))
    for key in STANDARD_METADATA:
        study.metadata.setdefault(key, None)
    for w in study.warnings:  # also in study.warnings, which callers show: INFO avoids printing twice
        log.info(w)
    report(progress, 1.0, f"loaded {study.name}")
    return study


def is_supported(path, max_files: int = 64) -> bool:
    """Cheap check (no pixel data read, never raises) that ``load_study`` would try this path.

    For a folder: True when one of its first ``max_files`` files (recursively) is DICOM.
    Meant for the napari reader, which must return None for paths it does not take.
    """
    try:
        path = Path(path).expanduser()
        if path.is_dir():
            files = (p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            return any(is_dicom_file(p) for _, p in zip(range(max_files), files))
        return path.is_file() and bool(sniff(path))
    except (StudyLoadError, OSError):
        return False


def sniff(path: Path) -> str:
    """The reader for a file: "dicom", "nifti", "mgh", "nrrd", "mha", "png" or "jpeg"."""
    size = path.stat().st_size
    if size == 0:
        raise StudyLoadError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(544)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if _is_nifti_header(head) or (head.startswith(b"\x1f\x8b") and _is_nifti_header(_gunzip_head(path))):
        return "nifti"
    if head.lstrip().startswith((b"ObjectType", b"NDims")):
        return "mha"
    ext = _extension(path)
    if ext in (".mgz", ".mgh") and (head.startswith(b"\x1f\x8b") or head[:4] == b"\x00\x00\x00\x01"):
        return "mgh"
    if is_dicom_file(path):
        return "dicom"
    if ext in _EXTENSIONS:
        if _EXTENSIONS[ext] == "dicom":
            raise StudyLoadError(f"{path}: not a DICOM file (no DICM marker at byte 128 and no DICOM tags at the start)")
        return _EXTENSIONS[ext]
    raise StudyLoadError(f"{path}: unsupported file type '{ext}' (expected {SUPPORTED})")


def _extension(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def _is_nifti_header(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return True
    return len(head) >= 8 and head[4:8] in (b"n+2\x00", b"ni2\x00")


def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(544)
    except (OSError, EOFError):
        return b""


def _read_other(path: Path, kind: str) -> Study:
    if kind == "nifti":
        from .nifti_io import read_nifti

        return read_nifti(path)
    if kind == "mgh":
        from .mgh_io import read_mgh

        return read_mgh(path)
    if kind in ("nrrd", "mha"):
        from .sitk_io import read_sitk

        return read_sitk(path, kind)
    from .image2d_io import read_image2d

    return read_image2d(path, kind)


def _build(group: SeriesGroup, where: Path) -> Study:
    """One image group -> Study (multi-frame volume, 2D image or slice stack)."""
    from .dicom_meta import is_two_dimensional

    h0 = group.headers[0]
    if len(group.headers) == 1 and (h0.n_frames > 1 or h0.is_enhanced):
        from .dicom_multiframe import load_multiframe

        return load_multiframe(h0)
    if len(group.headers) == 1 and is_two_dimensional(h0):
        from .dicom_2d import load_projection

        return load_projection(h0)
    from .dicom_volume import load_slice_stack

    return load_slice_stack(group.headers, where)


def _not_an_image(h: DicomHeader) -> StudyLoadError:
    if h.kind.endswith("(no pixel data)"):
        return StudyLoadError(f"{h.path}: DICOM {h.modality} object without pixel data; there is no image to load")
    return StudyLoadError(f"{h.path}: DICOM {h.kind} object, not an image (open the image series it refers to)")


def _load_dicom_file(path: Path, series_uid: str | None) -> Study:
    h = read_header(path)
    if h.kind != "image":
        raise _not_an_image(h)
    if series_uid is not None and h.series_uid != series_uid:
        raise StudyLoadError(f"{path}: this file belongs to series {h.series_uid}, not {series_uid}")
    return _build(SeriesGroup(series_uid=h.series_uid, kind="image", headers=[h]), path)


def _load_dicom_folder(folder: Path, series_uid: str | None) -> Study:
    headers, skipped, n_files, capped = scan_folder(folder)
    if n_files == 0:
        raise StudyLoadError(f"{folder}: empty folder (no files to load)")
    if not headers and capped:
        raise StudyLoadError(f"{capped}: no DICOM file among them")
    if not headers:
        if skipped:
            raise StudyLoadError(f"{folder}: no readable DICOM files ({len(skipped)} unreadable, e.g. {skipped[0]})")
        raise StudyLoadError(
            f"{folder}: no DICOM files among {n_files} file(s) (to open a NIfTI, NRRD, MHA, PNG or JPEG file, pass the file)"
        )
    groups = group_headers(headers)
    chosen, others = choose_series(groups, series_uid, folder)
    study = _build(chosen, folder)
    study.other_series = [g.summary() for g in others]
    warn = mixed_warning(folder, chosen, others)
    extra = [w for w in (capped, warn) if w]
    if skipped:
        extra.append(f"{folder.name}: skipped {len(skipped)} unreadable DICOM file(s), e.g. {skipped[0]}")
    study.warnings[:0] = extra
    return study


def _replace_non_finite(study: Study) -> None:
    """Refuse all-NaN images; replace some NaN/Inf by the minimum finite value (warned)."""
    arr = study.array
    if arr.size == 0:
        raise StudyLoadError(f"{study.source_paths[0] if study.source_paths else study.name}: zero-size image {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        return
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    if n_bad == 0:
        return
    where = study.source_paths[0] if study.source_paths else study.name
    if n_bad == arr.size:
        raise StudyLoadError(f"{where}: every voxel is NaN or infinite; there is no image to load")
    fill = arr[finite].min()
    study.array = np.where(finite, arr, fill).astype(arr.dtype, copy=False)
    study.warnings.append(f"{Path(where).name}: {n_bad} NaN/infinite voxel(s) replaced by the minimum finite value {fill:g}")


__all__ = ["load_study", "is_supported", "sniff", "SUPPORTED", "STANDARD_METADATA"]
