"""Import of existing labels: DICOM SEG (dcmqi, highdicom variants) and NIfTI label maps.

Known answers: the dcmqi NRRD files hold the same segments as label maps (read with
SimpleITK and placed on the study grid independently); for the highdicom SEGs the
answer is highdicom's own decoding by source instance; for NIfTI, synthetic labels
with a known position in millimetres, and the README's mean HU of the liver label.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import StudyLoadError
from napari_medground.export import export_result, import_nifti_labels, import_seg
from napari_medground.label_import import labels_to_findings
from napari_medground.study.model import Study, lps_to_ras
from tests.core.test_export_helpers import load_dicom, make_result
from tests.data.shared import shared_path


def nrrd_on_study(path, study) -> np.ndarray:
    """Labels of an NRRD (ITK, LPS) at each study voxel centre, nearest neighbour."""
    import SimpleITK as sitk

    im = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(im)  # (k, j, i)
    m = np.array(im.GetDirection()).reshape(3, 3) * np.array(im.GetSpacing())
    to_ijk = np.linalg.inv(m) @ study.affine_lps[:3, :3]
    shift = np.linalg.inv(m) @ (study.affine_lps[:3, 3] - np.array(im.GetOrigin()))
    axes = [
        np.arange(n, dtype=float).reshape([-1 if i == a else 1 for i in range(3)])
        for a, n in enumerate(study.shape)
    ]
    ijk = [
        np.broadcast_to(
            np.rint(shift[r] + sum(to_ijk[r, a] * axes[a] for a in range(3))).astype(int), study.shape
        )
        for r in range(3)
    ]
    ok = np.ones(study.shape, bool)
    for r, n in enumerate(arr.shape[::-1]):
        ok &= (ijk[r] >= 0) & (ijk[r] < n)
    out = np.zeros(study.shape, arr.dtype)
    out[ok] = arr[ijk[2][ok], ijk[1][ok], ijk[0][ok]]
    return out


def dcmqi(*parts):
    return shared_path("dicom", "dcmqi_segmentations", *parts)


def test_partial_overlaps_keeps_every_segment_and_their_overlaps():
    study = load_dicom(dcmqi("ct-3slice"))
    labels = import_seg(dcmqi("partial_overlaps.dcm"), study)
    truth = {}
    for i in (1, 2, 3):
        arr = nrrd_on_study(dcmqi(f"partial_overlaps-{i}.nrrd"), study)
        truth.update({int(v): arr == v for v in np.unique(arr) if v})
    assert [lab.value for lab in labels] == [1, 2, 3, 4, 5]
    for lab in labels:
        np.testing.assert_array_equal(lab.mask, truth[lab.value], err_msg=lab.name)
    masks = [lab.mask for lab in labels]
    assert sum(int(np.count_nonzero(a & b)) for i, a in enumerate(masks) for b in masks[i + 1 :]) > 0
    by_name = {lab.name: lab for lab in labels}
    assert by_name["LIGHT_BLUE"].codes["type"] == {"scheme": "SCT", "value": "79654002", "meaning": "Edema"}
    assert by_name["LIGHT_BLUE"].codes["category"]["value"] == "49755003"
    assert all(lab.color is not None and all(0 <= c <= 1 for c in lab.color) for lab in labels)


def test_liver_seg_on_the_three_slice_ct():
    study = load_dicom(dcmqi("ct-3slice"))
    (liver,) = import_seg(dcmqi("liver.dcm"), study)
    np.testing.assert_array_equal(liver.mask, nrrd_on_study(dcmqi("liver_seg.nrrd"), study) == 1)
    assert liver.name == "Liver" and liver.codes["type"]["meaning"] == "Liver"


@pytest.mark.parametrize("source", ["image", "multiframe/mf.dcm"])
def test_seg_lands_on_single_and_multiframe_copies_of_the_series(source):
    study = load_dicom(dcmqi("23x38x3", *source.split("/")))
    (lab,) = import_seg(dcmqi("23x38x3", "seg", "label.seg"), study)
    truth = nrrd_on_study(dcmqi("23x38x3", "nrrd", "label.nrrd"), study) == 1
    assert truth.sum() > 0
    np.testing.assert_array_equal(lab.mask, truth)


@pytest.mark.parametrize("name", ["sparse-labelmap-ppv5", "sparse-labelmap-noppv"])
def test_sparse_label_map_seg(name):
    study = load_dicom(dcmqi("24x38x3", "image"))
    labels = import_seg(dcmqi(f"{name}.dcm"), study)
    assert [lab.name for lab in labels] == ["Liver"]  # the background segment 0 is not a label
    truth = nrrd_on_study(dcmqi(f"{name.replace('-', '_')}_seg.nrrd"), study) == 1
    np.testing.assert_array_equal(labels[0].mask, truth)
    assert not labels[0].mask[1].any()  # the slice between the two frames stays empty


def _study_from_seg_frames(seg) -> Study:
    """A study grid built from a SEG's own frame geometry (its source CT is not in the data)."""
    shared = seg.SharedFunctionalGroupsSequence[0]
    iop = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    sp = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    frames = {}
    for item in seg.PerFrameFunctionalGroupsSequence:
        pos = tuple(float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient)
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        frames[pos] = uid
    normal = np.cross(iop[:3], iop[3:])
    pos = sorted(frames, key=lambda p: float(np.dot(p, normal)))
    dist = np.array([np.dot(p, normal) for p in pos])
    step = float(np.diff(dist)[np.diff(dist) > 1e-3].min())
    # the contiguous run of planes (the overlap file also has one far-away frame)
    keep = [p for p, d in zip(pos, dist) if d >= dist[-1] - 10 * step]
    aff = np.eye(4)
    aff[:3, 0] = normal * step
    aff[:3, 1], aff[:3, 2], aff[:3, 3] = iop[3:] * sp[0], iop[:3] * sp[1], keep[0]
    return Study(
        np.zeros((len(keep), int(seg.Rows), int(seg.Columns)), np.int16),
        aff,
        modality="CT",
        source_format="dicom",
        frame_of_reference_uid=seg.FrameOfReferenceUID,
        sop_instance_uids=tuple(frames[p] for p in keep),
    )


