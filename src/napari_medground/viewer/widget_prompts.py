"""The dock widget's point and scribble prompts (UI thread; the work runs in a worker).

*Point prompt* adds a napari Points layer "point prompts" (mode add); *Scribble* a Shapes
layer "scribble prompts" (paths; napari's polygon and lasso tools make closed lassos).
The *negative* box, or **N** on either layer, switches between adding (green) and
removing (red). Each point or finished scribble is one interaction on the mask of the
finding that was selected when the prompt was switched on (else the first finding with a
mask): applied through the Grounding's ``edit_mask``, so it is in the audit and Undo/Redo
step through interactions to any depth. A positive point with no finding yet starts one
(``ground(points=...)``) named by the typed text.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from .controller import NEGATIVE_COLOR, POSITIVE_COLOR
from .session_prompts import prompt_edit


class PromptHandlers:
    """Mixin of GroundingWidget (uses its ui, viewer, session(), controller(), _start)."""

    _prompt_target: str | None = None

    def _wire_prompts(self) -> None:
        ui = self.ui
        ui.point.toggled.connect(lambda on: self._toggle_prompt("point", on))
        ui.scribble.toggled.connect(lambda on: self._toggle_prompt("scribble", on))
        ui.negative.toggled.connect(self._sign_changed)
        self.viewer.dims.events.current_step.connect(self._slice_moved)

    def _prompting(self) -> bool:
        ui = self.ui
        return ui.box.isChecked() or ui.point.isChecked() or ui.scribble.isChecked()

    def _slice_moved(self, _event: Any = None) -> None:
        """While a prompt tool is on, encode around the slice now shown."""
        if not self.pool.closed and self._prompting():
            self.prefetcher.start()

    def _prompt_layer(self, kind: str, create: bool = True):
        ctl = self.controller()
        if ctl is None:
            return None
        return ctl.point_prompt_layer(create) if kind == "point" else ctl.scribble_prompt_layer(create)

    def _toggle_prompt(self, kind: str, on: bool) -> None:
        ui = self.ui
        button, other = (ui.point, ui.scribble) if kind == "point" else (ui.scribble, ui.point)
        if self.controller() is None:
            button.setChecked(False)
            return
        if not on:
            lyr = self._existing_prompt_layer(kind)
            if lyr is not None:
                lyr.mode = "pan_zoom"
            if not self._prompting():
                self.prefetcher.stop()
            return
        other.setChecked(False)
        ui.box.setChecked(False)
        self._prompt_target = self._target_finding()
        self.warm_box_model()
        self.prefetcher.start()
        lyr = self._prompt_layer(kind)
        if not getattr(lyr, "_medground_connected", False):
            lyr.events.data.connect(lambda event, k=kind: self._prompt_added(k, event))
            lyr.bind_key("n", lambda _layer: ui.negative.toggle(), overwrite=True)
            lyr._medground_connected = True
        self._sign_changed(ui.negative.isChecked())
        target = f"'{self._prompt_target}'" if self._prompt_target else "a new finding"
        self._status(f"{'Click' if kind == 'point' else 'Draw'} on this slice to change {target} "
                     f"({'negative: removes' if ui.negative.isChecked() else 'positive: adds'}; N switches).")

    def _target_finding(self) -> str | None:
        """The finding of the selected layer, else the first finding with a mask."""
        s = self.session()
        if s is None or s.result is None:
            return None
        active = self.viewer.layers.selection.active
        tag = (active.metadata.get("medground") or {}) if active is not None and isinstance(
            active.metadata, dict) else {}
        names = [f.name for f in s.result.findings if f.mask_id and f.mask_id in s.result.masks]
        return tag.get("finding") if tag.get("finding") in names else (names[0] if names else None)

    def _existing_prompt_layer(self, kind: str):
        """The prompt layer of ``kind`` if it exists (no selection or mode change)."""
        ctl = self.controller()
        return None if ctl is None else ctl.layer(f"{kind} prompt", None)

    def _sign_changed(self, negative: bool) -> None:
        color = NEGATIVE_COLOR if negative else POSITIVE_COLOR
        for kind in ("point", "scribble"):
            lyr = self._existing_prompt_layer(kind)
            if lyr is None:
                continue
            lyr.selected_data = set()  # napari recolours the selected (last added) prompt otherwise
            if kind == "point":
                lyr.current_face_color = color
            else:
                lyr.current_edge_color = color

    def _prompt_added(self, kind: str, event: Any) -> None:
        if str(getattr(event, "action", "added")) != "added":
            return
        s, lyr = self.session(), self._existing_prompt_layer(kind)
        if s is None or lyr is None or not len(lyr.data):
            return
        positive = not self.ui.negative.isChecked()
        if kind == "point":
            coords = np.rint(s.geometry.display_to_study(np.atleast_2d(lyr.data[-1]))[0]).astype(int)
            closed = False
        else:
            coords = s.geometry.display_to_study(np.asarray(lyr.data[-1], float))
            closed = str(lyr.shape_type[-1]) == "polygon"
        QTimer.singleShot(0, lambda: self._run_prompt(kind, coords, positive, closed))

    def _run_prompt(self, kind: str, coords: np.ndarray, positive: bool, closed: bool) -> None:
        s = self.session()
        if s is None:
            return
        target = (self._prompt_target or self._target_finding()) if s.result is not None else None
        self._prompt_target = target
        if target is None:
            if kind == "point" and positive:
                self.run_finding(self.ui.text.text(), points=(tuple(int(v) for v in coords),))
                return
            self._status("Nothing to remove from yet: ground a finding, draw a box or click a positive point.",
                         error=True)
            return
        where = [int(v) for v in coords] if kind == "point" else f"{len(coords)} vertices"
        self._status(f"{'Positive' if positive else 'Negative'} {kind} {where} on '{target}'…")
        self._start("prompt", prompt_edit, s, kind, coords, positive=positive, finding=target, closed=closed,
                    device=self.ui.device.currentText(), on_done=lambda out: self._edit_done_view(s, out))
