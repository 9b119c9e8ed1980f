"""The dock widget's edit, box-prompt and export handlers (UI thread; the work itself
runs in workers started through ``GroundingWidget._start``)."""
from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

from .overlays import build_overlays, rectangles_to_box


class EditHandlers:
    """Mixed into :class:`~napari_medground.viewer.widget.GroundingWidget`."""

    def _edit_started(self, step_id: str, kind: str) -> None:
        s, ctl = self.session(), self.controller()
        if s is None or ctl is None or s.result is None:
            return
        self._editing = (step_id, kind)
        finding = s.result.step(step_id).finding
        if kind == "paint":
            ctl.start_paint(finding)
            self._status(f"Paint or erase '{finding}' in its Labels layer, then press Done.")
        elif kind == "box":
            ctl.start_box_edit(finding)
            self._status(f"Move or resize the box of '{finding}' (select it in '{finding} box'), then Done.")
        else:
            self._status("Type the corrected numbers, then Done.")

    def _edit_done(self, step_id: str, kind: str, numbers: dict) -> None:
        s, ctl = self.session(), self.controller()
        self._editing = None
        if s is None or ctl is None or s.result is None:
            return
        step = s.result.step(step_id)
        f = next((x for x in s.result.findings if x.name == step.finding), None)
        ctl.stop_edit(step.finding)
        if kind == "paint" and f is not None:
            data = np.array(ctl.layer("mask", f.name).data, copy=True)  # the brush may go on painting
            self._start("edit mask", s.edit_mask_from_display, f.mask_id, data,
                        on_done=lambda out: self._edit_done_view(s, out))
        elif kind == "box":
            rects = ctl.edited_rectangles(step.finding)
            if not rects:
                self._status("The box was not changed.")
                self.ui.panel.refresh()
                return
            old = step.evidence.boxes[0] if step.evidence.boxes else (f.box if f else None)
            rng = None
            if old is not None and s.geometry.ndim == 3:
                lo, hi = s.geometry.box_corners_display(old)
                rng = (int(round(lo[0])), int(round(hi[0])))
            box = rectangles_to_box(rects, s.geometry, slice_range=rng)
            self._edit("edit_box", step_id, box)
        elif kind == "number":
            if not numbers:
                self.ui.panel.refresh()
                return
            self._start("edit numbers", s.edit_numbers, step_id, numbers,
                        on_done=lambda out: self._edit_done_view(s, out))

    def _edit_cancelled(self, step_id: str) -> None:
        s, ctl = self.session(), self.controller()
        self._editing = None
        if s is not None and ctl is not None and s.result is not None:
            ctl.stop_edit(s.result.step(step_id).finding)
            ctl.show(build_overlays(s.result, s.geometry), s.result)  # puts back what was painted/moved
            self._status("Edit cancelled.")

    # ------------------------------------------------------------------ box prompts
    def _toggle_box_prompt(self, on: bool) -> None:
        ctl = self.controller()
        if ctl is None:
            self.ui.box.setChecked(False)
            return
        if on:
            self.warm_box_model()
            self.prefetcher.start()
            lyr = ctl.prompt_layer()
            if not getattr(lyr, "_medground_connected", False):
                lyr.events.data.connect(self._prompt_drawn)
                lyr._medground_connected = True
            self._status("Draw a rectangle on this slice around what to segment.")
        else:
            lyr = ctl.prompt_layer(create=False)
            if lyr is not None:
                lyr.mode = "pan_zoom"
            if not self._prompting():
                self.prefetcher.stop()

    def _prompt_drawn(self, event: Any) -> None:
        if str(getattr(event, "action", "added")) != "added":
            return
        s, ctl = self.session(), self.controller()
        lyr = ctl.prompt_layer(create=False) if ctl else None
        if s is None or lyr is None or not len(lyr.data):
            return
        plane = tuple(self.viewer.dims.displayed) if s.geometry.ndim == 3 else (0, 1)
        box = rectangles_to_box([lyr.data[-1]], s.geometry, plane=plane)
        self._status(f"Box {list(box.min_voxel)}-{list(box.max_voxel)} (study indices): segmenting…")

        def go() -> None:  # after napari has finished handling the drawing event
            self.ui.box.setChecked(False)
            if lyr in self.viewer.layers:
                self.viewer.layers.remove(lyr)
            self.run_finding(self.ui.text.text(), box=box)

        QTimer.singleShot(0, go)

    # ------------------------------------------------------------------ export
    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the findings into a folder")
        if folder:
            self.export_to(folder)

    def export_to(self, folder: str) -> None:
        """Write the current result into ``folder`` (worker): result.json, labels + formats."""
        s = self.session()
        if s is None or s.result is None:
            self._status("Nothing to export yet.", error=True)
            return
        formats = tuple(k for k, cb in self.ui.formats.items() if cb.isChecked())
        self._start("export", s.export, folder, formats, self.ui.overwrite.isChecked(),
                    on_done=lambda paths: self._status(
                        "Exported: " + ", ".join(sorted(str(getattr(p, "name", p)) for p in paths.values()))
                        + f" in {folder}"))
