"""Window/level in the dock: the preset picker, and the preset a finding calls for.

UI thread only. When a grounding concerns the lungs the image switches to the lung window
(abdominal organs: soft tissue; MR brain: a brain window taken from the tissue), unless the
clinician chose a window for that image themselves (the picker or napari's contrast
slider): a manual choice is kept for the rest of the session.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .contrast import preset_limits, window_for_result, window_words


class WindowHandlers:
    """Mixed into :class:`~napari_medground.viewer.widget.GroundingWidget`."""

    _setting_window = False

    def _hook_window(self, lyr: Any) -> None:
        """Notice manual contrast changes of a study layer (once per layer)."""
        key = id(lyr)
        if key in self._window_hooked:
            return
        self._window_hooked.add(key)
        lyr.events.contrast_limits.connect(self._contrast_changed)  # napari holds it weakly

    def _contrast_changed(self, event: Any = None) -> None:
        source = getattr(event, "source", None)
        if not self._setting_window and source is not None:
            self._window_user.add(id(source))

    def _set_limits(self, lyr: Any, lo: float, hi: float) -> None:
        self._setting_window = True
        try:
            rlo, rhi = lyr.contrast_limits_range
            lyr.contrast_limits_range = (min(rlo, lo), max(rhi, hi))
            lyr.contrast_limits = (lo, hi)
        finally:
            self._setting_window = False

    def _apply_window(self, preset: str) -> None:
        """The picker: a manual choice, kept from now on."""
        lyr, s = self.current_layer(), self.session()
        if lyr is None or s is None or s.study.modality != "CT":
            return
        self._set_limits(lyr, *preset_limits(s.study, preset))
        self._window_user.add(id(lyr))

    def _show_window_choice(self, lyr: Any, preset: str) -> None:
        combo = self.ui.window
        if combo.findText(preset) >= 0 and combo.currentText() != preset:
            combo.blockSignals(True)
            combo.setCurrentText(preset)
            combo.blockSignals(False)

    def auto_window(self, lyr: Any, study: Any, result: Any) -> str:
        """Switch ``lyr`` to the window ``result`` calls for; returns the words for the
        status line ("" when nothing changed or the clinician chose the window)."""
        if lyr is None or result is None or id(lyr) in self._window_user:
            return ""
        preset = window_for_result(result)
        if preset is None:
            return ""
        lo, hi = preset_limits(study, preset)
        if study.modality == "CT" and lyr is self.current_layer():
            self._show_window_choice(lyr, preset)
        if np.allclose(lyr.contrast_limits, (lo, hi)):
            return ""
        self._set_limits(lyr, lo, hi)
        return window_words(study, preset)
