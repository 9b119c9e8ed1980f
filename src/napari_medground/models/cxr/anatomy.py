"""Chest X-ray anatomy: lung fields, heart and thoracic widths, cardiothoracic ratio.

:func:`analyse_chest_xray` takes a 2D frontal chest radiograph (a Study with higher
values = denser) and returns :class:`CxrAnatomy`: the patient's right and left lung
fields as masks on the study grid, the maximal horizontal heart width and the maximal
internal thoracic width as line segments (array indices (row, col), lengths in mm), the
cardiothoracic ratio (CTR), a confidence and what the film allows one to judge.

Method: classical image processing, no trained weights; see
:mod:`~napari_medground.models.cxr.lungs` (lung fields) and
:mod:`~napari_medground.models.cxr.widths` (widths, as in the CTR definition: heart
width from the rightmost to the leftmost heart border, over the internal thoracic width
from inner rib margin to inner rib margin at or above the diaphragm). The patient's
sides come from ``study.affine_lps`` (+x = patient left), whatever the storage order.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ...result import LineSegment, Measurement
from .frame import Frame, build_frame, working_image
from .lungs import LungFields, normalise, segment_lung_fields
from .quality import combine, quality_checks, view_note
from .widths import Widths, cardiothoracic_ratio, measure_widths

logger = logging.getLogger(__name__)

METHOD = "classical CXR (percentile normalisation, watershed + adaptive threshold lung fields, lung-edge widths)"
_MIN_SIDE = 64  # pixels: smaller images cannot show the heart borders
_ALT_OFFSETS = (-0.15, 0.15)  # stricter / looser lung thresholds for the agreement check
_MIN_CONFIDENCE = 0.05  # below this the "lungs" found are not a plausible frontal chest
_NON_FRONTAL = {  # DICOM ViewPosition defined terms on which the CTR cannot be measured
    "lateral": ("LL", "RL", "LAT", "LATERAL"),
    "decubitus": ("RLD", "LLD"),
    "oblique": ("RLO", "LLO", "RAO", "LAO", "RPO", "LPO"),
}


@dataclass(frozen=True)
class CxrAnatomy:
    """The anatomy of one frontal chest radiograph.

    Masks are boolean on the study grid. ``lung_right``/``lung_left`` are the patient's
    sides (from the affine). Line segments are array indices (row, col) on the study
    grid with their length in mm (pixel spacing from the study; PNG/JPEG files have
    none and count 1 mm per pixel). ``heart_width`` is drawn on the row of the left
    heart border's extreme, from the column of the rightmost right heart border to the
    column of the leftmost left heart border (the two extremes may lie on different
    rows; ``lines`` holds each with the midline). ``ctr`` is NaN and ``confidence`` 0
    when the image cannot be assessed; ``notes`` then say why.
    """

    lung_right: np.ndarray
    lung_left: np.ndarray
    heart: np.ndarray | None
    heart_width: LineSegment | None
    thorax_width: LineSegment | None
    ctr: float
    confidence: float
    view_note: str
    notes: list[str] = field(default_factory=list)
    timing_s: float = 0.0
    lines: tuple[LineSegment, ...] = ()
    ctr_range: tuple[float, float] | None = None
    method: str = METHOD

    @property
    def assessable(self) -> bool:
        return bool(np.isfinite(self.ctr) and self.confidence > 0)

    def measurements(self) -> list[Measurement]:
        """Heart width, thoracic width (mm) and the CTR (ratio), for reasoning steps."""
        if not self.assessable:
            return []
        return [
            Measurement("length", self.heart_width.length_mm, "mm", "maximal horizontal heart width", METHOD),
            Measurement("length", self.thorax_width.length_mm, "mm", "maximal internal thoracic width", METHOD),
            Measurement("ratio", self.ctr, "1", "cardiothoracic ratio", METHOD),
        ]


def analyse_chest_xray(study, *, device: str = "auto") -> CxrAnatomy:
    """Lung fields, heart and thoracic widths and CTR of a 2D frontal chest radiograph.

    Parameters
    ----------
    study : napari_medground.study.Study
        2D array (rows, cols), higher = denser; ``affine_lps`` gives the patient's sides.
    device : str
        Accepted for a uniform model interface; this classical method always runs on
        the CPU (about a second, most of it spent mapping masks to full resolution).

    Returns
    -------
    CxrAnatomy
        Never raises on image content: an image that cannot be assessed (not 2D, tiny,
        blank, no lungs found) gives ``ctr`` NaN, ``confidence`` 0 and a note saying why.
    """
    t0 = time.perf_counter()
    array, affine, problem = _plane(study)
    if problem:
        return _not_assessable(study.array.shape, problem, t0)
    projection = _projection(study)
    if projection not in (None, "PA", "AP"):
        return _not_assessable(study.array.shape, f"the DICOM header gives a {projection} view: the "
                               "cardiothoracic ratio needs an erect frontal (PA or AP) radiograph", t0)
    frame = build_frame(array.shape, affine)
    grid = _Grid(frame, affine, tuple(study.array.shape))
    img = normalise(working_image(array, frame))
    if not img.any():
        return _not_assessable(study.array.shape, "the image is blank or uniform (no contrast): cannot assess", t0)
    notes: list[str] = []
    if not frame.frontal:
        notes.append("the image plane does not contain the patient's left-right axis (not a frontal "
                     "projection by its geometry); analysed as if frontal in the stored orientation")
    if _looks_inverted(img):
        img = 1.0 - img
        notes.append("the image looks inverted (mediastinum darker than the lungs); analysed inverted back")
    lungs = segment_lung_fields(img)
    notes.extend(lungs.notes)
    widths = measure_widths(lungs.right, lungs.left) if lungs.found else None
    if widths is None:
        if lungs.found:
            notes.append("the heart borders could not be traced between the lung fields")
        elif not lungs.notes:
            notes.append("no lung fields could be delineated (dark regions found, but none of lung shape)")
        return _partial(grid, lungs, notes, t0)
    alt = _alternative_ctrs(img, widths.ctr)
    checks = quality_checks(lungs, widths, alt if np.isfinite(alt).all() else [0.0, 1.0])
    weak = [f"{c.name}: {c.detail}" for c in checks if c.score < 0.7]
    confidence = combine(checks)
    if confidence < _MIN_CONFIDENCE:
        return _not_assessable(study.array.shape, f"what was found does not form a plausible frontal chest "
                               f"(confidence {confidence:.2f}: {'; '.join(weak)}): cannot assess", t0)
    if weak:
        notes.append("confidence lowered by " + "; ".join(weak))
    return _assemble(grid, lungs, widths, confidence, (float(np.nanmin(alt)), float(np.nanmax(alt))),
                     view_note(lungs, widths, projection), notes, t0)


def _alternative_ctrs(img: np.ndarray, ctr: float) -> list[float]:
    """The CTR itself and as measured on lung fields from a stricter and a looser
    threshold (NaN where those fail): their spread says how much the answer hangs on
    where exactly the lung edges are."""
    alt = [ctr]
    for off in _ALT_OFFSETS:
        other = segment_lung_fields(img, offset=off)
        w_alt = measure_widths(other.right, other.left) if other.found else None
        alt.append(w_alt.ctr if w_alt is not None else float("nan"))
    return alt


def _plane(study) -> tuple[np.ndarray, np.ndarray, str]:
    """The 2D pixel array and its affine, or a reason why there is none."""
    arr = np.asarray(study.array)
    affine = np.asarray(study.affine_lps, dtype=float)
    if arr.ndim == 3 and 1 in arr.shape:
        axis = arr.shape.index(1)
        keep = [i for i in range(3) if i != axis]
        arr = arr.reshape([arr.shape[i] for i in keep])
        affine = affine[:, keep + [axis, 3]]
    if arr.ndim != 2:
        return arr, affine, f"a {arr.ndim}D volume of shape {arr.shape} is not a radiograph: cannot assess"
    if min(arr.shape) < _MIN_SIDE:
        return arr, affine, (f"the image ({arr.shape[0]} x {arr.shape[1]} pixels) is too small to show the "
                             f"heart borders (needs at least {_MIN_SIDE} per side): cannot assess")
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=float(np.nanmin(arr)) if np.isfinite(arr).any() else 0.0)
    return arr, affine, ""


def _looks_inverted(img: np.ndarray) -> bool:
    """True when the central column band (mediastinum, spine) is darker than both
    lateral bands (lungs) in the middle rows: a negative image."""
    h, w = img.shape
    rows = slice(int(0.3 * h), int(0.7 * h))

    def band(c: float) -> float:
        return float(np.median(img[rows, int((c - 0.06) * w): int((c + 0.06) * w)]))

    centre = band(0.5)
    return centre < band(0.27) - 0.1 and centre < band(0.73) - 0.1


def _projection(study) -> str | None:
    """The view from ``metadata["view_position"]`` or the DICOM header's ViewPosition:
    "PA", "AP", "lateral", "decubitus", "oblique", or None when not recorded/unknown."""
    vp = study.metadata.get("view_position") if isinstance(study.metadata, dict) else None
    if vp is None and study.source_format == "dicom" and study.source_paths:
        try:
            import pydicom

            ds = pydicom.dcmread(study.source_paths[0], stop_before_pixels=True, specific_tags=["ViewPosition"])
            vp = ds.get("ViewPosition")
        except Exception as exc:  # noqa: BLE001 - a header we cannot read just leaves the projection unknown
            logger.debug("ViewPosition not read from %s: %s", study.source_paths[0], exc)
    vp = str(vp or "").strip().upper()
    if vp in ("PA", "AP"):
        return vp
    for view, codes in _NON_FRONTAL.items():
        if vp in codes or (view == "lateral" and "LAT" in vp):
            return view
    return None  # not recorded, or a code we do not know: judged from the pixels


@dataclass(frozen=True)
class _Grid:
    """The way from working-grid results to the study grid (which may be 3D with one
    singleton axis: then that axis gets index 0)."""

    frame: Frame
    affine: np.ndarray  # 4x4 of the 2D plane: index (row, col, 0) -> LPS mm
    shape: tuple[int, ...]  # the study array's shape

    def segment(self, name: str, start: tuple[float, float], end: tuple[float, float]) -> LineSegment:
        """A LineSegment from working-grid points: study indices, length through the affine."""
        a, b = self.frame.work_to_study(*start), self.frame.work_to_study(*end)
        length = float(np.linalg.norm(self.affine[:3, :2] @ np.subtract(b, a)))
        return LineSegment(name, self._index(a), self._index(b), round(length, 2))

    def _index(self, rc: tuple[float, float]) -> tuple[float, ...]:
        idx = [round(float(v), 2) for v in rc]
        if len(self.shape) == 3:
            idx.insert(self.shape.index(1), 0.0)
        return tuple(idx)

    def mask(self, mask: np.ndarray) -> np.ndarray:
        return self.frame.mask_to_study(mask).reshape(self.shape)


def _assemble(grid: _Grid, lungs: LungFields, widths: Widths, confidence: float,
              ctr_range: tuple[float, float], note: str, notes: list[str], t0: float) -> CxrAnatomy:
    """Map the working-grid result back onto the study grid."""
    heart = grid.segment("cardiac_width", (widths.heart_left[0], widths.heart_right[1]), widths.heart_left)
    thorax = grid.segment("thoracic_width", widths.thorax_right, widths.thorax_left)
    mid = lungs.midline_col

    def at(row: float) -> float:  # midline column on a working-grid row
        return float(mid[min(int(round(row)), mid.size - 1)])

    rows = np.flatnonzero((lungs.right | lungs.left).any(1))
    (r_row, r_col), (l_row, l_col) = widths.heart_right, widths.heart_left
    lines = (
        grid.segment("heart_right_extent", (r_row, at(r_row)), (r_row, r_col)),
        grid.segment("heart_left_extent", (l_row, at(l_row)), (l_row, l_col)),
        grid.segment("midline", (float(rows[0]), at(rows[0])), (float(rows[-1]), at(rows[-1]))),
    )
    ctr = cardiothoracic_ratio(heart.length_mm, thorax.length_mm)
    right, left = grid.mask(lungs.right), grid.mask(lungs.left)
    return CxrAnatomy(
        lung_right=right, lung_left=left, heart=grid.mask(widths.heart_mask) & ~(right | left),
        heart_width=heart, thorax_width=thorax,
        ctr=round(float(ctr), 4), confidence=confidence, view_note=note, notes=notes,
        timing_s=round(time.perf_counter() - t0, 3), lines=lines,
        ctr_range=(round(ctr_range[0], 4), round(ctr_range[1], 4)),
    )


def _partial(grid: _Grid, lungs: LungFields, notes: list[str], t0: float) -> CxrAnatomy:
    """Lungs (whatever was found) but no widths: CTR not assessable."""
    return CxrAnatomy(
        lung_right=grid.mask(lungs.right), lung_left=grid.mask(lungs.left),
        heart=None, heart_width=None, thorax_width=None, ctr=float("nan"), confidence=0.0,
        view_note="cannot assess the cardiothoracic ratio", notes=notes,
        timing_s=round(time.perf_counter() - t0, 3),
    )


def _not_assessable(shape, reason: str, t0: float) -> CxrAnatomy:
    """Empty masks, no lines, CTR NaN, confidence 0, and the reason."""
    logger.info("chest X-ray not assessable: %s", reason)
    empty = np.zeros(shape, bool)
    return CxrAnatomy(
        lung_right=empty, lung_left=empty.copy(), heart=None, heart_width=None, thorax_width=None,
        ctr=float("nan"), confidence=0.0, view_note="cannot assess", notes=[reason],
        timing_s=round(time.perf_counter() - t0, 3),
    )
