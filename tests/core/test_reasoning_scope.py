"""Honest answers: out of scope, not understood, negated queries, bad box prompts, and the
result.json shape of DESIGN.md (checked on real files through the CLI)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from napari_medground.errors import QueryError
from napari_medground.reasoning import ground, start_grounding
from napari_medground.result import Box, FindingStatus, StepKind
from napari_medground.study import load_study
from tests.data.shared import shared_path

MEDGROUND = [sys.executable, "-m", "napari_medground.cli"]


@pytest.fixture(scope="module")
def brain():
    return load_study(shared_path("brain", "t1_crop.nii.gz"))


@pytest.fixture(scope="module")
def cxr():
    return load_study(shared_path("cxr", "00027426_000.png"))


def test_femur_fracture_on_brain_mri_is_not_assessable(brain):
    r = ground(brain, "fracture of the left femur")
    assert [f.status for f in r.findings] == [FindingStatus.NOT_ASSESSABLE]
    assert r.conclusion.status == FindingStatus.NOT_ASSESSABLE
    assert not r.masks  # never a made-up mask
    locate = [s for s in r.steps if s.kind == StepKind.LOCATE]
    assert len(locate) == 1 and "Cannot assess" in locate[0].detail


def test_unknown_words_are_not_understood(cxr):
    r = ground(cxr, "left flurbogland")
    assert r.findings[0].status == FindingStatus.NOT_ASSESSABLE
    assert not r.masks


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_is_an_answer(cxr, text):
    r = ground(cxr, text)
    assert r.conclusion.status == FindingStatus.NOT_ASSESSABLE


def test_negated_query_is_answered_as_asked(cxr):
    r = ground(cxr, "no pneumothorax")
    assert r.findings[0].status == FindingStatus.NOT_ASSESSABLE
    assert r.conclusion.text.startswith("'no pneumothorax'")
    r2 = ground(cxr, "no cardiomegaly")
    assert r2.findings[0].status == FindingStatus.ABSENT
    assert "confirmed, not found" in r2.conclusion.text


def test_several_findings_give_several_answers(cxr):
    r = ground(cxr, "cardiomegaly and no pneumothorax")
    assert len(r.findings) == 2
    assert {f.status for f in r.findings} == {FindingStatus.ABSENT, FindingStatus.NOT_ASSESSABLE}


def test_box_outside_the_grid_is_refused(cxr):
    with pytest.raises(QueryError, match="outside the study grid"):
        start_grounding(cxr, "mass", box=Box((0, 0), (5000, 10)))
    with pytest.raises(QueryError, match="needs 4 numbers"):
        start_grounding(cxr, "mass", box=Box((0, 0, 0), (1, 1, 1)))


def test_result_json_shape_through_cli(tmp_path):
    out = tmp_path / "out"
    p = subprocess.run([*MEDGROUND, "ground", str(shared_path("cxr", "00000001_000.png")), "cardiomegaly",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads((out / "result.json").read_text())
    assert set(r) >= {"study", "query", "findings", "steps", "conclusion", "models", "timings_s"}
    assert set(r["study"]) >= {"shape", "spacing_mm", "affine_lps", "orientation", "modality", "series_uid", "warnings"}
    assert set(r["query"]) >= {"text", "queries"}
    q = r["query"]["queries"][0]
    assert set(q) >= {"text", "anatomy", "laterality", "finding", "attributes", "size_mm", "negated", "uncertain",
                      "unknown_words"}
    f = r["findings"][0]
    assert set(f) >= {"name", "status", "label_value", "confidence", "box_voxel", "box_lps_mm", "centroid_lps_mm",
                      "measurements", "steps"}
    assert f["status"] == "present" and any(m["name"] == "ratio" and m["unit"] == "1" for m in f["measurements"])
    for s in r["steps"]:
        assert set(s) >= {"id", "kind", "title", "detail", "status", "confidence", "inputs", "evidence"}
        assert s["kind"] in {"parse", "locate", "segment", "measure", "compare", "conclude"}
    assert set(r["conclusion"]) >= {"text", "status"}
    assert (out / "labels.nii.gz").exists()
    # a second run into the same folder refuses to overwrite silently
    p2 = subprocess.run([*MEDGROUND, "ground", str(shared_path("cxr", "00000001_000.png")), "cardiomegaly",
                         "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p2.returncode == 2 and "Traceback" not in p2.stderr and len(p2.stderr.strip().splitlines()) == 1


def test_bad_box_on_cli_is_one_line(tmp_path):
    p = subprocess.run([*MEDGROUND, "ground", str(shared_path("cxr", "00000001_000.png")), "mass",
                        "--out", str(tmp_path), "--box", "1,2,x"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--box" in p.stderr and "Traceback" not in p.stderr
