"""Published criteria as data: load ``resources/criteria/*.json`` once, look criteria up by
id, finding or anatomy, and evaluate a measured value against one.

Each file holds ``{"domain", "description", "criteria": [entry, ...]}``; an entry's keys
are described in ``resources/criteria/README.md`` and checked on load
(:class:`CriteriaFileError` names the file and the entry). Thresholds are stored in the
unit of the publication (e.g. cm for spleen length); :func:`evaluate` converts a value
given in another unit (``unit="mm"``).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import CriteriaFileError
from .schema import check_fields
from .resources import resource_path
from .result import Criterion

COMPARISONS = (">", ">=", "<", "<=", "range", "bands")
_REQUIRED = {"id": str, "name": str, "measurement": str, "unit": str, "comparison": str,
             "population": str, "method": str, "citation": str, "source_short": str, "confirmed": bool}
_OPTIONAL = {"short_name": str, "finding": str, "caution": str, "applies_to": dict, "threshold": (int, float),
             "normal_range": list, "bands": list, "rounding": (int, float), "modalities": list}
_UNITS = {"mm": ("length", 1.0), "cm": ("length", 10.0), "m": ("length", 1000.0),
          "mL": ("volume", 1.0), "ml": ("volume", 1.0), "cm3": ("volume", 1.0), "L": ("volume", 1000.0),
          "mm3": ("volume", 1e-3), "mm2": ("area", 1.0), "cm2": ("area", 100.0),
          "1": ("ratio", 1.0), "ratio": ("ratio", 1.0), "%": ("ratio", 0.01)}
_STOP = {"of", "the", "a", "an", "in", "on", "left", "right", "bilateral", "both"}




@dataclass(frozen=True)
class CriterionOutcome:
    """A value compared with a criterion.

    ``meets``: True/False, or None when the value is missing or the band has no verdict.
    ``band``: the band label ("bands"), "below"/"within"/"above" the normal range
    ("range"), or "" for thresholds. ``margin``: relative distance (>= 0) from the
    nearest threshold or band edge, e.g. 0.12 for 0.56 against 0.50; confidence grows
    with it. ``value`` is in the criterion's unit, after its rounding rule.
    """

    criterion_id: str
    value: float | None
    unit: str
    meets: bool | None
    band: str
    margin: float | None
    text: str
    recommendation: str = ""
    confirmed: bool = True
    caution: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ------------------------------------------------------------------ loading
def load_criteria(folder: Path | None = None) -> dict[str, tuple[Criterion, dict[str, Any], Path]]:
    """Read and check every ``*.json`` in ``folder`` (default: the bundled criteria).

    Returns {id: (Criterion, raw entry, file)}, in file-name then entry order.
    Raises CriteriaFileError on unreadable JSON, schema errors and duplicate ids.
    """
    folder = Path(folder) if folder is not None else resource_path("criteria")
    out: dict[str, tuple[Criterion, dict[str, Any], Path]] = {}
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CriteriaFileError(f"{folder}: no criteria files (*.json) found; reinstall napari-medground")
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CriteriaFileError(f"{path}: not readable JSON ({exc}); fix the file") from None
        entries = doc.get("criteria") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise CriteriaFileError(f"{path}: expected an object with a 'criteria' list; fix the file")
        for i, entry in enumerate(entries):
            crit = _parse_entry(entry, path, i)
            if crit.id in out:
                raise CriteriaFileError(f"{path}: entry {i} ({crit.id}): id already used in "
                                        f"{out[crit.id][2].name}; ids must be unique")
            out[crit.id] = (crit, entry, path)
    return out


@lru_cache(maxsize=1)
def _registry() -> dict[str, tuple[Criterion, dict[str, Any], Path]]:
    return load_criteria()


def _parse_entry(entry: Any, path: Path, i: int) -> Criterion:
    where = f"{path}: entry {i}"
    if not isinstance(entry, dict):
        raise CriteriaFileError(f"{where}: expected an object; fix the file")
    where = f"{path}: entry {i} ({entry.get('id', '?')})"

    def fail(problem: str):
        raise CriteriaFileError(f"{where}: {problem}; fix the file")

    check_fields(entry, _REQUIRED, _OPTIONAL, fail)
    comp = entry["comparison"]
    if comp not in COMPARISONS:
        fail(f"comparison {comp!r} is not one of {', '.join(COMPARISONS)}")
    if comp in (">", ">=", "<", "<=") and entry.get("threshold") is None:
        fail(f"comparison {comp!r} needs a numeric 'threshold'")
    normal = entry.get("normal_range")
    if normal is not None and (len(normal) != 2 or not all(_is_num(v) for v in normal)
                               or normal[0] > normal[1]):
        fail("'normal_range' must be [low, high] numbers with low <= high")
    if comp == "range" and normal is None:
        fail("comparison 'range' needs 'normal_range'")
    bands = tuple(_check_bands(entry.get("bands") or [], fail))
    if comp == "bands" and not bands:
        fail("comparison 'bands' needs a non-empty 'bands' list")
    if not entry["confirmed"] and not str(entry.get("caution", "")).strip():
        fail("an unconfirmed criterion needs a 'caution' text for the user")
    applies = entry.get("applies_to") or {}
    if set(applies) - {"finding", "anatomy"} or not all(isinstance(v, list) for v in applies.values()):
        fail("'applies_to' must be {'finding': [...], 'anatomy': [...]}")
    terms = tuple(str(t) for k in ("finding", "anatomy") for t in applies.get(k, []))
    return Criterion(
        id=entry["id"], name=entry["name"], threshold=_float(entry.get("threshold")), unit=entry["unit"],
        comparison=comp, source=entry["citation"], population=entry["population"], method=entry["method"],
        confirmed=entry["confirmed"], normal_range=tuple(float(v) for v in normal) if normal else None,
        bands=bands, measurement=entry["measurement"], applies_to=terms, caution=entry.get("caution", ""),
        round_to=_float(entry.get("rounding")), short_name=entry.get("short_name") or entry["name"],
        short_source=entry["source_short"], finding=entry.get("finding", ""),
    )


def _check_bands(bands: list, fail) -> list[dict[str, Any]]:
    out = []
    allowed = {"label", "lower", "upper", "lower_inclusive", "upper_inclusive", "meets", "recommendation"}
    for k, band in enumerate(bands):
        if not isinstance(band, dict) or not str(band.get("label", "")).strip():
            fail(f"band {k} needs a 'label'")
        if set(band) - allowed:
            fail(f"band {k} has unknown keys {sorted(set(band) - allowed)}")
        lo, hi = band.get("lower"), band.get("upper")
        if lo is None and hi is None:
            fail(f"band {k} needs 'lower' and/or 'upper'")
        bad = any(v is not None and not _is_num(v) for v in (lo, hi))
        if bad or (lo is not None and hi is not None and lo > hi):
            fail(f"band {k}: 'lower'/'upper' must be numbers with lower <= upper")
        if band.get("meets") not in (True, False, None):
            fail(f"band {k}: 'meets' must be true, false or null")
        out.append({"lower_inclusive": True, "upper_inclusive": False, "meets": None, "recommendation": "",
                    **band})
    for k in range(1, len(out)):
        prev_hi, lo = out[k - 1].get("upper"), out[k].get("lower")
        if prev_hi is None or lo is None or lo < prev_hi:
            fail(f"bands {k - 1} and {k} overlap or are out of order")
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


# ------------------------------------------------------------------ look-up
def get_criterion(criterion_id: str) -> Criterion:
    """The criterion with this id. Raises KeyError listing the known ids."""
    reg = _registry()
    if criterion_id not in reg:
        raise KeyError(f"unknown criterion {criterion_id!r}; known: {', '.join(reg)}")
    return reg[criterion_id][0]


def criterion_record(criterion_id: str) -> dict[str, Any]:
    """The raw JSON entry of a criterion (e.g. its structured ``applies_to``)."""
    get_criterion(criterion_id)
    return dict(_registry()[criterion_id][1])


def list_criteria() -> list[Criterion]:
    """Every bundled criterion, in file-name then entry order."""
    return [c for c, _, _ in _registry().values()]


def criteria_for(finding: str | None = None, anatomy: str | None = None) -> list[Criterion]:
    """Criteria whose ``applies_to`` terms match the finding and/or the anatomy.

    Terms match when the words of one contain the words of the other (case, plural
    's' and side words ignored): anatomy "upper lobe of lung" matches a criterion for
    "lung"; finding "nodule" matches "pulmonary nodule". With both given, both must
    match (a criterion with no anatomy terms then matches any anatomy); with anatomy
    alone, only criteria naming that anatomy. Best matches (same words) come first,
    then file order.
    """
    if not (finding or anatomy):
        return list_criteria()
    scored = []
    for n, (crit, raw, _) in enumerate(_registry().values()):
        applies = raw.get("applies_to") or {}
        score = 0
        if finding:
            f = _match_quality(finding, applies.get("finding", []))
            if not f:
                continue
            score += f
        if anatomy:
            terms = applies.get("anatomy", [])
            a = _match_quality(anatomy, terms) if terms else (0 if finding else None)
            if not a and (terms or not finding):
                continue
            score += a
        scored.append((-score, n, crit))
    return [c for _, _, c in sorted(scored, key=lambda x: x[:2])]


def _words(text: str) -> frozenset[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                     for w in words if w not in _STOP)


def _match_quality(query: str, terms: list[str]) -> int:
    """3: same words; 2: the term's words are all in the query; 1: the reverse; 0: no match."""
    q = _words(query)
    best = 0
    for t in (_words(term) for term in terms):
        if q and t:
            best = max(best, 3 if t == q else 2 if t <= q else 1 if q <= t else 0)
    return best


