"""Which quantitative CT finding a query asks for (``resources/quantitative/ct_findings.json``).

A query selects an entry when its finding is one of the entry's ``findings`` and, where
the entry names ``anatomy``, the query's anatomy term is one of them (or absent); the
entry then runs as a chain in :mod:`.proc_ct_quant`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from ..resources import resource_path


@dataclass(frozen=True)
class QuantEntry:
    """One quantitative finding: id, words, catalogue structures, criteria ids, title."""

    id: str
    findings: tuple[str, ...]
    anatomy: tuple[str, ...]
    also_anatomy: tuple[str, ...]
    structures: tuple[str, ...]
    criteria: tuple[str, ...]
    title: str


@lru_cache(maxsize=1)
def entries() -> tuple[QuantEntry, ...]:
    doc = json.loads(resource_path("quantitative", "ct_findings.json").read_text(encoding="utf-8"))
    return tuple(QuantEntry(d["id"], tuple(d["findings"]), tuple(d["anatomy"]), tuple(d["also_anatomy"]),
                            tuple(d["structures"]), tuple(d["criteria"]), d["title"]) for d in doc["findings"])


def select(query) -> QuantEntry | None:
    """The quantitative entry a query asks for, or None."""
    finding = (query.finding or "").lower()
    terms = {a.term for a in query.anatomy}
    for e in entries():
        if finding not in e.findings:
            continue
        if e.anatomy and not (terms & set(e.anatomy)):
            continue
        if terms and not (terms & set(e.anatomy + e.also_anatomy)):
            continue
        return e
    return None


_HEIGHT = re.compile(r"\b(?:height|tall|ht)\s*[:=]?\s*(\d+(?:[.,]\d+)?)\s*(m|cm)\b", re.I)
_SEX = re.compile(r"\b(male|man|men|female|woman|women)\b", re.I)


def height_from_text(text: str) -> float | None:
    """"height 1.75 m" / "height 175 cm" -> metres (0.5-2.5 m), else None."""
    m = _HEIGHT.search(text or "")
    if not m:
        return None
    v = float(m.group(1).replace(",", "."))
    v = v / 100.0 if m.group(2).lower() == "cm" else v
    return v if 0.5 <= v <= 2.5 else None


def sex_from_text(text: str) -> str | None:
    """"M" or "F" when the text says male/female (man/woman), else None."""
    m = _SEX.search(text or "")
    if not m:
        return None
    return "F" if m.group(1).lower().startswith(("fem", "wom")) else "M"
