"""Write a CT study as a DICOM CT Image Storage series (one file per slice of array axis 0).

Used for the phantom (examples, tests, a DICOM source for SEG/SR export) and usable for
any CT study in HU: the geometry comes from the study's affine, so oblique and any
orientation are written faithfully (a slice is ``array[k]``; rows run along array axis 1,
columns along axis 2).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
INTERCEPT = -1024.0  # stored = HU + 1024, unsigned


def write_series(study, folder, *, series_number: int = 1,
                 series_description: str | None = None) -> list[Path]:
    """Write ``study`` (3D, HU) into ``folder`` as ``CT000001.dcm``...; returns the paths.

    Shared Study/Series/FrameOfReference UIDs come from the study (generated when absent);
    each slice gets ImagePositionPatient, ImageOrientationPatient, PixelSpacing,
    SliceThickness, SliceLocation and RescaleSlope/Intercept (1, -1024).
    """
    from pydicom.uid import generate_uid

    if study.array.ndim != 3:
        raise ValueError(f"{study.name}: a DICOM series needs a 3D study, got {study.array.ndim}D")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    a = np.asarray(study.affine_lps, float)
    sp = np.linalg.norm(a[:3, :3], axis=0)
    row_dir, col_dir = a[:3, 2] / sp[2], a[:3, 1] / sp[1]  # along a row = column index grows
    normal = np.cross(row_dir, col_dir)
    stored = np.clip(np.rint(np.asarray(study.array, float) - INTERCEPT), 0, 65535).astype(np.uint16)
    uids = {
        "study": study.study_uid or generate_uid(),
        "series": study.series_uid or generate_uid(),
        "for": study.frame_of_reference_uid or generate_uid(),
    }
    now = _dt.datetime.now()
    paths = []
    for k in range(stored.shape[0]):
        ds = _slice_dataset(uids, now, series_number, series_description or study.description or "CT")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
            entropy_srcs=[uids["series"], str(series_number), str(k)])
        pos = a[:3, 3] + k * a[:3, 0]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in pos]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.SliceLocation = _ds(float(pos @ normal))
        ds.PixelSpacing = [_ds(sp[1]), _ds(sp[2])]
        ds.SliceThickness = _ds(sp[0])
        _set_pixels(ds, stored[k])
        path = folder / f"CT{k + 1:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _slice_dataset(uids: dict, now, series_number: int, description: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "napari-medground (synthetic)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic CT phantom"
    ds.SeriesDescription = description[:64]
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "PHANTOM"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.KVP = "120"
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["for"]
    ds.StudyID = "1"
    ds.SeriesNumber = int(series_number)
    ds.AcquisitionNumber = 1
    ds.PatientPosition = "HFS"
    ds.PositionReferenceIndicator = ""
    ds.RescaleIntercept = _ds(INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    return ds


def _set_pixels(ds, plane: np.ndarray) -> None:
    ds.Rows, ds.Columns = (int(v) for v in plane.shape)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(plane, dtype="<u2").tobytes()


def _ds(v: float) -> str:
    """A DICOM DS string (at most 16 characters)."""
    v = float(v)
    if v == 0:
        return "0"
    for digits in range(12, 0, -1):
        s = f"{v:.{digits}g}"
        if len(s) <= 16:
            return s
    return f"{v:.6g}"
