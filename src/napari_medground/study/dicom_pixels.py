"""Pixel data of DICOM files: fast raw reads, decoding, rescale, MONOCHROME1.

Uncompressed little-endian files are read straight from the byte offset found while
scanning the header into a preallocated array, in a thread pool (file reads and numpy
release the GIL). Everything else goes through pydicom's decoders (pylibjpeg for
JPEG, JPEG-LS via pyjpegls, JPEG 2000 via OpenJPEG, RLE built in). Values are the
stored values until :func:`apply_rescale` turns them into modality units (HU for CT).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..errors import StudyLoadError
from .dicom_scan import DEFLATED, DicomHeader

log = logging.getLogger(__name__)

NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # sequence delimitation item, little endian
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (or Pillow)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.80": "pyjpegls (or pylibjpeg pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.81": "pyjpegls (or pylibjpeg pylibjpeg-libjpeg)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",
}


def ts_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return f"{name} ({uid})" if name != uid else uid


def stored_dtype(ds) -> np.dtype:
    """numpy dtype of the stored values of a single-sample native image."""
    bits = int(ds.get("BitsAllocated") or 16)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    if bits not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits}")
    return np.dtype(("<i" if signed else "<u") + str(bits // 8))


def can_read_raw(h: DicomHeader) -> bool:
    """True when the pixels can be read directly: native little endian, 1 sample, 8/16/32 bits."""
    ds = h.ds
    return (
        h.transfer_syntax in NATIVE_LE
        and h.pixel_tag == 0x7FE00010
        and h.pixel_offset is not None
        and int(ds.get("SamplesPerPixel") or 1) == 1
        and int(ds.get("BitsAllocated") or 0) in (8, 16, 32)
        and h.n_frames == 1
    )


def read_slices(headers: Sequence[DicomHeader], workers: int = 4) -> np.ndarray:
    """Stored values of single-frame files as one (n, rows, cols) array, in the given order."""
    first = headers[0]
    if all(can_read_raw(h) for h in headers) and len({stored_dtype(h.ds) for h in headers}) == 1:
        out = np.empty((len(headers), first.rows, first.cols), dtype=stored_dtype(first.ds))
        jobs = [(h, out[i]) for i, h in enumerate(headers)]
        _run_threaded(lambda job: _read_raw_into(*job), jobs, workers)
        return out
    planes = _run_threaded(lambda h: decode_frames(h)[0] if h.n_frames == 1 else None, list(headers), workers)
    for h, p in zip(headers, planes):
        if p is None or p.ndim != 2:
            raise StudyLoadError(f"{h.path}: expected one grayscale frame, found shape {None if p is None else p.shape}")
    return np.stack(planes)


def _run_threaded(fn, items: list, workers: int) -> list:
    if len(items) < 4 or workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _read_raw_into(h: DicomHeader, plane: np.ndarray) -> None:
    nbytes = plane.nbytes
    if h.pixel_length is not None and h.pixel_length < nbytes or h.pixel_offset + nbytes > h.file_size:
        have = min(h.pixel_length or 0, h.file_size - h.pixel_offset)
        raise StudyLoadError(
            f"{h.path}: truncated DICOM: pixel data needs {nbytes} bytes, the file holds {max(have, 0)}"
        )
    if h.pixel_length is not None and h.pixel_length > nbytes + 1:  # +1: the even-length padding byte
        raise StudyLoadError(
            f"{h.path}: Rows x Columns ({h.rows} x {h.cols}) disagree with the pixel data length "
            f"({h.pixel_length} bytes, expected {nbytes}); the image cannot be trusted"
        )
    with open(h.path, "rb") as fh:
        fh.seek(h.pixel_offset)
        got = fh.readinto(memoryview(plane).cast("B"))
    if got != nbytes:
        raise StudyLoadError(f"{h.path}: truncated DICOM: read {got} of {nbytes} pixel bytes")
    _correct_unused_bits(plane, h.ds)


def _correct_unused_bits(arr: np.ndarray, ds) -> None:
    """Mask/sign-extend values when BitsStored < BitsAllocated (as pydicom does)."""
    allocated = int(ds.get("BitsAllocated") or 16)
    stored = int(ds.get("BitsStored") or allocated)
    if 0 < stored < allocated:
        shift = allocated - stored
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)


def decode_frames(h: DicomHeader) -> np.ndarray:
    """All frames of one file as (frames, rows, cols[, samples]) stored values, via pydicom."""
    import pydicom

    check_decoder(h)
    if h.pixel_offset is None and h.transfer_syntax not in NATIVE_LE | {DEFLATED}:
        _check_encapsulated_complete(h)
    try:
        ds = pydicom.dcmread(h.path, force=True)
        arr = ds.pixel_array
    except StudyLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise StudyLoadError(
            f"{h.path}: cannot decode {ts_name(h.transfer_syntax)} pixel data ({_short(exc)}){_other_decoders(h)}"
        ) from None
    samples = int(h.ds.get("SamplesPerPixel") or 1)
    frames_axis = arr.ndim == (4 if samples > 1 else 3)
    return arr if frames_axis else arr[None]


def check_decoder(h: DicomHeader) -> None:
    """StudyLoadError naming the transfer syntax and the package when no decoder is available."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    if h.transfer_syntax in NATIVE_LE:
        return
    try:
        decoder = get_decoder(UID(h.transfer_syntax))
    except NotImplementedError:
        raise StudyLoadError(
            f"{h.path}: transfer syntax {ts_name(h.transfer_syntax)} is not supported by any pixel decoder"
        ) from None
    if not decoder.is_available:
        pkg = _DECODER_PACKAGES.get(h.transfer_syntax, "pylibjpeg or python-gdcm")
        raise StudyLoadError(
            f"{h.path}: no decoder for {ts_name(h.transfer_syntax)} pixel data; install it with: pip install {pkg}"
        )


