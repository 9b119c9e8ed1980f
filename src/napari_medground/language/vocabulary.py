"""The radiology vocabulary: anatomy and finding terms, codes, attributes, triggers, backend labels.

All of it is data under ``resources/vocabulary/`` (see its README for sources and licences),
loaded once per process (:func:`load_vocabulary` is cached). Lookups that other layers use:

* :func:`backend_labels` - label names of one backend that make up an anatomy term and side,
* :func:`anatomy_code` / :func:`finding_code` - SNOMED CT (``"SCT"``) codes, or None when none is known,
* :func:`is_approximate` - whether a backend only has a containing structure (RUL -> right lung).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .query import Code

SIDES = ("left", "right", "bilateral")
LATERALITY_CODES = {
    "left": Code("SCT", "7771000", "Left"),
    "right": Code("SCT", "24028007", "Right"),
    "bilateral": Code("SCT", "51440002", "Right and left"),
}
SIDE_WORDS = {
    "left": "left",
    "right": "right",
    "bilateral": "bilateral",
    "bilaterally": "bilateral",
    "both sides": "bilateral",
    "on both sides": "bilateral",
    "left sided": "left",
    "right sided": "right",
    "left side": "left",
    "right side": "right",
    "on the left": "left",
    "on the right": "right",
}
# Coordinators that separate findings ("liver and spleen" -> two queries).
CONJUNCTIONS = ("and", "or", "and/or", ",", ":", "&", "+", "/", "plus", "as well as", "nor", "along with")
# Sentence ends (scope limits for negation and the end of a query).
SENTENCE_ENDS = (".", ";", "!", "\n")
# Kinds of phrase in the matcher, highest priority first when one phrase has several.
KIND_PRIORITY = ("trigger", "finding", "anatomy", "side", "conj", "attribute", "stop")


@dataclass(frozen=True)
class Surface:
    """One way of writing a vocabulary item, as the matcher sees it."""

    kind: str  # "anatomy" | "finding" | "attribute" | "side" | "trigger" | "conj" | "stop"
    value: Any  # term; (key, value) for attributes; side; (category, direction) for triggers
    form: str = "name"  # "name" | "plural" | "adjective" for anatomy and findings
    side: str | None = None  # a side the words carry ("lingula" -> left)
    anatomy: tuple[Any, ...] = ()  # anatomy implied by a finding word ("hepatomegaly" -> liver)
    attributes: tuple[tuple[str, Any], ...] = ()
    code: Code | None = None  # a more specific code for this surface


@dataclass(frozen=True)
class AnatomyEntry:
    term: str
    code: Code | None
    code_source: str
    category: str
    paired: bool
    parent: str | None = None
    implied_side: str | None = None
    plural_is_bilateral: bool = True  # "kidneys" = both; "ribs" = several


@dataclass(frozen=True)
class FindingEntry:
    term: str
    code: Code | None
    code_source: str
    kind: str
    code_by_anatomy: dict[str, Code] = field(default_factory=dict)


@dataclass(frozen=True)
class Vocabulary:
    """Everything the parser needs, built once from the data files."""

    anatomy: dict[str, AnatomyEntry]
    findings: dict[str, FindingEntry]
    phrases: dict[tuple[str, ...], tuple[Surface, ...]]
    max_phrase_len: int
    abbreviations: dict[str, str]
    conditional_sides: dict[str, str]
    spelling_words: dict[str, str]
    spelling_rules: tuple[tuple[re.Pattern, str], ...]
    backend_maps: dict[str, dict[str, dict[str, Any]]]
    known_words: frozenset[str]  # every word of every phrase (normalised)
    content_words: frozenset[str]  # words of anatomy/finding/attribute/side phrases (fuzzy targets)


def _read_json(name: str) -> dict:
    from ..resources import resource_path

    with open(resource_path("vocabulary", name), encoding="utf-8") as f:
        return json.load(f)


def _code(d: dict | None) -> tuple[Code | None, str]:
    if not d:
        return None, ""
    return Code(d["scheme"], d["value"], d["meaning"]), d.get("source", "")


def normalise_word(word: str, words: dict[str, str], rules: tuple[tuple[re.Pattern, str], ...]) -> str:
    """Lower-case matching form of one word: known misspellings, then British -> American stems."""
    w = word.lower()
    w = words.get(w, w)
    for pattern, repl in rules:
        w = pattern.sub(repl, w)
    return w


class _Builder:
    """Collects phrases from the data files into one index."""

    def __init__(self, words: dict[str, str], rules: tuple[tuple[re.Pattern, str], ...]):
        self.words, self.rules = words, rules
        self.phrases: dict[tuple[str, ...], list[Surface]] = {}

    def key(self, text: str) -> tuple[str, ...]:
        text = re.sub(r"(?<=[a-z])-(?=[a-z0-9])", " ", text.lower())
        out: list[str] = []
        for w in text.split():
            out.extend(normalise_word(w, self.words, self.rules).split())
        return tuple(out)

    def add(self, text: str, surface: Surface) -> None:
        k = self.key(text)
        if k and surface not in self.phrases.setdefault(k, []):
            self.phrases[k].append(surface)


def _surface_spec(item: Any) -> tuple[str, dict]:
    return (item, {}) if isinstance(item, str) else (item["text"], item)


def _add_anatomy(b: _Builder, data: dict) -> dict[str, AnatomyEntry]:
    entries = {}
    for t in data["terms"]:
        code, source = _code(t.get("code"))
        term = t["term"]
        entries[term] = AnatomyEntry(
            term,
            code,
            source,
            t["category"],
            t["paired"],
            t.get("parent"),
            t.get("implied_side"),
            t.get("plural_is_bilateral", True),
        )
        for form, items in (
            ("name", t["synonyms"] + [term]),
            ("plural", t["plural"]),
            ("adjective", t["adjectives"]),
        ):
            for item in items:
                text, spec = _surface_spec(item)
                b.add(text, Surface("anatomy", term, form, side=spec.get("side") or t.get("implied_side")))
    return entries


def _add_findings(b: _Builder, data: dict) -> dict[str, FindingEntry]:
    entries = {}
    for t in data["terms"]:
        code, source = _code(t.get("code"))
        by_anatomy = {k: _code(v)[0] for k, v in t.get("code_by_anatomy", {}).items()}
        term = t["term"]
        entries[term] = FindingEntry(term, code, source, t["kind"], by_anatomy)
        for form, items in (
            ("name", t["synonyms"] + [term]),
            ("plural", t["plural"]),
            ("adjective", t["adjectives"]),
        ):
            for item in items:
                text, spec = _surface_spec(item)
                anatomy = tuple(
                    a if isinstance(a, str) else (a["term"], a.get("side")) for a in spec.get("anatomy", ())
                )
                attrs = tuple(sorted(spec.get("attributes", {}).items()))
                b.add(
                    text,
                    Surface(
                        "finding",
                        term,
                        form,
                        anatomy=anatomy,
                        attributes=attrs,
                        code=_code(spec.get("code"))[0],
                    ),
                )
    return entries


def _add_triggers(b: _Builder) -> None:
    from ..resources import resource_path

    with open(resource_path("vocabulary", "context_triggers.tsv"), encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            phrase, category, direction = line.rstrip("\n").split("\t")[:3]
            b.add(phrase, Surface("trigger", (category, direction)))


def _add_misc(b: _Builder) -> None:
    from ..resources import resource_path

    for a in _read_json("attributes.json")["attributes"]:
        anatomy = tuple(x if isinstance(x, str) else (x["term"], x.get("side")) for x in a.get("anatomy", ()))
        for p in a["phrases"]:
            b.add(p, Surface("attribute", (a["key"], a["value"]), anatomy=anatomy))
    for words, side in SIDE_WORDS.items():
        b.add(words, Surface("side", side))
    for c in CONJUNCTIONS:
        b.add(c, Surface("conj", c))
    with open(resource_path("vocabulary", "stopwords.txt"), encoding="utf-8") as f:
        for line in f:
            w = line.strip()
            if w and not w.startswith("#"):
                b.add(w, Surface("stop", w))


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """Build the vocabulary from ``resources/vocabulary`` (once per process)."""
    spelling = _read_json("spelling.json")
    rules = tuple((re.compile(p), r) for p, r in spelling["rewrite"])
    words = {k.lower(): v.lower() for k, v in spelling["words"].items()}
    b = _Builder(words, rules)
    anatomy = _add_anatomy(b, _read_json("anatomy.json"))
    findings = _add_findings(b, _read_json("findings.json"))
    _add_triggers(b)
    _add_misc(b)
    abbr = _read_json("abbreviations.json")
    maps = {name: spec["terms"] for name, spec in _read_json("backend_labels.json")["backends"].items()}
    rank = {k: i for i, k in enumerate(KIND_PRIORITY)}
    phrases = {k: tuple(sorted(v, key=lambda s: rank[s.kind])) for k, v in b.phrases.items()}
    known = frozenset(w for k in phrases for w in k)
    content = frozenset(
        w
        for k, v in phrases.items()
        for w in k
        if any(s.kind in ("anatomy", "finding", "attribute", "side") for s in v) and w.isalpha()
    )
    return Vocabulary(
        anatomy=anatomy,
        findings=findings,
        phrases=phrases,
        max_phrase_len=max(len(k) for k in phrases),
        abbreviations={k.lower(): v for k, v in abbr["expand"].items()},
        conditional_sides={k.lower(): v for k, v in abbr["conditional_side"].items()},
        spelling_words=words,
        spelling_rules=rules,
        backend_maps=maps,
        known_words=known,
        content_words=content,
    )


def backends() -> tuple[str, ...]:
    """Names of the backends with label maps: meshnet104, meshnet50, subcortical, ct_classical, ..."""
    return tuple(load_vocabulary().backend_maps)


def _entry(term: str, backend: str) -> dict[str, Any] | None:
    vocab = load_vocabulary()
    if backend not in vocab.backend_maps:
        raise KeyError(f"unknown backend {backend!r}; known: {', '.join(vocab.backend_maps)}")
    return vocab.backend_maps[backend].get(term)


def backend_labels(term: str, side: str | None, backend: str) -> tuple[str, ...]:
    """Label names of ``backend`` that make up ``term`` on ``side``.

    ``side`` is "left", "right", "bilateral" or None; for a paired structure None and
    "bilateral" give both sides (left labels first). An unpaired structure ignores the side.
    Empty when the backend does not cover the term. Raises KeyError for an unknown backend.
    """
    e = _entry(term, backend)
    if not e:
        return ()
    if "any" in e:
        return tuple(e["any"])
    if side in ("left", "right"):
        return tuple(e.get(side, ()))
    return tuple(e.get("left", ())) + tuple(e.get("right", ()))


def is_approximate(term: str, side: str | None, backend: str) -> bool:
    """True when ``backend_labels`` gives a containing structure, not the structure itself.

    E.g. the right upper lobe on ``ct_classical`` (right lung), or a left hippocampus on a
    backend whose labels have no sides.
    """
    e = _entry(term, backend)
    if not e:
        return False
    entry = load_vocabulary().anatomy.get(term)
    unsided = "any" in e and entry is not None and entry.paired and side in ("left", "right")
    return bool(e.get("approximate")) or unsided


def anatomy_code(term: str) -> Code | None:
    """SNOMED CT code of an anatomy term, or None when none is known (or the term is unknown)."""
    entry = load_vocabulary().anatomy.get(term)
    return entry.code if entry else None


def finding_code(term: str, anatomy: str | None = None) -> Code | None:
    """SNOMED CT code of a finding term (refined by the anatomy when the data say so), or None."""
    entry = load_vocabulary().findings.get(term)
    if entry is None:
        return None
    if anatomy and anatomy in entry.code_by_anatomy:
        return entry.code_by_anatomy[anatomy]
    return entry.code


def code_source(term: str) -> str:
    """Where the code of an anatomy or finding term comes from ("" when it has none)."""
    vocab = load_vocabulary()
    entry = vocab.anatomy.get(term) or vocab.findings.get(term)
    return entry.code_source if entry else ""


def laterality_code(side: str | None) -> Code | None:
    """SCT laterality modifier: 7771000 left, 24028007 right, 51440002 bilateral."""
    return LATERALITY_CODES.get(side or "")
