"""The `Study` data contract: voxels plus geometry in patient LPS millimetres.

Conventions (one inside the whole core; conversions happen only at the file edges):

* ``array`` axis order is (z, y, x) for volumes and (y, x) for 2D images. For a DICOM
  series that is (slice, row, column); for NIfTI/NRRD/MHA it is the file's (k, j, i).
* ``affine_lps`` is a 4x4 matrix that maps an array index, in ``array`` axis order, to
  patient LPS coordinates in mm (DICOM convention: +x toward the patient's Left, +y
  toward Posterior, +z toward Superior). For a 2D image the index is (row, col, 0): the
  third column is the unit normal of the image plane.
* Orientation codes give, per array axis, the patient direction that axis points to
  (nibabel's convention with L/P/S letters): a standard axial DICOM series is "SPL".
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


@dataclass(frozen=True)
class SeriesSummary:
    """One series seen while loading (the chosen one or one left aside)."""

    series_uid: str | None
    modality: str
    description: str
    n_files: int
    kind: str  # "image" or the non-image object type, e.g. "RTSTRUCT", "SEG", "SR"


@dataclass(eq=False)
class Study:
    """An image study in memory. See the module docstring for the conventions.

    Attributes
    ----------
    array : np.ndarray
        Voxel values, (z, y, x) or (y, x). CT in Hounsfield units (rescale applied).
    affine_lps : np.ndarray
        4x4, array index -> patient LPS mm.
    modality : str
        DICOM modality code ("CT", "MR", "CR", "DX", "PT", "US", "OT" when unknown).
    source_paths : tuple of Path
        The files read. For a DICOM series, one per slice in array order.
    """

    array: np.ndarray
    affine_lps: np.ndarray
    modality: str = "OT"
    source_paths: tuple[Path, ...] = ()
    source_format: str = ""  # "dicom", "nifti", "nrrd", "mha", "png", "jpeg", "array"
    series_uid: str | None = None
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    sop_instance_uids: tuple[str, ...] = ()
    description: str = ""
    warnings: list[str] = field(default_factory=list)
    other_series: list[SeriesSummary] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.affine_lps = np.asarray(self.affine_lps, dtype=float)
        if self.affine_lps.shape != (4, 4):
            raise ValueError(f"affine_lps must be 4x4, got {self.affine_lps.shape}")
        if self.array.ndim not in (2, 3):
            raise ValueError(f"Study array must be 2D or 3D, got {self.array.ndim}D")

    # ---------------------------------------------------------------- geometry
    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def is_2d(self) -> bool:
        return self.array.ndim == 2

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def spacing_mm(self) -> tuple[float, ...]:
        """Voxel size in mm along each array axis (column norms of the affine)."""
        norms = np.linalg.norm(self.affine_lps[:3, :3], axis=0)
        return tuple(float(n) for n in norms[: self.ndim])

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (3D) or area of one pixel in cm^2 x 1 cm (2D: mm^2/1000)."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    @property
    def origin_lps(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.affine_lps[:3, 3])

    @property
    def direction(self) -> np.ndarray:
        """3x3 matrix of unit direction vectors (columns) of the array axes in LPS."""
        d = self.affine_lps[:3, :3]
        return d / np.linalg.norm(d, axis=0)

    @property
    def orientation(self) -> str:
        """Per array axis, the LPS letter the axis points toward (e.g. "SPL", "LIA")."""
        return orientation_code(self.affine_lps, self.ndim)

    @property
    def is_oblique(self) -> bool:
        d = np.abs(self.direction)
        return bool(np.any((d > 1e-4) & (d < 1 - 1e-4)))

    def index_to_lps(self, index: np.ndarray) -> np.ndarray:
        """Array indices (N, ndim) or (ndim,) -> LPS mm (N, 3) or (3,)."""
        idx = np.asarray(index, dtype=float)
        single = idx.ndim == 1
        idx = np.atleast_2d(idx)
        if idx.shape[1] == 2:
            idx = np.column_stack([idx, np.zeros(len(idx))])
        out = idx @ self.affine_lps[:3, :3].T + self.affine_lps[:3, 3]
        return out[0] if single else out

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """LPS mm (N, 3) or (3,) -> continuous array indices (N, ndim) or (ndim,)."""
        pts = np.atleast_2d(np.asarray(lps, dtype=float))
        inv = np.linalg.inv(self.affine_lps)
        out = (pts @ inv[:3, :3].T + inv[:3, 3])[:, : self.ndim]
        return out[0] if np.asarray(lps).ndim == 1 else out

    # ---------------------------------------------------------------- identity
    @property
    def fingerprint(self) -> str:
        """Content hash (voxels + geometry), for caches keyed by study."""
        cached = self.metadata.get("_fingerprint")
        if cached is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(str(self.array.dtype).encode())
            h.update(str(self.array.shape).encode())
            h.update(np.ascontiguousarray(self.affine_lps).tobytes())
            h.update(np.ascontiguousarray(self.array).data)
            cached = h.hexdigest()
            self.metadata["_fingerprint"] = cached
        return cached

    @property
    def name(self) -> str:
        """A short display name taken from the source (never patient identifiers)."""
        if self.source_paths:
            p = self.source_paths[0]
            return p.parent.name if self.source_format == "dicom" and len(self.source_paths) > 1 else p.name
        return self.description or "study"

    def info(self) -> dict[str, Any]:
        """The ``medground info --json`` object (shape in DESIGN.md)."""
        return {
            "shape": list(self.shape),
            "spacing_mm": [round(s, 6) for s in self.spacing_mm],
            "affine_lps": [[float(v) for v in row] for row in self.affine_lps],
            "orientation": self.orientation,
            "modality": self.modality,
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "dtype": str(self.array.dtype),
            "source_format": self.source_format,
            "n_source_files": len(self.source_paths),
            "other_series": [s.__dict__ for s in self.other_series],
            "warnings": list(self.warnings),
        }


def orientation_code(affine_lps: np.ndarray, ndim: int = 3) -> str:
    """Letters of the patient direction each array axis points toward (LPS letters)."""
    letters = []
    for axis in range(ndim):
        v = np.asarray(affine_lps)[:3, axis]
        k = int(np.argmax(np.abs(v)))
        letters.append(_LPS_LETTERS[k][1] if v[k] > 0 else _LPS_LETTERS[k][0])
    return "".join(letters)


def affine_from_geometry(
    spacing: tuple[float, ...], origin_lps: tuple[float, float, float], direction: np.ndarray
) -> np.ndarray:
    """4x4 affine from spacing (array order), origin (LPS mm) and unit direction columns (3x3)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    sp = list(spacing) + [1.0] * (3 - len(spacing))
    a = np.eye(4)
    a[:3, :3] = d * np.asarray(sp)[None, :]
    a[:3, 3] = origin_lps
    return a


def ras_to_lps(affine: np.ndarray) -> np.ndarray:
    """Convert a 4x4 affine whose output is RAS (NIfTI) to one whose output is LPS."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine, dtype=float)


lps_to_ras = ras_to_lps  # the same flip, its own inverse
