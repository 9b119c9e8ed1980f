"""`ground()`: one call from a study and a typed finding to a Result (and files).

    from napari_medground import load_study, ground
    result = ground("ct_folder/", "liver", out_dir="out/")

:func:`start_grounding` returns the live :class:`Grounding` instead, for callers that
let a clinician accept, edit or reject steps (the napari widget).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable

from ..errors import QueryError
from ..progress import CancelFn, ProgressFn, report, sub_progress
from ..result import Box, Result, Step, StepKind
from .graph import Grounding, RunOptions, fresh_result
from .planner import plan_query

log = logging.getLogger(__name__)

_BUILDERS = {
    "brain_volume": ("proc_brain", "build_brain_volume"),
    "brain_atrophy": ("proc_brain", "build_brain_atrophy"),
    "brain_ventricles": ("proc_brain", "build_brain_ventricles"),
    "ct_organ": ("proc_ct", "build_ct_structure"),
    "ct_structure": ("proc_ct", "build_ct_structure"),
    "ct_lesion": ("proc_lesion", "build_ct_lesion"),
    "ct_quant": ("proc_ct_quant", "build_ct_quant"),
    "ct_emphysema": ("proc_ct_lung_quant", "build_ct_emphysema"),
    "ct_pleural_effusion": ("proc_ct_lung_quant", "build_ct_pleural_effusion"),
    "cxr_heart": ("proc_xray", "build_cxr_heart"),
    "cxr_lungs": ("proc_xray", "build_cxr_lungs"),
    "out_of_scope": ("proc_prompt", "build_cannot_assess"),
    "not_understood": ("proc_prompt", "build_cannot_assess"),
}


def start_grounding(study, text: str, *, box: Box | None = None, device: str = "auto",
                    progress: ProgressFn = None, cancel: CancelFn = None, user: str = "clinician",
                    points: Iterable = (), neg_points: Iterable = ()) -> Grounding:
    """Parse, plan and run every step; return the live grounding (edits re-run dependants).

    ``points``/``neg_points``: positive/negative click prompts, array indices in the
    order of ``box`` (they combine with it; see proc_prompt).
    """
    from .. import __version__
    from ..language import parse
    from ..models.device import resolve_device
    from ..study import Study, load_study

    t0 = time.perf_counter()
    if not isinstance(study, Study):
        study = load_study(study)
    t_load = time.perf_counter() - t0
    if box is not None:
        box = validate_box(box, study.shape)
    points, neg_points = validate_points(points, study.shape, "--point"), validate_points(neg_points, study.shape,
                                                                                          "--neg-point")
    if neg_points and not points and box is None:
        raise QueryError("--neg-point needs a --point or a --box to start from")
    parsed = parse(text)
    # "auto" is resolved by each model when it runs, so that procedures without a
    # neural network (chest X-ray, classical CT) never pay for importing torch.
    wanted = (device or "auto").strip().lower()
    options = RunOptions(device=wanted if wanted in ("auto", "cpu") else resolve_device(wanted),
                         progress=progress, cancel=cancel, user=user)
    g = Grounding(fresh_result(study, parsed.to_dict(), __version__), options)
    g.values["queries"] = list(parsed.queries)
    g.values["prompt_points"] = (points, neg_points)
    prompted = box is not None or bool(points)
    g.result.timings_s["load"] = t_load
    parse_step = _add_parse_step(g, parsed)
    queries = list(parsed.queries) or [_empty_query(text)]
    if prompted and len(queries) > 1:
        queries = queries[:1]  # one box prompts one finding
    report(progress, 0.02, "planning")
    for qi, q in enumerate(queries):
        plan = plan_query(study, q, has_box=prompted)
        _build(g, q, qi, plan, parse_step, box)
    g.options.progress = sub_progress(progress, 0.05, 0.98)
    g.run_all()
    g.options.progress = progress
    g.result.timings_s["total"] = time.perf_counter() - t0
    report(progress, 1.0, "done")
    return g


def ground(study, text: str, *, out_dir: str | Path | None = None, box: Box | None = None,
           device: str = "auto", progress: ProgressFn = None, cancel: CancelFn = None,
           export: Iterable[str] = (), overwrite: bool = False, points: Iterable = (),
           neg_points: Iterable = ()) -> Result:
    """Ground ``text`` on ``study`` (a Study or a path); write files when ``out_dir`` is given.

    Files: ``result.json`` and ``labels.nii.gz`` (integer labels on the study grid,
    values listed in result.json), plus the ``export`` formats ("nifti", "seg", "sr",
    "csv", "json"). "Not found" and "cannot assess" are answers, not errors.
    """
    g = start_grounding(study, text, box=box, device=device, progress=progress, cancel=cancel,
                        points=points, neg_points=neg_points)
    if out_dir is not None:
        write_outputs(g.result, Path(out_dir), export, overwrite=overwrite)
    return g.result


def write_outputs(result: Result, out_dir: Path, export: Iterable[str] = (), *, overwrite: bool = False) -> dict:
    """result.json + labels.nii.gz always, plus the requested export formats."""
    formats = {"nifti", "json"} | {f.strip().lower() for f in export if f.strip()}
    from ..export import export_result

    return export_result(result, out_dir, sorted(formats), overwrite=overwrite)


def validate_points(points: Iterable, shape: tuple[int, ...], flag: str) -> list[tuple[int, ...]]:
    """Click prompts as int tuples on the study grid (array indices), or QueryError."""
    out = []
    for p in points:
        q = tuple(int(v) for v in p)
        if len(q) != len(shape):
            raise QueryError(f"{flag} {list(q)}: needs {len(shape)} numbers for a {len(shape)}D study of shape "
                             f"{list(shape)}")
        if any(v < 0 or v >= s for v, s in zip(q, shape)):
            raise QueryError(f"{flag} {list(q)} lies outside the study grid {list(shape)} (array indices)")
        out.append(q)
    return out


def validate_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Check a box prompt against the study grid (inclusive array indices)."""
    lo, hi = tuple(int(v) for v in box.min_voxel), tuple(int(v) for v in box.max_voxel)
    if len(lo) != len(shape) or len(hi) != len(shape):
        raise QueryError(f"--box needs {2 * len(shape)} numbers for a {len(shape)}D study of shape "
                         f"{list(shape)}, got {len(lo) + len(hi)}")
    lo, hi = tuple(map(min, lo, hi)), tuple(map(max, lo, hi))
    if any(a < 0 or b >= s for a, b, s in zip(lo, hi, shape)):
        raise QueryError(f"--box {list(lo)}-{list(hi)} lies outside the study grid {list(shape)} "
                         "(array indices, inclusive)")
    return Box(lo, hi)


