"""Models: one sub-package per backend family, each with its entry points in ``__init__``.

``brain/`` (MeshNet), ``ct/`` (classical CT anatomy, organs, lesions; its geometry layer in
``ct/geometry.py``), ``cxr/`` (chest radiographs), ``litemedsam/`` (box prompts, vendored
network code inside), ``adapters/`` (optional outside models); ``registry``, ``weights``
and ``device`` serve them all.
"""
