"""One study-keyed cache for every backend, and the list of models this process holds.

A :class:`StudyCache` remembers values computed from a study under a :class:`Signature`:
the study's content fingerprint, the sha256 of the model that made the value (None for
rules and morphology), the parameters that change the value, and the code version. Two
calls with the same signature get the same value; a new model file, other parameters or
a new release of this package miss instead of returning a stale answer.

Each cache holds a lock that guards its table (never the computation, so two studies are
computed in parallel), evicts the least recently used entry beyond ``max_items`` (or
``max_bytes`` when values report a size) and empties on :meth:`StudyCache.clear`;
:func:`clear_all` empties every cache. Values are shared between callers: store frozen
data or read-only arrays, or hand out copies (``copy=``), never an object a caller mutates.

Model holders (LiteMedSAM, MeshNet, the sentence encoder) register a function that lists
what they keep loaded; :func:`loaded_models` asks those already imported and never loads
anything.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from . import __version__

log = logging.getLogger(__name__)

CODE_VERSION = __version__

__all__ = ["CODE_VERSION", "Signature", "StudyCache", "all_caches", "clear_all", "loaded_models",
           "register_models"]


@dataclass(frozen=True)
class Signature:
    """What a cached value depends on.

    Attributes
    ----------
    study : str
        ``Study.fingerprint`` (a hash of the voxels and the geometry).
    model_sha : str or None
        sha256 of the weights that produced the value; None for rule-based methods.
    params : tuple
        Hashable parameters that change the value (what was computed, device, precision...).
    version : str
        Code version (``napari_medground.__version__``) the value was computed with.
    """

    study: str
    model_sha: str | None = None
    params: tuple[Hashable, ...] = ()
    version: str = CODE_VERSION


class StudyCache:
    """A locked LRU table ``Signature -> value`` (see the module docstring).

    Parameters
    ----------
    name : str
        Names the cache in logs and in :func:`all_caches`.
    max_items : int, optional
        Entries kept; the least recently used one goes first.
    max_bytes : int or callable, optional
        Total size kept (a callable is read on each insert, e.g. from an environment
        variable); needs ``size_of``. The newest entry is always kept.
    size_of : callable, optional
        Bytes of one value.
    copy : callable, optional
        Applied to a value on every hand-out, for values that callers may change.
    """

    def __init__(self, name: str, *, max_items: int | None = None,
                 max_bytes: int | Callable[[], int] | None = None,
                 size_of: Callable[[Any], int] | None = None,
                 copy: Callable[[Any], Any] | None = None) -> None:
        if max_bytes is not None and size_of is None:
            raise ValueError(f"cache {name!r}: max_bytes needs size_of")
        self.name = name
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._copy = copy
        self._data: OrderedDict[Signature, Any] = OrderedDict()
        self._sizes: dict[Signature, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        with _REGISTRY_LOCK:
            _CACHES.add(self)

    def get(self, sig: Signature) -> Any | None:
        """The value stored under ``sig`` (a copy when ``copy`` is set), or None."""
        with self._lock:
            if sig not in self._data:
                self.misses += 1
                return None
            self._data.move_to_end(sig)
            self.hits += 1
            value = self._data[sig]
        return self._copy(value) if self._copy else value

    def put(self, sig: Signature, value: Any) -> Any:
        """Store ``value`` unless ``sig`` is stored already; returns the stored value.

        When two threads computed the same value, both get the first one stored.
        """
        size = self._size_of(value) if self._size_of else 0
        with self._lock:
            if sig in self._data:
                value = self._data[sig]
            else:
                self._data[sig] = value
                self._sizes[sig] = size
                self._bytes += size
                self._evict()
        return self._copy(value) if self._copy else value

    def get_or_compute(self, sig: Signature, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per signature; the lock guards the table, not the work."""
        value = self.get(sig)
        if value is not None:
            return value
        return self.put(sig, compute())

    def clear(self) -> None:
        """Forget every entry (models stay loaded)."""
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __contains__(self, sig: object) -> bool:
        with self._lock:
            return sig in self._data

    @property
    def bytes(self) -> int:
        """Total size of the stored values (0 without ``size_of``)."""
        with self._lock:
            return self._bytes

    def _evict(self) -> None:
        if self.max_items is not None:
            while len(self._data) > self.max_items:
                self._drop_oldest()
        if self.max_bytes is not None:
            limit = self.max_bytes() if callable(self.max_bytes) else self.max_bytes
            while len(self._data) > 1 and self._bytes > limit:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        sig, _ = self._data.popitem(last=False)
        self._bytes -= self._sizes.pop(sig, 0)


_REGISTRY_LOCK = threading.Lock()
_CACHES: weakref.WeakSet[StudyCache] = weakref.WeakSet()
_MODEL_LISTERS: dict[str, Callable[[], dict[str, Any]]] = {}


def all_caches() -> list[StudyCache]:
    """Every live StudyCache in this process (one per backend module imported)."""
    with _REGISTRY_LOCK:
        return list(_CACHES)


def clear_all() -> None:
    """Empty every study cache (e.g. to free memory after a large study)."""
    for cache in all_caches():
        cache.clear()


def register_models(holder: str, lister: Callable[[], dict[str, Any]]) -> None:
    """Let :func:`loaded_models` ask ``holder`` what it keeps loaded.

    ``lister()`` returns ``{model key: identity or counts}`` and must not load anything.
    """
    with _REGISTRY_LOCK:
        _MODEL_LISTERS[holder] = lister


def loaded_models() -> dict[str, Any]:
    """Models this process holds now, from every registered holder (nothing is loaded).

    Keys name the model and where it runs (``"litemedsam:cpu"``, ``"meshnet:<model>:<device>:
    <precision>"``); values are the loaded object's ``id()`` (two results naming the same id
    shared one load) or, for the sentence encoder, ``{"loads": n, "reuses": n}``. A holder
    that fails is left out (logged at debug level): bookkeeping never fails a caller.
    """
    with _REGISTRY_LOCK:
        listers = dict(_MODEL_LISTERS)
    out: dict[str, Any] = {}
    for holder, lister in listers.items():
        try:
            out.update(lister())
        except Exception:  # noqa: BLE001 - bookkeeping only
            log.debug("could not list the models of %s", holder, exc_info=True)
    return out
