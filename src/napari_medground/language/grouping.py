"""Mentions -> groups: which words belong to which finding.

A sentence is cut into chunks at coordinators ("and", "or", ",", "/", "versus"). Most
chunks are one finding each ("liver and spleen" -> two). Some chunks only make sense
with a neighbour, and the rules below say how they combine:

* a side alone borrows what the next chunk names: "left and right hippocampus" -> two;
* attributes or sizes alone join the next chunk after a comma ("8 mm, solid nodule"),
  else the previous one ("nodule RUL, 8 mm");
* an anatomy adjective alone borrows the next chunk's finding ("hepatic and splenic
  lesions"), and so does an anatomy before a plural finding ("liver and spleen lesions");
* an anatomy after "<finding> (in) <anatomy>" borrows that finding ("nodules in the RUL and
  LLL", "enlarged liver and spleen"), and so does an anatomy with a size after a comma
  ("nodules, largest 9 mm in the RLL");
* an anatomy and a finding separated by a comma or colon are one finding ("nodule, RUL";
  "liver: no focal lesion").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .matcher import Mention
from .text import Token

_AND_OR = {"and", "or", "and/or", "&", "+", "plus", "as well as", "nor", "along with", "/"}
_COMMA = {",", ":"}
_SPLIT_TRIGGERS = {"versus", "vs"}


@dataclass
class Chunk:
    """Mentions between two coordinators of one sentence."""

    mentions: list[Mention]
    sep_before: str | None  # the coordinator before this chunk (None at a sentence start)

    def kinds(self, kind: str) -> list[Mention]:
        return [m for m in self.mentions if m.kind == kind]

    @property
    def has_anatomy(self) -> bool:
        return bool(self.kinds("anatomy"))

    @property
    def has_finding(self) -> bool:
        return bool(self.kinds("finding"))

    @property
    def has_core(self) -> bool:
        return self.has_anatomy or self.has_finding

    @property
    def side_only(self) -> bool:
        return bool(self.kinds("side")) and not self.has_core and not self.kinds("unknown")

    @property
    def attributes_only(self) -> bool:
        return (
            not self.has_core
            and not self.kinds("side")
            and not self.kinds("unknown")
            and bool(self.kinds("attribute") or self.kinds("size"))
        )

    @property
    def empty(self) -> bool:
        return all(m.kind in ("stop", "trigger", "conj", "sentence") for m in self.mentions)


@dataclass
class Group:
    """The mentions of one finding: its own, and those borrowed from a neighbour."""

    own: list[Mention]
    borrowed: list[Mention] = field(default_factory=list)

    @property
    def mentions(self) -> list[Mention]:
        return self.own + self.borrowed

    def has(self, kind: str) -> bool:
        return any(m.kind == kind for m in self.mentions)


def _chunks(mentions: list[Mention], tokens: list[Token]) -> list[list[Chunk]]:
    sentences: list[list[Chunk]] = [[]]
    current: list[Mention] = []
    sep: str | None = None
    for k, m in enumerate(mentions):
        if m.kind == "conj" and _between_sequences(mentions, k):
            continue  # "T2/FLAIR hyperintense" is one signal
        is_split = m.kind == "conj" or (
            m.kind == "trigger"
            and (tokens[m.start].norm in _SPLIT_TRIGGERS or m.surface.value[0] == "TERMINATE")
        )
        if m.kind == "sentence" or is_split:
            if current:
                sentences[-1].append(Chunk(current, sep))
            current = []
            if m.kind == "sentence":
                sep = None
                sentences.append([])
            else:
                sep = m.surface.value if m.kind == "conj" else _trigger_sep(m, tokens)
            continue
        current.append(m)
    if current:
        sentences[-1].append(Chunk(current, sep))
    return [s for s in sentences if s]


def _between_sequences(mentions: list[Mention], k: int) -> bool:
    def is_sequence(j: int) -> bool:
        m = mentions[j] if 0 <= j < len(mentions) else None
        return m is not None and m.kind == "attribute" and m.surface.value[0] == "sequence"

    return is_sequence(k - 1) and is_sequence(k + 1)


def _trigger_sep(m: Mention, tokens: list[Token]) -> str:
    return "versus" if tokens[m.start].norm in _SPLIT_TRIGGERS else "but"


def _anatomy_before_plural_finding(c: Chunk) -> bool:
    anat, find = c.kinds("anatomy"), c.kinds("finding")
    return bool(anat and find) and anat[0].start < find[0].start and find[0].surface.form == "plural"


def _finding_then_anatomy(c: Group | Chunk) -> bool:
    """ "nodules in the RUL", "nodules RUL", "dilated lateral (ventricles)": the finding leads."""
    ms = sorted(c.mentions, key=lambda m: m.start)
    find = [m for m in ms if m.kind == "finding"]
    anat = [m for m in ms if m.kind == "anatomy"]
    after = [a for a in anat if find and a.start >= find[0].end]
    if not after:
        return False
    between = [m for m in ms if find[0].end <= m.start < after[0].start]
    return all(m.kind in ("stop", "attribute", "side", "size") for m in between)


def _borrowable(ms: list[Mention], what: str) -> list[Mention]:
    if what == "finding":
        return [
            m
            for m in ms
            if m.kind == "finding"
            or (m.kind == "attribute" and m.surface.value[0] not in ("count", "location_terms"))
        ]
    return [m for m in ms if m.kind in ("anatomy", "finding", "attribute", "size")]


def group_mentions(mentions: list[Mention], tokens: list[Token]) -> list[Group]:
    """Group the mentions of the text into findings, sentence by sentence."""
    groups: list[Group] = []
    for chunks in _chunks(mentions, tokens):
        groups.extend(_group_sentence(chunks))
    return groups


def _list_head(rest: list[Chunk]) -> Chunk | None:
    """In "liver, spleen and pancreas lesions" the chunk that ends the list of organs."""
    for c in rest:
        if c.sep_before not in _AND_OR | _COMMA:
            return None
        if c.has_finding:
            return c if c.sep_before in _AND_OR else None
        if not c.has_anatomy:
            return None
    return None


def _anatomy_chunk(c: Chunk, own: list[Mention], prev: Group | None, rest: list[Chunk]) -> Group | str | None:
    """How an anatomy-only chunk combines: a new group, "merged" into ``prev``, or None (alone)."""
    adjectival = all(m.surface.form == "adjective" for m in c.kinds("anatomy"))
    nxt = rest[0] if rest else None
    if nxt is not None and nxt.has_finding and nxt.sep_before in _AND_OR and adjectival:
        return Group(own, _borrowable(nxt.mentions, "finding"))
    head = _list_head(rest)
    if head is not None and _anatomy_before_plural_finding(head):
        return Group(own, _borrowable(head.mentions, "finding"))
    if prev is None:
        return None
    if c.sep_before in _COMMA and prev.has("finding") and not prev.has("anatomy"):
        prev.own.extend(own)
        return "merged"
    if c.sep_before in _AND_OR | _COMMA and prev.has("finding"):
        if _finding_then_anatomy(prev) or (c.kinds("size") and c.sep_before in _COMMA):
            return Group(own, _borrowable(prev.mentions, "finding"))
    return None


def _group_sentence(chunks: list[Chunk]) -> list[Group]:
    groups: list[Group] = []
    carry: list[Mention] = []
    for idx, c in enumerate(chunks):
        if c.empty:
            carry.extend(m for m in c.mentions if m.kind == "trigger")
            continue
        nxt = chunks[idx + 1] if idx + 1 < len(chunks) else None
        prev = groups[-1] if groups else None
        own, carry = carry + c.mentions, []
        if c.side_only:
            if nxt is not None and nxt.has_core and nxt.sep_before in _AND_OR | _COMMA | {"versus"}:
                groups.append(Group(own, _borrowable(nxt.mentions, "core")))
                continue
            if prev is not None and c.sep_before in _COMMA:
                prev.own.extend(own)
                continue
        elif c.attributes_only:
            if nxt is not None and nxt.sep_before in _COMMA and not nxt.empty:
                carry = own
                continue
            if prev is not None:
                prev.own.extend(own)
                continue
        elif c.has_anatomy and not c.has_finding:
            combined = _anatomy_chunk(c, own, prev, chunks[idx + 1 :])
            if isinstance(combined, Group):
                groups.append(combined)
            if combined is not None:
                continue
        elif c.has_finding and not c.has_anatomy:
            if (
                prev is not None
                and c.sep_before in _COMMA
                and prev.has("anatomy")
                and not prev.has("finding")
            ):
                prev.own.extend(own)
                continue
        groups.append(Group(own))
    if carry and groups:
        groups[-1].own.extend(carry)
    return groups
