"""Chest X-ray anatomy on real radiographs (issue 5 item 6; CXR procedure of issue 6).

Lung fields against the reference masks of ``cxr/lung_masks``; the cardiothoracic ratio
on the two NIH images (labelled Cardiomegaly / No Finding); sane behaviour on the other
radiographs (JPEG, TBX11K PNGs, JPEG-compressed DICOM); the patient's sides taken from
the affine, not from the storage order.
"""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.cxr.anatomy import CxrAnatomy, analyse_chest_xray
from napari_medground.study import load_study
from napari_medground.study.model import Study
from tests.data.shared import shared_path

NIH_CARDIOMEGALY = "00000001_000.png"
NIH_NO_FINDING = "00027426_000.png"
DICOM_CXR = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _analyse(*parts: str) -> tuple[Study, CxrAnatomy]:
    study = load_study(shared_path("cxr", *parts))
    return study, analyse_chest_xray(study)


def _lps_x(study: Study, mask: np.ndarray) -> float:
    """Patient left-right coordinate (LPS x, mm; larger = patient's left) of a mask's centroid."""
    return float(study.index_to_lps(np.argwhere(mask).mean(0))[0])


@pytest.fixture(scope="module")
def nih():
    return {name: _analyse(name) for name in (NIH_CARDIOMEGALY, NIH_NO_FINDING)}


def test_lung_fields_match_reference_masks():
    from PIL import Image

    scores = []
    for i in range(1, 5):
        study, res = _analyse("lung_masks", f"{i}.jpg")
        ref = np.asarray(Image.open(shared_path("cxr", "lung_masks", f"{i}-mask.png"))) > 0  # both lungs, 0/255
        assert ref.shape == res.lung_right.shape
        scores.append(_dice(res.lung_right | res.lung_left, ref))
        # each reference lung (split at the image centre; standard display) matches its side
        half = ref.shape[1] // 2
        ref_right, ref_left = ref.copy(), ref.copy()
        ref_right[:, half:] = False
        ref_left[:, :half] = False
        assert _dice(res.lung_right, ref_right) > 0.75
        assert _dice(res.lung_left, ref_left) > 0.75
        assert not (res.lung_right & res.lung_left).any()
    assert np.mean(scores) >= 0.85, scores
    assert min(scores) >= 0.8, scores


def test_ctr_separates_cardiomegaly_from_normal(nih):
    _, big = nih[NIH_CARDIOMEGALY]
    _, normal = nih[NIH_NO_FINDING]
    assert big.ctr > 0.52, big.notes
    assert normal.ctr < 0.45, normal.notes
    assert big.ctr - normal.ctr > 0.1
    # the stricter/looser alternative segmentations agree on the side of 0.5
    assert big.ctr_range[0] > 0.5 and normal.ctr_range[1] < 0.5
    assert big.confidence >= 0.6 and normal.confidence >= 0.6


def test_lines_are_drawn_where_they_are_measured(nih):
    study, res = nih[NIH_NO_FINDING]
    h, w = study.shape
    for line in (res.heart_width, res.thorax_width, *res.lines):
        for r, c in (line.start_voxel, line.end_voxel):
            assert 0 <= r <= h - 1 and 0 <= c <= w - 1, line
    # PNG: 1 mm pixels, so lengths equal the horizontal pixel distance
    t = res.thorax_width
    assert t.start_voxel[0] == t.end_voxel[0]
    assert t.length_mm == pytest.approx(abs(t.end_voxel[1] - t.start_voxel[1]), abs=0.05)
    assert res.ctr == pytest.approx(res.heart_width.length_mm / res.thorax_width.length_mm, abs=1e-3)
    # the heart lies between the lungs and its width inside the thorax's
    assert res.heart is not None and res.heart.any()
    assert not (res.heart & (res.lung_right | res.lung_left)).any()
    assert res.heart_width.length_mm < res.thorax_width.length_mm
    names = {ln.name for ln in res.lines}
    assert {"heart_right_extent", "heart_left_extent", "midline"} <= names
    right_ext = next(ln for ln in res.lines if ln.name == "heart_right_extent")
    left_ext = next(ln for ln in res.lines if ln.name == "heart_left_extent")
    assert right_ext.length_mm + left_ext.length_mm == pytest.approx(res.heart_width.length_mm, abs=1.5)
    assert [m.name for m in res.measurements()] == ["length", "length", "ratio"]


