"""Model registry: one JSON manifest per model under ``resources/models/`` (torch-free).

A manifest names the task, modalities, labels (id -> name, SNOMED CT code where known,
side), the expected input, the licence, the weights file with its sha256 and size,
and the devices. :func:`weights_path` finds the weights (``weights.py`` explains the
search order) and verifies them once per process.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailable
from ..resources import resource_path


@dataclass(frozen=True)
class LabelInfo:
    """One output label: its name in the model's vocabulary, a code and the body side."""

    name: str
    code: dict[str, str] | None = None  # {"scheme": "SCT", "value": ..., "meaning": ...}
    side: str | None = None  # "left", "right" or None


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights live and what they must hash to."""

    file: str | None = None  # relative to resources/weights (vendored) or to the package folder
    format: str = "safetensors"  # "safetensors" or "torch" (read with weights_only=True)
    sha256: str | None = None
    size: int | None = None
    vendored: bool = False
    package: str | None = None  # weights inside this installed package (located without importing it)
    cache_file: str = ""  # path under $MEDGROUND_MODELS / the cache folder (default: file)
    external: str | None = None  # weights managed by another tool (optional adapters)
    folder_env: str | None = None
    folder_default: str | None = None


@dataclass(frozen=True)
class ModelManifest:
    """A registry entry (``resources/models/<name>.json``)."""

    name: str
    version: str
    task: str
    backend: str
    modalities: tuple[str, ...]
    labels: dict[int, LabelInfo]
    input: dict[str, Any]
    licence: str
    weights: WeightsInfo | None
    devices: tuple[str, ...] = ("cpu",)
    title: str = ""
    source: str = ""
    licence_file: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # e.g. spec/colormap, relative to resources/
    runtime: dict[str, Any] = field(default_factory=dict)
    install_hint: str | None = None
    optional: bool = False
    notes: str = ""

    @property
    def label_names(self) -> dict[int, str]:
        return {k: v.name for k, v in self.labels.items()}

    def file_path(self, key: str) -> Path:
        """A companion file (``"spec"``, ``"colormap"``) of the manifest, under resources/."""
        if key not in self.files:
            raise ModelUnavailable(f"model {self.name!r}: its manifest names no {key!r} file")
        p = resource_path(*self.files[key].split("/"))
        if not p.is_file():
            raise ModelUnavailable(f"model {self.name!r}: {key} file {p} is missing; "
                                   "reinstall napari-medground")
        return p


@lru_cache(maxsize=1)
def _manifests() -> dict[str, ModelManifest]:
    folder = resource_path("models")
    out: dict[str, ModelManifest] = {}
    for p in sorted(folder.glob("*.json")):
        m = _parse(json.loads(p.read_text(encoding="utf-8")), p)
        out[m.name] = m
    return out


def list_models() -> list[ModelManifest]:
    """All manifests, sorted by name."""
    return list(_manifests().values())


def get_manifest(name: str) -> ModelManifest:
    """The manifest called ``name``; :class:`ModelUnavailable` lists the known names otherwise."""
    m = _manifests().get(name)
    if m is None:
        raise ModelUnavailable(f"no model called {name!r}; known models: {', '.join(_manifests())}")
    return m


def weights_path(manifest: ModelManifest | str, *, root: Path | None = None, verify: bool = True) -> Path:
    """Path of the model's weights file, verified (size + sha256, once per process).

    Parameters
    ----------
    manifest : ModelManifest or str
        The manifest or a model name.
    root : Path, optional
        Look only in this folder (as ``$MEDGROUND_MODELS`` would) before the vendored copy.

    Raises
    ------
    ModelUnavailable
        No weights known, file missing (names the places looked and how to get it), or
        size/sha256 mismatch (names the file).
    """
    from .weights import find_weights, verify_weights

    m = get_manifest(manifest) if isinstance(manifest, str) else manifest
    if m.weights is None or not m.weights.file:
        raise ModelUnavailable(f"model {m.name!r} has no weights file of its own"
                               + (f" ({m.weights.external})" if m.weights and m.weights.external else ""))
    path = find_weights(m, root)
    if verify:
        verify_weights(path, m)
    return path


def weights_status(manifest: ModelManifest) -> dict[str, Any]:
    """Presence of a model's weights for ``medground models``: present, location, detail."""
    w = manifest.weights
    if w is None:
        return {"present": True, "location": None, "detail": "no weights (rules and morphology)"}
    if w.external:
        return _external_status(w)
    try:
        p = weights_path(manifest)
    except ModelUnavailable as exc:
        return {"present": False, "location": None, "detail": str(exc)}
    return {"present": True, "location": str(p), "detail": "sha256 verified"}


def _external_status(w: WeightsInfo) -> dict[str, Any]:
    pkg_ok = w.package is None or importlib.util.find_spec(w.package) is not None
    folder = None
    if w.folder_env or w.folder_default:
        folder = os.environ.get(w.folder_env or "", "") or os.path.expanduser(w.folder_default or "")
    missing = []
    if not pkg_ok:
        missing.append(f"package {w.package} not installed")
    if folder and not Path(folder).is_dir():
        missing.append(f"weights folder {folder} not found")
    return {"present": not missing, "location": folder,
            "detail": "; ".join(missing) if missing else (w.external or "available")}


def _parse(d: dict[str, Any], path: Path) -> ModelManifest:
    try:
        labels = {int(k): LabelInfo(v["name"], v.get("code"), v.get("side")) if isinstance(v, dict)
                  else LabelInfo(str(v)) for k, v in d.get("labels", {}).items()}
        w = d.get("weights")
        weights = None
        if w:
            weights = WeightsInfo(
                file=w.get("file"), format=w.get("format", "safetensors"), sha256=w.get("sha256"),
                size=w.get("size"), vendored=bool(w.get("vendored", False)), package=w.get("package"),
                cache_file=w.get("cache_file") or w.get("file") or "", external=w.get("external"),
                folder_env=w.get("folder_env"), folder_default=w.get("folder_default"))
        return ModelManifest(
            name=d["name"], version=d.get("version", ""), task=d["task"], backend=d["backend"],
            modalities=tuple(d.get("modalities", ())), labels=labels, input=dict(d.get("input", {})),
            licence=d.get("licence", "unknown"), weights=weights, devices=tuple(d.get("devices", ("cpu",))),
            title=d.get("title", ""), source=d.get("source", ""), licence_file=d.get("licence_file"),
            files=dict(d.get("files", {})), runtime=dict(d.get("runtime", {})),
            install_hint=d.get("install_hint"), optional=bool(d.get("optional", False)),
            notes=d.get("notes", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"model manifest {path} is malformed ({exc!r}); "
                               "reinstall napari-medground") from None
