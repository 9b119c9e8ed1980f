"""Clinician edits on real studies: accept, reject, edit mask/number/conclusion, undo/redo.

Fast procedures only (chest X-ray CTR, classical CT lungs) so every path runs in CI.
"""
from __future__ import annotations

import numpy as np
import pytest

from napari_medground.errors import EditError
from napari_medground.reasoning import start_grounding
from napari_medground.result import FindingStatus, StepKind, StepStatus
from napari_medground.study import load_study
from tests.data.shared import shared_path


@pytest.fixture(scope="module")
def cxr_big_heart():
    return load_study(shared_path("cxr", "00000001_000.png"))


@pytest.fixture(scope="module")
def ct_small():
    return load_study(shared_path("totalseg", "example_ct_sm.nii.gz"))


def _step(g, kind: StepKind, finding=None):
    return next(s for s in g.result.steps if s.kind == kind and (finding is None or s.finding == finding))


def test_cardiomegaly_chain_and_accept(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    f = g.result.findings[0]
    assert f.status == FindingStatus.PRESENT
    kinds = [s.kind for s in g.result.steps]
    assert kinds[0] == StepKind.PARSE and StepKind.COMPARE in kinds and kinds[-1] == StepKind.CONCLUDE
    cmp_ = _step(g, StepKind.COMPARE)
    assert cmp_.evidence.criterion is not None and "Danzer" in cmp_.evidence.criterion.source
    assert cmp_.evidence.measurements[0].value > 0.5
    meas = _step(g, StepKind.MEASURE)
    assert {ln.name for ln in meas.evidence.lines} >= {"cardiac_width", "thoracic_width"}
    g.accept(cmp_.id)
    assert cmp_.status == StepStatus.ACCEPTED
    assert g.result.edit_log[-1].action == "accept" and g.result.edit_log[-1].step_id == cmp_.id


def test_edit_number_reruns_compare_and_conclusion(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    meas = _step(g, StepKind.MEASURE)
    rerun = g.edit_number(meas.id, "ratio", 0.42)
    cmp_ = _step(g, StepKind.COMPARE)
    assert cmp_.id in rerun
    assert cmp_.evidence.measurements[0].value == pytest.approx(0.42)
    assert g.result.findings[0].status == FindingStatus.ABSENT
    assert "entered by clinician" in next(m.method for m in meas.evidence.measurements if m.name == "ratio")
    assert g.undo()
    assert g.result.findings[0].status == FindingStatus.PRESENT
    assert g.redo()
    assert g.result.findings[0].status == FindingStatus.ABSENT
    with pytest.raises(EditError, match="no number 'volume_left'"):
        g.edit_number(meas.id, "volume_left", 1.0)


def test_reject_locate_makes_finding_not_assessable(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    loc = _step(g, StepKind.LOCATE)
    g.reject(loc.id)
    f = g.result.findings[0]
    assert f.status == FindingStatus.NOT_ASSESSABLE
    assert f.mask_id not in g.result.masks  # no mask survives a rejected locate step
    assert "rejected" in g.result.conclusion.text
    g.undo()
    assert g.result.findings[0].status == FindingStatus.PRESENT


def test_edits_after_undo_still_reach_the_finding(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    loc = _step(g, StepKind.LOCATE)
    g.reject(loc.id)
    g.undo()
    assert g.result.findings[0].status == FindingStatus.PRESENT
    g.reject(loc.id)  # the step functions must act on the restored finding, not a stale copy
    assert g.result.findings[0].status == FindingStatus.NOT_ASSESSABLE
    g.undo()
    g.redo()
    assert g.result.findings[0].status == FindingStatus.NOT_ASSESSABLE


def test_reject_compare_gives_uncertain(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    g.reject(_step(g, StepKind.COMPARE).id)
    assert g.result.findings[0].status == FindingStatus.UNCERTAIN


def test_edit_mask_changes_only_dependants(ct_small):
    g = start_grounding(ct_small, "right lung")
    f = g.result.findings[0]
    assert f.status == FindingStatus.PRESENT
    vol = f.measurement("volume").value
    seg, loc = _step(g, StepKind.SEGMENT), _step(g, StepKind.LOCATE)
    loc_detail = loc.detail
    mask = g.result.masks[f.mask_id].copy()
    half = mask.copy()
    z = np.nonzero(mask.any(axis=(1, 2)))[0]
    half[: int(np.median(z))] = False
    rerun = g.edit_mask(f.mask_id, half)
    assert loc.id not in rerun and _step(g, StepKind.MEASURE).id in rerun
    assert loc.detail == loc_detail
    f = g.result.findings[0]
    assert f.edited and seg.status == StepStatus.EDITED
    assert f.measurement("volume").value == pytest.approx(vol * half.sum() / mask.sum(), rel=1e-6)
    rec = g.result.edit_log[-1]
    assert rec.action == "edit_mask" and rec.before["voxels"] == int(mask.sum())
    g.undo()
    assert g.result.findings[0].measurement("volume").value == pytest.approx(vol)
    assert np.array_equal(g.result.masks[f.mask_id], mask)


def test_edit_mask_rejects_wrong_shape(ct_small):
    g = start_grounding(ct_small, "right lung")
    f = g.result.findings[0]
    with pytest.raises(EditError, match="shape"):
        g.edit_mask(f.mask_id, np.zeros((3, 3, 3), bool))


def test_edit_conclusion_and_accept_all(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    g.accept_all()
    assert all(s.status == StepStatus.ACCEPTED for s in g.result.steps)
    g.edit_conclusion("Mild cardiomegaly; compare with prior.")
    assert g.result.conclusion.text == "Mild cardiomegaly; compare with prior." and g.result.conclusion.edited
    # a later re-run does not overwrite the clinician's wording
    g.edit_number(_step(g, StepKind.MEASURE).id, "ratio", 0.45)
    assert g.result.conclusion.text.startswith("Mild cardiomegaly")


def test_listener_sees_every_edit(cxr_big_heart):
    g = start_grounding(cxr_big_heart, "cardiomegaly")
    seen = []
    g.listeners.append(lambda g_, rec, changed: seen.append((rec.action, tuple(changed))))
    g.accept(_step(g, StepKind.LOCATE).id)
    g.reject(_step(g, StepKind.COMPARE).id)
    assert [a for a, _ in seen] == ["accept", "reject"]


def test_undo_history_goes_back_through_many_edits_and_shares_unchanged_masks(ct_small, monkeypatch):
    """80 mask edits (the history once kept 30): 80 undos give the first mask exactly, 80
    redos the last; a snapshot shares the buffers of masks an edit left alone; a small
    memory budget drops the oldest steps, never the newest."""
    g = start_grounding(ct_small, "left lung")
    f = g.result.findings[0]
    first = g.result.masks[f.mask_id].copy()
    rows = np.argwhere(first.any((0, 2))).ravel()
    masks = []
    for k in range(80):
        m = g.result.masks[f.mask_id].copy()
        m[k % m.shape[0], rows[0]:rows[0] + 3, :5] ^= True  # a small painted change per edit
        g.edit_mask(f.mask_id, m)
        masks.append(m)
    snaps = g.history.undo
    assert len(snaps) == 80
    g.accept(g.result.steps[0].id)
    g.accept(g.result.steps[1].id)  # left the mask alone: its snapshot shares the buffer
    bits = [snap.masks[f.mask_id][1] for snap in g.history.undo[-3:]]
    assert bits[2] is bits[1] and bits[1] is not bits[0]
    assert g.undo() and g.undo()
    for _ in range(80):
        assert g.undo()
    assert not g.can_undo and np.array_equal(g.result.masks[f.mask_id], first)
    for _ in range(80):
        assert g.redo()
    assert np.array_equal(g.result.masks[f.mask_id], masks[-1])
    one = snaps[-1].masks[f.mask_id][1].nbytes
    monkeypatch.setenv("MEDGROUND_UNDO_MB", str(20 * one / 2**20))  # about 20 mask buffers
    m = g.result.masks[f.mask_id].copy()
    m[0, 0, 0] ^= True
    g.edit_mask(f.mask_id, m)
    assert 1 <= len(g.history.undo) <= 25
    assert g.undo() and np.array_equal(g.result.masks[f.mask_id], masks[-1])  # the newest step stays
