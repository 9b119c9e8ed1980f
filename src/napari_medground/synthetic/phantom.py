"""Synthetic studies with known truth: a chest/upper-abdomen CT phantom in Hounsfield units.

:func:`make_ct_phantom` draws the anatomy from analytic shapes in patient millimetres
(LPS: +x patient left, +y posterior, +z superior) with partial-volume edges and correlated
noise, so classical and learned methods meet the difficulties of a real scan (thin lung
bases above the diaphragm domes beside bowel gas below them, vessels beside a nodule, a
table under the back), while every mask and number is known exactly.
:func:`write_ct_dicom` writes any CT study as a proper CT Image Storage series.

Nothing here reads a file: the phantom is importable and reproducible (``seed``) from an
installed wheel.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .shapes import (
    HU,
    Scene,
    capsule,
    ellipsoid,
    elliptic_cylinder,
    rib_arc,
    sphere,
)

NODULE_DIAMETER_MM = 8.0
LESION_DIAMETER_MM = 20.0
NODULE_CENTER = (-72.0, -8.0, 165.0)  # right upper lung, LPS mm (x < 0: patient right)
LESION_CENTER = (-62.0, -18.0, 66.0)  # in the liver
_AXIS_OF = {"S": (0, False), "I": (0, True), "P": (1, False), "A": (1, True), "L": (2, False), "R": (2, True)}


def make_ct_phantom(
    shape: tuple[int, int, int] = (64, 128, 128),
    spacing_mm: tuple[float, float, float] = (3.0, 2.5, 2.5),
    seed: int = 0,
    *,
    orientation: str = "SPL",
    noise_hu: float = 10.0,
):
    """A synthetic chest/upper-abdomen CT and its truth.

    Parameters
    ----------
    shape, spacing_mm : voxel counts and sizes (mm) along the superior-inferior,
        anterior-posterior and left-right axes, in that order (before ``orientation``).
    seed : random seed of the vessels and the noise (same seed, same voxels).
    orientation : the study's orientation code (per array axis, the LPS letter it points
        toward, e.g. "SPL" for a standard axial series, "LPS", "IAR"); only rearranges axes.
    noise_hu : standard deviation of the (spatially correlated) noise in HU.

    Returns
    -------
    (Study, dict)
        The study (modality CT, HU as int16, UIDs set) and the truth: boolean masks on the
        study grid (``body``, ``lung_left``, ``lung_right``, ``airways``, ``bone``, ``fat``,
        ``heart``, ``aorta``, ``liver``, ``liver_lesion``, ``spleen``, ``kidney_left``,
        ``kidney_right``, ``stomach``, ``bowel_gas``, ``nodule``) and numbers:
        ``<mask>_volume_ml`` for each mask, ``nodule_diameter_mm``,
        ``liver_lesion_diameter_mm``, ``nodule_center_lps``, ``liver_lesion_center_lps``,
        ``<tissue>_hu`` values and ``noise_hu``.
    """
    from ..study.model import Study

    scene = Scene(shape, spacing_mm)
    _draw_trunk(scene)
    _draw_thorax(scene, np.random.default_rng(seed))
    _draw_abdomen(scene)
    hu = scene.finish(noise_hu, np.random.default_rng(seed + 1))
    masks = scene.truth()
    affine = scene.affine_lps()
    perm, flips, affine = _reorient(shape, affine, orientation)
    hu = _apply(hu, perm, flips)
    masks = {k: _apply(v, perm, flips) for k, v in masks.items()}
    truth: dict[str, Any] = dict(masks)
    vox_ml = float(np.prod(spacing_mm)) / 1000.0
    truth.update({f"{k}_volume_ml": float(v.sum()) * vox_ml for k, v in masks.items()})
    truth.update(
        nodule_diameter_mm=NODULE_DIAMETER_MM, liver_lesion_diameter_mm=LESION_DIAMETER_MM,
        nodule_center_lps=NODULE_CENTER, liver_lesion_center_lps=LESION_CENTER,
        noise_hu=float(noise_hu), **{f"{k}_hu": float(v) for k, v in HU.items()},
    )
    uids = _uids(seed, shape, spacing_mm, orientation)
    study = Study(
        array=hu, affine_lps=affine, modality="CT", source_format="array",
        study_uid=uids[0], series_uid=uids[1], frame_of_reference_uid=uids[2],
        description="napari-medground synthetic CT phantom",
        metadata={"phantom": {"seed": seed, "shape": tuple(shape), "spacing_mm": tuple(spacing_mm),
                              "orientation": orientation}},
    )
    return study, truth


# ------------------------------------------------------------------ anatomy (mm, LPS)
def _diaphragm_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (z, mm) of the diaphragm surface: flat under the heart, the right dome 8 mm
    higher than the left, falling steeply into the costophrenic recesses at the walls."""
    rho = np.sqrt((x / 122.0) ** 2 + (y / 80.0) ** 2)
    return 108.0 - 4.0 * np.tanh(x / 20.0) - 50.0 * rho ** 4


