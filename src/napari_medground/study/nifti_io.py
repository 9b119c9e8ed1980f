"""NIfTI file edge: NIfTI (RAS, i-j-k order) <-> Study (LPS, z-y-x order).

Reading reverses the axes, (i, j, k) -> (k, j, i), and flips the affine's output from
RAS to LPS. Writing undoes exactly that, reusing the original header when the study
came from a NIfTI file, so NIfTI -> Study -> NIfTI keeps voxels and affine bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from .guards import check_allocation, check_file_holds
from .model import Study, lps_to_ras, ras_to_lps

_REVERSE_3D = np.array(
    [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float
)  # maps (k, j, i) -> (i, j, k)


def _reverse_axes_matrix(ndim: int) -> np.ndarray:
    """4x4 matrix that maps a reversed-order index (with a trailing 0 for 2D) back."""
    if ndim == 3:
        return _REVERSE_3D
    m = np.eye(4)
    m[:2, :2] = [[0, 1], [1, 0]]
    return m


def read_nifti(path: Path) -> Study:
    """Read a .nii/.nii.gz file into a Study (3D, or 2D when the file holds one slice plane).

    Raises
    ------
    StudyLoadError
        Unreadable file, 4D+ data other than a single volume, zero-size data.
    """
    import nibabel as nib

    from ..noise import refresh

    refresh()  # nibabel attaches a stderr handler of its own on import
    path = Path(path)
    try:
        img = nib.load(str(path))
        hdr = img.header
        slope, inter = hdr.get_slope_inter()
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise StudyLoadError(f"{path}: not a readable NIfTI file ({_short(exc)})") from None
    _check_announced_size(path, img, slope, inter)
    try:
        raw = np.asanyarray(img.dataobj)
    except MemoryError:
        raise StudyLoadError(f"{path}: out of memory reading {_describe(img)}; open a cropped or "
                             "downsampled copy") from None
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise StudyLoadError(f"{path}: not a readable NIfTI file ({_short(exc)})") from None
    warnings: list[str] = []
    data = raw
    if data.ndim == 4:
        if data.shape[3] == 1:
            data = data[..., 0]
        else:
            warnings.append(f"{path.name}: 4D NIfTI with {data.shape[3]} volumes; using the first")
            data = data[..., 0]
    elif data.ndim > 4:
        raise StudyLoadError(f"{path}: {data.ndim}D NIfTI is not supported (expected 2D or 3D)")
    if data.size == 0:
        raise StudyLoadError(f"{path}: the image has zero size {tuple(raw.shape)}")
    affine_ras = np.asarray(img.affine, dtype=float)
    if data.ndim == 2:
        arr = data.T
    else:
        arr = np.transpose(data, (2, 1, 0))
    affine_lps = ras_to_lps(affine_ras) @ _reverse_axes_matrix(arr.ndim)
    meta = {
        "nifti_header": hdr.copy(),
        "nifti_affine_ras": affine_ras,
        "nifti_shape": tuple(raw.shape),
        "nifti_scaled": _is_scaled(slope, inter),
    }
    return Study(
        array=np.ascontiguousarray(arr),
        affine_lps=affine_lps,
        modality=_guess_modality(arr, hdr),
        source_paths=(path,),
        source_format="nifti",
        description=_descrip(hdr),
        warnings=warnings,
        metadata=meta,
    )


def write_nifti(array: np.ndarray, study: Study, path: Path, dtype: np.dtype | None = None) -> Path:
    """Write ``array`` (same shape as ``study.array``) as NIfTI on the study's grid.

    For a study read from NIfTI the original header (qform/sform codes, axis order) is
    reused, so the file has the source's exact affine and shape. Otherwise the axes are
    reversed to (x, y, z) and the affine converted to RAS, as dcm2niix does.
    """
    import nibabel as nib

    array = np.asarray(array)
    if array.shape != study.array.shape:
        raise ValueError(f"array shape {array.shape} does not match the study grid {study.array.shape}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    file_data = array.T if array.ndim == 2 else np.transpose(array, (2, 1, 0))
    hdr = study.metadata.get("nifti_header")
    if hdr is not None and study.metadata.get("nifti_shape", ())[:3] == file_data.shape[:3]:
        affine_ras = study.metadata["nifti_affine_ras"]
        header = hdr.copy()
        header.set_data_dtype(file_data.dtype)
        header.set_slope_inter(1.0, 0.0)
        if len(study.metadata["nifti_shape"]) == 4 and file_data.ndim == 3:
            file_data = file_data[..., None] if study.metadata["nifti_shape"][3] == 1 else file_data
        img = nib.Nifti1Image(file_data, affine_ras, header=header)
        img.set_qform(*hdr.get_qform(coded=True)) if hdr["qform_code"] > 0 else None
        img.set_sform(*hdr.get_sform(coded=True)) if hdr["sform_code"] > 0 else None
    else:
        affine_ras = lps_to_ras(study.affine_lps @ np.linalg.inv(_reverse_axes_matrix(array.ndim)))
        img = nib.Nifti1Image(file_data, affine_ras)
        img.set_qform(affine_ras, code=1)
        img.set_sform(affine_ras, code=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial" + "".join(path.suffixes))
    nib.save(img, str(tmp))
    tmp.replace(path)
    return path


def _describe(img) -> str:
    shape = tuple(int(v) for v in img.shape)
    return f"{' x '.join(map(str, shape))} {img.get_data_dtype()} voxels"


def _check_announced_size(path: Path, img, slope, inter) -> None:
    """Refuse, before allocating, a header whose voxels the file cannot hold or memory cannot fit."""
    shape = tuple(int(v) for v in img.shape)
    if any(v < 0 for v in shape):
        raise StudyLoadError(f"{path}: not a readable NIfTI file (negative dimension in {shape})")
    n = int(np.prod(shape, dtype=object))
    itemsize = np.dtype(img.get_data_dtype()).itemsize
    offset = int(getattr(img.dataobj, "offset", 0) or 0)
    fmap = img.file_map
    if "header" not in fmap or fmap["image"].filename == fmap["header"].filename:  # .nii, not .hdr/.img
        check_file_holds(path, offset, n * itemsize, _describe(img))
    scaled = 8 if _is_scaled(slope, inter) else itemsize  # scaled data comes back as float64
    check_allocation(n * (itemsize + scaled), path, f"a {_describe(img)} image")


def _is_scaled(slope, inter) -> bool:
    """True when the header asks for a value scaling other than identity."""
    s = 1.0 if slope is None or slope != slope else float(slope)
    i = 0.0 if inter is None or inter != inter else float(inter)
    return s != 1.0 or i != 0.0


def _descrip(hdr) -> str:
    try:
        return bytes(hdr["descrip"]).decode("latin-1").strip("\x00 ")
    except Exception:  # noqa: BLE001 - a description is optional
        return ""


def _guess_modality(arr: np.ndarray, hdr) -> str:
    """NIfTI has no modality field: CT when the values look like Hounsfield units."""
    sample = arr.ravel()[:: max(1, arr.size // 200_000)]
    if not np.issubdtype(sample.dtype, np.number):
        return "OT"
    sample = sample.astype(np.float32)
    sample = sample[np.isfinite(sample)]
    if not sample.size:
        return "OT"
    lo, hi = np.percentile(sample, [1, 99])
    if lo <= -900 and hi >= 100:
        return "CT"
    if np.issubdtype(arr.dtype, np.integer) or hi > 1:
        return "MR"
    return "OT"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
