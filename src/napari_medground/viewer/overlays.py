"""A grounding Result -> overlay data on the display grid (numpy only; no Qt, no napari).

Built in the worker thread, so that the UI thread only hands ready arrays to napari.
Every coordinate here is a *display index* (see :mod:`.layers`); the overlay layers
share the image layer's transform, so they sit in the same physical space.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..result import Finding, FindingStatus, Result, Step
from .layers import DisplayGeometry

# colours of finding and step states (words are always shown beside them)
FINDING_STATUS_COLORS = {
    "present": "#e8590c", "absent": "#2b8a3e", "uncertain": "#f0a000", "not_assessable": "#868e96",
}
FINDING_STATUS_WORDS = {
    "present": "present", "absent": "absent", "uncertain": "UNCERTAIN", "not_assessable": "NOT ASSESSABLE",
}
STEP_STATUS_COLORS = {
    "proposed": "#4dabf7", "accepted": "#40c057", "edited": "#b197fc", "rejected": "#868e96",
}
_FALLBACK = ((0.90, 0.30, 0.25), (0.20, 0.60, 0.90), (0.30, 0.80, 0.35), (0.95, 0.75, 0.20))
KEY_MEASUREMENTS = ("ratio", "evans_index", "long_axis", "volume", "area", "max_diameter", "length")
SHORT_NAMES = {"ratio": "ratio", "evans_index": "Evans index", "long_axis": "long axis",
               "short_axis": "short axis",
               "max_diameter": "max diameter", "p05": "5th pct", "p50": "median", "p95": "95th pct",
               "std": "SD", "volume_left": "left volume", "volume_right": "right volume",
               "cardiac_width": "heart", "thoracic_width": "thorax", "frontal_horn_width": "frontal horns",
               "skull_width": "skull"}


@dataclass(frozen=True)
class FindingOverlay:
    """What one finding shows: mask, box, measured lines, centre (display indices)."""

    name: str
    status: str
    color: tuple[float, float, float]
    label_value: int
    mask_id: str | None
    labels: np.ndarray | None  # display grid, uint8/uint16 with label_value inside the mask
    box_rects: tuple[np.ndarray, ...] = ()  # one (4, ndim) rectangle per display slice (2D views)
    box_wire: tuple[np.ndarray, ...] = ()  # 3D views: end rectangles + 4 edges
    box_text: str = ""
    lines: tuple[np.ndarray, ...] = ()  # (2, ndim) each
    line_texts: tuple[str, ...] = ()
    line_steps: tuple[str, ...] = ()  # the step that measured each line
    points: tuple[np.ndarray, ...] = ()  # centroid first, then evidence points
    centre: np.ndarray | None = None  # where to jump (display index)
    line_text_shift: tuple[float, ...] = ()  # moves the lines' label below the box (display index)


@dataclass(frozen=True)
class OverlaySet:
    findings: tuple[FindingOverlay, ...] = ()
    step_centres: dict[str, np.ndarray] = field(default_factory=dict)  # step id -> display index


def build_overlays(result: Result, geo: DisplayGeometry) -> OverlaySet:
    """Every finding's overlay data, and where each step's evidence is."""
    items = []
    for i, f in enumerate(result.findings):
        items.append(_finding_overlay(result, f, i, geo))
    centres = {}
    for s in result.steps:
        c = step_centre(result, s, geo)
        if c is not None:
            centres[s.id] = c
    return OverlaySet(tuple(items), centres)


def finding_color(f: Finding, index: int) -> tuple[float, float, float]:
    rgb = f.color or _FALLBACK[index % len(_FALLBACK)]
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def key_measurement(f: Finding) -> Any:
    """The finding's headline Measurement (the first of KEY_MEASUREMENTS it has), or None."""
    for name in KEY_MEASUREMENTS:
        m = f.measurement(name)
        if m is not None and m.value is not None and np.isfinite(m.value):
            return m
    return None


def key_measurement_text(f: Finding) -> str:
    """The finding's headline number ("volume 1234 mL", "ratio 0.56")."""
    m = key_measurement(f)
    return "" if m is None else f"{short_name(m.name)} {format_number(m.value)} {unit_text(m.unit)}".strip()


def short_name(name: str) -> str:
    """Short wording of a measurement name for labels ("long_axis" -> "long axis")."""
    return SHORT_NAMES.get(name, name.replace("_", " "))


def format_number(v: Any) -> str:
    if v is None:
        return "n/a"
    v = float(v)
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def unit_text(unit: str) -> str:
    return {"1": "", "ratio": "", "mm2": "mm²", "mm3": "mm³", "cm3": "cm³"}.get(unit, unit)