# ------------------------------------------------------------------ evaluation
def convert(value: float, unit: str, to: str) -> float:
    """Convert between units of the same kind (mm/cm/m, mL/cm3/L/mm3, mm2/cm2, 1/%).

    Raises ValueError for unknown or incompatible units.
    """
    if unit == to:
        return float(value)
    if unit not in _UNITS or to not in _UNITS or _UNITS[unit][0] != _UNITS[to][0]:
        raise ValueError(f"cannot convert {unit!r} to {to!r}")
    return float(value) * _UNITS[unit][1] / _UNITS[to][1]


def evaluate(criterion: Criterion, value: float | None, unit: str | None = None) -> CriterionOutcome:
    """Compare ``value`` (in ``unit``, default the criterion's) with the criterion.

    The criterion's rounding rule is applied first (half up, e.g. Fleischner: nearest
    mm). Returns a :class:`CriterionOutcome` with a one-sentence ``text`` such as
    "CTR 0.56 > 0.50 (Danzer 1919): meets the criterion for cardiomegaly".
    """
    c = criterion
    if value is None or not math.isfinite(float(value)):
        return CriterionOutcome(c.id, None, c.unit, None, "", None,
                                f"{c.short_name or c.name}: not measured ({c.short_source})",
                                confirmed=c.confirmed, caution=c.caution)
    raw = convert(float(value), unit, c.unit) if unit else float(value)
    v = raw
    if c.round_to:
        v = round(math.floor(raw / c.round_to + 0.5) * c.round_to, 10)
    if c.comparison == "bands":
        return _evaluate_bands(c, v, raw)
    if c.comparison == "range":
        return _evaluate_range(c, v, raw)
    return _evaluate_threshold(c, v, raw)


