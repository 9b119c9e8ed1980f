"""`medground evaluate` and the agreement metrics: Dice reproduced independently on a real
CT's labels (native grid and a reoriented, resampled, cropped copy), HD95 and surface Dice
on spheres with known shifts at isotropic and anisotropic spacing, and bad inputs."""
from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from napari_medground.cli import main
from napari_medground.evaluate import evaluate_arrays, evaluate_files, score_masks
from napari_medground.evaluate.labels import LabelPair
from tests.data.shared import shared_path

# TotalSegmentator 'total' ids of the structures the test scores
TS = {"liver": 5, "spleen": 1, "right kidney": 2}


def _np_dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _erode(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    for ax in range(3):
        out &= np.roll(m, 1, ax) & np.roll(m, -1, ax)
    return out


@pytest.fixture(scope="module")
def ct_labels():
    """REF (TotalSegmentator labels of example_ct) and a PRED made from it with known changes
    (liver eroded, spleen moved 2 voxels, kidney as is) in our own label ids."""
    img = nib.load(str(shared_path("totalseg", "example_seg_fast_force_split.nii.gz")))
    ref = np.asarray(img.dataobj).astype(np.int16)
    pred = np.zeros_like(ref)
    pred[_erode(ref == TS["liver"])] = 1
    pred[np.roll(ref == TS["spleen"], 2, axis=1)] = 2
    pred[ref == TS["right kidney"]] = 3
    return img.affine, ref, pred


def _write(path, data, affine):
    nib.save(nib.Nifti1Image(np.asarray(data, np.int16), affine), str(path))
    return path


def _names(tmp_path):
    p = tmp_path / "pred_names.json"
    p.write_text(json.dumps({"1": "liver", "2": "spleen", "3": "right kidney"}))
    return str(p)


def _expected(pred, ref):
    return {n: _np_dice(pred == v, ref == TS[n]) for n, v in (("liver", 1), ("spleen", 2), ("right kidney", 3))}


def test_dice_reproduced_on_native_grid(ct_labels, tmp_path):
    affine, ref, pred = ct_labels
    p, r = _write(tmp_path / "pred.nii.gz", pred, affine), _write(tmp_path / "ref.nii.gz", ref, affine)
    ev = evaluate_files(p, r, pred_names=_names(tmp_path), ref_names="totalseg")
    got = {s.name: s.scores.dice for s in ev.structures}
    want = _expected(pred, ref)
    assert set(got) == set(want) and not ev.resampled
    for n in want:
        assert got[n] == pytest.approx(want[n], abs=1e-6)
    assert got["right kidney"] == 1.0 and got["liver"] < 0.95 and got["spleen"] < 0.9
    kidney = next(s for s in ev.structures if s.name == "right kidney").scores
    assert kidney.hd95_mm == 0.0 and kidney.surface_dice == 1.0 and kidney.volume_diff_ml == 0.0
    spleen = next(s for s in ev.structures if s.name == "spleen").scores
    assert spleen.centroid_distance_mm == pytest.approx(6.0, abs=0.05)  # 2 voxels of 3 mm
    assert spleen.hd95_mm == pytest.approx(6.0, abs=3.0)


def _moved_copy(labels: np.ndarray, affine: np.ndarray, lo: int, hi: int):
    """``labels`` cropped to [lo, hi) along k, upsampled x3 along i (voxel centres still on
    the original ones), j flipped and the axes permuted: (data, affine) of the new file."""
    crop = labels[:, :, lo:hi]
    a_crop = affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, lo], [0, 0, 0, 1]], float)
    up = np.repeat(crop, 3, axis=0)
    a_up = a_crop @ np.array([[1 / 3, 0, 0, -1 / 3], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    nj = up.shape[1]
    a_fl = a_up @ np.array([[1, 0, 0, 0], [0, -1, 0, nj - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    moved = np.transpose(up[:, ::-1, :], (2, 0, 1))  # new (a, b, c) = old (k, i, j)
    perm = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
    return moved, a_fl @ perm


def test_dice_reproduced_on_reoriented_resampled_cropped_grid(ct_labels, tmp_path):
    """PRED written on its own grid: evaluate must line it up in world space."""
    affine, ref, pred = ct_labels
    lo, hi = 10, ref.shape[2] - 5  # PRED is 0 outside the crop
    p = _write(tmp_path / "pred_moved.nii.gz", *_moved_copy(pred, affine, lo, hi))
    r = _write(tmp_path / "ref.nii.gz", ref, affine)
    ev = evaluate_files(p, r, pred_names=_names(tmp_path), ref_names="totalseg")
    expect_pred = np.zeros_like(pred)
    expect_pred[:, :, lo:hi] = pred[:, :, lo:hi]
    want = _expected(expect_pred, ref)
    assert ev.resampled and 0.8 < ev.pred_inside_fraction < 0.9
    for s in ev.structures:
        assert s.scores.dice == pytest.approx(want[s.name], abs=1e-6)


def test_ground_output_scored_against_totalsegmentator(tmp_path):
    """Masks from `ground` itself (classical lungs on example_ct_sm) vs the TotalSegmentator
    lobes, named through the result.json beside labels.nii.gz; native and moved grid."""
    from napari_medground.reasoning.api import ground

    ct = shared_path("totalseg", "example_ct_sm.nii.gz")
    ref_path = shared_path("totalseg", "example_seg.nii.gz")
    ground(ct, "right lung, left lung", out_dir=tmp_path / "g", device="cpu")
    img = nib.load(str(tmp_path / "g" / "labels.nii.gz"))
    pred = np.asarray(img.dataobj)
    table = {d["name"]: d["value"] for d in json.loads((tmp_path / "g" / "result.json").read_text())["labels"]}
    ref = np.asarray(nib.load(str(ref_path)).dataobj)
    want = {"right lung": _np_dice(pred == table["right lung"], np.isin(ref, [12, 13, 14])),
            "left lung": _np_dice(pred == table["left lung"], np.isin(ref, [10, 11]))}
    ev = evaluate_files(tmp_path / "g" / "labels.nii.gz", ref_path, ref_names="totalseg")
    assert {s.name: s.scores.dice for s in ev.structures} == pytest.approx(want, abs=1e-6)
    assert min(want.values()) > 0.8
    moved_dir = tmp_path / "moved"
    moved_dir.mkdir()
    (moved_dir / "names.json").write_text(json.dumps({str(v): k for k, v in table.items()}))
    p = _write(moved_dir / "labels.nii.gz", *_moved_copy(pred, img.affine, 0, pred.shape[2]))
    ev2 = evaluate_files(p, ref_path, pred_names=str(moved_dir / "names.json"), ref_names="totalseg")
    assert ev2.resampled and {s.name: s.scores.dice for s in ev2.structures} == pytest.approx(want, abs=1e-6)


def _sphere(shape, spacing, centre_mm, radius_mm):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm)) <= radius_mm ** 2


@pytest.mark.parametrize("spacing, axis", [((1.0, 1.0, 1.0), 2), ((2.0, 0.5, 0.5), 0), ((2.0, 0.5, 0.5), 2),
                                           ((5.0, 0.8, 0.8), 1)])
def test_hd95_and_surface_dice_on_shifted_spheres(spacing, axis):
    shape = tuple(int(round(60 / s)) for s in spacing)
    shift = 2.0 if spacing[axis] < 5 else 5.0
    c = np.array([30.0, 30.0, 30.0])
    a = _sphere(shape, spacing, c, 15.0)
    b = _sphere(shape, spacing, c + np.eye(3)[axis] * shift, 15.0)
    sc = score_masks(a, b, np.diag(list(spacing) + [1.0]), tolerance_mm=shift + 0.01)
    assert abs(sc.hd95_mm - shift) <= spacing[axis] + 1e-6  # within one voxel
    assert sc.surface_dice > 0.95  # every surface point moved by at most the tolerance
    tight = score_masks(a, b, np.diag(list(spacing) + [1.0]), tolerance_mm=shift / 4)
    assert tight.surface_dice < sc.surface_dice - 0.2
    assert sc.centroid_distance_mm == pytest.approx(shift, abs=0.05)  # discretised spheres
    assert abs(sc.volume_diff_pct) < 3.0
    same = score_masks(a, a, np.diag(list(spacing) + [1.0]))
    assert same.hd95_mm == 0.0 and same.surface_dice == 1.0 and same.dice == 1.0


def test_scores_agree_across_grids_in_world_space():
    """A sphere on a 1 mm grid vs the same sphere on a 3x-upsampled, flipped grid."""
    ref = _sphere((40, 40, 40), (1, 1, 1), (20, 20, 20), 10).astype(np.uint8)
    fine = np.repeat(ref, 3, axis=2)[::-1]
    a_fine = np.array([[-1, 0, 0, 39], [0, 1, 0, 0], [0, 0, 1 / 3, -1 / 3], [0, 0, 0, 1]], float)
    ev = evaluate_arrays(fine, a_fine, ref, np.eye(4), [LabelPair("ball", (1,), (1,))])
    s = ev.structures[0].scores
    assert ev.resampled and s.dice == 1.0 and s.hd95_mm == 0.0 and s.centroid_distance_mm == pytest.approx(0)


def test_empty_prediction_gives_defined_zeros():
    ref = _sphere((20, 20, 20), (1, 1, 1), (10, 10, 10), 5)
    s = score_masks(np.zeros_like(ref), ref, np.eye(4))
    assert s.dice == 0.0 and s.surface_dice == 0.0 and s.hd95_mm is None and s.volume_diff_pct == -100.0


def test_cli_writes_table_csv_json(ct_labels, tmp_path, capsys):
    affine, ref, pred = ct_labels
    p, r = _write(tmp_path / "pred.nii.gz", pred, affine), _write(tmp_path / "ref.nii.gz", ref, affine)
    out = tmp_path / "out"
    assert main(["evaluate", str(p), str(r), "--labels", "liver=1:liver,2:1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "HD95" in text and "liver" in text
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert [row["structure"] for row in rows] == ["liver", "2:1"]
    assert float(rows[0]["dice"]) == pytest.approx(_np_dice(pred == 1, ref == 5), abs=1e-6)
    data = json.loads((out / "evaluation.json").read_text())
    assert data["structures"][1]["ref_values"] == [1] and data["tolerance_mm"] == 2.0


def test_cli_bad_inputs_one_line(ct_labels, tmp_path, capsys):
    affine, ref, pred = ct_labels
    r = _write(tmp_path / "ref.nii.gz", ref, affine)
    far = affine.copy()
    far[:3, 3] += 5000.0
    p_far = _write(tmp_path / "far.nii.gz", pred, far)
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not an image at all")
    disjoint = _write(tmp_path / "disjoint.nii.gz", np.where(pred > 0, 250, 0), affine)
    cases = [([str(p_far), str(r)], "do not overlap"), ([str(junk), str(r)], "junk.nii.gz"),
             ([str(disjoint), str(r)], "no label in common"),
             ([str(_write(tmp_path / "p.nii.gz", pred, affine)), str(r), "--labels", "pancreasx"], "pancreasx")]
    for argv, words in cases:
        assert main(["evaluate", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_one_dice_matches_monai():
    """measure.dice (the package's one Dice) is MONAI's compute_dice on binary masks."""
    import torch
    from monai.metrics import compute_dice

    from napari_medground.measure import dice

    rng = np.random.default_rng(0)
    a, b = rng.random((12, 14, 16)) > 0.6, rng.random((12, 14, 16)) > 0.5
    t = lambda m: torch.from_numpy(m[None, None].astype(np.float32))  # noqa: E731
    assert dice(a, b) == pytest.approx(float(compute_dice(t(a), t(b), include_background=True)), abs=1e-6)
