"""`medground parse "TEXT" [--json]`: the parsed query of a typed finding, no image needed.

Exit 0 whenever the text could be read, also when nothing in it was understood (the
output says so). Torch is never imported here: the embedding fallback runs on numpy.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "text", nargs="+", help='the finding, e.g. "8 mm ground-glass nodule RUL" (quotes optional)'
    )
    p.add_argument("--json", action="store_true", help="print the parse as JSON (the shape in DESIGN.md)")
    p.add_argument(
        "--no-embeddings", action="store_true", help="rules only: no embedding proposals for unknown words"
    )


def run(args: argparse.Namespace) -> int:
    from ..language import parse

    text = " ".join(args.text)
    parsed = parse(text, use_embeddings=not args.no_embeddings)
    if args.json:
        json.dump(parsed.to_dict(), sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    print(summary(parsed))
    return 0


def summary(parsed) -> str:
    """A readable account of a :class:`~napari_medground.language.ParsedText`."""
    lines = [f"text: {parsed.text!r}"]
    if not parsed.queries:
        lines.append("no query")
    for i, q in enumerate(parsed.queries, 1):
        flags = [f for f, on in (("NEGATED", q.negated), ("UNCERTAIN", q.uncertain)) if on]
        state = "understood" if q.understood else "NOT UNDERSTOOD"
        lines.append(f"query {i}: {q.text!r} ({state}{', ' + ', '.join(flags) if flags else ''})")
        for a in q.anatomy:
            code = f"{a.code.scheme} {a.code.value} {a.code.meaning}" if a.code else "no code"
            side = f"{a.side} " if a.side else ""
            lines.append(f"  anatomy: {side}{a.term} [{code}]")
            for backend, names in a.backend_labels.items():
                shown = ", ".join(names[:6]) + (f" (+{len(names) - 6})" if len(names) > 6 else "")
                lines.append(f"    {backend}: {shown}")
        if q.laterality:
            lines.append(f"  laterality: {q.laterality}")
        if q.finding:
            code = (
                f"{q.finding_code.scheme} {q.finding_code.value} {q.finding_code.meaning}"
                if q.finding_code
                else "no code"
            )
            lines.append(f"  finding: {q.finding} [{code}]")
        if q.size_mm:
            lines.append(f"  size: {' x '.join(f'{v:g}' for v in q.size_mm)} mm")
        for key, value in q.attributes.items():
            lines.append(f"  {key}: {value}")
        for p in q.proposals:
            verdict = "accepted" if p.accepted else "rejected"
            lines.append(
                f"  proposal: '{p.words}' -> {p.kind} '{p.term}' (similarity {p.similarity:.2f}, {verdict})"
            )
        if q.unknown_words:
            lines.append(f"  not understood: {', '.join(q.unknown_words)}")
    lines.extend(f"warning: {w}" for w in parsed.warnings)
    return "\n".join(lines)
