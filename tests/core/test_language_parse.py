"""parse(): the prompt table, honest "not understood", long pastes, the JSON shape."""

from __future__ import annotations

import random
import time

import pytest

from napari_medground.errors import QueryError
from napari_medground.language import ParsedText, parse
from tests.core.language_prompts import (
    ABDOMEN_CT,
    BRAIN_MR,
    CHEST_CT,
    CHEST_XRAY,
    NOT_UNDERSTOOD,
    PARTIAL,
    PROMPTS,
    Q,
)


def _differences(q, e: Q) -> dict:
    d = {}
    got = [(a.term, a.side) for a in q.anatomy]
    if got != e.anatomy_pairs():
        d["anatomy"] = (got, e.anatomy_pairs())
    if q.finding != e.finding:
        d["finding"] = (q.finding, e.finding)
    if q.laterality != e.expected_laterality():
        d["laterality"] = (q.laterality, e.expected_laterality())
    want_size = tuple(float(v) for v in e.size_mm) if e.size_mm else None
    if (tuple(q.size_mm) if q.size_mm else None) != want_size:
        d["size_mm"] = (q.size_mm, want_size)
    if (q.negated, q.uncertain) != (e.negated, e.uncertain):
        d["negated/uncertain"] = ((q.negated, q.uncertain), (e.negated, e.uncertain))
    if tuple(q.unknown_words) != tuple(e.unknown):
        d["unknown_words"] = (q.unknown_words, e.unknown)
    for key, value in e.attrs.items():
        if q.attributes.get(key) != value:
            d[f"attributes[{key}]"] = (q.attributes.get(key), value)
    if e.code and (q.finding_code is None or q.finding_code.value != e.code):
        d["finding_code"] = (q.finding_code, e.code)
    return d


def test_table_covers_the_acceptance_sizes():
    assert len(PROMPTS) >= 150
    assert min(len(BRAIN_MR), len(CHEST_CT), len(ABDOMEN_CT), len(CHEST_XRAY)) >= 20
    assert len(NOT_UNDERSTOOD) >= 30
    assert len({t for t, _ in PROMPTS}) == len(PROMPTS), "duplicate prompts in the table"


@pytest.mark.parametrize("text,expected", PROMPTS, ids=[t[:48] for t, _ in PROMPTS])
def test_prompt_table(text, expected):
    parsed = parse(text, use_embeddings=False)
    got = [(q.text, [(a.term, a.side) for a in q.anatomy], q.finding) for q in parsed.queries]
    assert len(parsed.queries) == len(expected), f"{text!r}: {got}"
    for q, e in zip(parsed.queries, expected):
        assert not _differences(q, e), f"{text!r} -> {q.text!r}: {_differences(q, e)}"
        assert q.understood == bool(e.anatomy or e.finding)


@pytest.mark.parametrize("text,unknown", NOT_UNDERSTOOD, ids=[repr(t)[:40] for t, _ in NOT_UNDERSTOOD])
def test_not_understood_is_never_mapped(text, unknown):
    parsed = parse(text)
    for q in parsed.queries:
        assert not q.understood, f"{text!r} was mapped: {q.to_dict()}"
        assert not q.anatomy and q.finding is None
    listed = [w for q in parsed.queries for w in q.unknown_words]
    assert set(unknown) <= set(listed), f"{text!r}: unknown {listed}, expected {unknown}"
    assert parsed.warnings, "a text that is not understood must say so"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_gives_no_query_and_a_warning(text):
    parsed = parse(text)
    assert parsed.queries == () and "empty" in parsed.warnings[0]


@pytest.mark.parametrize("text,expected", PARTIAL, ids=[t for t, _ in PARTIAL])
def test_partial_parse_lists_the_rest(text, expected):
    parsed = parse(text)
    assert len(parsed.queries) == 1
    assert not _differences(parsed.queries[0], expected), _differences(parsed.queries[0], expected)


