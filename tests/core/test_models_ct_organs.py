"""CT organs: canonical frame, a synthetic abdomen with known answers, real CT against TotalSegmentator."""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.models.ct.organs import segment_organ
from napari_medground.models.ct.organs_frame import Frame, Grid
from napari_medground.study.model import Study
from tests.data.shared import shared_path

SPACING = (3.0, 2.5, 2.5)  # canonical (S, P, L) voxel size of the phantom, mm


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _ellipsoid(shape, centre, semi) -> np.ndarray:
    g = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((x - c) / r) ** 2 for x, c, r in zip(g, centre, semi)) <= 1.0


@pytest.fixture(scope="module")
def phantom() -> dict[str, np.ndarray]:
    """A synthetic abdomen in canonical SPL order: body wall, fat, spine, liver (patient
    right, anterior), spleen (patient left, posterior); 10 HU noise."""
    shape = (40, 128, 128)
    rng = np.random.default_rng(3)
    body = _ellipsoid(shape, (20, 64, 64), (1e9, 55, 60))
    inner = _ellipsoid(shape, (20, 64, 64), (1e9, 47, 52))
    cavity = _ellipsoid(shape, (20, 64, 64), (1e9, 41, 46))
    liver = _ellipsoid(shape, (26, 55, 38), (12, 28, 22)) & cavity
    spleen = _ellipsoid(shape, (28, 80, 96), (6, 12, 8)) & cavity
    spine = _ellipsoid(shape, (20, 96, 64), (1e9, 8, 8))
    hu = np.full(shape, -1000.0)
    hu[body] = -100.0  # subcutaneous fat
    hu[inner] = 45.0  # wall muscle
    hu[cavity] = -90.0  # intra-abdominal fat
    hu[liver] = 60.0
    hu[spleen] = 48.0
    hu[spine] = 600.0
    hu += rng.normal(0.0, 10.0, shape)
    return {"hu": hu.astype(np.float32), "liver": liver, "spleen": spleen, "spine": spine}