def _add_parse_step(g: Grounding, parsed) -> Step:
    def run(g: Grounding, step: Step) -> None:
        parts = []
        for q in parsed.queries:
            bits = []
            if q.anatomy:
                bits.append("anatomy " + ", ".join(
                    f"{a.side + ' ' if a.side else ''}{a.term}" + (f" (SCT {a.code.value})" if a.code else "")
                    for a in q.anatomy))
            if q.finding:
                bits.append(f"finding {q.finding}")
            if q.size_mm:
                bits.append(f"size {' x '.join(f'{v:g}' for v in q.size_mm)} mm")
            if q.negated:
                bits.append("negated")
            if q.uncertain:
                bits.append("asked as uncertain")
            if q.unknown_words:
                bits.append("not understood: " + ", ".join(q.unknown_words))
            for p in q.proposals:
                bits.append(f"'{p.words}' read as '{p.term}' (similarity {p.similarity:.2f})"
                            + ("" if p.accepted else ", not used"))
            parts.append(f"'{q.text}': " + ("; ".join(bits) or "nothing recognised"))
        step.detail = " | ".join(parts) or "Nothing to parse: the text is empty."
        step.evidence.extra["queries"] = [q.to_dict() for q in parsed.queries]
        used = [p for q in parsed.queries for p in q.proposals if p.accepted]
        step.confidence = min([p.similarity for p in used], default=1.0) if parsed.queries else 0.0

    return g.add_step(StepKind.PARSE, f"Read the request: '{parsed.text.strip()[:80]}'", run=run)


def _empty_query(text: str):
    from ..language.query import Query

    return Query(text=text.strip(), unknown_words=tuple(text.split())[:20])


def _build(g: Grounding, q, qi: int, plan, parse_step: Step, box: Box | None) -> None:
    import importlib

    if plan.procedure == "prompt":
        from .proc_prompt import build_prompt

        build_prompt(g, q, qi, plan, parse_step, box)
        return
    module, name = _BUILDERS[plan.procedure]
    builder = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    builder(g, q, qi, plan, parse_step)
