"""``parse(text) -> ParsedText``: the typed finding, understood field by field.

Pipeline: clean and tokenise (sizes, abbreviations) -> correct typos -> match the
vocabulary (longest phrase first) -> embedding proposals for the words still unknown ->
ConText negation/uncertainty scopes -> group mentions into findings -> build queries.
Rules come first and explain themselves; the embedding only fills gaps above a
validated similarity, and everything not understood is listed, never guessed.
"""

from __future__ import annotations

import logging

from ..errors import MedgroundError, QueryError
from .build import build_queries
from .context import find_scopes
from .grouping import group_mentions
from .matcher import Mention, correct_typos, match
from .query import ParsedText, Proposal, Query
from .text import Token, clean_text, find_sizes, tokenize
from .vocabulary import SIDE_WORDS, Surface, Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

MAX_CHARS = 2000  # a typed finding is short; longer pastes are cut at a sentence end
MAX_EMBED_SPANS = 8  # bounds the fallback's time on long pastes
MAX_SPAN_WORDS = 4


def parse(text: str, *, use_embeddings: bool = True, max_chars: int = MAX_CHARS) -> ParsedText:
    """Parse a typed radiology finding into queries (one per finding named).

    Parameters
    ----------
    text
        What the clinician typed, e.g. "8 mm ground-glass nodule RUL", "no pneumothorax",
        "left and right hippocampus".
    use_embeddings
        Let the sentence-embedding fallback propose vocabulary terms for unknown words.
    max_chars
        Longer text is cut (at a sentence end when there is one) and a warning says so.

    Returns
    -------
    ParsedText
        ``queries`` in text order; empty with a warning for empty text. Words that were
        not understood are listed in each query's ``unknown_words``.

    Raises
    ------
    QueryError
        ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise QueryError(f"parse: the finding must be text, got {type(text).__name__}; pass a string")
    if not text.strip():
        return ParsedText(
            text, (), ("empty text: nothing to parse; type a finding, e.g. 'left hippocampal atrophy'",)
        )
    vocab = load_vocabulary()
    warnings: list[str] = []
    work = clean_text(text)
    if len(work) > max_chars:
        work = _truncate(work, max_chars)
        warnings.append(f"text longer than {max_chars} characters: only the first {len(work)} were parsed")
    tokens = tokenize(work, vocab)
    correct_typos(tokens, vocab)
    mentions = match(tokens, find_sizes(tokens), vocab)
    proposals: dict[int, Proposal] = {}
    if use_embeddings:
        mentions = _embedding_fallback(tokens, mentions, proposals, warnings)
    scopes = find_scopes(tokens, mentions)
    queries: list[Query] = []
    for group in group_mentions(mentions, tokens):
        queries.extend(build_queries(group, tokens, work, scopes, vocab, proposals))
    warnings.extend(_notes(tokens, queries))
    return ParsedText(text, tuple(queries), tuple(warnings))


def _truncate(text: str, limit: int) -> str:
    head = text[:limit]
    cut = max(head.rfind(". "), head.rfind("\n"), head.rfind("; "))
    if cut < limit // 2:
        cut = head.rfind(" ")
    return head[: cut + 1] if cut > 0 else head


def _unknown_runs(tokens: list[Token], mentions: list[Mention]) -> list[tuple[int, int]]:
    """Index ranges (in ``mentions``) of consecutive unknown words fit for the embedding."""
    runs, k = [], 0
    while k < len(mentions):
        if not _embeddable(tokens, mentions[k]):
            k += 1
            continue
        j = k
        while j + 1 < len(mentions) and _embeddable(tokens, mentions[j + 1]):
            j += 1
        if j - k + 1 <= MAX_SPAN_WORDS:
            runs.append((k, j + 1))
        k = j + 1
    return runs[:MAX_EMBED_SPANS]


def _embeddable(tokens: list[Token], m: Mention) -> bool:
    if m.kind != "unknown":
        return False
    t = tokens[m.start]
    word = t.text
    is_abbreviation = word.isupper() and len(word) <= 5
    return (
        t.kind == "word"
        and word.isalpha()
        and len(word) >= 3
        and not is_abbreviation
        and word.lower() not in SIDE_WORDS
        and not t.conditional_side
    )


def _itis_words(mentions: list[Mention]) -> list[int]:
    """Mentions made from an "-itis" word, whose organ the embedding may name."""
    return [k for k, m in enumerate(mentions) if m.kind == "finding" and m.value and m.term == "inflammation"]


def _embedding_fallback(
    tokens: list[Token], mentions: list[Mention], proposals: dict[int, Proposal], warnings: list[str]
) -> list[Mention]:
    runs = _unknown_runs(tokens, mentions)
    itis = _itis_words(mentions)
    if not runs and not itis:
        return mentions
    from . import embedding

    reason = embedding.unavailable_reason()
    if reason:
        warnings.append(reason)
        return mentions
    phrases = [" ".join(tokens[mentions[i].start].text for i in range(a, b)) for a, b in runs]
    organ_words = [str(mentions[k].value) for k in itis]
    try:
        results = embedding.nearest(phrases)
        organs = embedding.nearest(organ_words, kind="anatomy")
    except (MedgroundError, OSError, ValueError, RuntimeError) as exc:
        log.warning("embedding fallback failed: %s", exc)
        warnings.append(f"embedding fallback failed ({exc}): rules only")
        return mentions
    # Edits as (first, last) mention indices to replace, applied from the end of the list.
    edits: list[tuple[int, int, list[Mention]]] = []
    for (a, b), words, (term, kind, sim, _near) in zip(runs, phrases, results):
        start, end = mentions[a].start, mentions[b - 1].end
        accepted = sim >= embedding.ACCEPT_THRESHOLD
        proposals[start] = Proposal(
            words=words, term=term, kind=kind, similarity=round(sim, 3), accepted=accepted
        )
        if accepted:
            edits.append((a, b, [Mention(kind, start, end, Surface(kind, term, "name"))]))
    for k, words, (term, kind, sim, _near) in zip(itis, organ_words, organs):
        m = mentions[k]
        accepted = sim >= embedding.ACCEPT_THRESHOLD
        proposals[m.start] = Proposal(
            words=words, term=term, kind=kind, similarity=round(sim, 3), accepted=accepted
        )
        if accepted:
            edits.append(
                (k, k + 1, [m, Mention("anatomy", m.start, m.end, Surface("anatomy", term, "name"))])
            )
    out = list(mentions)
    for a, b, new in sorted(edits, key=lambda e: e[0], reverse=True):
        out[a:b] = new
    return out


def _notes(tokens: list[Token], queries: list[Query]) -> list[str]:
    notes = [f"read '{t.corrected_from}' as '{t.norm}'" for t in tokens if t.corrected_from]
    for q in queries:
        if q.understood and len(q.unknown_words) >= 3 and len(q.unknown_words) > len(q.text.split()) / 2:
            notes.append(f"mostly not understood: '{q.text}' (unknown: {', '.join(q.unknown_words)})")
        elif not q.understood and q.unknown_words:
            notes.append(f"not understood: {', '.join(q.unknown_words)}")
    if not any(q.understood for q in queries):
        notes.append("no anatomy or finding was recognised in the text")
    return notes


def describe(vocab: Vocabulary | None = None) -> dict[str, int]:
    """Sizes of the vocabulary (for the CLI and the benchmark)."""
    vocab = vocab or load_vocabulary()
    return {
        "anatomy_terms": len(vocab.anatomy),
        "finding_terms": len(vocab.findings),
        "phrases": len(vocab.phrases),
        "backends": len(vocab.backend_maps),
    }
