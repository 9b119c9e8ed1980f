"""Shared helpers for the CT structure tests: example_ct at its native 3 mm, resampled to
0.8 x 0.8 x 1.5 mm, and stored in another orientation (all in memory), and Dice against
its TotalSegmentator labels in world space (evaluation only)."""
from __future__ import annotations

import numpy as np

from napari_medground.study import Study, load_study
from tests.core.test_models_ct_anatomy_real import dice, resample_labels_to
from tests.data.shared import shared_path

CT = ("totalseg", "example_ct.nii.gz")
SEG = ("totalseg", "example_seg_fast_force_split.nii.gz")


def native() -> Study:
    return load_study(shared_path(*CT))


def resampled(study: Study, spacing_mm=(0.8, 0.8, 1.5)) -> Study:
    """Trilinear resampling to ``spacing_mm`` given in LPS order (x, y, z), same extent."""
    from scipy import ndimage as ndi

    a = np.asarray(study.affine_lps, float)
    old = np.linalg.norm(a[:3, :3], axis=0)
    lps_axis = np.argmax(np.abs(a[:3, :3]), axis=0)  # LPS component of each array axis
    new = np.array([spacing_mm[k] for k in lps_axis], float)
    scale = new / old
    shape = tuple(int(np.floor((n - 1) / s)) + 1 for n, s in zip(study.array.shape, scale))
    arr = ndi.affine_transform(study.array.astype(np.float32), np.diag(scale), output_shape=shape,
                               order=1, mode="nearest")
    aff = a @ np.diag([*scale, 1.0])
    return Study(array=arr, affine_lps=aff, modality="CT")


def reoriented(study: Study) -> Study:
    """Same voxels stored with axes 0 and 2 swapped and axis 1 reversed (affine adjusted)."""
    a = np.asarray(study.affine_lps, float)
    arr = np.transpose(study.array, (2, 1, 0))[:, ::-1, :]
    n1 = study.array.shape[1]
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    m[2, 0] = 1.0  # new axis 0 = old axis 2
    m[1, 1] = -1.0  # new axis 1 = old axis 1 reversed
    m[1, 3] = n1 - 1
    m[0, 2] = 1.0  # new axis 2 = old axis 0
    return Study(array=np.ascontiguousarray(arr), affine_lps=a @ m, modality="CT")


def reference(study: Study) -> np.ndarray:
    return resample_labels_to(study.array.shape, study.affine_lps, shared_path(*SEG))


def label_ids() -> dict[str, int]:
    import json

    names = json.loads(shared_path("totalseg", "label_names.json").read_text())["total"]
    return {v: int(k) for k, v in names.items()}


GRIDS = {"native 3 mm": lambda b: b, "0.8x0.8x1.5 mm": resampled, "reoriented": reoriented,
         "5 mm": lambda b: resampled(b, (5.0, 5.0, 5.0))}


def grid_maker():
    """``get(grid) -> (study, reference labels on its grid)`` for the grids in
    :data:`GRIDS`, each built from the native study once, on first use (for a
    module-scoped fixture)."""
    made: dict = {}

    def get(grid: str):
        if grid not in made:
            base = made["native 3 mm"][0] if "native 3 mm" in made else native()
            s = GRIDS[grid](base)
            made[grid] = (s, reference(s))
        return made[grid]
    return get


__all__ = ["dice", "grid_maker", "native", "reference", "reoriented", "resampled", "label_ids"]


def upper_part(study: Study, drop_mm: float = 180.0) -> Study:
    """The same scan without its lowest ``drop_mm`` (the pelvis on example_ct): the array
    axis that runs superior-inferior is cut from the inferior end, the affine moved."""
    a = np.asarray(study.affine_lps, float)
    ax = int(np.argmax(np.abs(a[2, :3])))
    n = int(round(drop_mm / np.linalg.norm(a[:3, ax])))
    sl = [slice(None)] * 3
    aff = a.copy()
    if a[2, ax] > 0:  # index grows toward the head: drop the first n
        sl[ax] = slice(n, None)
        aff[:3, 3] += a[:3, ax] * n
    else:
        sl[ax] = slice(None, study.array.shape[ax] - n)
    return Study(array=np.ascontiguousarray(study.array[tuple(sl)]), affine_lps=aff, modality="CT")
