"""Multi-frame DICOM (enhanced CT/MR, legacy converted, parametric maps) -> a 3D Study.

Per-frame geometry comes from the functional groups (per-frame first, then shared):
PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence,
PixelValueTransformationSequence, FrameVOILUTSequence. Frames are sorted along the
slice normal exactly like single-frame slices (see :mod:`.dicom_volume`), and
``metadata["frame_order"]`` keeps, per array slice, the 1-based frame number in the
file (what DICOM SEG's ReferencedFrameNumber points to). A file whose frames repeat
positions (echoes, time points, b-values) loads the first frame at each position, with
a warning. Multi-frame files without per-frame geometry stack frames in file order.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import StudyLoadError
from .dicom_meta import common_metadata, first_float, floats, identity_fields, pixel_spacing
from .dicom_pixels import NATIVE_LE, _correct_unused_bits, apply_rescale, decode_frames, stored_dtype, to_luminance
from .dicom_scan import DicomHeader
from .dicom_volume import ORIENTATION_TOL, check_gaps, slice_normal
from .model import Study


def _fg_value(ds, shared, per_frame, i: int, seq: str, attr: str) -> Any:
    """An attribute from functional group ``seq`` of frame i (per-frame, then shared)."""
    for groups in ((per_frame[i] if per_frame is not None and i < len(per_frame) else None), shared):
        items = groups.get(seq) if groups is not None else None
        if items and attr in items[0]:
            return getattr(items[0], attr)
    return None


def _frame_geometry(h: DicomHeader) -> dict[str, Any]:
    """Per-frame positions/orientations/rescale and the shared pixel measures."""
    ds = h.ds
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per = ds.get("PerFrameFunctionalGroupsSequence")

    def val(i: int, seq: str, attr: str) -> Any:
        return _fg_value(ds, shared, per, i, seq, attr)

    n = h.n_frames
    pos = [floats(val(i, "PlanePositionSequence", "ImagePositionPatient"), 3) for i in range(n)]
    iop = [floats(val(i, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
           or floats(ds.get("ImageOrientationPatient"), 6) for i in range(n)]
    slope = [first_float(val(i, "PixelValueTransformationSequence", "RescaleSlope"), None) for i in range(n)]
    inter = [first_float(val(i, "PixelValueTransformationSequence", "RescaleIntercept"), None) for i in range(n)]
    top_slope, top_inter = first_float(ds.get("RescaleSlope"), 1.0), first_float(ds.get("RescaleIntercept"), 0.0)
    sp = floats(val(0, "PixelMeasuresSequence", "PixelSpacing"), 2)
    thick = first_float(val(0, "PixelMeasuresSequence", "SpacingBetweenSlices")) or first_float(
        val(0, "PixelMeasuresSequence", "SliceThickness"))
    center = first_float(val(0, "FrameVOILUTSequence", "WindowCenter"))
    width = first_float(val(0, "FrameVOILUTSequence", "WindowWidth"))
    return {
        "pos": pos, "iop": iop,
        "slope": np.array([top_slope if s is None else s for s in slope]),
        "inter": np.array([top_inter if v is None else v for v in inter]),
        "pixel_spacing": (tuple(sp), "PixelMeasuresSequence") if sp else pixel_spacing(ds),
        "thickness": thick or first_float(ds.get("SpacingBetweenSlices")) or first_float(ds.get("SliceThickness")),
        "window": (center, width) if center is not None and width else None,
    }


def _read_frames(h: DicomHeader) -> np.ndarray:
    """All frames as (frames, rows, cols) stored values."""
    if h.transfer_syntax in NATIVE_LE and h.pixel_tag == 0x7FE00010 and h.pixel_offset is not None \
            and int(h.ds.get("SamplesPerPixel") or 1) == 1 and int(h.ds.get("BitsAllocated") or 0) in (8, 16, 32):
        dtype = stored_dtype(h.ds)
        count = h.n_frames * h.rows * h.cols
        if h.pixel_offset + count * dtype.itemsize > h.file_size:
            raise StudyLoadError(f"{h.path}: truncated DICOM: {h.n_frames} frames need "
                                 f"{count * dtype.itemsize} bytes of pixel data")
        arr = np.fromfile(h.path, dtype=dtype, count=count, offset=h.pixel_offset).reshape(h.n_frames, h.rows, h.cols)
        _correct_unused_bits(arr, h.ds)
        return arr
    return decode_frames(h)


def _sorted_frames(g: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(frame indices in array order, their positions, orientation, warnings)."""
    iops = np.array(g["iop"], float)
    if np.max(np.abs(iops - iops[0])) > ORIENTATION_TOL:
        raise StudyLoadError(f"{where}: frames have different orientations; the geometry cannot be trusted")
    normal = slice_normal(iops[0])
    pos = np.array(g["pos"], float)
    dist = pos @ normal
    order = np.lexsort((np.arange(len(dist)), np.round(dist, 3)))
    warnings: list[str] = []
    keep = [order[0]] + [b for a, b in zip(order[:-1], order[1:]) if abs(dist[b] - dist[a]) >= 1e-3]
    if len(keep) < len(order):
        per_pos = len(order) / len(keep)
        warnings.append(f"{where}: {len(order)} frames at {len(keep)} positions ({per_pos:.3g} per position: "
                        "echoes, time points or b-values?); loaded the first frame at each position")
    keep = np.array(keep)
    return keep, pos[keep], iops[0], warnings


