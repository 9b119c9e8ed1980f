"""Text -> tokens with character offsets, sizes with units, abbreviation expansion.

Tokens keep the span of the original text they came from, so that every query and
every unknown word can be shown as the clinician typed it. Matching uses ``norm``:
lower case, hyphens split, known misspellings and British spellings normalised.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .vocabulary import Vocabulary, normalise_word

_SLASHED = r"(?:and/or|r/o|b/l|w/o|c/w|s/p|h/o|w/)(?![a-z])"
_TOKEN = re.compile(
    rf"(?P<slash>{_SLASHED})"
    r"|(?P<level>(?<![a-z0-9])[a-z]{1,2}\d{1,2}(?:\*|wi|w)?(?![a-z0-9]))"
    r"|(?P<ord>\d{1,2}(?:st|nd|rd|th)(?![a-z]))"
    r"|(?P<num>\d+(?:[.,]\d+)?)"
    r"|(?P<dash>(?<=\d)\s*-\s*(?=\d))"
    r"|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)"
    r"|(?P<nl>\n)"
    r"|(?P<sym>[?.,;:!()&+/<>=*{}\[\]\"#%$@~^|\\])",
    re.IGNORECASE,
)
_UNITS_MM = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimeters": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "centimeters": 10.0,
}
_UNITS_ML = {"ml": 1.0, "cc": 1.0, "milliliter": 1.0, "milliliters": 1.0}
_BY = {"x", "by", "*"}


@dataclass
class Token:
    """One token: ``text`` as typed, ``norm`` for matching, ``start``/``end`` in the text."""

    text: str
    norm: str
    start: int
    end: int
    kind: str = "word"  # word | num | ord | level | sym | nl
    expanded_from: str = ""  # abbreviation this token came from ("rul")
    conditional_side: str = ""  # "left"/"right" for a lone "L"/"R"
    corrected_from: str = ""  # typo corrected by the fuzzy matcher
    attached_next: bool = False  # no space before the next token ("?splenomegaly")


@dataclass(frozen=True)
class Size:
    """Sizes stated in the text: dimensions in mm, a range in mm, or a volume in mL."""

    start_tok: int
    end_tok: int  # exclusive
    dims_mm: tuple[float, ...] = ()
    range_mm: tuple[float, float] | None = None
    volume_ml: float | None = None


def clean_text(text: str) -> str:
    """NFKC, multiplication signs to "x", dashes to "-", control characters to spaces."""
    t = unicodedata.normalize("NFKC", text)
    t = t.replace("×", " x ").replace("–", "-").replace("—", "-").replace("’", "'")
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in t)


def tokenize(text: str, vocab: Vocabulary) -> list[Token]:
    """Split ``text`` (already cleaned) into tokens; abbreviations are expanded in place."""
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "sym"
        s = m.group()
        if kind == "level" and s[0].lower() == "x" and s[1:].isdigit():  # "3x4": x is a separator
            tokens.append(Token("x", "x", m.start(), m.start() + 1, "word"))
            tokens.append(Token(s[1:], s[1:], m.start() + 1, m.end(), "num"))
            continue
        if kind == "dash":
            tokens.append(Token("-", "-", m.start(), m.end(), "sym"))
            continue
        norm = (
            s.lower()
            if kind in ("num", "ord", "sym", "nl", "slash", "level")
            else normalise_word(s, vocab.spelling_words, vocab.spelling_rules)
        )
        tokens.append(Token(s, norm, m.start(), m.end(), "word" if kind == "slash" else kind))
    for i, t in enumerate(tokens[:-1]):
        t.attached_next = tokens[i + 1].start == t.end
    return _expand(tokens, vocab)


def _expand(tokens: list[Token], vocab: Vocabulary) -> list[Token]:
    out: list[Token] = []
    for t in tokens:
        low = t.text.lower()
        if t.kind in ("word", "level") and low in vocab.abbreviations:
            words = vocab.abbreviations[low].split()
            for w in words:
                norm = normalise_word(w, vocab.spelling_words, vocab.spelling_rules)
                out.append(
                    Token(
                        t.text, norm, t.start, t.end, "word", expanded_from=low, attached_next=t.attached_next
                    )
                )
            continue
        if t.kind == "word" and low in vocab.conditional_sides:
            t.conditional_side = vocab.conditional_sides[low]
        out.append(t)
    return out


def _number(tok: Token) -> float | None:
    if tok.kind != "num":
        return None
    return float(tok.text.replace(",", "."))


def find_sizes(tokens: list[Token]) -> list[Size]:
    """Sizes with units: "8 mm" -> [8], "2.3 cm" -> [23], "3 x 4 cm" -> [30, 40], "3-4 cm" -> range."""
    sizes: list[Size] = []
    i = 0
    while i < len(tokens):
        size = _size_at(tokens, i)
        if size is None:
            i += 1
            continue
        sizes.append(size)
        i = size.end_tok
    return sizes


def _size_at(tokens: list[Token], i: int) -> Size | None:
    nums: list[tuple[float, float | None]] = []  # (value, factor or None)
    j, is_range = i, False
    while j < len(tokens):
        value = _number(tokens[j])
        if value is None:
            break
        unit = tokens[j + 1].norm if j + 1 < len(tokens) else ""
        factor = _UNITS_MM.get(unit) or (_UNITS_ML.get(unit) and -_UNITS_ML[unit])
        nums.append((value, factor or None))
        j += 2 if factor else 1
        sep = tokens[j].norm if j < len(tokens) else ""
        if sep in _BY and j + 1 < len(tokens) and tokens[j + 1].kind == "num":
            j += 1
            continue
        if sep in ("-", "to") and j + 1 < len(tokens) and tokens[j + 1].kind == "num" and len(nums) == 1:
            is_range, j = True, j + 1
            continue
        break
    last = next((f for _, f in reversed(nums) if f), None)
    if not nums or last is None:
        return None
    if last < 0:  # a volume
        return Size(i, j, volume_ml=round(nums[-1][0] * -last, 3))
    values = tuple(round(v * (f if f and f > 0 else last), 3) for v, f in nums)
    if is_range and len(values) == 2:
        return Size(i, j, range_mm=(min(values), max(values)))
    return Size(i, j, dims_mm=values)
