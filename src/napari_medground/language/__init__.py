"""Understanding the typed finding: ``parse(text) -> ParsedText`` of :class:`Query` objects.

Rules over a coded radiology vocabulary (``resources/vocabulary``) do the work: anatomy,
side, finding, attributes, sizes, ConText negation/uncertainty. An offline sentence
embedding only proposes vocabulary terms for words the rules did not know.
"""

from __future__ import annotations

from .parser import parse
from .query import AnatomyRef, Code, ParsedText, Proposal, Query

__all__ = ["parse", "ParsedText", "Query", "AnatomyRef", "Code", "Proposal"]
