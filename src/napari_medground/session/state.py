"""Lossless JSON form of a Result (without its masks and Study), for session recovery.

``Result.to_dict()`` is the reviewable ``result.json``; it rounds numbers and drops types
(tuples, enums, evidence lines). Recovery needs the objects back exactly, so this module
walks the contract dataclasses of :mod:`napari_medground.result` and tags what JSON
cannot hold: ``{"__dc__": "Finding", ...}``, ``{"__enum__": "StepStatus", "v": ...}``,
``{"__tuple__": [...]}``, ``{"__nd__": base64 of .npy bytes}``, ``{"__float__": "nan"}``.
Only the classes of that module are ever rebuilt (no arbitrary code from the file).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from enum import Enum
from typing import Any

import numpy as np

from .. import result as contract

_CLASSES = {
    name: getattr(contract, name)
    for name in dir(contract)
    if isinstance(getattr(contract, name), type)
    and (dataclasses.is_dataclass(getattr(contract, name)) or issubclass(getattr(contract, name), Enum))
}
_SKIP = {"Result": ("masks", "study")}
STATE_VERSION = 1


def encode(obj: Any) -> Any:
    """Contract objects (and plain data inside them) -> JSON-compatible values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        skip = _SKIP.get(name, ())
        out = {"__dc__": name}
        for f in dataclasses.fields(obj):
            if f.name not in skip:
                out[f.name] = encode(getattr(obj, f.name))
        return out
    if isinstance(obj, Enum):
        return {"__enum__": type(obj).__name__, "v": obj.value}
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else {"__float__": repr(f)}
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__map__": {k: encode(v) for k, v in obj.items()}}
        return {"__items__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {"__nd__": base64.b64encode(buf.getvalue()).decode("ascii")}
    if hasattr(obj, "to_dict"):
        return {"__repr__": encode(obj.to_dict())}
    return {"__repr__": repr(obj)}


def decode(data: Any) -> Any:
    """The inverse of :func:`encode` (unknown class names raise ValueError)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__dc__" in data:
        cls = _cls(data["__dc__"])
        kwargs = {k: decode(v) for k, v in data.items() if k != "__dc__"}
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in kwargs.items() if k in names})
        for k, v in kwargs.items():  # non-init fields, if any
            if k not in names and hasattr(obj, k):
                object.__setattr__(obj, k, v)
        return obj
    if "__enum__" in data:
        return _cls(data["__enum__"])(data["v"])
    if "__tuple__" in data:
        return tuple(decode(v) for v in data["__tuple__"])
    if "__map__" in data:
        return {k: decode(v) for k, v in data["__map__"].items()}
    if "__items__" in data:
        return {_hashable(decode(k)): decode(v) for k, v in data["__items__"]}
    if "__nd__" in data:
        return np.load(io.BytesIO(base64.b64decode(data["__nd__"])), allow_pickle=False)
    if "__float__" in data:
        return float(data["__float__"])
    if "__repr__" in data:
        return decode(data["__repr__"])
    return {k: decode(v) for k, v in data.items()}


def result_state(result: Any) -> dict[str, Any]:
    """The Result without masks and Study, as JSON-compatible data."""
    return {"state_version": STATE_VERSION, "result": encode(result)}


def result_from_state(state: dict[str, Any], masks: dict[str, np.ndarray], study: Any = None) -> Any:
    """Rebuild the Result from :func:`result_state`, with its masks and (optionally) its Study."""
    if state.get("state_version") != STATE_VERSION:
        raise ValueError(f"session state version {state.get('state_version')} is not {STATE_VERSION}")
    result = decode(state["result"])
    result.masks = dict(masks)
    result.study = study
    return result


def _cls(name: str) -> type:
    if name not in _CLASSES:
        raise ValueError(f"unknown type {name!r} in session state")
    return _CLASSES[name]


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
