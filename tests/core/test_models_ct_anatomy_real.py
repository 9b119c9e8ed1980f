"""Classical CT lungs on real scans, compared in world space as the contract check does:
an abdominal CT showing only the lung bases beside bowel gas, a DICOM series with no lung
label, and two chest CT slices with R231 reference counts."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct import anatomy as ca
from napari_medground.study import load_study
from tests.data.shared import shared_path

pytestmark = pytest.mark.shared_data
RIGHT, LEFT, GUT = [12, 13, 14], [10, 11], [6, 18, 19, 20]


def resample_labels_to(shape, affine_lps, nifti_path) -> np.ndarray:
    """Nearest-neighbour labels of a NIfTI file at each voxel of a study grid (world space),
    as ../shared/tools/contract_check.py computes them."""
    import nibabel as nib

    im = nib.load(str(nifti_path))
    lab = np.asarray(im.dataobj)
    ref_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ im.affine
    m = np.linalg.inv(ref_lps) @ affine_lps
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    idx = np.stack([g.ravel() for g in grids] + [np.ones(grids[0].size)], 0)
    j = np.rint(m @ idx)[:3].astype(int)
    ok = np.all((j >= 0) & (j < np.array(lab.shape)[:, None]), 0)
    out = np.zeros(idx.shape[1], lab.dtype)
    out[ok] = lab[j[0, ok], j[1, ok], j[2, ok]]
    return out.reshape(shape)


def dice(a, b) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else 1.0


@pytest.mark.parametrize("ct,seg", [("example_ct.nii.gz", "example_seg_fast_force_split.nii.gz"),
                                    ("example_ct_sm.nii.gz", "example_seg.nii.gz")])
def test_lung_bases_beside_bowel_gas(ct, seg):
    study = load_study(shared_path("totalseg", ct))
    ref = resample_labels_to(study.shape, study.affine_lps, shared_path("totalseg", seg))
    lungs = ca.segment_lungs(study)
    assert dice(lungs.right, np.isin(ref, RIGHT)) >= 0.90
    assert dice(lungs.left, np.isin(ref, LEFT)) >= 0.90
    assert not ((lungs.left | lungs.right) & np.isin(ref, GUT)).any()
    assert any("pure air" in n for n in lungs.notes)  # bowel gas was seen and excluded


def test_dicom_series_without_lungs():
    study = load_study(shared_path("totalseg", "example_ct_dicom"))
    ref = resample_labels_to(study.shape, study.affine_lps,
                             shared_path("totalseg", "example_seg_dicom.nii.gz"))
    lungs = ca.segment_lungs(study)
    ref_right, ref_left = np.isin(ref, RIGHT), np.isin(ref, LEFT)
    assert dice(lungs.right, ref_right) >= 0.90 and dice(lungs.left, ref_left) >= 0.90
    assert not ((lungs.left | lungs.right) & np.isin(ref, GUT)).any()
    assert np.isin(ref, GUT).sum() > 10_000  # plenty of bowel, some of it gas


def test_two_chest_slices_match_r231_counts():
    study = load_study(shared_path("dicom", "lungmask"))
    lungs = ca.segment_lungs(study)
    right, left = int(lungs.right.sum()), int(lungs.left.sum())
    assert abs(right / 64752 - 1) <= 0.05, right
    assert abs(left / 36536 - 1) <= 0.05, left
    # each file on its own gives the same per-slice answer
    single = [ca.segment_lungs(load_study(shared_path("dicom", "lungmask", f))) for f in ("0.dcm", "1.dcm")]
    assert sum(int(s.right.sum()) for s in single) == pytest.approx(right, rel=0.01)
    assert sum(int(s.left.sum()) for s in single) == pytest.approx(left, rel=0.01)
