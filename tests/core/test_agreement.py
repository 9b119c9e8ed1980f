"""AI versus clinician: a painted mask carries its agreement with the AI mask in the step
evidence, result.json, the edit log, the audit and the DICOM SR (dciodvfy-clean)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from napari_medground.evaluate.agreement import agreement_line, edit_agreement
from napari_medground.reasoning import start_grounding
from napari_medground.reasoning.graph import Grounding, Node
from napari_medground.result import StepKind
from napari_medground.study import load_study
from tests.core.test_export_dicom import dciodvfy_errors
from tests.core.test_export_helpers import labels_on_study, load_dicom, make_result
from tests.data.shared import shared_path


def _dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_edit_agreement_numbers_on_a_known_cut():
    ai = np.zeros((20, 30, 30), bool)
    ai[5:15, 5:25, 5:25] = True
    final = ai.copy()
    final[10:15] = False  # the clinician removes half, 2 mm slices -> 10 mm away at most
    affine = np.diag([2.0, 0.5, 0.5, 1.0])
    a = edit_agreement(ai, final, affine)
    assert a.dice == pytest.approx(_dice(ai, final)) and a.voxels_removed == ai.sum() // 2
    assert a.volume_change_ml == pytest.approx(-ai.sum() / 2 * 0.5 / 1000)
    assert 0 < a.hd95_mm <= 10.0 + 1e-6
    assert agreement_line(a.to_dict()) == "edited: Dice 0.67 to the AI mask, -1 mL, HD95 10.0 mm"


def test_mask_edit_records_agreement_everywhere(tmp_path):
    study = load_study(shared_path("totalseg", "example_ct_sm.nii.gz"))
    g = start_grounding(study, "right lung")
    f = g.result.findings[0]
    ai = g.result.masks[f.mask_id].copy()
    z = np.nonzero(ai.any(axis=(1, 2)))[0]
    edited = ai.copy()
    edited[: int(np.median(z))] = False
    g.edit_mask(f.mask_id, edited)
    seg = next(s for s in g.result.steps if s.kind == StepKind.SEGMENT)
    agr = seg.evidence.extra["agreement"]
    assert agr["dice"] == pytest.approx(_dice(ai, edited), abs=1e-6)
    assert agr["volume_change_ml"] == pytest.approx((edited.sum() - ai.sum()) * study.voxel_volume_ml, abs=1e-3)
    assert agr["hd95_mm"] > 0
    d = g.result.to_dict()
    assert d["agreement"][0]["step_id"] == seg.id and d["agreement"][0]["dice"] == agr["dice"]
    assert d["steps"][g.result.steps.index(seg)]["evidence"]["agreement"]["dice"] == agr["dice"]
    assert g.result.edit_log[-1].after["agreement"]["dice"] == agr["dice"]
    # a second edit is still compared with the AI's mask, not with the first edit
    again = edited.copy()
    again[int(np.median(z)):int(np.median(z)) + 2] = False
    g.edit_mask(f.mask_id, again)
    assert seg.evidence.extra["agreement"]["dice"] == pytest.approx(_dice(ai, again), abs=1e-6)
    g.undo()
    g.undo()
    assert "agreement" not in seg.evidence.extra


def test_sr_carries_agreement_and_passes_dciodvfy(tmp_path):
    import highdicom as hd

    from napari_medground.export import export_result

    study = load_dicom(shared_path("totalseg", "example_ct_dicom"))
    liver = labels_on_study(study, shared_path("totalseg", "example_seg_dicom.nii.gz")) == 5
    vol = float(liver.sum() * study.voxel_volume_ml)
    result = make_result(study, [dict(name="liver", mask=liver, measurements=[("volume", vol, "mL")],
                                      anatomy_code={"scheme": "SCT", "value": "10200004", "meaning": "Liver"})],
                         text="liver")
    g = Grounding(result)
    g.nodes = {s.id: Node(s) for s in result.steps}
    painted = liver.copy()
    zs = np.nonzero(liver.any(axis=(1, 2)))[0]
    painted[zs[-1]] = False  # the clinician removes the top slice of the liver
    g.edit_mask("mask_0", painted)
    files = export_result(result, tmp_path, ("sr", "json"))
    assert dciodvfy_errors(files["sr"]) == []
    sr = hd.sr.srread(str(files["sr"]))
    group = sr.content.get_volumetric_roi_measurement_groups()[0]
    by_code = {m.name.value: m.value for m in group.get_measurements()}
    want = result.steps[1].evidence.extra["agreement"]
    assert float(by_code["dice_to_ai"]) == pytest.approx(want["dice"], abs=1e-6)
    assert float(by_code["dvol_from_ai"]) == pytest.approx(want["volume_change_ml"], abs=1e-4)
    assert want["volume_change_ml"] < 0
    assert "hd95_to_ai" in by_code
    audit = json.loads(files["audit"].read_text())
    assert audit["agreement"][0]["dice"] == pytest.approx(want["dice"])
    assert audit["edits"][-1]["after"]["agreement"]["dice"] == pytest.approx(want["dice"])
