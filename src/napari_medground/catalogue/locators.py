"""The locator registry: functions that find one catalogue structure, registered by name.

A catalogue entry names its locator (``"locator": "ct.organ"``); the procedures call
:func:`locate`, which finds the function and runs it. New structures need one entry in
``resources/catalogue/<modality>.json`` and, when the method is new, one locator.

The locator contract
--------------------
::

    from napari_medground.catalogue import Located, LocateContext, register_locator

    @register_locator("ct.aorta")
    def locate_aorta(study, entry, ctx) -> Located:
        ...

* ``study``: a :class:`~napari_medground.study.model.Study` (array in z, y, x order,
  ``affine_lps`` maps an index to patient LPS mm; patient left is LPS +x, never the
  array position). ``entry``: the :class:`~napari_medground.catalogue.data.Structure`
  being located (its ``id``, ``side``, ``locator_args``, ``plausibility``).
  ``ctx``: :class:`LocateContext` (``device``, ``progress(fraction, text)``,
  ``cancel()``); pass them on to models.
* Returns a :class:`Located`:
  ``mask``: bool array of ``study.shape`` on the study grid, or None when not found;
  ``confidence``: 0..1 (0 when not found), the locator's own certainty before the
  catalogue sanity checks (:mod:`.sanity`) run on the mask;
  ``method``: plain words for the reasoning panel ("air-density lung split at the
  midline", "watershed + LiteMedSAM"); ``models``: one
  :class:`~napari_medground.result.ModelUse` per algorithm that made the mask,
  INCLUDING rule-based ones (``classical_use("ct_classical")``), so that DICOM SEG/SR
  credit the right algorithm; ``partial``: True when the structure is cut by the field
  of view (:func:`~napari_medground.catalogue.sanity.cut_by_fov`); ``notes``: what
  happened, in order; ``reason``: why nothing was found (mask None); ``caveat``: why a
  mask is not the named structure itself (a part of it, a failed own check): the answer
  is then ``uncertain`` with it.
* Never raise for "not found" (return ``mask=None`` with the reason); raise
  :class:`~napari_medground.errors.ModelUnavailable` when the study cannot be read by
  the method (wrong modality). Do not import Qt or napari.
* Registration happens at import: the registry imports the provider modules in
  ``PROVIDERS`` the first time a name is missing. A CT locator package adds its module
  to its own ``__init__`` (``napari_medground.models.ct.structures`` is a provider).
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..progress import CancelFn, ProgressFn
from ..result import ModelUse

log = logging.getLogger(__name__)

#: Modules that register locators when imported (a missing one is skipped).
PROVIDERS = ("napari_medground.reasoning.locators_ct", "napari_medground.reasoning.locators_other",
             "napari_medground.models.ct.structures")


@dataclass(frozen=True)
class LocateContext:
    """How to run: device ("auto", "cpu", "cuda"), progress and cancel callbacks."""

    device: str = "auto"
    progress: ProgressFn = None
    cancel: CancelFn = None


@dataclass(frozen=True, eq=False)
class Located:
    """What a locator found (see the module docstring for the contract)."""

    mask: np.ndarray | None
    confidence: float
    method: str
    models: tuple[ModelUse, ...] = ()
    partial: bool = False
    notes: tuple[str, ...] = ()
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: why the locator itself does not claim the named structure although it gives a mask
    #: (only a part of it, its own check failed): the answer is then ``uncertain``
    caveat: str = ""

    @property
    def found(self) -> bool:
        return self.mask is not None and bool(self.mask.any())


Locator = Callable[[Any, Any, LocateContext], Located]
_REGISTRY: dict[str, Locator] = {}
_LOCK = threading.Lock()
_IMPORTED: set[str] = set()


def register_locator(name: str, fn: Locator | None = None):
    """Register ``fn`` under ``name`` (use as ``@register_locator("ct.aorta")``).

    Registering a second function under a used name replaces it (a log line says so).
    """
    def deco(f: Locator) -> Locator:
        with _LOCK:
            if name in _REGISTRY and _REGISTRY[name] is not f:
                log.info("locator %s replaced by %s.%s", name, f.__module__, f.__qualname__)
            _REGISTRY[name] = f
        return f

    return deco(fn) if fn is not None else deco


def unregister_locator(name: str) -> None:
    """Forget a locator (tests that register their own)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


def _import_providers() -> None:
    for mod in PROVIDERS:
        if mod in _IMPORTED:
            continue
        _IMPORTED.add(mod)
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is None or not mod.startswith(exc.name):
                raise
            log.debug("locator provider %s not present", mod)


def get_locator(name: str) -> Locator | None:
    """The function registered under ``name``, or None."""
    if name not in _REGISTRY:
        _import_providers()
    return _REGISTRY.get(name)


def locator_names() -> tuple[str, ...]:
    """Every registered locator name (after importing the providers)."""
    _import_providers()
    return tuple(sorted(_REGISTRY))


def locate(study: Any, entry: Any, ctx: LocateContext | None = None) -> Located:
    """Run the entry's locator; a missing locator is an answer ("no method"), not a crash."""
    fn = get_locator(entry.locator)
    if fn is None:
        return Located(None, 0.0, entry.method, reason=f"no locator is registered under '{entry.locator}' "
                                                        f"for the {entry.name}")
    return fn(study, entry, ctx or LocateContext())


def classical_use(name: str = "ct_classical", seconds: float = 0.0) -> ModelUse:
    """The ModelUse of a rule-based backend (no weights: sha256 None; version from its manifest)."""
    version = "unknown"
    try:
        from ..models.registry import get_manifest

        version = get_manifest(name).version
    except Exception:  # noqa: BLE001 - a missing manifest must not stop a rule-based mask
        from .. import __version__ as version  # type: ignore[no-redef]
    return ModelUse(name=name, version=str(version), sha256=None, device="cpu", seconds=float(seconds))


class Timer:
    """``with Timer() as t: ...; t.seconds`` (wall time for ModelUse.seconds)."""

    def __enter__(self) -> "Timer":
        self.t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
