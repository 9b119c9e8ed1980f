"""Which label values of PRED and REF are the same structure.

A label table is ``{value: name}``. Tables come from a ``result.json`` beside a
``labels.nii.gz`` written by ``medground ground``, from a JSON file (``{"1": "liver"}``,
or a ``label_names.json`` with a ``total`` task), or the word ``totalseg`` (the
TotalSegmentator ``total`` ids listed in ``resources/models/totalsegmentator.json``).

A label map (``--labels``) pairs them explicitly: inline ``liver=1:5,spleen=2:1``,
``1:5`` (ids), ``liver,right lung`` (names looked up on both sides), or a JSON file
``{"liver": [1, 5]}`` / ``{"liver": {"pred": 1, "ref": "liver"}}``. A file without a table
is read as TotalSegmentator ids when a name is asked of it; on TotalSegmentator names a
vocabulary term is the union of its parts (``right lung`` = its three lobes).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvaluationError

TOTALSEG_WORDS = ("totalseg", "totalsegmentator")


@dataclass(frozen=True)
class LabelPair:
    """One structure to score: the PRED values and REF values that make it (unions)."""

    name: str
    pred_values: tuple[int, ...]
    ref_values: tuple[int, ...]


def totalseg_table() -> dict[int, str]:
    """TotalSegmentator ``total`` task ids -> names (vendored facts)."""
    from ..resources import resource_path

    labels = json.loads(resource_path("models", "totalsegmentator.json").read_text("utf-8"))["labels"]
    return {int(k): v["name"] for k, v in labels.items() if int(k) > 0}


def read_table(spec: str | Path) -> dict[int, str]:
    """A label table from ``totalseg``, a result.json, or a ``{value: name}`` JSON file."""
    if str(spec).lower() in TOTALSEG_WORDS:
        return totalseg_table()
    path = Path(spec)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path}: not a readable label table ({type(exc).__name__})") from None
    if isinstance(data, dict) and isinstance(data.get("labels"), list):  # result.json
        return {int(d["value"]): str(d["name"]) for d in data["labels"] if d.get("value")}
    if isinstance(data, dict) and isinstance(data.get("total"), dict):  # label_names.json
        data = data["total"]
    try:
        return {int(k): str(v["name"] if isinstance(v, dict) else v) for k, v in data.items() if int(k) > 0}
    except (AttributeError, ValueError, TypeError, KeyError):
        raise EvaluationError(f"{path}: expected a JSON object {{value: name}}") from None


def table_beside(path: Path) -> dict[int, str] | None:
    """The label table of a ``medground ground`` output (result.json in the same folder)."""
    rj = Path(path).parent / "result.json"
    if rj.is_file():
        try:
            return read_table(rj)
        except EvaluationError:
            return None
    return None


def normalise(name: str) -> str:
    """Comparable form of a structure name: lower case, ``_`` as space, sides first
    ("kidney_left" -> "left kidney")."""
    words = re.sub(r"[_\s]+", " ", name.strip().lower()).split()
    sides = [w for w in words if w in ("left", "right")]
    rest = [w for w in words if w not in ("left", "right")]
    return " ".join(sides + rest)


def resolve_name(token: str, table: dict[int, str] | None) -> tuple[int, ...]:
    """Label values a token means in one file: an id, a name in its table, or a term."""
    token = token.strip()
    if re.fullmatch(r"\d+", token):
        return (int(token),)
    key = normalise(token)
    ts = totalseg_table()
    use = table or ts  # a file without names: TotalSegmentator ids
    hits = tuple(sorted(v for v, n in use.items() if normalise(n) == key))
    if not hits and set(use.values()) <= set(ts.values()):
        hits = _term_values(key, use)
    return hits


def _term_values(key: str, ts: dict[int, str]) -> tuple[int, ...]:
    """TotalSegmentator values making up a vocabulary term ("right lung" -> 3 lobes)."""
    from ..models.adapters.totalsegmentator import totalseg_names_for

    side = next((s for s in ("left", "right") if key.startswith(s + " ")), None)
    term = key[len(side) + 1:] if side else key
    names = set(totalseg_names_for(term, side, ts.values()))
    return tuple(sorted(v for v, n in ts.items() if n in names))


def parse_label_map(spec: str, pred_table: dict[int, str] | None,
                    ref_table: dict[int, str] | None) -> list[LabelPair]:
    """The pairs a ``--labels`` value asks for (see the module docstring for forms)."""
    items: list[tuple[str, str, str]] = []
    path = Path(spec)
    if spec.endswith(".json") or path.is_file():
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise EvaluationError(f"{spec}: not a readable label map ({type(exc).__name__})") from None
        for name, v in data.items():
            p, r = (v.get("pred", name), v.get("ref", name)) if isinstance(v, dict) else (
                (v[0], v[1]) if isinstance(v, list) else (v, v))
            items.append((name, str(p), str(r)))
    else:
        for part in filter(None, (s.strip() for s in spec.split(","))):
            name, _, pair = part.rpartition("=") if "=" in part else ("", "", part)
            p, _, r = pair.partition(":") if ":" in pair else (pair, "", pair)
            items.append((name or (pair if ":" not in pair else f"{p}:{r}"), p, r))
    pairs = []
    for name, p, r in items:
        pv, rv = resolve_name(p, pred_table), resolve_name(r, ref_table)
        if not pv or not rv:
            side = "PRED" if not pv else "REF"
            raise EvaluationError(f"--labels: {(p if not pv else r)!r} names no label of {side}")
        pairs.append(LabelPair(name, pv, rv))
    return pairs


def match_labels(pred_table: dict[int, str] | None, ref_table: dict[int, str] | None,
                 pred_present: set[int], ref_present: set[int]) -> list[LabelPair]:
    """Default pairing: by name when both files have names, else by common ids."""
    if pred_table and ref_table:
        pairs = []
        for v in sorted(pred_present):
            if v not in pred_table:
                continue
            rv = tuple(x for x in resolve_name(pred_table[v], ref_table) if x in ref_present)
            if rv:
                pairs.append(LabelPair(pred_table[v], (v,), rv))
        return pairs
    if pred_table or ref_table:  # ids of a named file and an unnamed one need not mean the same
        unnamed = "REF" if pred_table else "PRED"
        raise EvaluationError(f"{unnamed} has no label names while the other file has: name it with "
                              f"--{unnamed.lower()}-names (a JSON table, or totalseg) or pair labels with --labels")
    return [LabelPair(str(v), (v,), (v,)) for v in sorted(pred_present & ref_present)]


__all__ = ["LabelPair", "match_labels", "normalise", "parse_label_map", "read_table", "resolve_name", "table_beside",
           "totalseg_table"]
