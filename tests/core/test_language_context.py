"""ConText: scopes, directions, terminations, pseudo-triggers, "?" forms."""

from __future__ import annotations

import pytest

from napari_medground.language import parse
from napari_medground.language.context import MAX_SCOPE


def _flags(text: str) -> list[tuple[str | None, bool, bool]]:
    return [
        (q.finding or (q.anatomy[0].term if q.anatomy else None), q.negated, q.uncertain)
        for q in parse(text, use_embeddings=False).queries
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        # forward negation covers a list
        (
            "no pneumothorax, effusion or consolidation",
            [("pneumothorax", True, False), ("effusion", True, False), ("consolidation", True, False)],
        ),
        # a termination term ends the scope
        ("no pneumothorax but a small effusion", [("pneumothorax", True, False), ("effusion", False, False)]),
        (
            "no pneumothorax however there is consolidation",
            [("pneumothorax", True, False), ("consolidation", False, False)],
        ),
        # a sentence end ends the scope
        ("No nodule. Effusion.", [("nodule", True, False), ("effusion", False, False)]),
        # backward triggers
        ("pneumothorax has resolved", [("pneumothorax", True, False)]),
        ("metastasis cannot be excluded", [("metastasis", False, True)]),
        ("pneumonia suspected", [("pneumonia", False, True)]),
        # pseudo-triggers do not negate
        ("no increase in the size of the liver cyst", [("cyst", False, False)]),
        ("not only a cyst but also a mass", [("cyst", False, False), ("mass", False, False)]),
        ("no interval change of the RUL nodule", [("nodule", False, False)]),
        # another trigger of a different kind ends a scope
        ("no pneumothorax, probable effusion", [("pneumothorax", True, False), ("effusion", False, True)]),
        # probable negation sets both flags
        ("effusion unlikely", [("effusion", True, True)]),
        # "?" against a word, opening, or closing a phrase
        ("?pneumothorax", [("pneumothorax", False, True)]),
        ("? pneumothorax", [("pneumothorax", False, True)]),
        ("pneumothorax?", [("pneumothorax", False, True)]),
        ("liver lesion? spleen", [("lesion", False, True), ("spleen", False, False)]),
        # query wording: a request to look is neither negation nor doubt
        ("evaluate for pneumothorax", [("pneumothorax", False, False)]),
        ("assess the liver", [("liver", False, False)]),
    ],
)
def test_scopes(text, expected):
    assert _flags(text) == expected


def test_scope_is_capped():
    filler = " ".join(["the"] * (MAX_SCOPE + 2))
    assert _flags(f"no {filler} pneumothorax") == [("pneumothorax", False, False)]
    assert _flags("no pneumothorax") == [("pneumothorax", True, False)]


def test_negation_applies_to_anatomy_only_queries():
    assert _flags("normal kidneys") == [("kidney", True, False)]
    assert _flags("kidneys") == [("kidney", False, False)]
