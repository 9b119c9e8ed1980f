"""Layer control: overlay data -> napari layers, jumps, edit modes, the box-prompt layer.

UI thread only. Every overlay layer gets the image layer's transform (scale/translate or
affine), so masks, boxes, lines and points sit on the image in physical space, in 2D and
3D views. Layers are found again through ``layer.metadata["medground"]`` (role, finding,
session), so edits update them in place and a new grounding replaces them.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .contrast import napari_has_units, transform_kwargs
from .layers import DisplayGeometry
from .overlays import FindingOverlay, OverlaySet

log = logging.getLogger(__name__)

PROMPT_COLOR = "#ffd43b"
POSITIVE_COLOR = "#51cf66"  # point and scribble prompts that add
NEGATIVE_COLOR = "#ff6b6b"  # ... and that remove


def camera(viewer: Any):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def show_scale_bar(viewer: Any) -> None:
    """A scale bar in mm (world coordinates are millimetres)."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None) if canvas is not None else None
    bar = getattr(overlays, "scale_bar", None) if overlays is not None else None
    if bar is None:
        bar = viewer.scale_bar
    bar.visible = True
    if not napari_has_units() and hasattr(bar, "unit"):
        bar.unit = "mm"  # napari >= 0.6 takes the unit from the layers (units="mm")


def _rgba(color, alpha: float = 1.0) -> np.ndarray:
    return np.array([*(float(c) for c in color[:3]), alpha], dtype=float)


