"""`medground batch` with a `reference` column: each row scored against its reference
labels, per-structure summaries (mean, median, IQR) and a Dice box plot per cohort."""
from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from napari_medground.batch import read_manifest, run_batch
from tests.data.shared import shared_path

pytestmark = pytest.mark.shared_data


def _dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from napari_medground.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import write_nifti

    ct = shared_path("totalseg", "example_ct_sm.nii.gz")
    ct_ref = shared_path("totalseg", "example_seg.nii.gz")
    base = tmp_path_factory.mktemp("batch_ref")
    study, truth = make_ct_phantom()
    write_nifti(study.array, study, base / "phantom.nii.gz")
    labels = np.zeros(study.shape, np.uint8)
    labels[truth["lung_right"]] = 1
    labels[truth["lung_left"]] = 2
    write_nifti(labels, study, base / "phantom_ref.nii.gz")
    (base / "phantom_ref.json").write_text(json.dumps({"1": "right lung", "2": "left lung"}))
    (base / "broken.nii.gz").write_bytes(b"no image here")
    manifest = base / "manifest.csv"
    manifest.write_text("\n".join([
        "study,finding,reference,reference_names",
        "phantom.nii.gz,right lung,phantom_ref.nii.gz,phantom_ref.json",
        "phantom.nii.gz,left lung,phantom_ref.nii.gz,phantom_ref.json",
        f"{ct},right lung,{ct_ref},totalseg",
        f"{ct},left lung,{ct_ref},totalseg",
        "phantom.nii.gz,right lung,broken.nii.gz,",
        f"{ct},right lung,,",
    ]) + "\n")
    out = base / "out"
    summary = run_batch(manifest, out, workers=1, device="cpu")
    return base, out, summary


def test_manifest_reads_reference_columns(scored):
    base, _, _ = scored
    rows = read_manifest(base / "manifest.csv")
    assert rows[0].reference == str(base / "phantom_ref.nii.gz")
    assert rows[0].reference_names == str(base / "phantom_ref.json")
    assert rows[2].reference_names == "totalseg" and rows[5].reference is None


def test_rows_scored_against_their_references(scored):
    base, out, summary = scored
    assert summary.done == 6, summary.to_dict()["failures"]
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert len(rows) == 5  # the row without a reference is not scored
    by = {(r["row"], r["structure"]): r for r in rows}
    # independent Dice of one row: its labels.nii.gz against the lobes of the reference
    row3 = read_manifest(base / "manifest.csv")[2]
    pred = np.asarray(nib.load(str(out / row3.row_id / "labels.nii.gz")).dataobj)
    result = json.loads((out / row3.row_id / "result.json").read_text())
    value = next(lab["value"] for lab in result["labels"] if lab["name"] == "right lung")
    ref = np.asarray(nib.load(str(shared_path("totalseg", "example_seg.nii.gz"))).dataobj)
    want = _dice(pred == value, np.isin(ref, [12, 13, 14]))  # upper, middle, lower right lobes
    assert float(by[("3", "right lung")]["dice"]) == pytest.approx(want, abs=1e-6)
    assert float(by[("1", "right lung")]["dice"]) > 0.8
    assert "broken.nii.gz" in by[("5", "")]["error"]
    ev = json.loads((out / row3.row_id / "evaluation.json").read_text())
    assert ev["structures"][0]["ref_values"] == [12, 13, 14]


def test_summary_and_plot(scored):
    _, out, summary = scored
    files = summary.to_dict()["evaluation_files"]
    assert set(files) == {"evaluation_csv", "evaluation_summary_json", "evaluation_summary_csv", "evaluation_plot"}
    data = json.loads((out / "evaluation_summary.json").read_text())
    right = data["structures"]["right lung"]["dice"]
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    dices = [float(r["dice"]) for r in rows if r["structure"] == "right lung"]
    assert right["n"] == 2 and right["mean"] == pytest.approx(np.mean(dices))
    assert right["median"] == pytest.approx(np.median(dices))
    assert right["iqr"] == pytest.approx(np.subtract(*np.percentile(dices, [75, 25])))
    png = out / "evaluation_dice.png"
    from PIL import Image

    img = np.asarray(Image.open(png).convert("L"))
    assert img.shape[0] > 300 and img.std() > 10  # a drawn figure, not a blank canvas
    lines = list(csv.reader((out / "evaluation_summary.csv").open()))
    assert lines[0] == ["structure", "metric", "n", "mean", "median", "q1", "q3", "iqr"]
