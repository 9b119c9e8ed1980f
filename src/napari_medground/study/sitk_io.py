"""NRRD (.nrrd/.nhdr) and MetaImage (.mha/.mhd) files via SimpleITK -> Study.

SimpleITK already reports geometry in LPS (its NRRD reader converts other spaces), with
axes in (x, y, z) order: spacing, origin, and a direction matrix whose columns are the
axis directions. The Study array is SimpleITK's (z, y, x) array, so array axis k is
ITK axis (ndim - 1 - k): affine column k = direction column (ndim-1-k) * spacing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from .dicom_pixels import to_luminance
from .guards import check_allocation
from .model import Study
from .nifti_io import _guess_modality, _short


def _affine(spacing, origin, direction, ndim: int) -> np.ndarray:
    """4x4 affine (array index in (z, y, x) / (y, x) order -> LPS mm) from ITK geometry."""
    d = np.asarray(direction, float).reshape(ndim, ndim)
    sp = np.asarray(spacing, float)
    a = np.eye(4)
    if ndim == 3:
        for k in range(3):
            a[:3, k] = d[:, 2 - k] * sp[2 - k]
        a[:3, 3] = origin
        return a
    dir_x = np.array([d[0, 0], d[1, 0], 0.0])
    dir_y = np.array([d[0, 1], d[1, 1], 0.0])
    n = np.cross(dir_x, dir_y)
    a[:3, 0] = dir_y * sp[1]
    a[:3, 1] = dir_x * sp[0]
    a[:3, 2] = n / np.linalg.norm(n)
    a[:3, 3] = [origin[0], origin[1], 0.0]
    return a


def _check_size(path: Path) -> None:
    """Refuse, from the header alone, an image that cannot fit in this process's memory."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    n = int(np.prod([int(v) for v in reader.GetSize()], dtype=object)) * reader.GetNumberOfComponents()
    itemsize = np.dtype(sitk.GetArrayViewFromImage(sitk.Image([1] * reader.GetDimension(),
                                                              reader.GetPixelID())).dtype).itemsize
    check_allocation(2 * n * itemsize, path, f"a {' x '.join(map(str, reader.GetSize()))} image")


def read_sitk(path: Path, fmt: str) -> Study:
    """Read an NRRD or MetaImage file (2D or 3D; 4D -> the first volume, with a warning)."""
    import SimpleITK as sitk

    path = Path(path)
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK warnings go straight to the C++ stderr
    try:
        _check_size(path)
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()
        reason = next((line.strip() for line in msg if "ERROR" in line or "exception" in line.lower()), _short(exc))
        raise StudyLoadError(f"{path}: not a readable {fmt.upper()} file ({reason[:160]})") from None
    warnings: list[str] = []
    ndim = img.GetDimension()
    if ndim == 4:
        n_vol = img.GetSize()[3]
        if n_vol > 1:
            warnings.append(f"{path.name}: 4D image with {n_vol} volumes; using the first")
        img = img[:, :, :, 0]
        ndim = 3
    elif ndim not in (2, 3):
        raise StudyLoadError(f"{path}: {ndim}D image is not supported (expected 2D or 3D)")
    arr = sitk.GetArrayFromImage(img)
    if arr.size == 0:
        raise StudyLoadError(f"{path}: the image has zero size {tuple(img.GetSize())}")
    if img.GetNumberOfComponentsPerPixel() > 1:
        n = img.GetNumberOfComponentsPerPixel()
        arr = to_luminance(arr) if n in (3, 4) else arr[..., 0]
        warnings.append(f"{path.name}: {n}-component pixels " +
                        ("converted to grayscale luminance (BT.601)" if n in (3, 4) else "; using the first component"))
    affine = _affine(img.GetSpacing(), img.GetOrigin(), img.GetDirection(), ndim)
    return Study(
        array=np.ascontiguousarray(arr), affine_lps=affine, modality=_guess_modality(arr, None),
        source_paths=(path,), source_format=fmt, warnings=warnings,
        metadata={"window": None, "pixel_spacing_source": fmt},
    )
