"""Write synthetic DICOM series with a known geometry (tests, benchmarks, examples).

The writer is the inverse of the loader's conventions: ``volume`` is (slice, row, col),
``affine_lps`` column 0 is the slice step (normal * spacing), column 1 the column
direction * row spacing, column 2 the row direction * column spacing, column 3 the
position of slice 0. Files get shuffled names and InstanceNumbers on request, so that a
reader which sorts by anything but position fails.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
_SOP_CLASS = {"CT": CT_IMAGE_STORAGE, "MR": MR_IMAGE_STORAGE}


def geometry_affine(
    spacing_mm: Sequence[float],
    origin_lps: Sequence[float],
    row_cosine: Sequence[float] = (1.0, 0.0, 0.0),
    col_cosine: Sequence[float] = (0.0, 1.0, 0.0),
) -> np.ndarray:
    """4x4 affine (index (slice, row, col) -> LPS mm) of a DICOM series.

    ``spacing_mm`` is (slice spacing, row spacing = PixelSpacing[0], column spacing =
    PixelSpacing[1]); ``row_cosine``/``col_cosine`` are ImageOrientationPatient[0:3]/[3:6].
    """
    r = np.asarray(row_cosine, float)
    c = np.asarray(col_cosine, float)
    n = np.cross(r, c)
    a = np.eye(4)
    a[:3, 0] = n * spacing_mm[0]
    a[:3, 1] = c * spacing_mm[1]
    a[:3, 2] = r * spacing_mm[2]
    a[:3, 3] = origin_lps
    return a


def _base_dataset(modality: str, series_uid: str, study_uid: str, for_uid: str, description: str,
                  series_number: int = 1):
    """A single-frame image dataset with every type 1/2 attribute dciodvfy asks for."""
    import datetime as _dt

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SOP_CLASS.get(modality, CT_IMAGE_STORAGE)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.Modality = modality
    now = _dt.datetime.now()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = int(series_number)
    ds.AcquisitionNumber = 1
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = study_uid
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.SeriesDescription = description[:64]
    ds.PatientName = "Synthetic^Phantom"
    ds.PatientID = "SYNTH-0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientAge = "050Y"
    ds.Manufacturer = "napari-medground synthetic"
    if modality == "CT":
        ds.KVP = "120"
        ds.RescaleType = "HU"
    ds.SOPInstanceUID = generate_uid()
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write_dicom_series(
    folder: Path,
    volume: np.ndarray,
    affine_lps: np.ndarray,
    *,
    modality: str = "CT",
    slope: float = 1.0,
    intercept: float = 0.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    description: str = "synthetic",
    shuffle_seed: int | None = 0,
    skip_slices: Sequence[int] = (),
    extension: str = ".dcm",
    transfer_syntax: str | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    frame_of_reference_uid: str | None = None,
    series_number: int = 1,
    file_prefix: str = "IM",
    body_part: str = "",
) -> list[Path]:
    """Write ``volume`` (slice, row, col; stored values) as one single-frame file per slice.

    ``affine_lps`` must have orthonormal in-plane directions (see :func:`geometry_affine`);
    slice i is written at ``affine_lps @ (i, 0, 0, 1)``. Stored values are written as is
    (int16 signed or uint16 unsigned); RescaleSlope/Intercept describe them. File names
    and InstanceNumbers are shuffled with ``shuffle_seed`` (None keeps slice order).
    ``skip_slices`` leaves those slice indices out (a missing slice). ``transfer_syntax``
    compresses with pydicom's encoders (RLE, JPEG-LS, JPEG 2000). Returns the paths.
    """
    from pydicom.uid import generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    volume = np.asarray(volume)
    if volume.dtype not in (np.int16, np.uint16):
        raise ValueError("synthetic series are written as int16 or uint16 stored values")
    a = np.asarray(affine_lps, float)
    row_sp, col_sp = np.linalg.norm(a[:3, 1]), np.linalg.norm(a[:3, 2])
    row_cos, col_cos = a[:3, 2] / col_sp, a[:3, 1] / row_sp
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    for_uid = frame_of_reference_uid or generate_uid()
    keep = [i for i in range(volume.shape[0]) if i not in set(skip_slices)]
    order = np.arange(len(keep))
    instance = np.arange(len(keep)) + 1
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        order, instance = rng.permutation(order), rng.permutation(instance)
    paths = []
    for name_idx, inst, k in zip(order, instance, keep):
        ds = _base_dataset(modality, series_uid, study_uid, for_uid, description, series_number)
        ds.ImageType = list(image_type)
        ds.InstanceNumber = int(inst)
        if body_part:
            ds.BodyPartExamined = body_part
        _set_geometry(ds, row_cos, col_cos, a[:3, 3] + k * a[:3, 0], (row_sp, col_sp), np.linalg.norm(a[:3, 0]))
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        _set_pixels(ds, volume[k])
        if transfer_syntax is not None:
            ds.compress(transfer_syntax)
        path = folder / f"{file_prefix}{name_idx:05d}{extension}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _set_geometry(ds, row_cos, col_cos, position, pixel_spacing, thickness) -> None:
    ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
    ds.SliceThickness = _ds(thickness)


def write_rtstruct(path: Path, *, study_uid: str | None = None) -> Path:
    """A minimal RTSTRUCT file (no pixel data): a non-image object for folder tests."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RTSTRUCT_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StructureSetLabel = "synthetic"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _set_pixels(ds, plane: np.ndarray) -> None:
    plane = np.ascontiguousarray(plane)
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if plane.dtype == np.int16 else 0
    ds.PixelData = plane.astype("<" + plane.dtype.str[1:], copy=False).tobytes()


def _ds(v: float) -> str:
    """A DS value string (<= 16 characters) that keeps as many digits as fit."""
    v = float(v)
    if v == 0:
        return "0"
    for digits in range(15, 0, -1):
        s = f"{v:.{digits}g}"
        if len(s) <= 16:
            return s
    return f"{v:.6g}"