def load_multiframe(h: DicomHeader) -> Study:
    """One multi-frame file -> Study (3D, one slice per kept frame)."""
    where = str(h.path)
    if h.rows == 0 or h.cols == 0 or h.n_frames == 0:
        raise StudyLoadError(f"{where}: zero-size image ({h.n_frames} frames of {h.rows} x {h.cols})")
    g = _frame_geometry(h)
    warnings: list[str] = []
    if all(p is not None for p in g["pos"]) and all(o is not None for o in g["iop"]):
        idx, pos, iop, warnings = _sorted_frames(g, where)
        normal = slice_normal(iop)
        if len(idx) > 1:
            dz, gap_warn = check_gaps(pos @ normal, where)
            warnings += gap_warn
        else:
            dz = g["thickness"] or 1.0
        origin = pos[0]
    else:
        idx = np.arange(h.n_frames)
        iop = g["iop"][0] or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        normal, origin, dz = slice_normal(iop), np.zeros(3), g["thickness"] or 1.0
        warnings.append(f"{where}: multi-frame file without per-frame positions; frames stacked in file order "
                        f"at {dz:g} mm" + ("" if g["iop"][0] else ", axial orientation and origin 0 assumed"))
    sp, source = g["pixel_spacing"]
    if sp is None:
        sp = (1.0, 1.0)
        warnings.append(f"{where}: no PixelSpacing; assuming 1 mm pixels")
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = normal * dz, np.asarray(iop[3:6]) * sp[0], np.asarray(iop[:3]) * sp[1]
    affine[:3, 3] = origin
    raw = _read_frames(h)[idx]
    if raw.ndim == 4:
        raw = to_luminance(raw)
        warnings.append(f"{where}: colour frames converted to grayscale luminance (BT.601)")
    array = apply_rescale(raw, g["slope"][idx], g["inter"][idx])
    meta = common_metadata(h)
    meta.update(pixel_spacing_source=source, frame_order=[int(i) + 1 for i in idx], n_frames_in_file=h.n_frames)
    if meta["window"] is None:
        meta["window"] = g["window"]
    return Study(
        array=np.ascontiguousarray(array), affine_lps=affine, source_paths=(h.path,),
        sop_instance_uids=tuple(h.sop_instance_uid for _ in idx), warnings=warnings,
        metadata=meta, **identity_fields(h),
    )
