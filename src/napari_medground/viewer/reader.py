"""napari reader contribution: any study ``load_study`` opens -> one image layer.

``get_reader(path)`` never raises: it returns None for paths it does not take (so
napari tries other readers) and a reader function otherwise. A study that then fails
to load is reported as one napari error notification with the loader's one-line
message (file + problem + fix), and no layer is added: napari would otherwise wrap
the exception in a generic "Tried opening with ..." dialog.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

LayerData = tuple[Any, dict[str, Any], str]
# napari's "read, but nothing to add" value: the reader handled the path itself
NO_LAYERS: list = [(None,)]


def get_reader(path: str | list[str]) -> Callable[[Any], list] | None:
    """The reader function for ``path`` (a file, a DICOM folder, or a list of them), or None."""
    try:
        from ..study.loader import is_supported

        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if not paths or not all(is_supported(p) for p in paths):
            return None
    except Exception:  # noqa: BLE001 - napari asks every reader; ours must never raise here
        log.debug("get_reader: %r not taken", path, exc_info=True)
        return None
    return read_studies


def read_studies(path: str | list[str], **_: Any) -> list:
    """Load each path as a study and return its image layer-data tuple.

    Errors: a :class:`~napari_medground.errors.MedgroundError` becomes a napari error
    notification with its one-line message; that path adds no layer.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    out: list = []
    for p in paths:
        layer = read_one(p)
        if layer is not None:
            out.append(layer)
    return out or NO_LAYERS


def read_one(path: str | Path) -> LayerData | None:
    """One study -> its image layer-data tuple, or None after notifying the error."""
    from ..errors import MedgroundError
    from ..study import load_study
    from .contrast import image_layer_data

    try:
        study = load_study(path)
    except MedgroundError as exc:
        notify_error(str(exc))
        return None
    for w in study.warnings:
        notify_warning(w if study.name in w else f"{study.name}: {w}")
    return image_layer_data(study)


def notify_error(message: str) -> None:
    """One-line error notification in napari (logged when napari is not running)."""
    line = " ".join(str(message).split())
    log.error(line)
    try:
        from napari.utils.notifications import show_error

        show_error(line)
    except ImportError:  # pragma: no cover - napari is a dependency of this sub-package
        pass


def notify_warning(message: str) -> None:
    line = " ".join(str(message).split())
    log.warning(line)
    try:
        from napari.utils.notifications import show_warning

        show_warning(line)
    except ImportError:  # pragma: no cover
        pass