def test_several_findings_keep_their_own_attributes():
    qs = parse("8 mm spiculated nodule RUL and 2 cm hypodense liver lesion", use_embeddings=False).queries
    assert [q.finding for q in qs] == ["nodule", "lesion"]
    assert (
        qs[0].size_mm == (8.0,)
        and qs[0].attributes["margin"] == "spiculated"
        and "density" not in qs[0].attributes
    )
    assert (
        qs[1].size_mm == (20.0,)
        and qs[1].attributes["density"] == "hypodense"
        and "margin" not in qs[1].attributes
    )


def test_long_paste_is_cut_and_fast():
    sentence = "Small left pleural effusion. No pneumothorax. 6 mm nodule in the right upper lobe. "
    text = (sentence * 80)[:5000]
    parse(text, use_embeddings=False)  # warm
    t0 = time.perf_counter()
    parsed = parse(text, use_embeddings=False)
    elapsed = time.perf_counter() - t0
    assert any("2000 characters" in w for w in parsed.warnings)
    assert sum(len(q.text) for q in parsed.queries) < 2000
    assert {q.finding for q in parsed.queries} == {"effusion", "pneumothorax", "nodule"}
    assert (
        elapsed < 0.5
    ), f"{elapsed * 1000:.0f} ms for a 5,000-character paste (target < 50 ms, 2-core CPU shared)"


def test_gibberish_paste_does_not_blow_up():
    rng = random.Random(7)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 12)))
        for _ in range(900)
    ]
    parsed = parse(" ".join(words)[:5000])
    assert all(not q.anatomy for q in parsed.queries if not q.understood)
    assert sum(len(q.unknown_words) for q in parsed.queries) > 50


def test_random_text_never_raises():
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;:?!-/x*()[]{}<>'\"\n\té漢ß✓"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert isinstance(parse(text, use_embeddings=False), ParsedText)


def test_non_text_is_a_query_error():
    with pytest.raises(QueryError, match="must be text"):
        parse(None)  # type: ignore[arg-type]


def test_json_shape_matches_design():
    d = parse("no left pleural effusion", use_embeddings=False).to_dict()
    assert set(d) >= {"text", "queries", "warnings"}
    q = d["queries"][0]
    assert set(q) >= {
        "text",
        "anatomy",
        "laterality",
        "finding",
        "attributes",
        "size_mm",
        "negated",
        "uncertain",
        "unknown_words",
    }
    assert set(q["anatomy"][0]) >= {"term", "code", "side"}
    assert q["anatomy"][0]["code"] == {"scheme": "SCT", "value": "3120008", "meaning": "Pleura"}
    assert q["laterality"] == "left" and q["negated"] is True and q["finding_code"]["value"] == "60046008"


def test_term_without_code_says_so():
    q = parse("ground glass opacity", use_embeddings=False).queries[0]
    assert q.finding == "ground-glass" and q.finding_code is None and q.to_dict()["finding_code"] is None


def test_typo_corrections_are_reported():
    parsed = parse("splenomegly", use_embeddings=False)
    assert parsed.queries[0].finding == "enlargement" and parsed.queries[0].anatomy[0].term == "spleen"
    assert any("splenomegly" in w and "splenomegaly" in w for w in parsed.warnings)


def test_real_words_are_not_corrected_into_vocabulary():
    # "train" is one edit from "brain", "lever" from "liver": real English words stay unknown.
    for text in ("train", "lever", "drain"):
        assert not any(q.understood for q in parse(text, use_embeddings=False).queries), text


def test_backend_labels_travel_with_the_anatomy():
    a = parse("left hippocampus", use_embeddings=False).queries[0].anatomy[0]
    assert a.backend_labels["meshnet104"] == ("Left-Hippocampus",)
    a = parse("RUL nodule", use_embeddings=False).queries[0].anatomy[0]
    assert a.backend_labels["totalseg"] == ("lung_upper_lobe_right",)
    assert a.backend_labels["ct_classical"] == ("lung_right",) and "ct_classical" in a.approximate_backends


def test_package_level_parse_forwards():
    import napari_medground

    assert napari_medground.parse("liver", use_embeddings=False).queries[0].anatomy[0].term == "liver"