@pytest.mark.parametrize(
    "name",
    [
        "seg_image_ct_binary",
        "seg_image_ct_binary_overlap",
        "seg_image_ct_binary_fractional",
        "seg_image_ct_true_fractional",
    ],
)
def test_highdicom_seg_variants_match_highdicom_decoding(name):
    import highdicom as hd

    path = shared_path("dicom", "highdicom", f"{name}.dcm")
    seg = hd.seg.segread(str(path))
    study = _study_from_seg_frames(seg)
    labels = import_seg(path, study)
    numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    ref = seg.get_pixels_by_source_instance(
        list(study.sop_instance_uids), segment_numbers=numbers, assert_missing_frames_are_empty=True
    )
    for k, lab in enumerate(labels):
        expected = ref[..., k] >= 0.5 if "fractional" in name else ref[..., k].astype(bool)
        np.testing.assert_array_equal(lab.mask, expected)
    assert any(lab.mask.any() for lab in labels)
    if name == "seg_image_ct_true_fractional":  # stored 64/255 is below the 0.5 threshold, 128/255 above
        frac = seg.get_pixels_by_source_instance(
            list(study.sop_instance_uids), segment_numbers=numbers, assert_missing_frames_are_empty=True
        )[..., 0]
        assert ((frac > 0) & (frac < 0.5)).any() and not labels[0].mask[(frac > 0) & (frac < 0.5)].any()


def test_single_frame_seg_on_its_ct_slice_and_a_cr_seg_by_instance():
    import highdicom as hd

    study = load_dicom(shared_path("dicom", "highdicom", "ct_image.dcm"))
    (lab,) = import_seg(shared_path("dicom", "highdicom", "seg_image_ct_binary_single_frame.dcm"), study)
    seg = hd.seg.segread(str(shared_path("dicom", "highdicom", "seg_image_ct_binary_single_frame.dcm")))
    ref = seg.get_pixels_by_source_instance(list(study.sop_instance_uids))[..., 0].astype(bool)
    np.testing.assert_array_equal(lab.mask.reshape(ref.shape), ref)
    assert lab.mask.sum() > 0
    cr_path = shared_path("dicom", "highdicom", "seg_image_cr_binary.dcm")
    cr = hd.seg.segread(str(cr_path))
    uid = (
        cr.PerFrameFunctionalGroupsSequence[0]
        .DerivationImageSequence[0]
        .SourceImageSequence[0]
        .ReferencedSOPInstanceUID
    )
    study2d = Study(
        np.zeros((int(cr.Rows), int(cr.Columns)), np.uint16),
        np.eye(4),
        modality="CR",
        source_format="dicom",
        sop_instance_uids=(uid,),
    )
    (cr_lab,) = import_seg(cr_path, study2d)
    np.testing.assert_array_equal(
        cr_lab.mask, cr.get_pixels_by_source_instance([uid])[0, ..., 0].astype(bool)
    )


