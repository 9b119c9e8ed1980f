"""One group of mentions -> one or more :class:`Query` objects.

Decides the finding (the noun over its adjectives), the anatomy (explicit, or implied by
the finding word: hepatomegaly -> liver), which side word belongs to which structure,
the attributes and sizes, the negation/uncertainty flags and the words not understood.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .context import Scopes
from .grouping import Group
from .matcher import Mention
from .query import AnatomyRef, Proposal, Query
from .text import Token
from .vocabulary import Vocabulary, backend_labels, finding_code, is_approximate

GENERIC_REGIONS = {"thorax", "abdomen", "pelvis", "body"}
_GENERIC_FINDINGS = {"lesion"}
_LIST_KEYS = {"location_terms", "measurement", "associated_findings"}


@dataclass
class _Anat:
    term: str
    pos: int  # token index used for side binding
    side: str | None  # explicit or carried by the words
    plural: bool
    text: str


def _ancestors(term: str, vocab: Vocabulary) -> set[str]:
    out, entry = set(), vocab.anatomy.get(term)
    while entry is not None and entry.parent:
        out.add(entry.parent)
        entry = vocab.anatomy.get(entry.parent)
    return out


def _span_text(text: str, tokens: list[Token], ms: list[Mention]) -> str:
    if not ms:
        return ""
    return text[tokens[min(m.start for m in ms)].start : tokens[max(m.end for m in ms) - 1].end]


def _pick_finding(findings: list[Mention]) -> tuple[Mention | None, list[str]]:
    """The finding of the group, and the other finding words (associated findings).

    A generic head noun gives way to a specific word ("metastatic lesion" -> metastasis);
    otherwise the first noun wins over adjectives ("metastatic nodule" -> nodule).
    """
    if not findings:
        return None, []
    specific = [m for m in findings if m.term not in _GENERIC_FINDINGS] or findings
    nouns = [m for m in specific if m.surface.form != "adjective"]
    primary = (nouns or specific)[0]
    others = list(dict.fromkeys(m.term for m in specific if m.term != primary.term))
    return primary, others


def _split_with(ms: list[Mention], tokens: list[Token]) -> tuple[list[Mention], list[str]]:
    """ "effusion with adjacent atelectasis": what follows "with" is an associated finding, and
    its anatomy and sides describe that finding, not the main one."""
    ordered = sorted(ms, key=lambda m: m.start)
    cut = next((m.start for m in ordered if m.kind == "stop" and tokens[m.start].norm == "with"), None)
    if cut is None:
        return ms, []
    before = [m for m in ms if m.start < cut]
    after = [m for m in ms if m.start > cut]
    after_findings = [m.term for m in after if m.kind == "finding"]
    if not after_findings or not any(m.kind == "finding" for m in before):
        return ms, []
    keep = [m for m in after if m.kind in ("trigger", "unknown")]
    return before + keep, list(dict.fromkeys(after_findings))


def _demote_ambiguous(ms: list[Mention]) -> list[Mention]:
    """ "ground glass" next to another finding is a density, not the finding itself."""
    findings = [m for m in ms if m.kind == "finding"]
    if len({m.term for m in findings}) < 2:
        return ms
    out = []
    for m in ms:
        alt = [s for s in m.alternatives if s.kind == "attribute"]
        if m.kind == "finding" and alt:
            out.append(Mention("attribute", m.start, m.end, alt[0]))
        else:
            out.append(m)
    return out


def _qualifiers(ms: list[Mention]) -> tuple[list[Mention], list[str]]:
    """An anatomy adjective right before an anatomy noun only says where: "mediastinal lymph nodes"."""
    anat = [m for m in ms if m.kind == "anatomy"]
    drop = [
        a
        for a, b in zip(anat, anat[1:])
        if a.surface.form == "adjective"
        and b.surface.form != "adjective"
        and all(m.kind == "stop" for m in ms if a.end <= m.start < b.start)
        and a.term != b.term
    ]
    return [m for m in ms if not any(m is d for d in drop)], [d.term for d in drop]


def _anatomies(
    ms: list[Mention], primary: Mention | None, tokens: list[Token], text: str, vocab: Vocabulary
) -> list[_Anat]:
    anats = [
        _Anat(m.term, m.start, m.surface.side, m.surface.form == "plural", _span_text(text, tokens, [m]))
        for m in ms
        if m.kind == "anatomy"
    ]
    specific = [a for a in anats if a.term not in GENERIC_REGIONS]
    implying = ([primary] if primary is not None else []) + [m for m in ms if m.kind == "attribute"]
    for m in implying:
        for a in m.surface.anatomy if not specific else ():
            term, side = (a, None) if isinstance(a, str) else a
            if term not in [x.term for x in anats]:
                anats.append(_Anat(term, m.start, side, False, _span_text(text, tokens, [m])))
    seen: dict[str, _Anat] = {}
    for a in anats:
        seen.setdefault(a.term, a)
    anats = list(seen.values())
    terms = {a.term for a in anats}
    kept = []
    for a in anats:
        children = [b for b in anats if a.term in _ancestors(b.term, vocab)]
        if children:
            for b in children:  # "lower lobe of the left lung": the lobe takes the lung's side
                b.side = b.side or a.side
            continue
        if a.term in GENERIC_REGIONS and len(terms) > 1:
            continue
        kept.append(a)
    return kept


def _bind_sides(ms: list[Mention], anats: list[_Anat], vocab: Vocabulary) -> tuple[str | None, list[str]]:
    """Give each side word to its structure; returns (side of the query, location words)."""
    loose: str | None = None
    locations: list[str] = []
    for s in (m for m in ms if m.kind == "side"):
        after = [a for a in anats if a.pos >= s.end]
        before = [a for a in anats if a.pos < s.start]
        target = (
            min(after, key=lambda a: a.pos)
            if after
            else (max(before, key=lambda a: a.pos) if before else None)
        )
        side = s.surface.value
        if target is None:
            loose = loose or side
            continue
        entry = vocab.anatomy.get(target.term)
        if entry is not None and not entry.paired and entry.implied_side is None:
            locations.append(side)  # "left lobe" of the liver
        elif target.side is None or target.side == "bilateral":
            target.side = side
    for a in anats:
        entry = vocab.anatomy.get(a.term)
        if a.side is None and entry is not None and entry.paired and a.plural and entry.plural_is_bilateral:
            a.side = "bilateral"
        if a.side is None and loose and entry is not None and entry.paired:
            a.side = loose
    return loose, locations


def _attributes(
    ms: list[Mention], primary: Mention | None, others: list[str], locations: list[str], sizes: list[Mention]
) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    pairs = [m.surface.value for m in ms if m.kind == "attribute"]
    if primary is not None:
        pairs += list(primary.surface.attributes)
    for key, value in pairs:
        if key in _LIST_KEYS:
            attrs.setdefault(key, [])
            if value not in attrs[key]:
                attrs[key].append(value)
        else:
            attrs.setdefault(key, value)
    if locations:
        loc = attrs.setdefault("location_terms", [])
        if "lobe" in loc:
            loc.remove("lobe")
            locations = [f"{s} lobe" for s in locations]
        loc[:0] = locations
    if "signal" in attrs and "sequence" in attrs:
        attrs["signal"] = f"{attrs['sequence']} {attrs['signal']}"
    if others:
        attrs["associated_findings"] = others
    for s in sizes[1:]:
        if s.value.dims_mm:
            attrs.setdefault("other_sizes_mm", []).append(list(s.value.dims_mm))
    for s in sizes:
        if s.value.volume_ml is not None:
            attrs.setdefault("volume_ml", s.value.volume_ml)
        if s.value.range_mm is not None:
            attrs.setdefault("size_range_mm", list(s.value.range_mm))
    return attrs


def _anatomy_ref(a: _Anat, vocab: Vocabulary) -> AnatomyRef:
    entry = vocab.anatomy[a.term]
    labels = {b: backend_labels(a.term, a.side, b) for b in vocab.backend_maps}
    labels = {b: v for b, v in labels.items() if v}
    approx = tuple(b for b in labels if is_approximate(a.term, a.side, b))
    return AnatomyRef(
        term=a.term,
        code=entry.code,
        side=a.side,
        matched_text=a.text,
        backend_labels=labels,
        category=entry.category,
        approximate_backends=approx,
    )


def build_queries(
    group: Group,
    tokens: list[Token],
    text: str,
    scopes: Scopes,
    vocab: Vocabulary,
    proposals: dict[int, Proposal],
) -> list[Query]:
    """The queries of one group: one per structure when it names unrelated structures."""
    ms, with_findings = _split_with(group.mentions, tokens)
    ms, where = _qualifiers(_demote_ambiguous(ms))
    primary, others = _pick_finding([m for m in ms if m.kind == "finding"])
    others += [f for f in with_findings if f not in others and (primary is None or f != primary.term)]
    anats = _anatomies(ms, primary, tokens, text, vocab)
    loose, locations = _bind_sides(ms, anats, vocab)
    locations += where
    sizes = [m for m in ms if m.kind == "size"]
    attrs = _attributes(ms, primary, others, locations, sizes)
    if (
        primary is not None
        and primary.surface.form == "plural"
        and "count" not in attrs
        and not any(a.side == "bilateral" for a in anats)
    ):
        attrs["count"] = "multiple"
    core = (
        [m for m in ms if m.kind == "finding"]
        or [m for m in ms if m.kind == "anatomy"]
        or [m for m in ms if m.kind == "side"]
    )
    idx = {i for m in core for i in range(m.start, m.end)}
    own = [m for m in group.own if m.kind not in ("conj", "sentence")]
    unknown = list(dict.fromkeys(tokens[m.start].text for m in group.own if m.kind == "unknown"))
    lo, hi = (min(m.start for m in own), max(m.end for m in own)) if own else (0, 0)
    props = tuple(p for i, p in sorted(proposals.items()) if lo <= i < hi)
    label = _span_text(text, tokens, own)
    borrowed = [m for m in group.borrowed if m.kind in ("anatomy", "finding")]
    if borrowed:
        label = f"{label} ({_span_text(text, tokens, borrowed)})"
    common = dict(
        text=label,
        size_mm=sizes[0].value.dims_mm if sizes and sizes[0].value.dims_mm else None,
        negated=bool(idx & scopes.negated),
        uncertain=bool(idx & scopes.uncertain),
        unknown_words=tuple(unknown),
        proposals=props,
    )
    finding = primary.term if primary is not None else None
    out = []
    for a in anats or [None]:
        ref = _anatomy_ref(a, vocab) if a is not None else None
        code = None
        if primary is not None:
            code = primary.surface.code or finding_code(primary.term, a.term if a is not None else None)
        side = (a.side if a is not None else None) or loose
        out.append(
            Query(
                anatomy=(ref,) if ref is not None else (),
                laterality=side,
                finding=finding,
                finding_code=code,
                attributes=copy.deepcopy(attrs),
                **common,
            )
        )
    return out
