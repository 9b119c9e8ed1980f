"""Find DICOM files by content and read their headers (no pixel data).

A file is DICOM when it has the 128-byte preamble followed by ``DICM``, or when it has
no preamble but starts with a group 0002/0008 element that pydicom can read (old
"raw" files). Headers are read with ``stop_before_pixels``; the byte offset of the
pixel data element is kept so that uncompressed pixels can be read straight into a
preallocated array later (see :mod:`.dicom_pixels`).
"""
from __future__ import annotations

import logging
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StudyLoadError

log = logging.getLogger(__name__)

DEFLATED = "1.2.840.10008.1.2.1.99"
_EXPLICIT_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR"}
# Non-image SOP classes by UID prefix -> kind (they may carry pixel data, e.g. SEG, RTDOSE).
_NON_IMAGE_SOP = {
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.8": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
    "1.2.840.10008.5.1.4.1.1.481.4": "RTRECORD",
    "1.2.840.10008.5.1.4.1.1.481.7": "RTRECORD",
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.66.1": "REG",
    "1.2.840.10008.5.1.4.1.1.66.3": "REG",
    "1.2.840.10008.5.1.4.1.1.67": "RWV",
    "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.88.": "SR",
    "1.2.840.10008.5.1.4.1.1.11.": "PR",
    "1.2.840.10008.5.1.4.1.1.104.": "DOC",
    "1.2.840.10008.1.3.10": "DICOMDIR",
}
_NON_IMAGE_MODALITIES = {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "SEG", "PR", "KO", "REG", "RWV", "DOC"}
_SOP_MODALITY = {  # when Modality is empty (anonymisers blank it)
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.2.1": "CT", "1.2.840.10008.5.1.4.1.1.2.2": "CT",
    "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.4.1": "MR", "1.2.840.10008.5.1.4.1.1.4.4": "MR",
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.1.1": "DX", "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG", "1.2.840.10008.5.1.4.1.1.1.2.1": "MG", "1.2.840.10008.5.1.4.1.1.128": "PT",
    "1.2.840.10008.5.1.4.1.1.130": "PT", "1.2.840.10008.5.1.4.1.1.20": "NM", "1.2.840.10008.5.1.4.1.1.6.1": "US",
    "1.2.840.10008.5.1.4.1.1.30": "OT",
}


@dataclass
class DicomHeader:
    """What the loader needs from one DICOM file (no patient identifiers kept)."""

    path: Path
    ds: Any  # the pydicom Dataset without pixel data
    sop_class_uid: str
    sop_instance_uid: str
    series_uid: str | None
    modality: str
    kind: str  # "image" or the non-image object type
    rows: int
    cols: int
    n_frames: int
    transfer_syntax: str
    pixel_tag: int | None  # 0x7FE00010 (or float variants), None when absent
    pixel_offset: int | None  # byte offset of the pixel value (uncompressed, defined length)
    pixel_length: int | None
    file_size: int

    @property
    def image_type(self) -> tuple[str, ...]:
        return tuple(str(v).upper() for v in _as_list(self.ds.get("ImageType")))

    @property
    def is_enhanced(self) -> bool:
        return "PerFrameFunctionalGroupsSequence" in self.ds or "SharedFunctionalGroupsSequence" in self.ds


def has_dicom_preamble(path: Path) -> bool:
    """True when bytes 128..132 read ``DICM``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def looks_like_raw_dicom(path: Path) -> bool:
    """True for preamble-less DICOM: the first element is a plausible group 0002/0008 tag."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    if len(head) < 8:
        return False
    for fmt in ("<", ">"):  # little endian, then (retired) big endian
        group, elem = struct.unpack(fmt + "HH", head[:4])
        if group not in (0x0002, 0x0008) or elem > 0x0100:
            continue
        vr = head[4:6]
        if (vr.isalpha() and vr.isupper()) or struct.unpack(fmt + "I", head[4:8])[0] < 1 << 16:
            return True
    return False


def is_dicom_file(path: Path) -> bool:
    return has_dicom_preamble(path) or looks_like_raw_dicom(path)