def _oriented(canon: np.ndarray, perm, flips, canon_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The canonical array seen in another axis order/direction, with the matching affine."""
    t = np.transpose(canon, perm)
    for ax, f in enumerate(flips):
        if f:
            t = np.flip(t, ax)
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    for k, (p, f) in enumerate(zip(perm, flips)):
        m[p, k] = -1.0 if f else 1.0
        m[p, 3] = t.shape[k] - 1 if f else 0.0
    return np.ascontiguousarray(t), canon_affine @ m


def _canon_affine() -> np.ndarray:
    a = np.zeros((4, 4))
    a[3, 3] = 1.0
    a[2, 0], a[1, 1], a[0, 2] = SPACING  # array axis 0 -> S, 1 -> P, 2 -> L (LPS x, y, z)
    a[:3, 3] = (-160.0, -160.0, -60.0)
    return a


@pytest.mark.parametrize("perm,flips", [((0, 1, 2), (False, False, False)),  # axial DICOM (SPL)
                                        ((2, 1, 0), (True, True, False)),  # NIfTI RAS read as (k, j, i)
                                        ((1, 0, 2), (False, True, True))])  # coronal-like
def test_frame_round_trip_and_affine(perm, flips):
    canon = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    arr, aff = _oriented(canon, perm, flips, _canon_affine())
    fr = Frame.from_affine(aff)
    assert np.array_equal(fr.to_canonical(arr), canon)
    assert np.array_equal(fr.to_study(canon), arr)
    assert fr.spacing_mm == pytest.approx(SPACING)
    ca = fr.canonical_affine(aff, arr.shape)
    assert np.allclose(ca, _canon_affine())


def test_grid_down_up_keeps_shape():
    g = Grid.for_spacing((2.0, 0.8, 0.8), (7, 101, 99))
    assert g.factors == (1, 2, 2)
    m = np.zeros((7, 101, 99), dtype=bool)
    m[2:5, 10:60, 20:41] = True
    down = g.down(m.astype(np.float32)) > 0.5
    assert down.shape == (7, 51, 50)
    assert _dice(g.up(down), m) > 0.95


@pytest.mark.parametrize("perm,flips", [((0, 1, 2), (False, False, False)), ((2, 1, 0), (True, True, False))])
def test_phantom_liver_and_spleen_found_on_the_right_sides(phantom, perm, flips):
    arr, aff = _oriented(phantom["hu"], perm, flips, _canon_affine())
    study = Study(array=arr, affine_lps=aff, modality="CT")
    fr = Frame.from_affine(aff)
    for organ, truth in (("liver", phantom["liver"]), ("spleen", phantom["spleen"])):
        seg = segment_organ(study, organ, refine=False)
        assert seg.mask is not None and seg.mask.shape == arr.shape, seg.notes
        assert _dice(fr.to_canonical(seg.mask), truth) >= 0.85, (organ, seg.notes)
        assert 0.0 < seg.confidence <= 1.0
        vol_true = truth.sum() * np.prod(SPACING) / 1000.0
        assert seg.volume_ml == pytest.approx(vol_true, rel=0.15)
    liver = segment_organ(study, "liver", refine=False).mask
    centroid_lps = study.index_to_lps(np.argwhere(liver).mean(axis=0))
    spine_lps = study.index_to_lps(np.argwhere(fr.to_study(phantom["spine"])).mean(axis=0))
    assert centroid_lps[0] < spine_lps[0] - 30.0  # patient right is -x in LPS


def test_mirrored_affine_moves_the_liver_to_the_other_side(phantom):
    """Same voxels, affine saying the big organ is on the patient's left: no liver there."""
    aff = _canon_affine()
    aff[:3, 2] *= -1.0  # axis 2 now points to the patient's right
    study = Study(array=phantom["hu"].copy(), affine_lps=aff, modality="CT")
    seg = segment_organ(study, "liver", refine=False)
    assert seg.mask is None and seg.confidence == 0.0
    assert any("not found" in n for n in seg.notes)


def test_absent_organ_gives_no_mask_and_a_reason(phantom):
    hu = phantom["hu"].copy()
    hu[phantom["liver"] | phantom["spleen"]] = -90.0
    study = Study(array=hu, affine_lps=_canon_affine(), modality="CT")
    for organ in ("liver", "spleen"):
        seg = segment_organ(study, organ, refine=False)
        assert seg.mask is None and seg.confidence == 0.0 and seg.notes


def test_bad_inputs_are_refused(phantom):
    study = Study(array=phantom["hu"], affine_lps=_canon_affine(), modality="MR")
    with pytest.raises(ValueError, match="needs a 3D CT"):
        segment_organ(study, "liver")
    with pytest.raises(ValueError, match="unknown organ"):
        segment_organ(Study(array=phantom["hu"], affine_lps=_canon_affine(), modality="CT"), "pancreas")


# ----------------------------------------------------------------- real CT (slow)
def _reference(study: Study, nifti, label: int) -> np.ndarray:
    """Reference label resampled onto the study grid by nearest neighbour through both affines."""
    import nibabel as nib

    from napari_medground.study.model import ras_to_lps

    im = nib.load(str(nifti))
    lab = np.asarray(im.dataobj)
    m = np.linalg.inv(ras_to_lps(im.affine)) @ study.affine_lps
    idx = np.indices(study.shape).reshape(3, -1)
    j = np.rint(m[:3, :3] @ idx + m[:3, 3:4]).astype(int)
    ok = np.all((j >= 0) & (j < np.array(lab.shape)[:, None]), axis=0)
    out = np.zeros(idx.shape[1], dtype=bool)
    out[ok] = lab[j[0, ok], j[1, ok], j[2, ok]] == label
    return out.reshape(study.shape)


def _nifti_ct(name: str) -> Study:
    from napari_medground.study.nifti_io import read_nifti

    study = read_nifti(shared_path("totalseg", name))
    study.modality = "CT"
    return study


@pytest.mark.slow
@pytest.mark.shared_data
def test_example_ct_liver_matches_totalsegmentator():
    study = _nifti_ct("example_ct.nii.gz")
    ref = _reference(study, shared_path("totalseg", "example_seg_fast_force_split.nii.gz"), 5)
    seg = segment_organ(study, "liver")
    ref_ml = ref.sum() * study.voxel_volume_ml
    assert _dice(seg.mask, ref) >= 0.85, seg.notes
    assert abs(seg.volume_ml / ref_ml - 1.0) <= 0.10, (seg.volume_ml, ref_ml)
    assert seg.confidence >= 0.6 and seg.models and seg.models[0].name == "litemedsam"


@pytest.mark.slow
@pytest.mark.shared_data
def test_example_ct_spleen_matches_totalsegmentator():
    study = _nifti_ct("example_ct.nii.gz")
    ref = _reference(study, shared_path("totalseg", "example_seg_fast_force_split.nii.gz"), 1)
    seg = segment_organ(study, "spleen")
    assert _dice(seg.mask, ref) >= 0.85, seg.notes


@pytest.mark.slow
@pytest.mark.shared_data
def test_dicom_series_liver_and_spleen():
    try:
        from napari_medground.study.loader import load_study
    except ImportError as exc:
        pytest.skip(f"DICOM loader not available yet: {exc}")
    study = load_study(shared_path("totalseg", "example_ct_dicom"))
    seg_file = shared_path("totalseg", "example_seg_dicom.nii.gz")
    for organ, label in (("liver", 5), ("spleen", 1)):
        seg = segment_organ(study, organ)
        assert _dice(seg.mask, _reference(study, seg_file, label)) >= 0.85, (organ, seg.notes)
