"""Key and type checks shared by the catalogues under ``resources/`` (criteria,
structures): one message style, each naming the entry and the problem."""
from __future__ import annotations

from typing import Any, Callable, NoReturn


def _type_name(typ: Any) -> str:
    return " or ".join(t.__name__ for t in typ) if isinstance(typ, tuple) else typ.__name__


def check_fields(entry: dict, required: dict[str, Any], optional: dict[str, Any],
                 fail: Callable[[str], NoReturn]) -> None:
    """``fail(problem)`` on the first missing required key, wrong type (strings must be
    non-empty; a bool is not a number) or unknown key of ``entry``."""
    for k, typ in required.items():
        if k not in entry:
            fail(f"missing key '{k}'")
        if not _is(entry[k], typ) or (typ is str and not entry[k].strip()):
            fail(f"'{k}' must be a non-empty {_type_name(typ)}")
    for k, typ in optional.items():
        if entry.get(k) is not None and not _is(entry[k], typ):
            fail(f"'{k}' must be a {_type_name(typ)}")
    unknown = set(entry) - set(required) - set(optional)
    if unknown:
        fail(f"unknown keys {sorted(unknown)}")


def _is(value: Any, typ: Any) -> bool:
    types = typ if isinstance(typ, tuple) else (typ,)
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int to Python, not a number to a catalogue
    return isinstance(value, typ)
