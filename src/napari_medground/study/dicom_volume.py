"""A series of single-frame DICOM slices -> a 3D Study.

Slices are sorted by their position along the slice normal (the cross product of the
ImageOrientationPatient row and column cosines), never by file name or InstanceNumber.
Affine (index (slice, row, col) -> LPS mm): column 0 = unit normal * measured slice
spacing, column 1 = column cosine * PixelSpacing[0], column 2 = row cosine *
PixelSpacing[1], column 3 = ImagePositionPatient of the first sorted slice.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from .dicom_meta import common_metadata, first_float, floats, identity_fields, pixel_spacing, short_uid
from .dicom_pixels import apply_rescale, read_slices
from .dicom_scan import DicomHeader
from .model import Study

log = logging.getLogger(__name__)

ORIENTATION_TOL = 1e-3  # max difference of direction cosines between slices of one volume
_MAX_LISTED_GAPS = 5


def slice_normal(iop: tuple[float, ...]) -> np.ndarray:
    """Unit normal of an ImageOrientationPatient (row cosine x column cosine)."""
    n = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:6]))
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise ValueError("degenerate ImageOrientationPatient")
    return n / norm


def check_gaps(positions: np.ndarray, where: str) -> tuple[float, list[str]]:
    """Slice spacing (median gap, mm) and warnings naming each uneven gap.

    ``positions`` are sorted positions along the normal. A gap is uneven when it differs
    from the median by more than max(0.01 mm, 1 %); indices in the message are array
    (slice) indices, 0-based.
    """
    gaps = np.diff(positions)
    spacing = float(np.median(gaps))
    tol = max(0.01, 0.01 * spacing)
    bad = np.flatnonzero(np.abs(gaps - spacing) > tol)
    if not len(bad):
        return spacing, []
    listed = "; ".join(f"slices {i}-{i + 1}: gap {gaps[i]:.3g} mm, expected {spacing:.3g} mm" for i in bad[:_MAX_LISTED_GAPS])
    more = f"; and {len(bad) - _MAX_LISTED_GAPS} more" if len(bad) > _MAX_LISTED_GAPS else ""
    missing = int(np.sum(np.maximum(np.rint(gaps[bad] / spacing) - 1, 0)))
    hint = f" (about {missing} missing slice{'s' if missing != 1 else ''})" if missing else ""
    return spacing, [f"{where}: uneven slice spacing{hint}: {listed}{more}; the volume uses {spacing:.4g} mm"]


def _check_same_plane(headers: list[DicomHeader], where: str) -> tuple[np.ndarray, tuple[float, float], str]:
    """Common orientation, pixel spacing and its source; refuse when slices disagree."""
    sizes = {(h.rows, h.cols) for h in headers}
    if len(sizes) > 1:
        raise StudyLoadError(f"{where}: slices have different sizes {sorted(sizes)}; the geometry cannot be trusted")
    if 0 in sizes.pop():
        raise StudyLoadError(f"{where}: zero-size image or missing Rows/Columns (Rows x Columns = {headers[0].rows} x {headers[0].cols})")
    iops = np.array([floats(h.ds.get("ImageOrientationPatient"), 6) for h in headers])
    if np.max(np.abs(iops - iops[0])) > ORIENTATION_TOL:
        n_distinct = len({tuple(np.round(r, 3)) for r in iops})
        raise StudyLoadError(
            f"{where}: slices have {n_distinct} different orientations (ImageOrientationPatient); "
            "the geometry cannot be trusted (load one orientation at a time with series_uid or separate folders)"
        )
    spacings = {pixel_spacing(h.ds) for h in headers}
    if len(spacings) > 1:
        raise StudyLoadError(f"{where}: slices have different pixel spacings; the geometry cannot be trusted")
    (sp, source) = spacings.pop()
    return iops[0], sp or (1.0, 1.0), source


def _sort_slices(headers: list[DicomHeader], normal: np.ndarray, where: str) -> tuple[list[DicomHeader], np.ndarray, list[str]]:
    """Headers sorted along the normal, with exact duplicate files dropped (warned)."""
    pos = np.array([floats(h.ds.get("ImagePositionPatient"), 3) for h in headers])
    dist = pos @ normal
    order = np.argsort(dist, kind="stable")
    headers, pos, dist = [headers[i] for i in order], pos[order], dist[order]
    warnings: list[str] = []
    dup = np.flatnonzero(np.diff(dist) < 1e-3)
    if len(dup):
        same = [i for i in dup if headers[i].sop_instance_uid and headers[i].sop_instance_uid == headers[i + 1].sop_instance_uid]
        if len(same) < len(dup):
            i = next(i for i in dup if i not in same)
            raise StudyLoadError(
                f"{where}: {len(dup) - len(same)} slice position(s) hold two different images "
                f"(e.g. {headers[i].path.name} and {headers[i + 1].path.name} at {dist[i]:.2f} mm); "
                "the geometry cannot be trusted (multi-echo or repeated acquisition: separate the files)"
            )
        keep = np.setdiff1d(np.arange(len(headers)), np.asarray(same) + 1)
        warnings.append(f"{where}: dropped {len(same)} duplicate file(s) of the same SOP instance")
        headers, pos = [headers[i] for i in keep], pos[keep]
    return headers, pos, warnings


def _tilt_warning(pos: np.ndarray, normal: np.ndarray, where: str) -> list[str]:
    """Warn when slice positions do not move along the normal (gantry tilt / shear)."""
    if len(pos) < 2:
        return []
    step = pos[-1] - pos[0]
    along = float(step @ normal)
    off = float(np.linalg.norm(step - along * normal))
    if off <= max(0.01, 1e-3 * abs(along)):
        return []
    angle = float(np.degrees(np.arctan2(off, abs(along))))
    return [f"{where}: slices are sheared by {angle:.2f} degrees (gantry tilt?); positions along the stack "
            f"drift up to {off:.2f} mm from the slice normal used by the affine"]


def _single_slice_spacing(h: DicomHeader, where: str) -> tuple[float, str]:
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        v = first_float(h.ds.get(key))
        if v and v > 0:
            return v, f"{where}: single-slice series; slice thickness {v:g} mm taken from {key}"
    return 1.0, f"{where}: single-slice series without SliceThickness; assuming 1 mm"


def load_slice_stack(headers: list[DicomHeader], where: Path) -> Study:
    """Single-frame slices of one series -> Study (3D; one slice when the series has one)."""
    label = f"{where.name} series {short_uid(headers[0].series_uid)}" if len(headers) > 1 else str(where)
    iop, (row_sp, col_sp), sp_source = _check_same_plane(headers, label)
    normal = slice_normal(iop)
    headers, pos, warnings = _sort_slices(headers, normal, label)
    if len(headers) == 1:
        dz, msg = _single_slice_spacing(headers[0], label)
        warnings.append(msg)
    else:
        dz, gap_warn = check_gaps(pos @ normal, label)
        warnings += gap_warn + _tilt_warning(pos, normal, label)
    if sp_source is None:
        row_sp = col_sp = 1.0
        bad = headers[0].ds.get("PixelSpacing")
        why = "no PixelSpacing" if bad in (None, "") else f"PixelSpacing {list(bad) if hasattr(bad, '__iter__') and not isinstance(bad, str) else bad} is not usable (zero, negative or not a number)"
        warnings.append(f"{label}: {why}; assuming 1 mm pixels")
    affine = np.eye(4)
    affine[:3, 0] = normal * dz
    affine[:3, 1] = np.asarray(iop[3:6]) * row_sp
    affine[:3, 2] = np.asarray(iop[:3]) * col_sp
    affine[:3, 3] = pos[0]
    raw = read_slices(headers)
    slopes = [first_float(h.ds.get("RescaleSlope"), 1.0) for h in headers]
    inters = [first_float(h.ds.get("RescaleIntercept"), 0.0) for h in headers]
    array = apply_rescale(raw, np.array(slopes), np.array(inters))
    if str(headers[0].ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        from .dicom_pixels import invert_monochrome1

        array = invert_monochrome1(array, headers[0].ds)
        warnings.append(f"{label}: MONOCHROME1 inverted so that higher values are brighter")
    meta = common_metadata(headers[0])
    meta.update(pixel_spacing_source=sp_source, slice_positions_mm=[float(v) for v in pos @ normal])
    return Study(
        array=array, affine_lps=affine, source_paths=tuple(h.path for h in headers),
        sop_instance_uids=tuple(h.sop_instance_uid for h in headers), warnings=warnings,
        metadata=meta, **identity_fields(headers[0]),
    )