def test_seg_on_a_different_grid_is_resampled_through_patient_space():
    ref_study = load_dicom(dcmqi("ct-3slice"))
    a = ref_study.affine_lps.copy()
    coarse = a.copy()  # half the in-plane resolution, rows flipped, a 0.3-pixel offset (no ties)
    coarse[:3, 1] = -2 * a[:3, 1]
    coarse[:3, 2] = 2 * a[:3, 2]
    coarse[:3, 3] = a[:3, 3] + 511.3 * a[:3, 1] + 0.3 * a[:3, 2]
    study = Study(
        np.zeros((3, 256, 256), np.int16),
        coarse,
        source_format="dicom",
        frame_of_reference_uid=ref_study.frame_of_reference_uid,
    )
    labels = import_seg(dcmqi("partial_overlaps.dcm"), study)
    for i in (1, 2, 3):
        arr = nrrd_on_study(dcmqi(f"partial_overlaps-{i}.nrrd"), study)
        for v in (int(x) for x in np.unique(arr) if x):
            np.testing.assert_array_equal(labels[v - 1].mask, arr == v)


def test_seg_of_another_frame_of_reference_is_refused():
    study = load_dicom(dcmqi("23x38x3", "image"))
    with pytest.raises(StudyLoadError, match="frame of reference"):
        import_seg(dcmqi("partial_overlaps.dcm"), study)


def test_nifti_labels_with_our_sidecar_round_trip(tmp_path):
    aff = np.diag([-1.5, 1.2, 3.0, 1.0])
    aff[:3, 3] = [30, -20, 10]
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((20, 18, 12), np.int16), aff), str(path))
    from napari_medground.study.nifti_io import read_nifti

    study = read_nifti(path)
    a = np.zeros(study.shape, bool)
    a[2:6, 3:9, 4:10] = True
    b = np.zeros(study.shape, bool)
    b[7:10, 10:15, 2:8] = True
    res = make_result(
        study,
        [
            dict(
                name="left kidney",
                mask=a,
                anatomy_code={"scheme": "SCT", "value": "64033007", "meaning": "Kidney"},
            ),
            dict(name="cyst", mask=b),
        ],
    )
    res.query["queries"][0]["laterality"] = "left"
    files = export_result(res, tmp_path / "out", ("nifti",))
    labels = import_nifti_labels(files["nifti"], study)
    assert [(lab.name, lab.value) for lab in labels] == [("left kidney", 1), ("cyst", 2)]
    np.testing.assert_array_equal(labels[0].mask, a)
    np.testing.assert_array_equal(labels[1].mask, b)
    assert labels[0].codes["laterality"]["meaning"] == "Left"
    assert labels[1].codes["type"]["meaning"] == "Cyst" and labels[1].note == ""
    side = json.loads(files["nifti_sidecar"].read_text())
    assert labels[0].color == tuple(side["labels"][0]["color"])
    findings, masks = labels_to_findings(labels)
    assert findings[1].finding_code["meaning"] == "Cyst" and findings[0].anatomy_code["value"] == "64033007"
    assert all(f.edited for f in findings) and set(masks) == {f.mask_id for f in findings}


def test_nifti_labels_on_another_grid_without_sidecar_are_resampled(tmp_path):
    study = Study(np.zeros((10, 40, 40), np.int16), np.diag([2.0, 1.0, 1.0, 1.0]))
    # the same patient space at half resolution, axes in RAS file order
    lab = np.zeros((20, 20, 20), np.uint8)  # file (i, j, k) voxels of 2 mm, shifted 0.6 mm (no rounding ties)
    lab[2:7, 5:10, 10:15] = 3
    lps = np.diag([2.0, 2.0, 2.0, 1.0])
    lps[:3, 3] = 0.6
    path = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image(lab, lps_to_ras(lps)), str(path))
    (got,) = import_nifti_labels(path, study)
    assert got.name == "label 3" and "nearest neighbour" in got.note
    # study voxel (a, b, c) sits at LPS (2a, b, c) mm; file voxel (i, j, k) at (2i, 2j, 2k) + 0.6 mm
    a = np.arange(10)[:, None, None]
    b = np.arange(40)[None, :, None]
    c = np.arange(40)[None, None, :]
    near = lambda mm, lo, hi: (np.rint((mm - 0.6) / 2.0) >= lo) & (np.rint((mm - 0.6) / 2.0) < hi)  # noqa: E731
    expected = near(2.0 * a, 2, 7) & near(b * 1.0, 5, 10) & near(c * 1.0, 10, 15)
    assert expected.sum() > 100
    np.testing.assert_array_equal(got.mask, expected)


def test_reference_nifti_labels_land_on_the_dicom_series():
    study = load_dicom(shared_path("totalseg", "example_ct_dicom"))
    sidecar = {"labels": [{"value": 5, "name": "liver"}, {"value": 1, "name": "spleen"}]}
    path = shared_path("totalseg", "example_seg_dicom.nii.gz")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        side = Path(d) / "names.json"
        side.write_text(json.dumps(sidecar))
        labels = {lab.name: lab for lab in import_nifti_labels(path, study, sidecar=side)}
    assert np.mean(study.array[labels["liver"].mask]) == pytest.approx(89.3, abs=0.5)
    assert np.mean(study.array[labels["spleen"].mask]) == pytest.approx(79.6, abs=0.5)
