"""The reasoning panel: findings at a glance, then numbered steps to accept, edit or reject.

Pure view: it shows a Result and emits signals (step id + what the clinician asked);
the widget runs the edits in a worker and calls :meth:`ReasoningPanel.show_result`
again. Keys while the panel has focus: A accept, R reject, E edit, N / Down next step,
P / Up previous step, Enter on a step: jump to its evidence.
"""
from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..result import Result, Step, StepKind, StepStatus
from .overlays import (
    FINDING_STATUS_COLORS,
    FINDING_STATUS_WORDS,
    STEP_STATUS_COLORS,
    finding_color,
    format_number,
    key_measurement_text,
    short_name,
    unit_text,
)
from .plot import CriterionPlot, plot_model

KEYS_HELP = ("Keys (click a step first): A accept · R reject · E edit · N/↓ next step · "
             "P/↑ previous step · Enter jump to the evidence")
_SHOWN_NUMBERS = 8
_DETAIL_ONLY = {"std", "p05", "p50", "p95"}  # kept in result.json and the export, not on the card
REVIEW_NOTE = ("Recovered session: steps after an edit are marked stale, not re-run. "
               "Run the finding again to recompute them.")
_EDIT_TIPS = {"paint": "paint/erase the mask in its Labels layer, then Done",
              "box": "move/resize the box in its Shapes layer, then Done",
              "number": "type corrected numbers, then Done"}


def edit_kind(step: Step, result: Result) -> str | None:
    """How a step is edited: "paint" (its mask), "box", "number", or None."""
    ev = step.evidence
    if step.kind == StepKind.SEGMENT and any(m in result.masks for m in ev.mask_ids):
        return "paint"
    if step.kind == StepKind.LOCATE and ev.boxes:
        return "box"
    if step.kind == StepKind.MEASURE and ev.measurements:
        return "number"
    return None


def _agreement_text(agreement: dict[str, Any], result: Result) -> str:
    """"edited: Dice 0.86 to the AI mask, +12 mL" (mm² on a radiograph)."""
    from ..evaluate.agreement import agreement_line

    study = result.study
    return agreement_line(agreement, unit="mm2" if study is not None and study.is_2d else "mL")


def _chip(text: str, color: str) -> QLabel:
    lab = QLabel(text)
    lab.setStyleSheet(f"background:{color}; color:black; border-radius:3px; padding:0px 4px; "
                      "font-weight:bold;")
    lab.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)
    return lab


