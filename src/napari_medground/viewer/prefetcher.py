"""Background LiteMedSAM encoding around the slice the clinician looks at.

While a prompt tool (box, point, scribble) is on, the slices nearest the one shown are
encoded off the UI thread into the per-study embedding cache (nearest first, up to
``RADIUS`` slices each way), so that a click there only runs the decoder. Moving the
slider restarts it around the new slice; a grounding job, switching the tools off or
closing the dock stops it (each slice is one encoder call, so it stops within one).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Slices encoded on each side of the one shown.
RADIUS = 4


def slices_around(z: int | None, n: int, radius: int = RADIUS) -> list[int | None]:
    """Slice indices nearest ``z`` first (``z``, z+1, z-1, ...) within 0..n-1; [None] for 2D."""
    if z is None:
        return [None]
    out = [z]
    for d in range(1, radius + 1):
        out += [i for i in (z + d, z - d) if 0 <= i < n]
    return out


class SlicePrefetcher:
    """Encodes around the shown slice for one dock widget (UI thread calls only)."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.generation = 0  # bumped to cancel the running prefetch
        self.started = 0  # prefetch jobs started (for tests and the log)
        self.encoded = 0  # slices newly encoded by finished jobs

    def shown_slice(self) -> int | None:
        """The study slice (array axis 0) on screen, or None for a 2D study."""
        s, ctl = self.widget.session(), self.widget.controller()
        geo = ctl.geo
        if geo.ndim == 2:
            return None
        world = np.asarray(self.widget.viewer.dims.point, dtype=float)[-geo.ndim:]
        idx = geo.display_to_study(geo.world_to_display(world[None]))[0]
        return int(np.clip(np.rint(idx[0]), 0, s.study.shape[0] - 1))

    def start(self) -> None:
        """(Re)start encoding around the shown slice; no-op without a study or during a job."""
        w = self.widget
        s, ctl = w.session(), w.controller()
        if s is None or ctl is None or w.worker is not None:
            return
        from ..models.litemedsam.prefetch import prefetch

        study = s.study
        n = 1 if study.array.ndim == 2 else int(study.shape[0])
        indices = slices_around(self.shown_slice(), n)
        self.generation += 1
        gen, pool = self.generation, w.pool

        def cancel() -> bool:
            return gen != self.generation or w.worker is not None or pool.closed

        device = w.ui.device.currentText()
        worker = pool.start(prefetch, study, indices, device=device, cancel=cancel,
                            connect={"returned": self._done, "errored": self._failed})
        if worker is not None:
            self.started += 1

    def stop(self) -> None:
        """Cancel the running prefetch (it ends after the slice it is encoding)."""
        self.generation += 1

    def _done(self, n: int) -> None:
        self.encoded += int(n)

    def _failed(self, exc: Exception) -> None:  # a prompt will say it again, with context
        log.info("background encoding stopped: %s", exc)