_NEGATE = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}


def _evaluate_threshold(c: Criterion, v: float, raw: float) -> CriterionOutcome:
    t = float(c.threshold)
    meets = {">": v > t, ">=": v >= t, "<": v < t, "<=": v <= t}[c.comparison]
    op = c.comparison if meets else _NEGATE[c.comparison]
    verdict = "meets" if meets else "does not meet"
    text = (f"{c.short_name} {_value_text(c, v, raw, [t])} {op} {_fmt(t, _decimals(t), c.unit)} "
            f"({c.short_source}): {verdict} the criterion for {c.finding or c.name}")
    return CriterionOutcome(c.id, v, c.unit, bool(meets), "", _relative(v, t), text,
                            confirmed=c.confirmed, caution=c.caution)


def _evaluate_range(c: Criterion, v: float, raw: float) -> CriterionOutcome:
    lo, hi = c.normal_range
    band = "below" if v < lo else "above" if v > hi else "within"
    meets = band != "within"
    if band == "within":
        margin = min(_relative(v, lo), _relative(v, hi))
    else:
        margin = _relative(v, lo if v < lo else hi)
    text = (f"{c.short_name} {_value_text(c, v, raw, [lo, hi])}: {band} the normal range "
            f"{_fmt(lo, _decimals(lo), '1')}-{_fmt(hi, _decimals(hi), c.unit)} ({c.short_source})")
    text += f": meets the criterion for {c.finding or c.name}" if meets else ""
    return CriterionOutcome(c.id, v, c.unit, meets, band, margin, text, confirmed=c.confirmed,
                            caution=c.caution)