def _other_decoders(h: DicomHeader) -> str:
    """A hint naming decoders pydicom could also use, when some are not installed."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    try:
        missing = get_decoder(UID(h.transfer_syntax)).missing_dependencies
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    return f"; other decoders: {', '.join(missing)}" if missing else ""


def _check_encapsulated_complete(h: DicomHeader) -> None:
    """Compressed pixel data must end with the sequence delimiter; otherwise the file was cut."""
    with open(h.path, "rb") as fh:
        fh.seek(max(0, h.file_size - 256))
        tail = fh.read()
    if _DELIMITER not in tail:
        raise StudyLoadError(
            f"{h.path}: truncated DICOM: the compressed pixel data ends early ({h.file_size} bytes)"
        )


def apply_rescale(raw: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Stored values -> modality values (``raw * slope + intercept`` per slice, axis 0).

    The dtype is kept when the rescale is the identity; int16 when slopes and intercepts
    are integers and the result fits (exact, e.g. CT in HU); float32 otherwise. May
    modify ``raw`` in place.
    """
    slopes = np.asarray(slopes, float)
    intercepts = np.asarray(intercepts, float)
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return raw
    if np.issubdtype(raw.dtype, np.integer) and _integral(slopes) and _integral(intercepts):
        lo, hi = _minmax(raw)
        ends = np.concatenate([lo * slopes + intercepts, hi * slopes + intercepts])
        if ends.min() >= -32768 and ends.max() <= 32767:
            return _rescale_int16(raw, slopes, intercepts, hi)
    out = np.empty(raw.shape, np.float32)
    for i in range(raw.shape[0]):
        np.multiply(raw[i], np.float32(slopes[i]), out=out[i], casting="unsafe")
        out[i] += np.float32(intercepts[i])
    return out


def _rescale_int16(raw: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray, hi: float) -> np.ndarray:
    """Integer rescale whose result is known to fit int16 (checked by the caller)."""
    in_place = raw.dtype == np.int16 or (raw.dtype == np.uint16 and hi <= 32767)
    if np.any(slopes != 1) or not (in_place or raw.dtype in (np.uint8, np.int8)):
        wide = raw.astype(np.int32)
        wide *= slopes.astype(np.int32)[:, None, None]
        wide += intercepts.astype(np.int32)[:, None, None]
        return wide.astype(np.int16)
    out = raw.view(np.int16) if in_place else raw.astype(np.int16)  # uint16 <= 32767: same bits
    if np.all(intercepts == intercepts[0]):
        out += np.int16(intercepts[0])
    else:
        out += intercepts.astype(np.int16)[:, None, None]
    return out


def _minmax(raw: np.ndarray) -> tuple[float, float]:
    return float(raw.min()), float(raw.max())


def _integral(v: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)))


def invert_monochrome1(arr: np.ndarray, ds) -> np.ndarray:
    """MONOCHROME1 -> MONOCHROME2 over the stored bit range, so higher means denser/brighter."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope") or 1)
    inter = float(ds.get("RescaleIntercept") or 0)
    lo, hi = sorted((lo * slope + inter, hi * slope + inter))
    if np.issubdtype(arr.dtype, np.integer) and float(lo).is_integer() and float(hi).is_integer():
        wide = np.int64(lo + hi) - arr.astype(np.int64)
        info = np.iinfo(arr.dtype)
        if wide.min() >= info.min and wide.max() <= info.max:
            return wide.astype(arr.dtype)
        return wide.astype(np.int32)
    return (np.float32(lo + hi) - arr).astype(np.float32)


def to_luminance(arr: np.ndarray) -> np.ndarray:
    """(..., 3 or 4) RGB(A) -> luminance (ITU-R BT.601), keeping integer dtypes by rounding."""
    wide = np.issubdtype(arr.dtype, np.integer) and arr.dtype.itemsize >= 4  # float32 cannot hold 2**32 - 1
    ftype = np.float64 if wide else np.float32
    rgb = arr[..., :3].astype(ftype)
    lum = rgb @ np.array([0.299, 0.587, 0.114], ftype)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(np.rint(lum), np.iinfo(arr.dtype).min, np.iinfo(arr.dtype).max).astype(arr.dtype)
    return lum


def _short(exc: Exception) -> str:
    """An exception as one line (decoders put the reason on later lines)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines()) or type(exc).__name__
    return text[:240]

