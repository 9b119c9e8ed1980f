"""PNG and JPEG files (Pillow) -> a 2D grayscale Study.

These files carry no patient geometry: pixels are taken as 1 mm and the standard
frontal display is assumed (patient left on image right, feet down), both stated in
one warning. 16-bit grayscale stays uint16; colour becomes luminance (BT.601) with a
warning, or one channel when all channels are equal.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from .dicom_2d import FRONTAL_COL, FRONTAL_ROW, affine_2d
from .dicom_pixels import to_luminance
from .model import Study
from .nifti_io import _short

_GRAY_MODES = {"L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def _to_gray(im, name: str) -> tuple[np.ndarray, list[str]]:
    """Pillow image -> 2D numpy array, with a warning when colour was reduced."""
    mode = im.mode
    if mode in _GRAY_MODES:
        arr = np.asarray(im)
        if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16)
        return arr, []
    if mode == "1":
        return np.asarray(im.convert("L")), []
    if mode in ("LA", "La"):
        return np.asarray(im)[..., 0], [f"{name}: alpha channel dropped"]
    rgb = np.asarray(im.convert("RGB"))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy(), [f"{name}: {mode} image with identical channels; using one channel"]
    return to_luminance(rgb), [f"{name}: {mode} colour image converted to grayscale luminance (BT.601)"]


def read_image2d(path: Path, fmt: str) -> Study:
    """Read a PNG or JPEG file into a 2D Study (see the module docstring)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            arr, warnings = _to_gray(im, path.name)
            dpi = im.info.get("dpi")
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        raise StudyLoadError(f"{path}: not a readable {fmt.upper()} image ({_short(exc)})") from None
    if arr.ndim != 2 or arr.size == 0:
        raise StudyLoadError(f"{path}: the image has zero size or an unexpected shape {arr.shape}")
    warnings.append(
        f"{path.name}: {fmt.upper()} has no pixel spacing or patient orientation; using 1 mm pixels "
        "(measurements in pixels) and the standard frontal display (patient left on image right, feet down)"
    )
    meta = {"window": None, "pixel_spacing_source": None, "orientation_source": "assumed"}
    if dpi:
        meta["dpi"] = tuple(float(v) for v in dpi)
    return Study(
        array=np.ascontiguousarray(arr), affine_lps=affine_2d(FRONTAL_ROW, FRONTAL_COL, (1.0, 1.0)),
        modality="OT", source_paths=(path,), source_format=fmt, warnings=warnings, metadata=meta,
    )
