"""napari sample-data contributions: the bundled example CT and synthetic studies.

The example CT (``resources/samples/example_ct.nii.gz``) is TotalSegmentator's test CT
(abdomen-pelvis, lung bases to pelvis, 3 mm, Apache-2.0: ``resources/samples/NOTICE.md``).

The CT phantom (``napari_medground.synthetic.phantom.make_ct_phantom``) has lungs, liver,
spleen, kidneys, an ~8 mm nodule in the right upper lung and a liver lesion, all with
known masks, so every finding the demo shows can be checked against the truth.
"""
from __future__ import annotations

from typing import Any


EXAMPLE_CT = ("samples", "example_ct.nii.gz")


def example_ct_study():
    """The bundled example CT as a Study (patient LPS mm inside, HU)."""
    from ..resources import resource_path
    from ..study import load_study

    return load_study(resource_path(*EXAMPLE_CT))


def example_ct() -> list[tuple[Any, dict[str, Any], str]]:
    """The bundled example CT (real anatomy) as one image layer (physical space, HU)."""
    from .contrast import image_layer_data

    return [image_layer_data(example_ct_study(), name="example CT")]


def ct_phantom() -> list[tuple[Any, dict[str, Any], str]]:
    """The synthetic chest/upper-abdomen CT as one image layer (physical space, HU)."""
    from ..synthetic.phantom import make_ct_phantom
    from .contrast import image_layer_data

    study, _truth = make_ct_phantom()
    return [image_layer_data(study, name="CT phantom")]
