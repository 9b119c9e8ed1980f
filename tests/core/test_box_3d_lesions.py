"""3D box prompts on every lesion of the shared data: a box padded by 2 voxels in each
axis around the reference label (the acceptance of issue 14), Dice in the study grid.

Measured (2 cores, OpenVINO bf16 encoder): pyradiomics brain1 0.77, breast1 0.70, sarcoma
CT 0.86 / T1 MR 0.88 / PET 0.67, IBSI lung tumour 0.75, BRATS whole tumour on FLAIR 0.88,
tumour core on T1c 0.93 -> mean 0.803. The prostate phantom's labels (1, 7, 8, 9) are classes
scattered over the whole subvolume, not a lesion, so a box around them is not a prompt a
clinician would give; it is left out. The default suite runs the four quickest cases with
per-case floors; ``make test-all`` runs all eight and checks the mean.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_medground.models import litemedsam as sam  # noqa: E402
from napari_medground.models.litemedsam import runtime as rt  # noqa: E402
from napari_medground.result import Box  # noqa: E402
from napari_medground.study import load_study  # noqa: E402
from tests.data.shared import shared_path  # noqa: E402

P, S, B = ("mri", "pyradiomics"), ("ct", "sts_sarcoma_002"), ("mri", "deepmedic_brats2015")
#: name -> (image, label, label values or None for > 0, floor). Floors: measured - ~0.05.
CASES = {
    "brain1": (P + ("brain1_image.nrrd",), P + ("brain1_label.nrrd",), None, 0.72),
    "breast1": (P + ("breast1_image.nrrd",), P + ("breast1_label.nrrd",), None, 0.65),
    "sarcoma_mr": (S + ("MR_T1_image.nii.gz",), S + ("MR_T1_mask.nii.gz",), None, 0.82),
    "sarcoma_ct": (S + ("CT_image.nii.gz",), S + ("CT_mask.nii.gz",), None, 0.80),
    "sarcoma_pet": (S + ("PET_image.nii.gz",), S + ("PET_mask.nii.gz",), None, 0.60),
    "ibsi_lung": (("ct", "ibsi_lung_tumour", "nifti", "phantom.nii.gz"),
                  ("ct", "ibsi_lung_tumour", "nifti", "mask.nii.gz"), None, 0.70),
    "brats_flair_whole": (B + ("Flair_subtrMeanDivStd.nii.gz",), B + ("OTMultiClass.nii.gz",), (1, 2, 3, 4), 0.82),
    "brats_t1c_core": (B + ("T1c_subtrMeanDivStd.nii.gz",), B + ("OTMultiClass.nii.gz",), (1, 3, 4), 0.85),
}
#: Known limitation: the IBSI tumour sits on the liver dome, which has its attenuation, and
#: the two padding slices below the tumour (liver) are kept: 12% of the mask.
BEYOND = {"ibsi_lung": 0.15}
QUICK = ("brain1", "breast1", "sarcoma_mr", "sarcoma_ct")


def _dice(a, b) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@pytest.fixture(scope="module", autouse=True)
def _weights():
    try:
        rt.weights_path()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"LiteMedSAM weights not installed: {exc}")


def _run(name: str):
    from tests.core.test_reasoning_acceptance import _labels_on_study

    image, label, values, floor = CASES[name]
    st = load_study(shared_path(*image))
    lab = _labels_on_study(st, shared_path(*label))
    lab = np.isin(lab, values) if values else lab > 0
    idx = np.argwhere(lab)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = np.minimum(idx.max(0) + 2, np.array(st.shape) - 1)
    res = sam.segment_box_3d(st, Box(tuple(map(int, lo)), tuple(map(int, hi))), device="cpu")
    inside = np.zeros(st.shape, bool)
    inside[tuple(slice(a, b + 1) for a, b in zip(lo, hi))] = True
    assert not (res.mask & ~inside).any(), "the mask leaves the box"
    z_lab = np.flatnonzero(lab.any((1, 2)))
    # the padding slices hold no lesion: little of the mask may lie there (where the lesion
    # looks like its surround, as the sarcoma in muscle on CT, the walk may run one slice on)
    beyond = res.mask[:z_lab[0]].sum() + res.mask[z_lab[-1] + 1:].sum()
    assert beyond <= BEYOND.get(name, 0.10) * res.mask.sum(), (name, int(beyond), int(res.mask.sum()))
    assert any(n.startswith("walk from slice") for n in res.notes)
    return _dice(res.mask, lab), floor


@pytest.mark.slow
@pytest.mark.parametrize("name", QUICK)
def test_3d_box_on_a_shared_lesion(name):
    d, floor = _run(name)
    assert d >= floor, (name, round(d, 3))


@pytest.mark.heavy
def test_3d_box_on_every_shared_lesion_mean_and_floor():
    scores = {name: _run(name)[0] for name in CASES}
    assert min(scores.values()) >= 0.60, scores
    assert float(np.mean(list(scores.values()))) >= 0.80, scores