class LayerController:
    """Adds, updates and removes one session's overlay layers in a viewer."""

    def __init__(self, viewer: Any, session_key: str, geometry: DisplayGeometry, study: Any) -> None:
        self.viewer = viewer
        self.key = session_key
        self.geo = geometry
        self.study = study
        self.overlays = OverlaySet()
        self.result: Any = None
        viewer.dims.events.ndisplay.connect(self._on_ndisplay)

    def detach(self) -> None:
        """Stop following the viewer (the study was closed)."""
        try:
            self.viewer.dims.events.ndisplay.disconnect(self._on_ndisplay)
        except (TypeError, ValueError, RuntimeError):
            pass

    def _on_ndisplay(self, _event: Any = None) -> None:
        """Boxes are drawn per slice in 2D views and as a wireframe in 3D views."""
        if self.overlays.findings and self.own_layers():
            self.show(self.overlays, self.result, changed_masks=())

    # ------------------------------------------------------------------ lookup
    def _tag(self, role: str, finding: str | None = None) -> dict[str, Any]:
        return {"role": role, "finding": finding, "session": self.key}

    def layer(self, role: str, finding: str | None = None):
        for lyr in self.viewer.layers:
            tag = lyr.metadata.get("medground") if isinstance(lyr.metadata, dict) else None
            if tag and (tag.get("session"), tag.get("role"), tag.get("finding")) == (self.key, role, finding):
                return lyr
        return None

    def own_layers(self) -> list:
        out = []
        for lyr in self.viewer.layers:
            tag = lyr.metadata.get("medground") if isinstance(lyr.metadata, dict) else None
            if tag and tag.get("session") == self.key and not str(tag.get("role")).endswith("prompt"):
                out.append(lyr)
        return out

    def _common(self, role: str, finding: str | None, name: str, **extra: Any) -> dict[str, Any]:
        meta = {"medground": self._tag(role, finding), "study": self.study}
        meta.update(extra)
        return {"name": name, "metadata": meta, **transform_kwargs(self.study)}

    # ------------------------------------------------------------------ sync
    def show(self, overlays: OverlaySet, result: Any, changed_masks: tuple[str, ...] | None = None) -> None:
        """Make the viewer show these overlays (update in place, add new, drop gone)."""
        self.overlays, self.result = overlays, result
        active = self.viewer.layers.selection.active
        tag = dict(active.metadata.get("medground") or {}) if active is not None else {}
        keep = set()
        for item in overlays.findings:
            keep |= {id(x) for x in self._sync_finding(item, changed_masks)}
        for lyr in self.own_layers():
            if id(lyr) not in keep:
                self.viewer.layers.remove(lyr)
        # re-added layers take the selection: give it back to what the clinician had chosen
        again = self.layer(tag["role"], tag.get("finding")) if tag.get("session") == self.key else active
        if again is not None and again in self.viewer.layers:
            self.viewer.layers.selection.active = again

    def _sync_finding(self, item: FindingOverlay, changed: tuple[str, ...] | None) -> list:
        out = []
        if item.labels is not None:
            out.append(self._sync_labels(item, changed))
        if self.viewer.dims.ndisplay == 3 and item.box_wire:
            data = list(item.box_wire)
            types = ["rectangle"] * 2 + ["line"] * (len(data) - 2)
            texts = [item.box_text] + [""] * (len(data) - 1)
        else:
            data, types = list(item.box_rects), ["rectangle"] * len(item.box_rects)
            texts = [item.box_text] * len(data)
        out.append(self._sync_shapes(item, "box", f"{item.name} box", data, types, texts))
        if item.lines:
            # one label for all lines (on the first): per-line labels of crossing axes overlap
            texts = [" · ".join(item.line_texts)] + [""] * (len(item.lines) - 1)
            out.append(self._sync_shapes(item, "lines", f"{item.name} measurements", list(item.lines),
                                         ["line"] * len(item.lines), texts, shift=item.line_text_shift))
        if item.points:
            out.append(self._sync_points(item))
        return [x for x in out if x is not None]

    def _sync_labels(self, item: FindingOverlay, changed: tuple[str, ...] | None):
        from napari.utils.colormaps import DirectLabelColormap

        lyr = self.layer("mask", item.name)
        cmap = DirectLabelColormap(color_dict={None: (0, 0, 0, 0), 0: (0, 0, 0, 0),
                                               item.label_value: _rgba(item.color)})
        if lyr is None:
            kw = self._common("mask", item.name, item.name, mask_id=item.mask_id, result=self.result)
            lyr = self.viewer.add_labels(item.labels, colormap=cmap, opacity=0.45, **kw)
        else:
            lyr.metadata["result"] = self.result
            if changed is None or item.mask_id in changed:
                lyr.data = item.labels
            lyr.colormap = cmap
        lyr.selected_label = item.label_value
        return lyr

    def _sync_shapes(self, item: FindingOverlay, role: str, name: str, data: list, types: list, texts: list,
                     shift: tuple[float, ...] = ()):
        lyr = self.layer(role, item.name)
        if not data:
            return None
        tint = np.asarray(item.color)
        color = _rgba(tint if role == "box" else 0.5 + 0.5 * tint)  # measured lines: a lighter tint
        # text in the full finding colour: the lighter tint of the lines is unreadable on bright X-ray
        text = {"string": "{label}", "color": _rgba(tint), "size": 9 if role == "box" else 8,
                "anchor": "upper_left" if role == "box" else "lower_left"}
        if shift:
            text["translation"] = np.asarray(shift)
        width = 0.6 if role == "box" else 0.8
        if lyr is not None:  # in place: napari runs a full garbage collection per removed layer (~0.6 s)
            lyr.data = [(np.asarray(d, dtype=float), t) for d, t in zip(data, types)]
            lyr.features = {"label": list(texts)}
            lyr.edge_color, lyr.edge_width, lyr.face_color = color, width, "transparent"
            if shift:
                lyr.text.translation = np.asarray(shift)
        else:
            kw = self._common(role, item.name, name)
            lyr = self.viewer.add_shapes(data, shape_type=types, edge_color=color, face_color="transparent",
                                         edge_width=width, features={"label": texts}, text=text, opacity=1.0, **kw)
        lyr.metadata["original"] = [np.array(d) for d in data]
        return lyr

    def _sync_points(self, item: FindingOverlay):
        lyr = self.layer("points", item.name)
        if lyr is not None:  # in place, as for the shapes
            lyr.data = np.array(item.points)
            lyr.face_color = _rgba(item.color)
            return lyr
        kw = self._common("points", item.name, f"{item.name} centre")
        # a small cross: the mask and the box already show the extent; the centre must not hide it
        return self.viewer.add_points(np.array(item.points), size=1.5, face_color=_rgba(item.color),
                                      border_width=0, symbol="cross", **kw)

    # ------------------------------------------------------------------ navigation
    def jump_to(self, display_index: np.ndarray | None) -> None:
        """Move the sliders to a display index and centre the camera there."""
        if display_index is None:
            return
        world = self.geo.display_to_world(np.asarray(display_index, dtype=float))
        dims = self.viewer.dims
        if dims.ndim != len(world):
            return
        for axis in dims.not_displayed:
            dims.set_point(axis, float(world[axis]))
        camera(self.viewer).center = tuple(float(world[a]) for a in dims.displayed)

    def jump_to_finding(self, name: str) -> None:
        item = next((f for f in self.overlays.findings if f.name == name), None)
        if item is not None:
            self.jump_to(item.centre)
            lyr = self.layer("mask", name) or self.layer("box", name)
            if lyr is not None:
                self.viewer.layers.selection.active = lyr

    def select_step(self, step: Any) -> None:
        """Select the layer that shows a step's evidence and jump there."""
        finding = step.finding
        ev = step.evidence
        if ev.lines:
            lyr = self.layer("lines", finding)
        elif step.kind.value == "locate":
            lyr = self.layer("box", finding)
        elif ev.mask_ids or step.kind.value in ("segment", "measure"):
            lyr = self.layer("mask", finding)
        else:
            lyr = self.layer("mask", finding) or self.layer("box", finding)
        if lyr is not None:
            self.viewer.layers.selection.active = lyr
        centre = self.overlays.step_centres.get(step.id)
        if centre is None:
            item = next((f for f in self.overlays.findings if f.name == finding), None)
            centre = item.centre if item is not None else None
        self.jump_to(centre)

    # ------------------------------------------------------------------ edit modes
    def start_paint(self, finding: str) -> Any:
        lyr = self.layer("mask", finding)
        if lyr is not None:
            self.viewer.layers.selection.active = lyr
            lyr.visible = True
            lyr.mode = "paint"
        return lyr

    def start_box_edit(self, finding: str) -> Any:
        if self.viewer.dims.ndisplay != 2:
            self.viewer.dims.ndisplay = 2  # napari edits shapes in 2D views only
        lyr = self.layer("box", finding)
        if lyr is not None:
            self.viewer.layers.selection.active = lyr
            lyr.mode = "select"
        return lyr

    def stop_edit(self, finding: str | None) -> None:
        for role in ("mask", "box"):
            lyr = self.layer(role, finding)
            if lyr is not None:
                lyr.mode = "pan_zoom"

    def edited_rectangles(self, finding: str) -> list[np.ndarray]:
        """Rectangles of a finding's box layer that the clinician moved or resized."""
        lyr = self.layer("box", finding)
        if lyr is None:
            return []
        original = lyr.metadata.get("original", [])
        now = [np.asarray(d, dtype=float) for d in lyr.data]
        if len(now) != len(original):
            return now
        return [d for d, o in zip(now, original) if d.shape != o.shape or not np.allclose(d, o)]

    # ------------------------------------------------------------------ box prompts
    def prompt_layer(self, create: bool = True):
        """The session's box-prompt Shapes layer, in rectangle mode, on the study's slice plane."""
        return self._prompt("prompt", "box prompt", "add_rectangle", create, lambda kw: self.viewer.add_shapes(
            ndim=self.geo.ndim, edge_color=PROMPT_COLOR, face_color="transparent", edge_width=0.6, opacity=1.0,
            **kw))

    def point_prompt_layer(self, create: bool = True):
        """The session's Points layer for click prompts (mode add), on the slice plane."""
        return self._prompt("point prompt", "point prompts", "add", create, lambda kw: self.viewer.add_points(
            ndim=self.geo.ndim, size=5, border_color="white", face_color=POSITIVE_COLOR, **kw))

    def scribble_prompt_layer(self, create: bool = True):
        """The session's Shapes layer for scribbles (paths) and lassos (polygons)."""
        return self._prompt("scribble prompt", "scribble prompts", "add_path", create,
                            lambda kw: self.viewer.add_shapes(ndim=self.geo.ndim, edge_color=POSITIVE_COLOR,
                                                              face_color="transparent", edge_width=2.0,
                                                              opacity=1.0, **kw))

    def _prompt(self, role: str, name: str, mode: str, create: bool, make):
        """A prompt layer (made by ``make(layer kwargs)`` when missing and ``create``),
        shown on the slice plane, selected and in ``mode``; None when there is none."""
        lyr = self.layer(role, None)
        if lyr is None and create:
            lyr = make(self._common(role, None, name))
        if lyr is not None:
            self.show_acquisition_plane()
            self.viewer.layers.selection.active = lyr
            lyr.mode = mode
        return lyr

    def show_acquisition_plane(self) -> None:
        """2D view of the study's (y, x) slice plane: LiteMedSAM segments slice by slice there."""
        dims = self.viewer.dims
        if self.geo.ndim != 3 or dims.ndim != 3:
            return
        self.viewer.dims.ndisplay = 2
        slider = self.geo.perm.index(0)  # display axis that shows study axis 0
        if dims.order[0] != slider:
            dims.order = (slider, *[a for a in range(3) if a != slider])