def _evaluate_bands(c: Criterion, v: float, raw: float) -> CriterionOutcome:
    band = next((b for b in c.bands if _in_band(b, v)), None)
    edges = [float(b[k]) for b in c.bands for k in ("lower", "upper") if b.get(k) is not None]
    margin = min((_relative(raw, e) for e in _effective_edges(c)), default=None)
    shown = _value_text(c, v, raw, edges)
    if band is None:
        return CriterionOutcome(c.id, v, c.unit, None, "", margin,
                                f"{c.short_name} {shown}: outside every band ({c.short_source})",
                                confirmed=c.confirmed, caution=c.caution)
    text = f"{c.short_name} {shown}: {band['label']} ({c.short_source})"
    if band.get("recommendation"):
        text += f". {band['recommendation']}"
    return CriterionOutcome(c.id, v, c.unit, band.get("meets"), band["label"], margin, text,
                            recommendation=band.get("recommendation", ""), confirmed=c.confirmed,
                            caution=c.caution)


def _effective_edges(c: Criterion) -> list[float]:
    """Band edges on the measured scale: with rounding to r, "rounded >= e" means raw >= e - r/2."""
    half = (c.round_to or 0.0) / 2.0
    out = []
    for b in c.bands:
        if b.get("lower") is not None:
            out.append(float(b["lower"]) + (-half if b.get("lower_inclusive", True) else half))
        if b.get("upper") is not None:
            out.append(float(b["upper"]) + (half if b.get("upper_inclusive", False) else -half))
    return out


def _in_band(band: dict[str, Any], v: float) -> bool:
    lo, hi = band.get("lower"), band.get("upper")
    ok_lo = lo is None or v > lo or (band.get("lower_inclusive", True) and v == lo)
    ok_hi = hi is None or v < hi or (band.get("upper_inclusive", False) and v == hi)
    return ok_lo and ok_hi


def _relative(v: float, t: float) -> float:
    return abs(v - t) / abs(t) if t != 0 else abs(v - t)


def _given_decimals(x: float) -> int:
    text = f"{float(x):.6f}".rstrip("0").rstrip(".")
    return len(text.split(".")[1]) if "." in text else 0


def _decimals(x: float) -> int:
    """Decimals of a published number as written (9.76 -> 2, 2000 -> 0), at least 2 below 1 (0.50)."""
    return max(_given_decimals(x), 2 if abs(x) < 1 else 0)


def _value_text(c: Criterion, v: float, raw: float, refs: list[float]) -> str:
    """The compared value with as many decimals as the thresholds (at least 1 below 100);
    with a rounding rule, the rounded value and the measured one."""
    dec = max([_decimals(r) for r in refs] + [2 if abs(raw) < 1 else 1 if abs(raw) < 100 else 0])
    if c.round_to:
        step = _given_decimals(c.round_to)
        return (f"{_fmt(v, step, c.unit)} (measured {_fmt(raw, max(dec, step + 1), c.unit)}, "
                f"rounded to {_fmt(c.round_to, step, c.unit)})")
    return _fmt(v, dec, c.unit)


def _fmt(x: float, decimals: int, unit: str) -> str:
    num = f"{x:.{decimals}f}"
    if unit in ("1", "ratio", ""):
        return num
    return f"{num}{unit}" if unit == "%" else f"{num} {unit}"