def _draw_trunk(s: Scene) -> None:
    """Body (fat), muscle wall, abdominal/thoracic cavity, table, spine and ribs."""
    s.paint("table", s.box_sdf((-170, 170), (112, 118), (-1e3, 1e3)), HU["table"])
    s.paint("fat", elliptic_cylinder(s, (0, 0), (150, 105)), HU["fat"])
    s.paint("muscle", elliptic_cylinder(s, (0, 0), (138, 95)), HU["muscle"])
    s.paint("fat", elliptic_cylinder(s, (0, 0), (122, 80)), HU["fat"])  # visceral / mediastinal
    for side in (-1, 1):
        psoas = np.maximum(elliptic_cylinder(s, (side * 35, 58), (15, 14)), s.z - 80.0)
        s.paint("muscle", psoas, HU["muscle"])
    s.paint("bone", elliptic_cylinder(s, (0, 55), (17, 17)), HU["cortex"])
    s.paint("bone", elliptic_cylinder(s, (0, 55), (15, 15)), HU["cancellous"])
    s.paint("bone", elliptic_cylinder(s, (0, 82), (11, 11)), HU["cortex"])
    s.paint("canal", elliptic_cylinder(s, (0, 82), (6, 6)), HU["csf"])
    for z in np.arange(18.0, 200.0, 28.0):
        s.paint("bone", rib_arc(s, z, (130, 88), 4.0), HU["rib"])


def _draw_thorax(s: Scene, rng: np.random.Generator) -> None:
    """Lungs above the domes, mediastinum, heart, aorta, trachea, vessels, the nodule."""
    x, y, z = s.x, s.y, s.z
    cavity = elliptic_cylinder(s, (0, 0), (122, 80))
    above = (_diaphragm_z(x, y) + 4.0) - z  # < 0 above the diaphragm (4 mm thick)
    thorax = np.maximum(cavity, above)
    # mediastinum: 60 mm wide, narrowing anteriorly; above z=150 the lungs nearly touch there
    medi = np.maximum(np.abs(x - 8.0) - np.where(y < -45, np.where(z > 150, 1.0, 12.0), 30.0), -80.0 - y)
    lung = np.maximum(thorax, -medi)
    lung = np.maximum(lung, -elliptic_cylinder(s, (0, 55), (24, 24)))  # spine and its muscles
    s.paint("lung_right", np.maximum(lung, x - 8.0), HU["lung"])
    s.paint("lung_left", np.maximum(lung, 8.0 - x), HU["lung"])
    s.paint("heart", np.maximum(ellipsoid(s, (22, -22, 135), (52, 44, 42)), above), HU["blood"])
    s.paint("aorta", elliptic_cylinder(s, (20, 25), (11, 11)), HU["blood"])
    hilum = {"lung_right": (-40.0, 5.0, 128.0), "lung_left": (42.0, 5.0, 124.0)}
    for name, h in hilum.items():
        inside = np.argwhere(s.owner == s.label(name))
        for _ in range(14):
            end = s.index_to_mm(inside[rng.integers(len(inside))])
            if _near_segment(NODULE_CENTER, h, end, 9.0):
                continue
            s.paint(name, capsule(s, h, end, float(rng.uniform(1.2, 2.6))), HU["blood"],
                    within=name, truth=False)
    s.paint("lung_right", sphere(s, NODULE_CENTER, NODULE_DIAMETER_MM / 2), HU["nodule"], truth=False,
            within="lung_right", extra="nodule")
    s.paint("airways", np.maximum(elliptic_cylinder(s, (0, 5), (9, 9)), 150.0 - z), HU["air"])
    for side in (-1, 1):
        s.paint("airways", capsule(s, (0, 5, 150), (side * 48, 5, 126), 6.0), HU["air"])


