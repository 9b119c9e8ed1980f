"""FreeSurfer MGH/MGZ file edge: (i, j, k) voxels + vox2ras (RAS) -> Study (LPS, k-j-i order).

The geometry is nibabel's ``MGHImage.affine`` (FreeSurfer's vox2ras: direction cosines
``Mdc``, voxel sizes and the centre ``c_ras``), converted exactly as for NIfTI: the axes
are reversed, (i, j, k) -> (k, j, i), and the output flipped from RAS to LPS. MGH has no
modality field; the acquisition parameters (TR, flip angle, TE, TI) are kept in metadata.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StudyLoadError
from .guards import check_allocation
from .model import Study, ras_to_lps
from .nifti_io import _guess_modality, _reverse_axes_matrix, _short

FORMAT_KEEPS = "voxels, vox2ras affine (Mdc, voxel size, c_ras), TR/flip/TE/TI; no modality, no patient data"


def read_mgh(path: Path) -> Study:
    """Read a .mgh/.mgz file (3D, or the first frame of a 4D file, warned)."""
    import nibabel as nib

    from ..noise import refresh

    refresh()
    path = Path(path)
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.MGHImage):
            raise ValueError(f"read as {type(img).__name__}, not MGH")
        shape = tuple(int(v) for v in img.shape)
        itemsize = np.dtype(img.get_data_dtype()).itemsize
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise StudyLoadError(f"{path}: not a readable FreeSurfer MGH/MGZ file ({_short(exc)})") from None
    check_allocation(int(np.prod(shape, dtype=object)) * itemsize * 2, path,
                     f"a {' x '.join(map(str, shape))} MGH image")
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001
        raise StudyLoadError(f"{path}: not a readable FreeSurfer MGH/MGZ file ({_short(exc)})") from None
    warnings: list[str] = []
    if data.ndim == 4:
        if data.shape[3] > 1:
            warnings.append(f"{path.name}: MGH file with {data.shape[3]} frames; using the first")
        data = data[..., 0]
    if data.ndim != 3 or data.size == 0:
        raise StudyLoadError(f"{path}: MGH data of shape {tuple(data.shape)} is not a 3D image")
    affine_ras = np.asarray(img.affine, dtype=float)
    arr = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    hdr = img.header
    params = {}
    for key, name in (("tr", "tr_ms"), ("flip_angle", "flip_angle_rad"), ("te", "te_ms"), ("ti", "ti_ms")):
        try:
            params[name] = float(hdr[key])
        except (KeyError, ValueError, TypeError):
            params[name] = None
    meta = {"mgh_affine_ras": affine_ras, "mgh_shape": tuple(img.shape), "window": None,
            "mri_params": params,
            "pixel_spacing_source": "mgh"}
    return Study(array=arr, affine_lps=ras_to_lps(affine_ras) @ _reverse_axes_matrix(3),
                 modality=_guess_modality(arr, hdr), source_paths=(path,), source_format="mgh",
                 warnings=warnings, metadata=meta)