def read_header(path: Path) -> DicomHeader:
    """Read one file's header and locate its pixel data; StudyLoadError when unreadable."""
    import pydicom

    path = Path(path)
    preamble = has_dicom_preamble(path)
    try:
        with open(path, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=not preamble)
            pos = fh.tell()
            tag_bytes = fh.read(12)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on corrupt input
        raise StudyLoadError(f"{path}: not a readable DICOM file ({_short(exc)})") from None
    size = path.stat().st_size
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else "") or "")
    sop_inst = str(ds.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else "") or "")
    if not preamble and not (sop_class or "Rows" in ds or "Modality" in ds):
        raise StudyLoadError(f"{path}: not a DICOM file (no DICM marker and no DICOM image tags)")
    ts = str(meta.get("TransferSyntaxUID", "")) if meta else ""
    implicit, little = ds.original_encoding
    if ts == DEFLATED:  # the dataset is a deflate stream: file offsets mean nothing
        tag, offset, length = _deflated_pixel_tag(path), None, None
    else:
        tag, offset, length = _locate_pixels(tag_bytes, pos, bool(implicit), little is not False)
    if tag is None and ts != DEFLATED:
        _check_header_complete(ds, size, path)
    modality = str(ds.get("Modality") or "").upper() or _SOP_MODALITY.get(sop_class, "")
    kind = _kind(sop_class, modality, tag is not None)
    return DicomHeader(
        path=path, ds=ds, sop_class_uid=sop_class, sop_instance_uid=sop_inst,
        series_uid=str(ds.get("SeriesInstanceUID") or "") or None, modality=modality or "OT", kind=kind,
        rows=_int(ds.get("Rows")), cols=_int(ds.get("Columns")), n_frames=max(1, _int(ds.get("NumberOfFrames"), 1)),
        transfer_syntax=ts or ("1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"),
        pixel_tag=tag, pixel_offset=offset, pixel_length=length, file_size=size,
    )


def scan_folder(folder: Path, workers: int = 4) -> tuple[list[DicomHeader], list[str], int, str | None]:
    """Headers of every DICOM file under ``folder`` (recursive, hidden files skipped).

    Directory symlinks are not followed; at most :func:`~.guards.max_files` files are
    considered.
    Returns (headers, skipped file names with reasons, number of files looked at, a note
    when the scan stopped at the cap, else None).
    """
    from .guards import ENV_MAX_FILES, bounded_files

    files, capped = bounded_files(folder)
    candidates = [p for p in files if is_dicom_file(p)]

    def _one(p: Path):
        try:
            return read_header(p)
        except StudyLoadError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(candidates)))) as pool:
        results = list(pool.map(_one, candidates)) if candidates else []
    headers = [r for r in results if isinstance(r, DicomHeader)]
    skipped = [r for r in results if isinstance(r, str)]
    note = None
    if capped:
        note = (f"{folder}: holds more than {len(files)} files; only the first {len(files)} were considered "
                f"(open a subfolder, or raise ${ENV_MAX_FILES})")
    return headers, skipped, len(files), note


def _check_header_complete(ds, size: int, path: Path) -> None:
    """A file without pixel data must end where its last element ends; else it was cut."""
    if not len(ds):
        return
    last = ds.get_item(list(ds.keys())[-1])
    tell, length = getattr(last, "value_tell", None), getattr(last, "length", None)
    if tell is None or length is None or length == 0xFFFFFFFF:
        return
    if tell + length != size:
        raise StudyLoadError(f"{path}: truncated DICOM: the file ends inside an element ({size} bytes)")


def _deflated_pixel_tag(path: Path) -> int | None:
    import pydicom

    ds = pydicom.dcmread(path, force=True)
    return next((t for t in (0x7FE00010, 0x7FE00008, 0x7FE00009) if t in ds), None)


def _locate_pixels(tag_bytes: bytes, pos: int, implicit: bool, little: bool):
    """(tag, value offset, value length) of the pixel element at ``pos``; offset None if encapsulated."""
    if len(tag_bytes) < 8:
        return None, None, None
    fmt = "<" if little else ">"
    group, elem = struct.unpack(fmt + "HH", tag_bytes[:4])
    tag = (group << 16) | elem
    if tag not in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        return None, None, None
    if implicit:
        length, start = struct.unpack(fmt + "I", tag_bytes[4:8])[0], pos + 8
    elif tag_bytes[4:6] in _EXPLICIT_LONG_VRS:
        if len(tag_bytes) < 12:
            return tag, None, None
        length, start = struct.unpack(fmt + "I", tag_bytes[8:12])[0], pos + 12
    else:
        length, start = struct.unpack(fmt + "H", tag_bytes[6:8])[0], pos + 8
    if length == 0xFFFFFFFF:
        return tag, None, None  # encapsulated (compressed) pixel data
    return tag, start, length


def _kind(sop_class: str, modality: str, has_pixels: bool) -> str:
    for prefix, kind in _NON_IMAGE_SOP.items():
        if sop_class == prefix or (prefix.endswith(".") and sop_class.startswith(prefix)):
            return kind
    if modality in _NON_IMAGE_MODALITIES:
        return modality
    return "image" if has_pixels else (modality or "OTHER") + " (no pixel data)"


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, (str, bytes)):
        return [v]
    try:
        return list(v)
    except TypeError:
        return [v]


def _int(v, default: int = 0) -> int:
    try:
        return int(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
