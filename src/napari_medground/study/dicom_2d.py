"""Single-frame projection images (DX, CR, MG, secondary captures, ...) -> a 2D Study.

Affine (index (row, col, 0) -> LPS mm): column 0 = column direction * row spacing,
column 1 = row direction * column spacing, column 2 = unit normal (row x column
direction), column 3 = ImagePositionPatient or 0. The directions come from
ImageOrientationPatient, else PatientOrientation (e.g. ``L\\F``: rows run toward the
patient's left, columns toward the feet), else the standard frontal display is assumed
(patient left on image right, feet down) with a warning. MONOCHROME1 is inverted so
that higher values always mean denser (brighter).
"""
from __future__ import annotations

import numpy as np

from ..errors import StudyLoadError
from .dicom_meta import common_metadata, first_float, floats, identity_fields, pixel_spacing
from .dicom_pixels import apply_rescale, can_read_raw, decode_frames, invert_monochrome1, read_slices, to_luminance
from .dicom_scan import DicomHeader
from .model import Study

_LETTER = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "H": (0, 0, 1), "F": (0, 0, -1)}
FRONTAL_ROW = (1.0, 0.0, 0.0)  # increasing column -> patient left
FRONTAL_COL = (0.0, 0.0, -1.0)  # increasing row -> feet


def orientation_letters_to_vector(text: str) -> np.ndarray | None:
    """A PatientOrientation value ("L", "FL", ...) as a unit LPS vector; None when invalid."""
    text = str(text).strip().upper()
    if not text or any(c not in _LETTER for c in text):
        return None
    v = np.sum([_LETTER[c] for c in text], axis=0).astype(float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else None


def plane_directions(ds, where: str) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """(row cosine, column cosine, source, warnings) of a 2D image."""
    iop = floats(ds.get("ImageOrientationPatient"), 6)
    if iop is not None and np.linalg.norm(np.cross(iop[:3], iop[3:6])) > 0.5:
        return np.asarray(iop[:3]), np.asarray(iop[3:6]), "ImageOrientationPatient", []
    po = ds.get("PatientOrientation")
    values = list(po) if po is not None and not isinstance(po, str) else ([po] if po else [])
    if len(values) == 2:
        r, c = orientation_letters_to_vector(values[0]), orientation_letters_to_vector(values[1])
        if r is not None and c is not None and np.linalg.norm(np.cross(r, c)) > 0.5:
            return r, c, "PatientOrientation", []
    warn = (f"{where}: no patient orientation in the file; assumed the standard frontal display "
            "(patient left on image right, feet down)")
    return np.array(FRONTAL_ROW), np.array(FRONTAL_COL), "assumed", [warn]


def affine_2d(row_cos, col_cos, spacing: tuple[float, float], origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 affine of a 2D image: index (row, col, 0) -> LPS mm."""
    r, c = np.asarray(row_cos, float), np.asarray(col_cos, float)
    n = np.cross(r, c)
    a = np.eye(4)
    a[:3, 0] = c * spacing[0]
    a[:3, 1] = r * spacing[1]
    a[:3, 2] = n / np.linalg.norm(n)
    a[:3, 3] = origin
    return a + 0.0  # no negative zeros in printed affines


def _pixels(h: DicomHeader, where: str) -> tuple[np.ndarray, list[str]]:
    """The image's values as a 2D grayscale array (colour -> luminance with a warning)."""
    ds = h.ds
    arr = read_slices([h])[0] if can_read_raw(h) else decode_frames(h)[0]
    photometric = str(ds.get("PhotometricInterpretation") or "").upper()
    warnings: list[str] = []
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3:
        same = arr.shape[-1] >= 3 and np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])
        warnings.append(f"{where}: {photometric or 'colour'} image " + (
            "with identical channels; using one channel" if same else "converted to grayscale luminance (BT.601)"))
        arr = arr[..., 0] if same else to_luminance(arr)
    return arr, warnings


def load_projection(h: DicomHeader) -> Study:
    """One single-frame image without a slice stack -> 2D Study."""
    where = str(h.path)
    if h.rows == 0 or h.cols == 0:
        raise StudyLoadError(f"{where}: zero-size image or missing Rows/Columns (Rows x Columns = {h.rows} x {h.cols})")
    ds = h.ds
    arr, warnings = _pixels(h, where)
    slope, inter = first_float(ds.get("RescaleSlope"), 1.0), first_float(ds.get("RescaleIntercept"), 0.0)
    arr = apply_rescale(arr[None], np.array([slope]), np.array([inter]))[0]
    meta = common_metadata(h)
    if str(ds.get("PhotometricInterpretation") or "").upper() == "MONOCHROME1":
        arr = invert_monochrome1(arr, ds)
        meta["monochrome1_inverted"] = True
        if meta["window"] is not None:
            lo_hi = invert_monochrome1(np.array([meta["window"][0]]), ds)
            meta["window"] = (float(lo_hi[0]), meta["window"][1])
    spacing, source = pixel_spacing(ds)
    if spacing is None:
        spacing = (1.0, 1.0)
        warnings.append(f"{where}: no PixelSpacing or ImagerPixelSpacing; assuming 1 mm pixels (measurements in pixels)")
    row_cos, col_cos, orient_source, orient_warn = plane_directions(ds, where)
    origin = floats(ds.get("ImagePositionPatient"), 3) or (0.0, 0.0, 0.0)
    meta.update(pixel_spacing_source=source, orientation_source=orient_source)
    return Study(
        array=np.ascontiguousarray(arr), affine_lps=affine_2d(row_cos, col_cos, spacing, origin),
        source_paths=(h.path,), sop_instance_uids=(h.sop_instance_uid,),
        warnings=warnings + orient_warn, metadata=meta, **identity_fields(h),
    )