def _wrap(text: str, style: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
    if style:
        lab.setStyleSheet(style)
    return lab


class StepCard(QFrame):
    """One numbered step: title, detail, numbers, criterion (+ plot), status, buttons."""

    def __init__(self, panel: "ReasoningPanel", number: int, step: Step, result: Result) -> None:
        super().__init__()
        self.panel, self.step, self.result = panel, step, result
        self.kind = edit_kind(step, result)
        self.review_only = not panel.live and self.kind in ("box", "number")
        if self.review_only:  # a recovered result cannot re-segment in a box or re-measure
            self.kind = None
        self.spins: dict[str, QDoubleSpinBox] = {}
        self.setFrameShape(QFrame.StyledPanel)
        self.setObjectName("stepCard")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(2)
        lay.addLayout(self._header(number))
        if step.detail and not (step.kind == StepKind.MEASURE and step.evidence.measurements):
            lay.addWidget(_wrap(step.detail))
        numbers = self._numbers_text()
        if numbers:
            tone = "#dee2e6" if step.kind == StepKind.MEASURE else "#ced4da"
            lay.addWidget(_wrap(numbers, f"color:{tone};"))
        agreement = step.evidence.extra.get("agreement") if step.status == StepStatus.EDITED else None
        if agreement:
            self.agreement_label = _wrap(_agreement_text(agreement, result), "color:#74c0fc;")
            self.agreement_label.setToolTip("the clinician's mask compared with the AI's mask on the study grid")
            lay.addWidget(self.agreement_label)
        self._add_criterion(lay)
        if step.stale:
            lay.addWidget(_wrap("stale: an input changed; not re-run", "color:#f0a000;"))
        self.edit_box = QWidget()
        self.edit_box.setVisible(False)
        lay.addWidget(self.edit_box)
        lay.addLayout(self._buttons())
        self.set_current(False)

    # ------------------------------------------------------------------ parts
    def _header(self, number: int) -> QHBoxLayout:
        s = self.step
        row = QHBoxLayout()
        prefix = f"{number}. "
        if len(self.result.findings) > 1 and s.finding:
            prefix += f"[{s.finding}] "
        title = QLabel(f"<b>{prefix}{s.title}</b>")
        title.setWordWrap(True)
        row.addWidget(title, 1)
        row.addWidget(_chip(s.status.value, STEP_STATUS_COLORS[s.status.value]))
        conf = "–" if s.confidence is None else f"{float(s.confidence):.2f}"
        c = QLabel(f"conf {conf}")
        c.setToolTip("confidence of this step (0..1)")
        row.addWidget(c)
        return row

    def _numbers_text(self) -> str:
        ms = self.step.evidence.measurements
        if not ms or self.step.kind == StepKind.COMPARE:
            return ""
        shown = [m for m in ms if m.name not in _DETAIL_ONLY][:_SHOWN_NUMBERS]
        parts = [f"{short_name(m.name)} {format_number(m.value)} {unit_text(m.unit)}".strip() for m in shown]
        lines = [f"{short_name(ln.name)} {format_number(ln.length_mm)} mm" for ln in self.step.evidence.lines]
        return " · ".join(parts + lines)

    def _add_criterion(self, lay: QVBoxLayout) -> None:
        c = self.step.evidence.criterion
        if c is None:
            return
        if c.comparison in (">", ">=", "<", "<=") and c.threshold is not None:
            rule = f"{c.comparison} {c.threshold:g} {unit_text(c.unit)}"
        elif c.comparison == "range" and c.normal_range:
            rule = f"normal {c.normal_range[0]:g}–{c.normal_range[1]:g} {unit_text(c.unit)}"
        else:
            rule = "bands"
        source = c.short_source or c.source
        lay.addWidget(_wrap(f"Criterion: {c.name} ({rule.strip()}) — source: {source}", "color:#a5d8ff;"))
        caution = c.caution or ("" if c.confirmed else "Threshold not confirmed in a primary source.")
        if caution:
            lay.addWidget(_wrap(f"⚠ {caution}", "color:#f0a000;"))
        ms = self.step.evidence.measurements
        model = plot_model(c, ms[0].value) if ms else None
        if model is not None:
            lay.addWidget(CriterionPlot(model))

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        sid = self.step.id
        self.accept_btn = QPushButton("Accept")
        self.accept_btn.clicked.connect(lambda: self.panel.accept_requested.emit(sid))
        self.edit_btn = QPushButton("Edit")
        self.edit_btn.setEnabled(self.kind is not None)
        tip = "recovered session: run the finding again to edit this step" if self.review_only else "nothing to edit"
        self.edit_btn.setToolTip(_EDIT_TIPS.get(self.kind or "", tip))
        self.edit_btn.clicked.connect(self.start_edit)
        self.reject_btn = QPushButton("Reject")
        self.reject_btn.clicked.connect(lambda: self.panel.reject_requested.emit(sid))
        self.done_btn = QPushButton("Done")
        self.done_btn.setVisible(False)
        self.done_btn.clicked.connect(self.finish_edit)
        self.cancel_btn = QPushButton("Cancel edit")
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(self.cancel_edit)
        for b in (self.accept_btn, self.edit_btn, self.reject_btn, self.done_btn, self.cancel_btn):
            row.addWidget(b)
        self.accept_btn.setEnabled(self.step.status != StepStatus.ACCEPTED)
        self.reject_btn.setEnabled(self.step.status != StepStatus.REJECTED)
        return row

    # ------------------------------------------------------------------ edit mode
    def start_edit(self) -> None:
        if self.kind is None:
            return
        if self.kind == "number":
            self._build_spins()
        if self.kind == "paint":  # the agreement with the AI mask needs MONAI: import it while they paint
            from ..evaluate.metrics import warm_up

            warm_up()
        self.edit_box.setVisible(self.kind == "number")
        for b in (self.accept_btn, self.edit_btn, self.reject_btn):
            b.setVisible(False)
        self.done_btn.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.panel.editing = self.step.id
        self.panel.edit_started.emit(self.step.id, self.kind)

    def _build_spins(self) -> None:
        if self.spins:
            return
        form = QFormLayout(self.edit_box)
        for m in self.step.evidence.measurements[:_SHOWN_NUMBERS]:
            spin = QDoubleSpinBox()
            spin.setDecimals(3)
            spin.setRange(-1e9, 1e9)
            spin.setValue(float(m.value))
            spin.setSuffix(f" {unit_text(m.unit)}" if unit_text(m.unit) else "")
            form.addRow(short_name(m.name), spin)
            self.spins[m.name] = spin

    def edited_numbers(self) -> dict[str, float]:
        """Numbers the clinician changed (name -> value)."""
        old = {m.name: float(m.value) for m in self.step.evidence.measurements}
        return {k: s.value() for k, s in self.spins.items() if abs(s.value() - old.get(k, s.value())) > 1e-9}

    def finish_edit(self) -> None:
        self.panel.editing = None
        payload = self.edited_numbers() if self.kind == "number" else {}
        self.panel.edit_done.emit(self.step.id, self.kind or "", payload)

    def cancel_edit(self) -> None:
        self.panel.editing = None
        self.panel.edit_cancelled.emit(self.step.id)
        self.panel.refresh()

    def set_current(self, current: bool) -> None:
        border = "#4dabf7" if current else "#495057"
        self.setStyleSheet(f"QFrame#stepCard {{ border: 1px solid {border}; border-radius: 4px; }}")

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.panel.set_current(self.step.id, jump=True)
        super().mousePressEvent(event)


class ReasoningPanel(QWidget):
    """Findings summary + step cards. Signals carry step ids (and edit payloads)."""

    accept_requested = Signal(str)
    reject_requested = Signal(str)
    edit_started = Signal(str, str)  # step id, kind
    edit_done = Signal(str, str, dict)  # step id, kind, numbers
    edit_cancelled = Signal(str)
    step_selected = Signal(str)  # jump to its evidence
    finding_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Result | None = None
        self.live = True  # False: a recovered result (no step functions to re-run)
        self.cards: list[StepCard] = []
        self.current: str | None = None
        self.editing: str | None = None
        self.setFocusPolicy(Qt.StrongFocus)
        self.setToolTip(KEYS_HELP)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.summary = QWidget()
        self.summary_layout = QVBoxLayout(self.summary)
        self.summary_layout.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.summary)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFocusPolicy(Qt.NoFocus)
        outer.addWidget(self.scroll, 1)
        self.set_busy(False)
        self.show_result(None)

    # ------------------------------------------------------------------ content
    def show_result(self, result: Result | None, *, live: bool | None = None) -> None:
        """(Re)build the summary and the cards; keeps the current step when it still exists.
        ``live=False``: a recovered result, whose box and number edits are not offered."""
        self.result = result
        if live is not None:
            self.live = live
        self.editing = None
        self._clear(self.summary_layout)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(2, 2, 2, 2)
        self.cards = []
        if result is None:
            lay.addWidget(_wrap("Type a finding and press Enter (or Run). The steps of the answer "
                                "appear here, each to accept, edit or reject.", "color:#adb5bd;"))
        else:
            for i, f in enumerate(result.findings):
                self.summary_layout.addWidget(self._finding_row(f, i))
            if not self.live:
                self.summary_layout.addWidget(_wrap(REVIEW_NOTE, "color:#f0a000;"))
            for n, s in enumerate(result.steps, start=1):
                card = StepCard(self, n, s, result)
                self.cards.append(card)
                lay.addWidget(card)
        lay.addStretch(1)
        self.scroll.setWidget(body)
        if self.current not in {c.step.id for c in self.cards}:
            self.current = None
        if self.current:
            self.set_current(self.current, jump=False, focus=False)
        self._apply_busy()

    def refresh(self) -> None:
        self.show_result(self.result)

    def _finding_row(self, f: Any, index: int) -> QWidget:
        row = QFrame()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(2, 1, 2, 1)
        r, g, b = (int(255 * c) for c in finding_color(f, index))
        swatch = QLabel("  ")
        swatch.setStyleSheet(f"background: rgb({r},{g},{b}); border-radius: 2px;")
        swatch.setFixedWidth(14)
        lay.addWidget(swatch)
        name = QPushButton(f.name)
        name.setFlat(True)
        name.setToolTip("jump to this finding")
        name.clicked.connect(lambda _=False, n=f.name: self.finding_selected.emit(n))
        lay.addWidget(name)
        status = f.status.value
        lay.addWidget(_chip(FINDING_STATUS_WORDS[status], FINDING_STATUS_COLORS[status]))
        conf = "" if f.confidence is None else f"conf {float(f.confidence):.2f}"
        lay.addWidget(QLabel(conf))
        lay.addWidget(QLabel(key_measurement_text(f)), 1)
        return row

    @staticmethod
    def _clear(layout) -> None:
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()

    # ------------------------------------------------------------------ current step / keys
    def card(self, step_id: str) -> StepCard | None:
        return next((c for c in self.cards if c.step.id == step_id), None)

    def set_current(self, step_id: str | None, *, jump: bool = True, focus: bool = True) -> None:
        self.current = step_id
        for c in self.cards:
            c.set_current(c.step.id == step_id)
        card = self.card(step_id) if step_id else None
        if card is not None:
            self.scroll.ensureWidgetVisible(card)
            if focus:
                self.setFocus()
            if jump:
                self.step_selected.emit(step_id)

    def move(self, delta: int) -> None:
        if not self.cards:
            return
        ids = [c.step.id for c in self.cards]
        i = ids.index(self.current) + delta if self.current in ids else 0
        self.set_current(ids[max(0, min(len(ids) - 1, i))], jump=True)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        key = event.key()
        card = self.card(self.current) if self.current else None
        if key in (Qt.Key_N, Qt.Key_Down, Qt.Key_J):
            self.move(1)
        elif key in (Qt.Key_P, Qt.Key_Up, Qt.Key_K):
            self.move(-1)
        elif card is not None and not self.busy and key == Qt.Key_A and card.accept_btn.isEnabled():
            self.accept_requested.emit(card.step.id)
        elif card is not None and not self.busy and key == Qt.Key_R and card.reject_btn.isEnabled():
            self.reject_requested.emit(card.step.id)
        elif card is not None and not self.busy and key == Qt.Key_E:
            card.start_edit()
        elif card is not None and key in (Qt.Key_Return, Qt.Key_Enter):
            self.step_selected.emit(card.step.id)
        else:
            super().keyPressEvent(event)

    # ------------------------------------------------------------------ busy
    def set_busy(self, busy: bool) -> None:
        """Disable the step buttons while a job runs (one edit at a time)."""
        self.busy = busy
        self._apply_busy()

    def _apply_busy(self) -> None:
        for c in getattr(self, "cards", []):
            c.setEnabled(not self.busy)
