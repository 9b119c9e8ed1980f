"""Embedding fallback: the numpy engine, the validated threshold, rules-only without the model."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medground.language import embedding, parse
from tests.core.language_prompts import EMBEDDING_NEGATIVE, EMBEDDING_POSITIVE

needs_model = pytest.mark.skipif(
    embedding.unavailable_reason() is not None, reason=f"{embedding.unavailable_reason()}"
)


@needs_model
def test_threshold_accepts_near_synonyms_and_no_negative():
    words = list(EMBEDDING_POSITIVE) + EMBEDDING_NEGATIVE
    for w in words:  # the validation words must be ones the rules do not know
        assert not any(q.understood for q in parse(w, use_embeddings=False).queries), w
    results = dict(zip(words, embedding.nearest(words)))
    accepted = {w: r[0] for w, r in results.items() if r[2] >= embedding.ACCEPT_THRESHOLD}
    wrong_negatives = {w: t for w, t in accepted.items() if w in EMBEDDING_NEGATIVE}
    assert wrong_negatives == {}
    positives = {w: t for w, t in accepted.items() if w in EMBEDDING_POSITIVE}
    assert all(EMBEDDING_POSITIVE[w] == t for w, t in positives.items()), positives
    assert len(positives) >= 0.7 * len(EMBEDDING_POSITIVE)


@needs_model
def test_proposals_are_shown_and_accepted_only_above_threshold():
    q = parse("tumorous lesion in the liver").queries[0]
    assert q.finding == "tumour" and [a.term for a in q.anatomy] == ["liver"]
    (p,) = q.proposals
    assert (
        p.words == "tumorous"
        and p.term == "tumour"
        and p.accepted
        and p.similarity >= embedding.ACCEPT_THRESHOLD
    )
    q = parse("left flurbogland").queries[0]
    assert not q.understood and q.unknown_words == ("flurbogland",)
    assert (
        q.proposals and not q.proposals[0].accepted and q.proposals[0].similarity < embedding.ACCEPT_THRESHOLD
    )


@needs_model
def test_itis_words_are_inflammation_of_the_organ_the_embedding_names():
    q = parse("pancreatitis").queries[0]
    assert q.finding == "inflammation" and [a.term for a in q.anatomy] == ["pancreas"]


@needs_model
def test_no_proposals_for_abbreviations_sides_or_numbers():
    for text in ("XYZ nodule", "left", "12345 mm3", "R"):
        for q in parse(text).queries:
            assert q.proposals == (), (text, q.proposals)


@needs_model
def test_numpy_encoder_is_deterministic_and_normalised():
    enc = embedding.get_encoder("numpy")
    a = enc.encode(["left hippocampus", "liver", "x"])
    b = enc.encode(["liver"])
    assert a.shape == (3, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a[1], b[0], atol=1e-5)  # padding in a batch does not change an embedding


@needs_model
@pytest.mark.slow
def test_numpy_engine_matches_sentence_transformers():
    texts = [
        "left hippocampus",
        "right upper lobe nodule",
        "hepar",
        "swollen spleen",
        "a much longer phrase about " "a small hypodense lesion in segment seven of the liver",
        "x",
    ]
    ours = embedding.get_encoder("numpy").encode(texts)
    ref = embedding.get_encoder("sentence-transformers").encode(texts)
    assert np.all((ours * ref).sum(1) > 0.9999)


@needs_model
def test_shipped_vocabulary_embeddings_are_current():
    rows = embedding._index_texts(embedding.load_vocabulary())
    texts = [r[0] for r in rows]
    matrix = embedding._load_matrix(embedding._shipped_path(), embedding.signature(texts), len(texts))
    assert matrix is not None, "vocabulary changed: run python -m napari_medground.language.embedding"
    fresh = embedding.get_encoder("numpy").encode(texts[:20])
    assert np.all((fresh * matrix[:20]).sum(1) > 0.999)


def test_stale_cache_is_ignored(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, signature=np.array("abc"), matrix=np.ones((2, 384), np.float16))
    assert embedding._load_matrix(path, "abc", 2) is not None
    assert embedding._load_matrix(path, "other", 2) is None
    assert embedding._load_matrix(path, "abc", 3) is None
    assert embedding._load_matrix(tmp_path / "missing.npz", "abc", 2) is None


def test_rules_only_when_the_model_is_absent(monkeypatch):
    monkeypatch.setattr(embedding, "model_dir", lambda: None)
    parsed = parse("tumorous lesion in the liver")
    assert any("unavailable" in w for w in parsed.warnings)
    q = parsed.queries[0]
    assert q.finding == "lesion" and q.unknown_words == ("tumorous",) and q.proposals == ()


def test_rules_only_when_switched_off(monkeypatch):
    monkeypatch.setenv(embedding.ENGINE_ENV, "off")
    parsed = parse("tumorous lesion")
    assert any("switched off" in w for w in parsed.warnings)
    assert parsed.queries[0].unknown_words == ("tumorous",)


def test_no_note_when_nothing_needed_the_fallback(monkeypatch):
    monkeypatch.setattr(embedding, "model_dir", lambda: None)
    assert parse("left hippocampus").warnings == ()


def test_typo_rule_is_stricter_without_the_word_list(monkeypatch):
    from napari_medground.language import matcher

    monkeypatch.setattr(matcher, "_english_words", lambda: None)
    assert parse("spleem cyst", use_embeddings=False).queries[0].unknown_words == ("spleem",)
    q = parse("splenomegly", use_embeddings=False).queries[0]
    assert q.finding == "enlargement" and q.anatomy[0].term == "spleen"
