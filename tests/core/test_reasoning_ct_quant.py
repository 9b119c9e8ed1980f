"""Quantitative CT findings end to end on the shared example CT: each answered with its
measurement, criterion and source (example_ct labels are not used)."""
import pytest

from tests.data.shared import shared_path

FAST = [("osteoporosis", "trabecular_hu", "l1_trabecular_osteoporosis"),
        ("abdominal aortic aneurysm", "aortic_diameter", "aaa_diameter")]
SLOW = [("fatty liver", "liver_hu", "steatosis_liver_hu"),
        ("kidney stone", "stone_count", "renal_stone_attenuation")]


def _check(text, measurement, criterion):
    from napari_medground import ground

    r = ground(str(shared_path("totalseg/example_ct.nii.gz")), text).to_dict()
    f = r["findings"][0]
    assert f["status"] in ("present", "absent", "uncertain"), (text, f["status"])
    names = {m["name"] for m in f["measurements"]}
    assert measurement in names, (text, names)
    crits = [s["evidence"]["criterion"] for s in r["steps"] if s["kind"] == "compare"]
    assert any(c and c["id"] == criterion and (c.get("citation") or c.get("source") or c.get("short_source")) for c in crits), text
    return r


@pytest.mark.parametrize("text,measurement,criterion", FAST)
def test_quant_finding_answered(text, measurement, criterion):
    _check(text, measurement, criterion)


@pytest.mark.slow
@pytest.mark.parametrize("text,measurement,criterion", SLOW)
def test_quant_finding_answered_slow(text, measurement, criterion):
    _check(text, measurement, criterion)


def test_sarcopenia_says_why():
    from napari_medground import ground

    r = ground(str(shared_path("totalseg/example_ct.nii.gz")), "sarcopenia height 1.75 m").to_dict()
    f = r["findings"][0]
    assert f["status"] == "not_assessable" and "1.75" in r["conclusion"]["text"]