def _finding_overlay(result: Result, f: Finding, index: int, geo: DisplayGeometry) -> FindingOverlay:
    value = int(f.label_value or index + 1)
    mask = result.masks.get(f.mask_id) if f.mask_id else None
    labels = None
    if mask is not None:
        labels = np.zeros(geo.display_shape, dtype=np.uint8 if value < 256 else np.uint16)
        labels[geo.to_display(mask)] = value
    status = f.status.value
    rects = box_rectangles(f.box, geo) if f.box is not None else ()
    wire = box_wireframe(rects) if geo.ndim == 3 and rects else ()
    lines, texts, owners, points, line_names = [], [], [], [], set()
    for s in result.steps:
        if s.finding != f.name:
            continue
        for ln in s.evidence.lines:
            seg = geo.study_to_display(np.array([ln.start_voxel, ln.end_voxel], dtype=float))
            lines.append(seg)
            texts.append(f"{short_name(ln.name)} {format_number(ln.length_mm)} mm")
            owners.append(s.id)
            line_names.add(ln.name)
        points += [geo.study_to_display(np.asarray(p, dtype=float)) for p in s.evidence.points_voxel]
    key = key_measurement(f)
    # the measured line already says it: one label each, no repeats
    headline = "" if key is None or key.name in line_names else key_measurement_text(f)
    text = f.name + (f" · {headline}" if headline else "")
    if f.status != FindingStatus.PRESENT:
        text += f" ({FINDING_STATUS_WORDS[status].lower()})"
    centre = None
    if f.centroid_voxel is not None:
        centre = geo.study_to_display(np.asarray(f.centroid_voxel, dtype=float))
        points.insert(0, centre)
    elif rects:
        centre = np.mean(np.concatenate(rects), axis=0)
    return FindingOverlay(f.name, status, finding_color(f, index), value, f.mask_id, labels, rects, wire,
                          text, tuple(lines), tuple(texts), tuple(owners), tuple(points), centre,
                          _below_box(rects, lines))


def _below_box(rects: tuple[np.ndarray, ...], lines: list[np.ndarray]) -> tuple[float, ...]:
    """Shift (display index) that puts the lines' label, anchored under its first line,
    just under the box instead: otherwise it is drawn across the box and the finding."""
    if not rects or not lines:
        return ()
    shift = np.zeros(lines[0].shape[1])
    bottom = max(float(r[:, -2].max()) for r in rects)
    shift[-2] = max(0.0, bottom - float(lines[0][:, -2].max())) + 0.5
    return tuple(float(v) for v in shift)


def box_rectangles(box, geo: DisplayGeometry) -> tuple[np.ndarray, ...]:
    """A study Box -> rectangles around its voxels in the displayed plane (axes -2, -1).

    A volume's box becomes one rectangle on every display slice it spans, so it is seen
    wherever the finding is; edges sit on voxel borders (index +- 0.5).
    """
    lo, hi = geo.box_corners_display(box)
    y0, x0, y1, x1 = lo[-2] - 0.5, lo[-1] - 0.5, hi[-2] + 0.5, hi[-1] + 0.5
    corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])
    if geo.ndim == 2:
        return (corners,)
    out = []
    for k in range(int(round(lo[0])), int(round(hi[0])) + 1):
        out.append(np.column_stack([np.full(4, float(k)), corners]))
    return tuple(out)


def box_wireframe(rects: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """A 3D box for 3D views: its first and last slice rectangles and the 4 edges between
    (a rectangle on every slice would render as solid walls hiding the mask)."""
    first, last = rects[0], rects[-1]
    first, last = first.copy(), last.copy()
    first[:, 0] -= 0.5  # outer faces of the end slices
    last[:, 0] += 0.5
    edges = tuple(np.array([first[i], last[i]]) for i in range(4))
    return (first, last) + edges


def rectangles_to_box(rects: list[np.ndarray], geo: DisplayGeometry, *,
                      plane: tuple[int, int] = (-2, -1), slice_range: tuple[int, int] | None = None):
    """Rectangles drawn/edited in napari (display indices) -> a study Box (inclusive).

    ``plane`` are the display axes the rectangles were drawn in (their edges sit on
    voxel borders, so they are moved half a voxel inwards); ``slice_range`` (volumes:
    display axis 0) extends the box over those slices, so an edited 3D box keeps its
    slice extent while a freshly drawn one has a single slice.
    """
    pts = np.concatenate([np.atleast_2d(np.asarray(r, dtype=float)) for r in rects])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ax = list(plane)
    lo[ax], hi[ax] = lo[ax] + 0.5, hi[ax] - 0.5
    hi = np.maximum(hi, lo)
    if geo.ndim == 3 and slice_range is not None:
        lo[0], hi[0] = min(lo[0], slice_range[0]), max(hi[0], slice_range[1])
    return geo.box_from_display(np.vstack([lo, hi]))


def step_centre(result: Result, step: Step, geo: DisplayGeometry) -> np.ndarray | None:
    """Where a step's evidence is (display index): its lines, box, points or finding."""
    ev = step.evidence
    if ev.lines:
        ln = ev.lines[0]
        return geo.study_to_display((np.asarray(ln.start_voxel, float) + np.asarray(ln.end_voxel, float)) / 2)
    if ev.boxes:
        b = ev.boxes[0]
        return geo.study_to_display((np.asarray(b.min_voxel, float) + np.asarray(b.max_voxel, float)) / 2)
    if ev.points_voxel:
        return geo.study_to_display(np.asarray(ev.points_voxel[0], float))
    f = next((x for x in result.findings if x.name == step.finding), None)
    if f is not None and f.centroid_voxel is not None:
        return geo.study_to_display(np.asarray(f.centroid_voxel, float))
    return None
