"""Negation and uncertainty: the ConText algorithm over the NegEx and CheXpert trigger lists.

ConText (Harkema et al., J Biomed Inform 2009) marks a concept as negated or uncertain
when it falls inside the scope of a trigger: forward triggers ("no", "possible") reach to
the end of the sentence, backward triggers ("... is ruled out", "... suspected") reach
back to its start; a termination term ("but", "however") or another trigger of a
different kind ends a scope earlier; pseudo-triggers ("no increase", "not only") are
matched first and do nothing. Scopes are also capped at ``MAX_SCOPE`` tokens, as NegEx's
window is. A "?" written against a word ("?splenomegaly") or closing a phrase
("splenomegaly?") marks it uncertain.

The triggers are data (``resources/vocabulary/context_triggers.tsv``), built from
``negex_triggers.txt`` and the lexical form of the CheXpert labeler's patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

from .matcher import Mention
from .text import Token

MAX_SCOPE = 10  # tokens
NEGATED, POSSIBLE, PROBABLE_NEGATION = "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "PROBABLE_NEGATION"


@dataclass(frozen=True)
class Scopes:
    """Per token index: inside a negation scope, inside an uncertainty scope."""

    negated: frozenset[int]
    uncertain: frozenset[int]


def _sentences(mentions: list[Mention], n_tokens: int) -> list[tuple[int, int, list[Mention]]]:
    """(first token, end token, trigger and coordinator mentions) of each sentence."""
    out, start, inside = [], 0, []
    for m in mentions:
        if m.kind == "sentence":
            out.append((start, m.start, inside))
            start, inside = m.end, []
        elif m.kind in ("trigger", "conj"):
            inside.append(m)
    out.append((start, n_tokens, inside))
    return out


def _category(m: Mention) -> str:
    return m.surface.value[0] if m.kind == "trigger" and m.surface is not None else ""


def _direction(m: Mention, tokens: list[Token], lo: int) -> str:
    direction = m.surface.value[1] if m.surface is not None else ""
    if tokens[m.start].norm != "?":
        return direction
    # "?" against the next word, or opening a sentence, looks forward; otherwise it closes a phrase.
    if tokens[m.start].attached_next or m.start == lo:
        return "FORWARD"
    return "BACKWARD"


def find_scopes(tokens: list[Token], mentions: list[Mention]) -> Scopes:
    """Token indices that negation and uncertainty triggers cover."""
    negated: set[int] = set()
    uncertain: set[int] = set()
    for lo, hi, marks in _sentences(mentions, len(tokens)):
        inside = [m for m in marks if m.kind == "trigger"]
        stops = sorted(m.start for m in inside if _category(m) == "TERMINATE")
        # A backward scope also stops at a coordinator: "no pneumothorax, possible effusion".
        stops_end = sorted(m.end for m in marks if m.kind == "conj" or _category(m) == "TERMINATE")
        active = [m for m in inside if _category(m) in (NEGATED, POSSIBLE, PROBABLE_NEGATION)]
        for m in active:
            cat = _category(m)
            others = [o for o in active if o is not m and _category(o) != cat]
            covered: set[int] = set()
            direction = _direction(m, tokens, lo)
            if direction in ("FORWARD", "BIDIRECTIONAL"):
                end = min(
                    [hi, m.end + MAX_SCOPE]
                    + [s for s in stops if s >= m.end]
                    + [o.start for o in others if o.start >= m.end]
                )
                covered |= set(range(m.end, end))
            if direction in ("BACKWARD", "BIDIRECTIONAL"):
                start = max(
                    [lo, m.start - MAX_SCOPE]
                    + [s for s in stops_end if s <= m.start]
                    + [o.end for o in others if o.end <= m.start]
                )
                covered |= set(range(start, m.start))
            if cat in (NEGATED, PROBABLE_NEGATION):
                negated |= covered
            if cat in (POSSIBLE, PROBABLE_NEGATION):
                uncertain |= covered
    return Scopes(frozenset(negated), frozenset(uncertain))
