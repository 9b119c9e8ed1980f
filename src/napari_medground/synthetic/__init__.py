"""Synthetic data with known answers: the CT phantom and a DICOM writer (tests, benchmarks, demo).

:mod:`.phantom` draws a reproducible CT (``make_ct_phantom``) from the shapes in
:mod:`.shapes`; :mod:`.dicom` writes a volume as a DICOM series with a known geometry.
Nothing here is used to answer a query on real data.
"""
from __future__ import annotations

from .dicom import geometry_affine, write_dicom_series, write_rtstruct
from .phantom import make_ct_phantom, write_ct_dicom

__all__ = ["geometry_affine", "make_ct_phantom", "write_ct_dicom", "write_dicom_series", "write_rtstruct"]
