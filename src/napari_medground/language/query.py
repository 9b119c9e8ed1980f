"""The `Query` data contract: what a typed finding means, field by field.

Serialises to the ``medground parse --json`` shape in DESIGN.md:
``{"text", "queries": [{"text", "anatomy": [{"term", "code", "side"}], "laterality",
"finding", "attributes", "size_mm", "negated", "uncertain", "unknown_words"}]}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Side = str  # "left" | "right" | "bilateral"


@dataclass(frozen=True)
class Code:
    """A coded concept, e.g. ``Code("SCT", "10200004", "Liver")``."""

    scheme: str
    value: str
    meaning: str

    def to_dict(self) -> dict[str, str]:
        return {"scheme": self.scheme, "value": self.value, "meaning": self.meaning}


@dataclass(frozen=True)
class AnatomyRef:
    """One anatomical structure named in the text.

    ``term`` is the canonical vocabulary term without side ("hippocampus", "liver",
    "upper lobe of lung"); ``side`` is "left", "right", "bilateral" or None.
    ``backend_labels`` maps a backend name ("meshnet104", "ct_classical", "totalseg",
    ...) to the label names that make up this structure for that side.
    """

    term: str
    code: Code | None = None
    side: Side | None = None
    matched_text: str = ""
    backend_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    category: str = ""  # "organ", "region", "brain", "vessel", "bone", ...
    # Backends whose labels are only a containing structure (right lung for the right upper lobe).
    approximate_backends: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "code": self.code.to_dict() if self.code else None,
            "side": self.side,
            "matched_text": self.matched_text,
            "category": self.category,
            "backend_labels": {k: list(v) for k, v in self.backend_labels.items()},
            "approximate_backends": list(self.approximate_backends),
        }


@dataclass(frozen=True)
class Proposal:
    """An embedding-based suggestion for words the rules did not understand."""

    words: str
    term: str
    kind: str  # "anatomy" or "finding"
    similarity: float
    accepted: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Query:
    """One finding asked about.

    ``finding`` is a canonical finding type ("nodule", "atrophy", "enlargement",
    "cardiomegaly", ...) or None when only anatomy was named ("liver"). ``size_mm`` lists
    the dimensions stated in the text, converted to mm. ``attributes`` holds the rest
    (``count``, ``density``, ``signal``, ``shape``, ``location_terms`` ...).
    """

    text: str
    anatomy: tuple[AnatomyRef, ...] = ()
    laterality: Side | None = None
    finding: str | None = None
    finding_code: Code | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    size_mm: tuple[float, ...] | None = None
    negated: bool = False
    uncertain: bool = False
    unknown_words: tuple[str, ...] = ()
    proposals: tuple[Proposal, ...] = ()

    @property
    def understood(self) -> bool:
        """True when the text named at least an anatomy or a finding."""
        return bool(self.anatomy) or self.finding is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "anatomy": [a.to_dict() for a in self.anatomy],
            "laterality": self.laterality,
            "finding": self.finding,
            "finding_code": self.finding_code.to_dict() if self.finding_code else None,
            "attributes": dict(self.attributes),
            "size_mm": list(self.size_mm) if self.size_mm is not None else None,
            "negated": self.negated,
            "uncertain": self.uncertain,
            "unknown_words": list(self.unknown_words),
            "proposals": [p.to_dict() for p in self.proposals],
            "understood": self.understood,
        }


@dataclass(frozen=True)
class ParsedText:
    """All queries found in one typed text (several findings give several queries)."""

    text: str
    queries: tuple[Query, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "queries": [q.to_dict() for q in self.queries],
            "warnings": list(self.warnings),
        }
