"""A small picture of a compare step: the measured value on a number line against the
criterion's threshold, normal range or bands (clinicians read a picture faster than a
table). :func:`plot_model` is pure (testable); :class:`CriterionPlot` paints it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

MEETS = "#e8590c"  # the finding's side of the criterion
NORMAL = "#2b8a3e"
NEUTRAL = "#adb5bd"


@dataclass(frozen=True)
class Segment:
    lo: float
    hi: float
    color: str
    label: str


@dataclass(frozen=True)
class PlotModel:
    """A number line from ``lo`` to ``hi`` with coloured segments, ticks and a marker."""

    lo: float
    hi: float
    segments: tuple[Segment, ...]
    ticks: tuple[float, ...]
    value: float
    unit: str
    caption: str


def plot_model(criterion: Any, value: float) -> PlotModel | None:
    """The number line for ``value`` (already in ``criterion.unit``), or None if undrawable."""
    if value is None or not math.isfinite(float(value)):
        return None
    value = float(value)
    c = criterion
    edges: list[float] = []
    segs: list[tuple[float | None, float | None, str, str]] = []
    if c.comparison in (">", ">=", "<", "<=") and c.threshold is not None:
        t = float(c.threshold)
        edges.append(t)
        above = c.comparison.startswith(">")
        segs += [(None, t, MEETS if not above else NORMAL, ""), (t, None, MEETS if above else NORMAL, "")]
        if c.normal_range:
            edges += [float(v) for v in c.normal_range]
    elif c.comparison == "range" and c.normal_range:
        a, b = (float(v) for v in c.normal_range)
        edges += [a, b]
        segs += [(None, a, MEETS, ""), (a, b, NORMAL, "normal"), (b, None, MEETS, "")]
    elif c.comparison == "bands" and c.bands:
        for band in c.bands:
            lo, hi = band.get("lower"), band.get("upper")
            edges += [float(v) for v in (lo, hi) if v is not None]
            meets = band.get("meets")
            color = MEETS if meets else NORMAL if meets is False else NEUTRAL
            segs.append((lo, hi, color, str(band.get("label", "")).split(":")[0]))
    else:
        return None
    lo, hi = _axis_range(edges + [value])
    segments = tuple(Segment(lo if a is None else float(a), hi if b is None else float(b), col, lab)
                     for a, b, col, lab in segs)
    caption = c.short_name or c.name
    return PlotModel(lo, hi, segments, tuple(sorted(set(edges))), value, c.unit, caption)


def _axis_range(values: list[float]) -> tuple[float, float]:
    """Enough room around the edges and the value that the picture shows where it lies
    (at least half the largest magnitude: 0.557 against 0.5 is not at the far edge)."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, 0.5 * max(abs(v) for v in values), 1e-9)
    mid = (lo + hi) / 2
    return mid - 0.65 * span, mid + 0.65 * span


class CriterionPlot(QWidget):
    """Paints a :class:`PlotModel`: coloured segments, edge ticks, the value as a marker."""

    def __init__(self, model: PlotModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setMinimumHeight(48)
        self.setMaximumHeight(48)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        unit = "" if model.unit in ("1", "") else f" {model.unit}"
        self.setToolTip(f"{model.caption}: {model.value:.3g}{unit} against the criterion "
                        "(orange: meets the finding's criterion, green: normal side)")

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        m = self.model
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        w = self.width()
        left, right, bar_y, bar_h = 8.0, w - 8.0, 20.0, 8.0

        def x_of(v: float) -> float:
            return left + (right - left) * (v - m.lo) / (m.hi - m.lo)

        font = QFont(p.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() - 2))
        p.setFont(font)
        for s in m.segments:
            a, b = x_of(max(s.lo, m.lo)), x_of(min(s.hi, m.hi))
            col = QColor(s.color)
            col.setAlpha(150)
            p.fillRect(QRectF(a, bar_y, max(1.0, b - a), bar_h), col)
        p.setPen(QPen(QColor("#dee2e6"), 1))
        for t in m.ticks:
            x = x_of(t)
            p.drawLine(QPointF(x, bar_y - 3), QPointF(x, bar_y + bar_h + 3))
            p.drawText(QRectF(x - 30, bar_y + bar_h + 4, 60, 14), Qt.AlignHCenter | Qt.AlignTop, f"{t:g}")
        x = x_of(m.value)
        p.setPen(QPen(QColor("white"), 2))
        p.setBrush(QColor("white"))
        p.drawPolygon(QPointF(x, bar_y + 2), QPointF(x - 5, bar_y - 6), QPointF(x + 5, bar_y - 6))
        unit = "" if m.unit in ("1", "") else f" {m.unit}"
        label = f"{m.value:.3g}{unit}"
        tx = min(max(x - 40, 0), w - 80)
        p.drawText(QRectF(tx, 0, 80, 13), Qt.AlignHCenter | Qt.AlignTop, label)
        p.end()