@pytest.mark.parametrize("parts", [
    ("16747_3_1.jpg",),
    ("tbx11k", "imgs", "health", "h0001.png"),
    ("tbx11k", "imgs", "tb", "tb0005.png"),
    ("tbx11k", "imgs", "tb", "tb0007.png"),
    (DICOM_CXR,),
])
def test_runs_sanely_on_other_radiographs(parts):
    study, res = _analyse(*parts)
    assert res.assessable, res.notes
    assert 0.35 <= res.ctr <= 0.65
    assert 0.0 < res.confidence <= 1.0
    assert res.lung_right.shape == study.shape and res.lung_left.shape == study.shape
    for lung in (res.lung_right, res.lung_left):
        assert 0.03 < lung.mean() < 0.4
    assert _lps_x(study, res.lung_left) > _lps_x(study, res.lung_right)
    assert res.view_note


def test_dicom_projection_is_read_from_the_header():
    _, res = _analyse(DICOM_CXR)  # ViewPosition PA
    assert res.view_note.startswith("PA projection")


def _mirrored(study: Study) -> Study:
    """The same patient with the columns stored in reverse: pixels flipped left-right and
    the affine flipped accordingly (index (r, c') = old (r, W-1-c'))."""
    w = study.shape[1]
    flip = np.eye(4)
    flip[1, 1], flip[1, 3] = -1.0, w - 1
    return Study(array=study.array[:, ::-1].copy(), affine_lps=study.affine_lps @ flip, modality=study.modality)


def _transposed(study: Study) -> Study:
    """The same patient stored with rows and columns swapped (affine columns swapped)."""
    swap = np.eye(4)[:, [1, 0, 2, 3]]
    return Study(array=study.array.T.copy(), affine_lps=study.affine_lps @ swap, modality=study.modality)


def test_patient_sides_follow_the_affine(nih):
    study, res = nih[NIH_NO_FINDING]
    mirrored = analyse_chest_xray(_mirrored(study))
    # the patient's left lung is the same tissue: it mirrors back onto the original
    assert _dice(mirrored.lung_left[:, ::-1], res.lung_left) > 0.97
    assert _dice(mirrored.lung_right[:, ::-1], res.lung_right) > 0.97
    assert mirrored.ctr == pytest.approx(res.ctr, abs=0.01)
    # and on the image it sits on the other side (image left now)
    cols = np.argwhere(mirrored.lung_left)[:, 1].mean(), np.argwhere(mirrored.lung_right)[:, 1].mean()
    assert cols[0] < cols[1]
    transposed = analyse_chest_xray(_transposed(study))
    assert _dice(transposed.lung_left.T, res.lung_left) > 0.97
    assert transposed.ctr == pytest.approx(res.ctr, abs=0.01)
    r, c = transposed.heart_width.start_voxel
    assert transposed.heart_width.start_voxel[0] != transposed.heart_width.end_voxel[0]  # now vertical
    assert transposed.heart_width.start_voxel[1] == pytest.approx(transposed.heart_width.end_voxel[1])
    assert 0 <= r < study.shape[1] and 0 <= c < study.shape[0]


def test_a_lateral_animal_radiograph_is_not_assessed():
    study = load_study(shared_path("dicom", "highdicom", "dx_image.dcm"))  # lateral thorax of a dog
    res = analyse_chest_xray(study)
    assert not res.assessable and res.confidence == 0.0
    assert res.notes and res.heart_width is None


def test_a_lateral_view_is_refused_from_its_metadata(nih):
    study, _ = nih[NIH_NO_FINDING]
    lateral = Study(array=study.array, affine_lps=study.affine_lps, modality="DX", metadata={"view_position": "LL"})
    res = analyse_chest_xray(lateral)
    assert not res.assessable and any("lateral" in n for n in res.notes)
    ap = Study(array=study.array, affine_lps=study.affine_lps, modality="DX", metadata={"view_position": "AP"})
    assert analyse_chest_xray(ap).view_note.startswith("AP projection")
