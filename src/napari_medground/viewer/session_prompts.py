"""A point or scribble prompt applied to a finding's mask as one undoable edit (worker
thread; the core work is :mod:`napari_medground.reasoning.interactive`)."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..errors import MedgroundError
from .overlays import build_overlays
from .session import JobOutcome


class PromptError(MedgroundError, ValueError):
    """A prompt that cannot be applied (no finding with a mask to change)."""


def prompt_edit(s: Any, kind: str, coords: Sequence, *, positive: bool, finding: str | None,
                closed: bool = False, device: str = "auto") -> Any:
    """Apply one ``kind`` ("point" or "scribble") prompt in study array indices to the
    mask of ``finding`` (a finding name of ``s.result``) through the Grounding's
    ``edit_mask`` (audited, undoable); returns the session's JobOutcome, whose message
    says what the prompt did. Nothing changed: no edit is recorded."""
    from ..reasoning.interactive import apply_point, apply_scribble

    g = s.grounding
    f = None if g is None else next((x for x in g.result.findings if x.name == finding and x.mask_id), None)
    if f is None or f.mask_id not in g.result.masks:
        raise PromptError(f"{s.study.name}: no finding mask to change; ground a finding or draw a box first")
    t0 = time.perf_counter()
    mask = np.asarray(g.result.masks[f.mask_id], bool)
    if kind == "point":
        done = apply_point(s.study, mask, [int(round(v)) for v in coords], positive=positive, device=device)
    elif kind == "scribble":
        done = apply_scribble(s.study, mask, coords, positive=positive, closed=closed, device=device)
    else:
        raise ValueError(f"unknown prompt kind {kind!r}")
    if done.model is not None:
        g.use_model(done.model)
    if done.changed == 0:
        return JobOutcome(g, build_overlays(g.result, s.geometry), (), f"{f.name}: {done.description}",
                          time.perf_counter() - t0)
    out = s.edit("edit_mask", f.mask_id, done.mask, None, done.description)
    return replace(out, message=f"{f.name}: {done.description}", seconds=time.perf_counter() - t0)