def _draw_abdomen(s: Scene) -> None:
    """Organs below the diaphragm, bowel gas pockets just below the left dome."""
    x, y, z = s.x, s.y, s.z
    below = z - _diaphragm_z(x, y)  # < 0 below the diaphragm
    cavity = elliptic_cylinder(s, (0, 0), (122, 80))
    abdomen = np.maximum(cavity, below)
    s.paint("liver", np.maximum(np.maximum(ellipsoid(s, (-45, -5, 80), (80, 72, 70)), abdomen), x - 40.0),
            HU["liver"])
    s.paint("liver", sphere(s, LESION_CENTER, LESION_DIAMETER_MM / 2), HU["lesion"], within="liver",
            extra="liver_lesion")
    s.paint("spleen", np.maximum(ellipsoid(s, (86, 36, 80), (28, 42, 46)), abdomen), HU["spleen"])
    for name, cx, cz in (("kidney_left", 62, 48), ("kidney_right", -62, 40)):
        s.paint(name, np.maximum(ellipsoid(s, (cx, 50, cz), (28, 24, 50)), abdomen), HU["kidney"])
    s.paint("stomach", np.maximum(ellipsoid(s, (42, -30, 84), (34, 30, 26)), abdomen), HU["wall"])
    lumen = np.maximum(ellipsoid(s, (42, -30, 84), (30, 26, 22)), abdomen)
    s.paint("stomach", lumen, HU["fluid"])
    s.paint("stomach", np.maximum(lumen, y + 40.0), HU["air"], extra="bowel_gas")  # gas cap, anterior
    colon = [((98, -20, 76), (62, -55, 70), 13.0), ((62, -55, 62), (-30, -60, 52), 11.0)]
    for a, b, r in colon:
        s.paint("colon", np.maximum(capsule(s, a, b, r + 3.0), abdomen), HU["wall"])
        s.paint("colon", np.maximum(capsule(s, a, b, r), abdomen), HU["air"], extra="bowel_gas")
    for c in ((-20, -40, 20), (20, -35, 28), (5, -50, 12)):
        s.paint("bowel", np.maximum(sphere(s, c, 12.0), abdomen), HU["fluid"])
        bubble = np.maximum(sphere(s, np.add(c, (0, -4, 0)), 5.0), abdomen)
        s.paint("bowel", bubble, HU["air"], extra="bowel_gas")


def _near_segment(p, a, b, r: float) -> bool:
    p, a, b = (np.asarray(v, float) for v in (p, a, b))
    t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-9), 0, 1)
    return bool(np.linalg.norm(p - (a + t * (b - a))) < r)


# ------------------------------------------------------------------ orientation, UIDs
def _reorient(shape, affine: np.ndarray, code: str):
    """Permutation/flips taking the canonical (S, P, L) arrays to ``code`` and its affine."""
    code = code.upper()
    axes = [_AXIS_OF.get(ch) for ch in code]
    if len(code) != 3 or None in axes or sorted(a[0] for a in axes) != [0, 1, 2]:
        raise ValueError(f"orientation {code!r}: give one of S/I, P/A, L/R per axis, e.g. 'SPL' or 'LPS'")
    perm = tuple(a[0] for a in axes)
    flips = tuple(a[1] for a in axes)
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    for out_axis, (c, f) in enumerate(axes):
        m[c, out_axis] = -1.0 if f else 1.0
        if f:
            m[c, 3] = shape[c] - 1
    return perm, flips, affine @ m


def _apply(a: np.ndarray, perm, flips) -> np.ndarray:
    out = np.transpose(a, perm)
    out = out[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    return np.ascontiguousarray(out)


def _uids(seed: int, *params) -> tuple[str, str, str]:
    """Deterministic Study/Series/FrameOfReference UIDs (same phantom, same UIDs)."""
    from pydicom.uid import generate_uid

    base = f"napari-medground-phantom|{seed}|{params}"
    study, series, frame = (generate_uid(entropy_srcs=[base, what]) for what in ("study", "series", "for"))
    return study, series, frame


def write_ct_dicom(study, folder, *, series_number: int = 1, series_description: str | None = None):
    """Write a CT study (HU) as a CT Image Storage series, one file per slice of array axis 0.

    The files share the study's Study/Series/FrameOfReference UIDs (new ones when the
    study has none) and carry ImagePositionPatient/ImageOrientationPatient from the affine,
    PixelSpacing, SliceThickness and RescaleSlope 1 / RescaleIntercept -1024 (stored values
    are HU + 1024, unsigned). Returns the paths in slice order.
    """
    import numpy as np

    from .dicom import write_dicom_series

    if study.array.ndim != 3:
        raise ValueError(f"{study.name}: a DICOM series needs a 3D study, got {study.array.ndim}D")
    stored = np.clip(np.rint(np.asarray(study.array, float) + 1024.0), 0, 65535).astype(np.uint16)
    return write_dicom_series(folder, stored, study.affine_lps, modality="CT", slope=1.0, intercept=-1024.0,
                              series_uid=study.series_uid, study_uid=study.study_uid,
                              frame_of_reference_uid=study.frame_of_reference_uid,
                              description=series_description or study.description or "CT",
                              shuffle_seed=None, series_number=series_number, file_prefix="CT",
                              body_part="CHEST")
