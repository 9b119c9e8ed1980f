"""The dock widget's layout (controls only; no behaviour): finding box with history,
study and device pickers, run/cancel/box prompt, progress, reasoning panel, conclusion,
undo/redo/accept all, export."""
from __future__ import annotations

from types import SimpleNamespace

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .contrast import CT_PRESETS
from .panel import KEYS_HELP, ReasoningPanel

EXPORT_FORMATS = (("nifti", "NIfTI", True), ("seg", "DICOM SEG", False), ("sr", "DICOM SR", False),
                  ("csv", "CSV", True))
EXAMPLES = "e.g. 'right lung', 'liver', 'nodule in the right upper lobe', 'cardiomegaly'"
WIDGET_HELP = (
    "Ground a typed finding on the selected study.\n"
    "Enter runs; Up/Down recall earlier findings.\n"
    "Box prompt: draw a rectangle on a slice -> LiteMedSAM segments it (propagated in 3D).\n"
    "Steps: Accept / Edit (paint the mask, move the box, or type a number, then Done) / Reject.\n"
    + KEYS_HELP
)


class HistoryLineEdit(QLineEdit):
    """A line edit that recalls earlier entries with Up/Down."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: list[str] = []
        self._pos = 0
        self.returnPressed.connect(self._submit)

    def remember(self, text: str) -> None:
        text = text.strip()
        if text:
            if text in self.history:
                self.history.remove(text)
            self.history.append(text)
            del self.history[:-50]
        self._pos = len(self.history)

    def _submit(self) -> None:
        self.submitted.emit(self.text().strip())

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key_Up, Qt.Key_Down) and self.history:
            step = -1 if event.key() == Qt.Key_Up else 1
            self._pos = max(0, min(len(self.history), self._pos + step))
            self.setText(self.history[self._pos] if self._pos < len(self.history) else "")
            return
        super().keyPressEvent(event)


def build_gui(root: QWidget) -> SimpleNamespace:
    """Create the controls on ``root``; returns them by name."""
    ui = SimpleNamespace()
    lay = QVBoxLayout(root)
    lay.setContentsMargins(4, 4, 4, 4)
    _study_and_device(ui, lay)
    _recovery_banner(ui, lay)
    _finding_and_run(ui, lay)
    ui.panel = ReasoningPanel()
    lay.addWidget(ui.panel, 1)
    _conclusion_and_export(ui, lay)
    root.setToolTip(WIDGET_HELP)
    return ui


def _study_and_device(ui: SimpleNamespace, lay: QVBoxLayout) -> None:
    grid = QGridLayout()
    ui.study = QComboBox()
    ui.study.setToolTip("the image layer the finding is grounded on")
    ui.device = QComboBox()
    ui.device.addItems(["auto", "cpu", "cuda"])
    ui.device.setToolTip("compute device for the models (auto: CUDA when available)")
    ui.window = QComboBox()
    ui.window.addItems(list(CT_PRESETS))
    ui.window.setToolTip("CT window presets (level/width in HU)")
    grid.addWidget(QLabel("Study"), 0, 0)
    grid.addWidget(ui.study, 0, 1, 1, 3)
    grid.addWidget(QLabel("Device"), 1, 0)
    grid.addWidget(ui.device, 1, 1)
    ui.window_label = QLabel("Window")
    grid.addWidget(ui.window_label, 1, 2)
    grid.addWidget(ui.window, 1, 3)
    lay.addLayout(grid)
    ui.device_note = QLabel("")
    ui.device_note.setWordWrap(True)
    lay.addWidget(ui.device_note)


def _recovery_banner(ui: SimpleNamespace, lay: QVBoxLayout) -> None:
    """A non-modal banner offering the unsaved edits of an earlier session (hidden until then)."""
    ui.banner = QFrame()
    ui.banner.setObjectName("recoveryBanner")
    ui.banner.setStyleSheet("#recoveryBanner {background:#5c3c00; border:1px solid #f0a000; "
                            "border-radius:4px;} QLabel {color:#fff3bf;}")
    row = QHBoxLayout(ui.banner)
    row.setContentsMargins(6, 4, 6, 4)
    ui.banner_text = QLabel("")
    ui.banner_text.setWordWrap(True)
    row.addWidget(ui.banner_text, 1)
    ui.recover = QPushButton("Recover")
    ui.recover.setToolTip("show the findings and edits saved before the viewer closed unexpectedly")
    ui.discard = QPushButton("Discard")
    ui.discard.setToolTip("set them aside (kept in the session folder's previous/, not offered again)")
    row.addWidget(ui.recover)
    row.addWidget(ui.discard)
    ui.banner.setVisible(False)
    lay.addWidget(ui.banner)


def _finding_and_run(ui: SimpleNamespace, lay: QVBoxLayout) -> None:
    ui.text = HistoryLineEdit()
    ui.text.setPlaceholderText(EXAMPLES)
    ui.text.setToolTip(WIDGET_HELP)
    lay.addWidget(ui.text)
    row = QHBoxLayout()
    ui.run = QPushButton("Run")
    ui.run.setToolTip("ground the finding (Enter)")
    ui.cancel = QPushButton("Cancel")
    ui.cancel.setEnabled(False)
    ui.box = QPushButton("Box prompt")
    ui.box.setCheckable(True)
    ui.box.setToolTip("draw a rectangle on a slice: LiteMedSAM segments what is inside (3D: propagated)")
    for b in (ui.run, ui.cancel, ui.box):
        row.addWidget(b)
    lay.addLayout(row)
    row = QHBoxLayout()
    ui.point = QPushButton("Point prompt")
    ui.point.setCheckable(True)
    ui.point.setToolTip("click on a slice: a positive point adds what LiteMedSAM finds there to the "
                        "finding's mask (or starts one), a negative point removes the part it is on")
    ui.scribble = QPushButton("Scribble")
    ui.scribble.setCheckable(True)
    ui.scribble.setToolTip("draw a path (or a lasso with the polygon tools) on a slice: positive adds it "
                           "and what LiteMedSAM finds around it, negative erases under / inside it")
    ui.negative = QCheckBox("negative (N)")
    ui.negative.setToolTip("points and scribbles remove instead of add (N toggles on the prompt layers)")
    for b in (ui.point, ui.scribble, ui.negative):
        row.addWidget(b)
    lay.addLayout(row)
    ui.progress = QProgressBar()
    ui.progress.setRange(0, 1000)
    ui.progress.setTextVisible(False)
    ui.progress.setMaximumHeight(8)
    lay.addWidget(ui.progress)
    ui.status = QLabel("Ready.")
    ui.status.setWordWrap(True)
    ui.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
    lay.addWidget(ui.status)


def _conclusion_and_export(ui: SimpleNamespace, lay: QVBoxLayout) -> None:
    lay.addWidget(QLabel("Conclusion (editable)"))
    ui.conclusion = QPlainTextEdit()
    ui.conclusion.setMaximumHeight(64)
    lay.addWidget(ui.conclusion)
    row = QHBoxLayout()
    ui.save_conclusion = QPushButton("Save conclusion")
    ui.accept_all = QPushButton("Accept all")
    ui.undo = QPushButton("Undo")
    ui.redo = QPushButton("Redo")
    for b in (ui.save_conclusion, ui.accept_all, ui.undo, ui.redo):
        row.addWidget(b)
    lay.addLayout(row)
    row = QHBoxLayout()
    ui.formats = {}
    for key, label, on in EXPORT_FORMATS:
        cb = QCheckBox(label)
        cb.setChecked(on)
        ui.formats[key] = cb
        row.addWidget(cb)
    lay.addLayout(row)
    row = QHBoxLayout()  # the overwrite switch beside the button it changes (the formats row is full)
    ui.export = QPushButton("Export…")
    ui.export.setToolTip("write result.json, labels.nii.gz and the checked formats into a folder")
    row.addWidget(ui.export, 1)
    ui.overwrite = QCheckBox("overwrite")
    ui.overwrite.setToolTip("replace existing files (the old ones are kept as .bak)")
    row.addWidget(ui.overwrite)
    lay.addLayout(row)
    ui.models = QLabel("")
    ui.models.setWordWrap(True)
    ui.models.setStyleSheet("color:#adb5bd;")
    lay.addWidget(ui.models)
