"""napari sample-data contributions: synthetic studies generated on the fly (no files).

The CT phantom (``napari_medground.synthetic.phantom.make_ct_phantom``) has lungs, liver,
spleen, kidneys, an ~8 mm nodule in the right upper lung and a liver lesion, all with
known masks, so every finding the demo shows can be checked against the truth.
"""
from __future__ import annotations

from typing import Any


def ct_phantom() -> list[tuple[Any, dict[str, Any], str]]:
    """The synthetic chest/upper-abdomen CT as one image layer (physical space, HU)."""
    from ..synthetic.phantom import make_ct_phantom
    from .contrast import image_layer_data

    study, _truth = make_ct_phantom()
    return [image_layer_data(study, name="CT phantom")]
