"""Locate the data files under ``resources/``.

They live at the repository root in a source checkout (and an editable install) and
inside the package as ``napari_medground/resources`` in an installed wheel.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The folder that holds vocabulary, criteria, model manifests and vendored weights."""
    for candidate in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parents[1] / "resources"):
        if (candidate / "README.md").is_file():
            return candidate
    raise FileNotFoundError(
        f"napari-medground resources not found next to {_PACKAGE_DIR}: reinstall the package"
    )


def resource_path(*parts: str) -> Path:
    """Path of one resource file or folder, e.g. ``resource_path("criteria", "brain.json")``."""
    return resources_dir().joinpath(*parts)
