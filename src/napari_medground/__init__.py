"""napari-medground: ground a typed radiology finding on CT, MRI or X-ray.

Python API (no Qt needed)::

    from napari_medground import load_study, ground
    study = load_study("ct_folder/")
    result = ground(study, "liver", out_dir="out/")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load_study", "ground", "parse", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .language import parse
    from .reasoning.api import ground
    from .study import load_study


def __getattr__(name: str) -> Any:
    # Lazy: `import napari_medground` must stay cheap (napari imports every plugin manifest).
    if name == "load_study":
        from .study import load_study

        return load_study
    if name == "ground":
        from .reasoning.api import ground

        return ground
    if name == "parse":
        from .language import parse

        return parse
    raise AttributeError(f"module 'napari_medground' has no attribute {name!r}")
