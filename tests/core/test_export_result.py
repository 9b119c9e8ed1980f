"""export_result on a NIfTI study: labels + sidecar, CSV, JSON + audit, overwrite
protection, atomic writes, and the message for a DICOM SEG/SR request without DICOM."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os

import nibabel as nib
import numpy as np
import pytest

from napari_medground.errors import ExportError
from napari_medground.export import FILE_NAMES, export_result
from napari_medground.export.files import atomic_write, atomic_write_bytes
from napari_medground.study.nifti_io import read_nifti
from tests.core.test_export_helpers import make_result

LIVER = {"scheme": "SCT", "value": "10200004", "meaning": "Liver"}
NODULE = {"scheme": "SCT", "value": "27925004", "meaning": "Nodule"}


@pytest.fixture
def nifti_study(tmp_path):
    """A 24x20x16 NIfTI volume with an oblique, anisotropic affine (RAS in the file)."""
    rng = np.random.default_rng(1)
    data = rng.normal(40, 10, (16, 20, 24)).astype(np.int16)  # file order (i, j, k)
    theta = np.deg2rad(12)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.8, 0.9, 2.5])
    aff[:3, 3] = [-10.0, 20.0, -30.0]
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(data, aff), str(path))
    return read_nifti(path)


def _result(study, edited=False):
    a = np.zeros(study.shape, bool)
    a[2:10, 4:12, 3:15] = True
    b = np.zeros(study.shape, bool)
    b[8:14, 10:16, 10:20] = True  # overlaps a
    return make_result(
        study,
        [
            dict(
                name="liver",
                mask=a,
                anatomy_code=LIVER,
                measurements=[("volume", 12.5, "mL"), ("mean", 41.2, "HU")],
            ),
            dict(
                name="nodule in the liver",
                mask=b,
                finding_code=NODULE,
                anatomy_code=LIVER,
                edited=edited,
                measurements=[("long_axis", 9.5, "mm"), ("short_axis", 6.0, "mm")],
            ),
            dict(name="liver lesion", mask=None, status="absent"),
        ],
    )


def test_nifti_labels_keep_the_exact_source_grid_and_sidecar_describes_them(nifti_study, tmp_path):
    res = _result(nifti_study, edited=True)
    out = export_result(res, tmp_path / "out", ("nifti",))
    img = nib.load(str(out["nifti"]))
    src = nib.load(str(nifti_study.source_paths[0]))
    np.testing.assert_array_equal(img.affine, src.affine)
    assert img.shape == src.shape
    back = read_nifti(out["nifti"])
    np.testing.assert_array_equal(back.array, res.label_array())
    np.testing.assert_allclose(back.affine_lps, nifti_study.affine_lps)
    side = json.loads(out["nifti_sidecar"].read_text())
    by_value = {e["value"]: e for e in side["labels"]}
    assert set(by_value) == {1, 2}
    assert by_value[1]["name"] == "liver" and by_value[1]["type"]["value"] == "10200004"
    assert by_value[1]["category"]["meaning"] == "Anatomical Structure"
    assert by_value[2]["category"]["value"] == "49755003" and by_value[2]["type"]["meaning"] == "Nodule"
    assert by_value[2]["anatomic_region"]["value"] == "10200004"
    assert (
        by_value[2]["edited"]
        and by_value[2]["algorithm"] == "MANUAL"
        and by_value[2]["edited_by"] == ["clinician"]
    )
    assert by_value[1]["models"][0]["name"] == "LiteMedSAM"
    overlap = int(np.count_nonzero(res.masks["mask_0"] & res.masks["mask_1"]))
    assert side["overlaps"] == [{"values": [1, 2], "voxels": overlap, "shown_as": 2}]
    assert all(len(e["color"]) == 3 for e in side["labels"])


def test_csv_has_one_row_per_finding_and_measurement_with_units(nifti_study, tmp_path):
    res = _result(nifti_study)
    out = export_result(res, tmp_path, ("csv",))
    rows = list(csv.DictReader(out["csv"].open()))
    assert [(r["finding"], r["measurement"]) for r in rows] == [
        ("liver", "volume"),
        ("liver", "mean"),
        ("nodule in the liver", "long_axis"),
        ("nodule in the liver", "short_axis"),
        ("liver lesion", ""),
    ]
    assert rows[0]["unit"] == "mL" and float(rows[0]["value"]) == 12.5 and rows[0]["status"] == "present"
    assert rows[1]["unit"] == "HU" and rows[4]["status"] == "absent" and rows[4]["value"] == ""
    assert float(rows[0]["confidence"]) == pytest.approx(0.8)


def test_json_and_audit_trail_hold_steps_edits_models_and_hashes(nifti_study, tmp_path):
    res = _result(nifti_study, edited=True)
    out = export_result(res, tmp_path, ("nifti", "csv", "json"))
    assert json.loads(out["json"].read_text()) == json.loads(json.dumps(res.to_dict()))
    audit = json.loads(out["audit"].read_text())
    src = nifti_study.source_paths[0]
    assert audit["input"]["source_files"][0]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert audit["input"]["fingerprint"] == nifti_study.fingerprint
    assert audit["models"][0] == res.models[0].to_dict()
    assert [s["id"] for s in audit["steps"]] == [s.id for s in res.steps]
    assert audit["edits"][0]["action"] == "edit_mask" and audit["edits"][0]["before"] == {"voxels": 10}
    assert audit["edits"][0]["after"] == {"voxels": 12} and audit["editors"] == ["clinician"]
    assert audit["software"]["libraries"]["highdicom"] == "0.28.2"
    for kind in ("nifti", "nifti_sidecar", "csv"):
        rec = audit["export"]["files"][kind]
        assert rec["sha256"] == hashlib.sha256(out[kind].read_bytes()).hexdigest()


def test_existing_outputs_are_never_replaced_silently(nifti_study, tmp_path):
    res = _result(nifti_study)
    first = export_result(res, tmp_path, ("csv", "json"))
    before = {k: p.read_bytes() for k, p in first.items()}
    res.findings[0].measurements[0] = type(res.findings[0].measurements[0])("volume", 99.0, "mL")
    with pytest.raises(ExportError) as err:
        export_result(res, tmp_path, ("nifti", "csv", "json"))
    msg = str(err.value)
    assert "measurements.csv" in msg and "result.json" in msg and "overwrite=True" in msg
    assert not (tmp_path / FILE_NAMES["nifti"]).exists()  # nothing written at all
    assert {k: p.read_bytes() for k, p in first.items()} == before
    again = export_result(res, tmp_path, ("csv", "json"), overwrite=True)
    assert (tmp_path / "measurements.csv.bak").read_bytes() == before["csv"]
    assert "99.0" in again["csv"].read_text()
    notes = json.loads(again["audit"].read_text())["export"]["notes"]
    assert any("measurements.csv" in n and ".bak" in n for n in notes)


def test_seg_request_on_a_nifti_study_exports_the_rest_and_says_why(nifti_study, tmp_path, caplog):
    res = _result(nifti_study)
    with pytest.raises(ExportError) as err:
        export_result(res, tmp_path / "a", "nifti,seg,sr,csv,json")
    msg = str(err.value)
    assert msg.startswith("DICOM SEG and DICOM SR need a DICOM source series; ct.nii.gz is NIfTI")
    assert "labels.nii.gz" in msg and "measurements.csv" in msg and "result.json" in msg
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["audit.json", "labels.json", "labels.nii.gz", "measurements.csv", "result.json"]
    with caplog.at_level(logging.WARNING):
        out = export_result(res, tmp_path / "b", ("seg", "csv"), strict=False)
    assert set(out) == {"csv"} and "DICOM SEG needs a DICOM source series; ct.nii.gz is NIfTI" in caplog.text


def test_unknown_format_lists_the_valid_ones(nifti_study, tmp_path):
    with pytest.raises(ExportError, match="choose from nifti, seg, sr, csv, json"):
        export_result(_result(nifti_study), tmp_path, ("nifti", "stl"))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = atomic_write_bytes(tmp_path / "result.json", b"old")

    def broken(p):
        p.write_bytes(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["result.json"]  # no temporary file left behind
