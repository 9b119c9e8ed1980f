"""The reasoning graph: steps with the functions that compute them, and clinician edits.

A :class:`Grounding` holds a :class:`~napari_medground.result.Result` and, for each step,
the function that (re)computes it from the steps it depends on. Accepting, rejecting or
editing a step records an :class:`EditRecord`, marks the dependants stale and re-runs
only them, in order. Undo/redo restore whole snapshots (:mod:`.history`).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import EditError
from ..progress import CancelFn, ProgressFn, check_cancel, report
from ..result import (
    Box,
    Conclusion,
    EditRecord,
    Finding,
    FindingStatus,
    ModelUse,
    Result,
    Step,
    StepKind,
    StepStatus,
)
from .history import EditHistory, Snapshot, unpack

log = logging.getLogger(__name__)

RunFn = Callable[["Grounding", Step], None]
Listener = Callable[["Grounding", EditRecord, list[str]], None]


@dataclass
class Node:
    """A step and the function that computes it (None for a step computed once)."""

    step: Step
    run: RunFn | None = None


@dataclass
class RunOptions:
    device: str = "auto"
    progress: ProgressFn = None
    cancel: CancelFn = None
    user: str = "clinician"


class Grounding:
    """A live grounding: the result, its step functions, and the edit machinery.

    ``values`` holds named intermediate outputs shared between step functions (e.g. the
    brain label map, measured numbers); ``overrides`` holds numbers typed by the
    clinician, keyed by (step id, measurement name).
    """

    def __init__(self, result: Result, options: RunOptions | None = None) -> None:
        self.result = result
        self.options = options or RunOptions()
        self.nodes: dict[str, Node] = {}
        self.values: dict[str, Any] = {}
        self.overrides: dict[tuple[str, str], float] = {}
        self.boxes: dict[str, Box] = {}  # clinician-edited boxes by step id
        self.ai_masks: dict[str, np.ndarray] = {}  # the last mask a step function made, per mask id
        self.history = EditHistory()
        self.listeners: list[Listener] = []
        self._counter = 0

    # ------------------------------------------------------------------ building
    @property
    def study(self):
        return self.result.study

    def new_id(self, kind: StepKind) -> str:
        self._counter += 1
        return f"s{self._counter}-{kind.value}"

    def add_step(self, kind: StepKind, title: str, *, inputs: list[str] | None = None,
                 run: RunFn | None = None, finding: Finding | None = None, detail: str = "") -> Step:
        """Append a step; its function runs later (``run_all``) or on re-runs."""
        step = Step(id=self.new_id(kind), kind=kind, title=title, detail=detail,
                    inputs=list(inputs or []), finding=finding.name if finding else None)
        self.result.steps.append(step)
        self.nodes[step.id] = Node(step, run)
        if finding is not None:
            finding.steps.append(step.id)
        return step

    def add_finding(self, name: str, query_index: int, *, anatomy_code=None, finding_code=None) -> Finding:
        """A new finding, named uniquely within the result."""
        taken = {f.name for f in self.result.findings}
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name} ({n})", n + 1
        f = Finding(name=unique, status=FindingStatus.NOT_ASSESSABLE, query_index=query_index,
                    anatomy_code=anatomy_code, finding_code=finding_code)
        self.result.findings.append(f)
        return f

    def finding_of(self, step: Step) -> Finding | None:
        return next((f for f in self.result.findings if f.name == step.finding), None)

    def set_mask(self, mask_id: str, mask: np.ndarray | None) -> None:
        """Set (or clear) a mask computed by a step function: it is also the AI mask that
        clinician edits are compared with."""
        if mask is None:
            self.result.masks.pop(mask_id, None)
            self.ai_masks.pop(mask_id, None)
        else:
            self.result.masks[mask_id] = np.asarray(mask, dtype=bool)
            self.ai_masks[mask_id] = self.result.masks[mask_id]

    def use_model(self, model: ModelUse) -> None:
        """Record a model that contributed (one entry per name and device)."""
        models = self.result.models
        for i, m in enumerate(models):
            if m.name == model.name and m.device == model.device:
                models[i] = ModelUse(m.name, m.version, m.sha256, m.device,
                                     m.seconds + model.seconds, model.precision)
                return
        models.append(model)

    # ------------------------------------------------------------------ running
    def run_all(self) -> None:
        """Compute every step in order (the first run)."""
        ids = list(self.nodes)
        for i, sid in enumerate(ids):
            report(self.options.progress, i / max(1, len(ids)), self.nodes[sid].step.title)
            self._run(sid)
        report(self.options.progress, 1.0, "done")

    def _run(self, step_id: str) -> None:
        node = self.nodes[step_id]
        check_cancel(self.options.cancel, node.step.title)
        if node.run is None:
            return
        t0 = time.perf_counter()
        node.run(self, node.step)
        node.step.timing_s = time.perf_counter() - t0
        node.step.stale = False
        self.result.timings_s[step_id] = node.step.timing_s

    def dependants(self, step_id: str) -> list[str]:
        """Steps that depend on ``step_id`` directly or transitively, in run order."""
        hit = {step_id}
        out = []
        for sid, node in self.nodes.items():
            if sid != step_id and any(i in hit for i in node.step.inputs):
                hit.add(sid)
                out.append(sid)
        return out

    def rerun_dependants(self, step_id: str) -> list[str]:
        """Mark the dependants stale and recompute them; returns their ids."""
        deps = self.dependants(step_id)
        for sid in deps:
            self.nodes[sid].step.stale = True
        for sid in deps:
            if self.nodes[sid].step.status != StepStatus.REJECTED or self.nodes[sid].step.kind == StepKind.CONCLUDE:
                self._run(sid)
        return deps

    def upstream_rejected(self, step: Step) -> Step | None:
        """The first rejected step among this step's inputs (transitively), if any."""
        seen: set[str] = set()
        stack = list(step.inputs)
        while stack:
            sid = stack.pop()
            if sid in seen or sid not in self.nodes:
                continue
            seen.add(sid)
            s = self.nodes[sid].step
            if s.status == StepStatus.REJECTED:
                return s
            stack.extend(s.inputs)
        return None

    # ------------------------------------------------------------------ edits
    def accept(self, step_id: str) -> None:
        step = self._step(step_id)
        self._edit(step_id, "accept", step.status.value, StepStatus.ACCEPTED.value,
                   lambda: setattr(step, "status", StepStatus.ACCEPTED), rerun=False)

    def accept_all(self) -> None:
        before = {s.id: s.status.value for s in self.result.steps}

        def apply() -> None:
            for s in self.result.steps:
                if s.status == StepStatus.PROPOSED:
                    s.status = StepStatus.ACCEPTED

        self._edit("*", "accept_all", before, "accepted", apply, rerun=False)

    def reject(self, step_id: str) -> None:
        step = self._step(step_id)
        self._edit(step_id, "reject", step.status.value, StepStatus.REJECTED.value,
                   lambda: setattr(step, "status", StepStatus.REJECTED))

    def edit_mask(self, mask_id: str, mask: np.ndarray, step_id: str | None = None,
                  how: str | None = None) -> list[str]:
        """Replace a mask (painted by the clinician, or changed by a point or scribble
        prompt: ``how`` says which, for the edit log); re-runs what depends on its step."""
        if mask_id not in self.result.masks:
            raise EditError(f"no mask {mask_id!r} in this result")
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.result.masks[mask_id].shape:
            raise EditError(f"edited mask {mask_id!r} has shape {mask.shape}, "
                            f"expected the study grid {self.result.masks[mask_id].shape}")
        owner = step_id or self._mask_owner(mask_id)
        before = int(self.result.masks[mask_id].sum())
        ai = self.ai_masks.setdefault(mask_id, self.result.masks[mask_id])
        agreement = _agreement(ai, mask, self.study)
        after = {"mask_id": mask_id, "voxels": int(mask.sum())}
        if how:
            after["how"] = how
        if agreement is not None:
            after["agreement"] = agreement

        def apply() -> None:
            self.result.masks[mask_id] = mask.copy()
            step = self.nodes[owner].step
            step.status = StepStatus.EDITED
            if agreement is not None:
                step.evidence.extra["agreement"] = dict(agreement, mask_id=mask_id)
            f = self.finding_of(step)
            if f is not None:
                f.edited = True

        return self._edit(owner, "edit_mask", {"mask_id": mask_id, "voxels": before},
                          after, apply, changed=[mask_id])

    def edit_box(self, step_id: str, box: Box) -> list[str]:
        """Move/resize the box of a locate step; the segmentation inside it re-runs."""
        step = self._step(step_id)
        before = step.evidence.boxes[0].to_dict() if step.evidence.boxes else None

        def apply() -> None:
            self.boxes[step_id] = box
            step.evidence.boxes = [box]
            step.status = StepStatus.EDITED

        return self._edit(step_id, "edit_box", before, box.to_dict(), apply)

    def edit_number(self, step_id: str, name: str, value: float) -> list[str]:
        """Override a measured number (e.g. a corrected diameter); comparisons re-run."""
        step = self._step(step_id)
        current = next((m.value for m in step.evidence.measurements if m.name == name), None)
        if current is None:
            known = ", ".join(m.name for m in step.evidence.measurements) or "none"
            raise EditError(f"step {step_id} has no number {name!r} (it has: {known})")

        def apply() -> None:
            self.overrides[(step_id, name)] = float(value)
            step.status = StepStatus.EDITED
            if self.nodes[step_id].run is not None:
                self._run(step_id)

        return self._edit(step_id, "edit_number", {name: current}, {name: float(value)}, apply)

    def edit_conclusion(self, text: str) -> None:
        c = self.result.conclusion
        self._edit("conclusion", "edit_conclusion", c.text, text,
                   lambda: self._set_conclusion(Conclusion(text, c.status, edited=True)), rerun=False)

    def _set_conclusion(self, c: Conclusion) -> None:
        self.result.conclusion = c

    def undo(self) -> bool:
        h = self.history
        if not h.undo:
            return False
        h.redo.append(self._snapshot("redo"))
        snap = h.undo.pop()
        self._restore(snap)
        self._log(EditRecord("*", "undo", snap.label, None, user=self.options.user), [])
        return True

    def redo(self) -> bool:
        h = self.history
        if not h.redo:
            return False
        h.undo.append(self._snapshot("undo"))
        snap = h.redo.pop()
        self._restore(snap)
        self._log(EditRecord("*", "redo", None, snap.label, user=self.options.user), [])
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self.history.undo)

    @property
    def can_redo(self) -> bool:
        return bool(self.history.redo)

    # ------------------------------------------------------------------ internals
    def _step(self, step_id: str) -> Step:
        if step_id not in self.nodes:
            raise EditError(f"no step {step_id!r} in this result")
        return self.nodes[step_id].step

    def _mask_owner(self, mask_id: str) -> str:
        for sid, node in self.nodes.items():
            if mask_id in node.step.evidence.mask_ids and node.step.kind == StepKind.SEGMENT:
                return sid
        for sid, node in self.nodes.items():
            if mask_id in node.step.evidence.mask_ids:
                return sid
        raise EditError(f"no step shows mask {mask_id!r}")

    def _edit(self, step_id: str, action: str, before: Any, after: Any, apply: Callable[[], None],
              *, rerun: bool = True, changed: list[str] | None = None) -> list[str]:
        snapshot = self._snapshot(f"{action} {step_id}")
        try:
            apply()
            deps = self.rerun_dependants(step_id) if rerun and step_id in self.nodes else []
        except BaseException:
            self._restore(snapshot)  # an edit that fails or is cancelled leaves no trace
            raise
        self.history.record(snapshot)
        self._log(EditRecord(step_id, action, before, after, user=self.options.user), changed or [])
        return deps

    def _log(self, record: EditRecord, changed: list[str]) -> None:
        self.result.edit_log.append(record)
        for listener in self.listeners:
            try:
                listener(self, record, changed)
            except Exception:  # noqa: BLE001 - a failing autosave must not lose the edit itself
                log.exception("edit listener failed")

    def _snapshot(self, label: str) -> Snapshot:
        r = self.result
        state = copy.deepcopy({
            "steps": r.steps, "findings": r.findings, "conclusion": r.conclusion,
            "overrides": self.overrides, "boxes": self.boxes,
        })
        # step functions replace values, never mutate them: a shallow copy suffices and keeps
        # model outputs (label maps, radiograph anatomy) by reference instead of copying them
        state["values"] = dict(self.values)
        masks = {k: self.history.pack(k, m) for k, m in r.masks.items()}
        return Snapshot(state, masks, label)

    def _restore(self, snap: Snapshot) -> None:
        r = self.result
        st = copy.deepcopy({k: v for k, v in snap.state.items() if k != "values"})
        # in place: the step functions hold these very Step and Finding objects
        for current, saved in zip(r.steps, st["steps"]):
            current.__dict__.update(saved.__dict__)
        for current, saved in zip(r.findings, st["findings"]):
            current.__dict__.update(saved.__dict__)
        r.conclusion = st["conclusion"]
        self.overrides = st["overrides"]
        self.boxes = st["boxes"]
        self.values.update(snap.state["values"])
        r.masks.clear()
        for k, packed in snap.masks.items():
            r.masks[k] = unpack(packed)


def _agreement(ai: np.ndarray, final: np.ndarray, study) -> dict[str, Any] | None:
    """Agreement of the clinician's mask with the AI mask (None without a study grid)."""
    if study is None or ai.shape != final.shape:
        return None
    from ..evaluate.agreement import edit_agreement

    return edit_agreement(ai, final, study.affine_lps).to_dict()


def fresh_result(study, parsed: dict[str, Any], version: str) -> Result:
    """An empty Result for a study and its parsed text."""
    return Result(study_info=study.info(), query=parsed, study=study, version=version,
                  conclusion=Conclusion("", FindingStatus.NOT_ASSESSABLE))


__all__ = ["Grounding", "Node", "RunOptions", "fresh_result"]
