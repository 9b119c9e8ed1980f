"""DICOM SEG + SR export round trips on real series, each file checked with dciodvfy.

CT: totalseg/example_ct_dicom with liver/spleen/stomach/right adrenal masks derived from
the reference labels (example_seg_dicom.nii.gz) resampled onto the study grid. 2D: the
highdicom DX image and the SIIM CXR (JPEG, Secondary Capture). Multi-frame: the dcmqi
Legacy Converted Enhanced CT.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from napari_medground.export import export_result, import_seg
from tests.core.test_export_helpers import labels_on_study, load_dicom, make_result
from tests.data.shared import shared_path

SCT = "SCT"
CODES = {
    "liver": {"scheme": "SCT", "value": "10200004", "meaning": "Liver"},
    "spleen": {"scheme": "SCT", "value": "78961009", "meaning": "Spleen"},
    "stomach": {"scheme": "SCT", "value": "69695003", "meaning": "Stomach"},
    "adrenal": {"scheme": "SCT", "value": "23451007", "meaning": "Adrenal gland"},
}
TOTALSEG_IDS = {"liver": 5, "spleen": 1, "stomach": 6, "right adrenal gland": 8}


def dciodvfy_errors(path: Path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    p = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def ct_export(tmp_path_factory):
    import highdicom as hd  # noqa: F401 - fail early when missing

    study = load_dicom(shared_path("totalseg", "example_ct_dicom"))
    labels = labels_on_study(study, shared_path("totalseg", "example_seg_dicom.nii.gz"))
    specs = []
    for name, value in TOTALSEG_IDS.items():
        mask = labels == value
        vol = float(mask.sum() * study.voxel_volume_ml)
        extent = np.ptp(np.argwhere(mask) * np.asarray(study.spacing_mm), axis=0).max()
        specs.append(
            dict(
                name=name,
                mask=mask,
                anatomy_code=CODES[name.split()[-2] if " " in name else name],
                edited=name == "spleen",
                measurements=[
                    ("volume", vol, "mL"),
                    ("max_diameter", float(extent), "mm"),
                    ("mean", float(study.array[mask].mean()), "HU"),
                ],
            )
        )
    specs.append(
        dict(name="liver lesion", mask=None, status="absent", conclusion="No liver lesion was found.")
    )
    result = make_result(study, specs, text="liver, spleen, stomach, right adrenal gland, liver lesion")
    out = tmp_path_factory.mktemp("ct_export")
    files = export_result(result, out, ("nifti", "seg", "sr", "csv", "json"))
    return study, result, files


def test_ct_seg_holds_every_mask_on_the_source_frames(ct_export):
    import highdicom as hd

    study, result, files = ct_export
    seg = hd.seg.segread(str(files["seg"]))
    assert seg.number_of_segments == 4
    pixels = seg.get_pixels_by_source_instance(list(study.sop_instance_uids), segment_numbers=[1, 2, 3, 4])
    for k, f in enumerate(result.findings[:4]):
        np.testing.assert_array_equal(pixels[..., k].astype(bool), result.masks[f.mask_id], err_msg=f.name)
    assert seg.FrameOfReferenceUID == study.frame_of_reference_uid
    positions = {
        tuple(round(float(v), 3) for v in item.PlanePositionSequence[0].ImagePositionPatient)
        for item in seg.PerFrameFunctionalGroupsSequence
    }
    slices = {tuple(round(float(v), 3) for v in study.index_to_lps((k, 0, 0))) for k in range(study.shape[0])}
    assert positions <= slices


def test_ct_seg_round_trips_through_our_importer(ct_export):
    study, result, files = ct_export
    labels = import_seg(files["seg"], study)
    assert [lab.name for lab in labels] == [f.name for f in result.findings[:4]]
    for lab, f in zip(labels, result.findings):
        np.testing.assert_array_equal(lab.mask, result.masks[f.mask_id])


def test_ct_seg_codes_algorithms_and_laterality(ct_export):
    import highdicom as hd

    _, _, files = ct_export
    seg = hd.seg.segread(str(files["seg"]))
    segs = {s.SegmentLabel: s for s in seg.SegmentSequence}
    for s in seg.SegmentSequence:
        for seq in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
            assert s[seq].value[0].CodingSchemeDesignator == SCT
        assert s.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "123037004"
    liver = segs["liver"]
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    assert liver.SegmentAlgorithmType == "AUTOMATIC"
    alg = liver.SegmentationAlgorithmIdentificationSequence[0]
    assert alg.AlgorithmName == "LiteMedSAM" and alg.AlgorithmVersion == "0.1.1"
    assert alg.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"  # Artificial Intelligence
    assert segs["spleen"].SegmentAlgorithmType == "MANUAL"
    assert "SegmentationAlgorithmIdentificationSequence" not in segs["spleen"]
    adrenal = segs["right adrenal gland"].SegmentedPropertyTypeCodeSequence[0]
    assert adrenal.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "24028007"  # Right
    assert liver.TrackingUID != segs["spleen"].TrackingUID


def test_ct_sr_reads_back_measurements_status_references_and_conclusion(ct_export):
    import highdicom as hd

    study, result, files = ct_export
    seg = hd.seg.segread(str(files["seg"]))
    tracking = {s.SegmentLabel: (s.TrackingUID, int(s.SegmentNumber)) for s in seg.SegmentSequence}
    sr = hd.sr.srread(str(files["sr"]))
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 4
    for g in groups:
        f = result.finding(g.tracking_identifier)
        assert (g.tracking_uid, g.referenced_segment.referenced_segment_numbers[0]) == tracking[f.name]
        assert g.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
        got = {(m.name.meaning, m.unit.value): m.value for m in g.get_measurements()}
        assert got[("Volume", "ml")] == pytest.approx(f.measurement("volume").value)
        assert got[("Diameter", "mm")] == pytest.approx(f.measurement("max_diameter").value)
        assert got[("Attenuation Coefficient", "[hnsf'U]")] == pytest.approx(f.measurement("mean").value)
        status = [q.value.meaning for q in g.get_qualitative_evaluations() if q.name.value == "121052"]
        assert status == ["Present"]
        sources = {s.referenced_sop_instance_uid for s in g.referenced_segment.source_images_for_segmentation}
        expected = {
            study.sop_instance_uids[k] for k in np.flatnonzero(result.masks[f.mask_id].any(axis=(1, 2)))
        }
        assert sources == expected
    liver_hu = next(m for m in result.finding("liver").measurements if m.name == "mean").value
    assert liver_hu == pytest.approx(89.3, abs=0.5)  # the README's check that the masks sit right
    texts = _texts(sr)
    assert result.conclusion.text in texts and "No liver lesion was found." in texts
    assert "liver lesion" in _tracking_ids(sr)  # the absent finding has its own (TID 1501) group


def test_ct_dicom_files_pass_dciodvfy(ct_export):
    _, _, files = ct_export
    for kind in ("seg", "sr"):
        assert dciodvfy_errors(files[kind]) == [], kind


def test_ct_nifti_labels_sit_on_the_study_grid(ct_export):
    from napari_medground.study.nifti_io import read_nifti

    study, result, files = ct_export
    back = read_nifti(files["nifti"])
    np.testing.assert_allclose(back.affine_lps, study.affine_lps, atol=1e-6)
    np.testing.assert_array_equal(back.array, result.label_array())


@pytest.mark.parametrize("source", ["dx", "cxr"])
def test_2d_radiograph_seg_and_planar_sr(source, tmp_path):
    import highdicom as hd

    path = (
        shared_path("dicom", "highdicom", "dx_image.dcm")
        if source == "dx"
        else next(shared_path("cxr").glob("*.dcm"))
    )
    study = load_dicom(path)
    rows, cols = study.shape
    heart = np.zeros(study.shape, bool)
    heart[rows // 3 : 2 * rows // 3, cols // 3 : 2 * cols // 3] = True
    lung = np.zeros(study.shape, bool)
    lung[rows // 5 : 3 * rows // 5, cols // 2 : 9 * cols // 10] = True  # overlaps the heart
    result = make_result(
        study,
        [
            dict(
                name="heart",
                mask=heart,
                anatomy_code={"scheme": "SCT", "value": "80891009", "meaning": "Heart"},
                measurements=[("length", 120.5, "mm")],
            ),
            dict(
                name="left lung",
                mask=lung,
                anatomy_code={"scheme": "SCT", "value": "44029006", "meaning": "Left lung"},
                measurements=[("ratio", 0.56, "1")],
            ),
        ],
    )
    files = export_result(result, tmp_path, ("seg", "sr"))
    seg = hd.seg.segread(str(files["seg"]))
    pixels = seg.get_pixels_by_source_instance(
        [seg.SourceImageSequence[0].ReferencedSOPInstanceUID], segment_numbers=[1, 2]
    )[0]
    np.testing.assert_array_equal(pixels[..., 0].astype(bool), heart)
    np.testing.assert_array_equal(pixels[..., 1].astype(bool), lung)
    sr = hd.sr.srread(str(files["sr"]))
    groups = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups()}
    assert [(m.name.meaning, m.value, m.unit.value) for m in groups["heart"].get_measurements()] == [
        ("Length", 120.5, "mm")
    ]
    assert [(m.name.meaning, m.value) for m in groups["left lung"].get_measurements()] == [("Ratio", 0.56)]
    for kind in ("seg", "sr"):
        assert dciodvfy_errors(files[kind]) == [], kind


def test_enhanced_multiframe_source(tmp_path):
    import highdicom as hd

    study = load_dicom(shared_path("dicom", "dcmqi_segmentations", "23x38x3", "multiframe", "mf.dcm"))
    mask = np.zeros(study.shape, bool)
    mask[1:, 10:30, 5:15] = True
    result = make_result(study, [dict(name="nodule", mask=mask, measurements=[("volume", 0.3, "mL")])])
    files = export_result(result, tmp_path, ("seg", "sr"))
    seg = hd.seg.segread(str(files["seg"]))
    src_uid = seg.SourceImageSequence[0].ReferencedSOPInstanceUID
    by_frame = seg.get_pixels_by_source_frame(src_uid, source_frame_numbers=[1, 2, 3], segment_numbers=[1])[
        ..., 0
    ]
    back = import_seg(files["seg"], study)[0].mask
    np.testing.assert_array_equal(back, mask)
    assert int(by_frame.astype(bool).sum()) == int(mask.sum())
    assert seg.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "27925004"
    for kind in ("seg", "sr"):
        assert dciodvfy_errors(files[kind]) == [], kind


def test_sr_alone_brings_its_seg_and_no_mask_means_no_seg(tmp_path):
    import highdicom as hd

    study = load_dicom(shared_path("dicom", "dcmqi_segmentations", "23x38x3", "image"))
    mask = np.zeros(study.shape, bool)
    mask[0, 5:9, 5:9] = True
    files = export_result(make_result(study, [dict(name="liver", mask=mask)]), tmp_path / "a", ("sr",))
    assert set(files) == {"seg", "sr"}
    absent = make_result(
        study, [dict(name="liver lesion", mask=None, status="absent", measurements=[("count", 0, "1")])]
    )
    files = export_result(absent, tmp_path / "b", ("seg", "sr", "json"))
    assert "seg" not in files
    assert "no finding has a non-empty mask" in files["audit"].read_text()
    sr = hd.sr.srread(str(files["sr"]))
    assert "liver lesion" in _tracking_ids(sr)
    assert dciodvfy_errors(files["sr"]) == []


def _walk(items):
    for it in items:
        yield it
        if "ContentSequence" in it:
            yield from _walk(it.ContentSequence)


def _texts(sr) -> list[str]:
    return [
        str(it.TextValue)
        for it in _walk(sr.ContentSequence)
        if it.ValueType == "TEXT" and it.ConceptNameCodeSequence[0].CodeValue == "121077"
    ]


def _tracking_ids(sr) -> list[str]:
    return [
        str(it.TextValue)
        for it in _walk(sr.ContentSequence)
        if it.ValueType == "TEXT" and it.ConceptNameCodeSequence[0].CodeValue == "112039"
    ]


def test_a_source_highdicom_cannot_describe_still_gets_the_other_files(tmp_path):
    from napari_medground.errors import ExportError

    study = load_dicom(
        shared_path("dicom", "pydicom_data", "emri_small.dcm")
    )  # multi-frame, no frame of reference
    mask = np.zeros(study.shape, bool)
    mask[2:5, 10:20, 10:20] = True
    with pytest.raises(
        ExportError, match="DICOM SEG cannot be built on this source .*exported measurements.csv"
    ):
        export_result(make_result(study, [dict(name="lesion", mask=mask)]), tmp_path, ("seg", "csv", "json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json", "measurements.csv", "result.json"]
