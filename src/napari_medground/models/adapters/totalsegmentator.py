"""Optional adapter: TotalSegmentator (Wasserthal et al., Radiol Artif Intell 2023,
doi 10.1148/ryai.230024), run through its Python API when the user has installed it
(``pip install 'napari-medground[totalsegmentator]'``) *and* downloaded its weights.

napari-medground never downloads anything: missing weights raise ModelUnavailable
naming the folder and the command the user can run. The run itself happens with the
network blocked (TotalSegmentator otherwise posts usage statistics). The study is
written to a temporary NIfTI, the multi-label result is read back onto the study grid,
and TotalSegmentator's label names ("kidney_left") are mapped to our vocabulary terms
(("kidney", "left")) through ``resources/vocabulary/backend_labels.json`` with rules
for the names it does not list.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from ...errors import ModelUnavailable
from ...progress import CancelFn, ProgressFn, check_cancel, report
from ...resources import resource_path
from .common import AdapterSegmentation, block_network, labels_onto_grid, missing_package_message

log = logging.getLogger(__name__)

TASKS = ("total", "total_mr")
# nnU-Net dataset ids per (task, fast): each inner list is one complete set; older and
# newer TotalSegmentator releases use different ids for the MR models.
_WEIGHT_SETS = {
    ("total", False): [[291, 292, 293, 294, 295]], ("total", True): [[297]],
    ("total_mr", False): [[730, 731], [850, 851]], ("total_mr", True): [[732], [852]],
}
# the coarse model TotalSegmentator runs first to crop when a subset of structures is asked for
_CROP_SETS = {"total": [[298]], "total_mr": [[732], [852]]}
_DOWNLOAD_TASK = {("total", False): "total", ("total", True): "total_fast",
                  ("total_mr", False): "total_mr", ("total_mr", True): "total_fast_mr"}
# names the vocabulary does not list: rule-based terms
_RENAME = {"clavicula": "clavicle", "iliac vena": "iliac vein", "autochthon": "autochthonous back muscle",
           "iliopsoas": "iliopsoas muscle", "gluteus maximus": "gluteus maximus muscle",
           "gluteus medius": "gluteus medius muscle", "gluteus minimus": "gluteus minimus muscle",
           "vertebrae": "spine", "intervertebral discs": "intervertebral disc", "hip": "hip bone",
           "costal cartilages": "costal cartilage", "iliac artery": "common iliac artery"}
_UNSIDED = {"atrial_appendage_left": "left atrial appendage"}  # "left" names the atrium, not a side
_SIDE = re.compile(r"^(?P<a>.*?)_(?P<side>left|right)(?:_(?P<n>\d+))?$")


# ------------------------------------------------------------------ label names
def load_label_names(path: Path, task: str = "total") -> dict[int, str]:
    """{label value: name} of one task from a ``label_names.json``-style file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if task not in data:
        raise KeyError(f"{path}: no task {task!r} (has {', '.join(data)})")
    return {int(k): str(v) for k, v in data[task].items()}


def installed_label_names(task: str = "total") -> dict[int, str]:
    """{label value: name} from the installed TotalSegmentator (its ``class_map``)."""
    from totalsegmentator.map_to_binary import class_map  # optional dependency

    return {int(k): str(v) for k, v in class_map[task].items()}


@lru_cache(maxsize=1)
def _vocabulary_index() -> dict[str, list[tuple[str, str | None, int, bool]]]:
    """name -> [(term, side, group size, approximate)] from the vocabulary's totalseg backend."""
    try:
        path = resource_path("vocabulary", "backend_labels.json")
        backends = json.loads(path.read_text("utf-8"))["backends"]
    except (OSError, KeyError, ValueError) as exc:
        log.warning("vocabulary backend labels unavailable (%s): TotalSegmentator names mapped by rules", exc)
        return {}
    index: dict[str, list[tuple[str, str | None, int, bool]]] = {}
    for term, sides in backends.get("totalseg", {}).get("terms", {}).items():
        approx = bool(sides.get("approximate", False))
        for side, names in sides.items():
            if isinstance(names, list):
                for n in names:
                    entry = (term, None if side == "any" else side, len(names), approx)
                    index.setdefault(n, []).append(entry)
    return index


def totalseg_term(name: str) -> tuple[str, str | None]:
    """Our vocabulary term and side for a TotalSegmentator label name.

    The most specific vocabulary entry wins ("lung_upper_lobe_left" -> ("upper lobe of
    lung", "left"), not ("lung", "left")); names the vocabulary lacks are mapped by rule
    ("gluteus_medius_right" -> ("gluteus medius muscle", "right")).
    """
    entries = [e for e in _vocabulary_index().get(name, []) if not e[3]] or _vocabulary_index().get(name, [])
    if entries:
        term, side, _, _ = min(entries, key=lambda e: e[2])
        return term, side if side is not None else _rule_side(name)
    if name in _UNSIDED:
        return _UNSIDED[name], None
    m = _SIDE.match(name)
    base, side = (m.group("a"), m.group("side")) if m else (name, None)
    words = base.replace("_", " ").strip()
    return _RENAME.get(words, words), side


def _rule_side(name: str) -> str | None:
    if name in _UNSIDED:
        return None
    m = _SIDE.match(name)
    return m.group("side") if m else None


def totalseg_names_for(term: str, side: str | None = None, names: Iterable[str] | None = None) -> list[str]:
    """TotalSegmentator label names that make up ``term`` (one side, or both when None).

    ``names`` restricts to the names of one task; a parent term ("lung") collects its
    parts ("lung_upper_lobe_left", ...) through the vocabulary.
    """
    pool = list(names) if names is not None else sorted(_vocabulary_index())
    out = []
    for n in pool:
        direct = totalseg_term(n)
        listed = [(t, s) for t, s, _, _ in _vocabulary_index().get(n, [])]
        for t, s in [direct] + listed:
            s = s if s is not None else _rule_side(n)
            if t == term and (side in (None, "bilateral") or s in (side, None)):
                out.append(n)
                break
    return out


# ------------------------------------------------------------------ weights
def totalseg_weights_dir() -> Path:
    """Where TotalSegmentator keeps its nnU-Net weights (its own rules, read-only here):
    ``$TOTALSEG_WEIGHTS_PATH``, else ``$TOTALSEG_HOME_DIR/nnunet/results``, else
    ``~/.totalsegmentator/nnunet/results``."""
    if os.environ.get("TOTALSEG_WEIGHTS_PATH"):
        return Path(os.environ["TOTALSEG_WEIGHTS_PATH"])
    home = Path(os.environ["TOTALSEG_HOME_DIR"]) if os.environ.get("TOTALSEG_HOME_DIR") else (
        (Path("/tmp") if str(Path.home()) == "/" else Path.home()) / ".totalsegmentator")
    return home / "nnunet" / "results"


def _has_checkpoint(folder: Path, dataset_id: int) -> bool:
    """A Dataset<id>_* folder holding a non-empty nnU-Net checkpoint (a bare folder is not enough)."""
    for d in folder.glob(f"Dataset{dataset_id:03d}_*"):
        if any(p.is_file() and p.stat().st_size > 0 for p in d.rglob("checkpoint_final.pth")):
            return True
    return False


def missing_weights(task: str = "total", fast: bool = True, subset: bool = True) -> list[int]:
    """Dataset ids still needed for this run ([] when every model is present)."""
    if task not in TASKS:
        raise ValueError(f"TotalSegmentator task {task!r} is not supported here; "
                         f"use one of {', '.join(TASKS)}")
    folder = totalseg_weights_dir()
    need = []
    groups = [_WEIGHT_SETS[(task, fast)]] + ([_CROP_SETS[task]] if subset else [])
    for alternatives in groups:
        if not any(all(_has_checkpoint(folder, i) for i in ids) for ids in alternatives):
            need += [i for i in alternatives[-1] if not _has_checkpoint(folder, i)]
    return sorted(set(need))


def _weights_message(task: str, fast: bool, need: list[int]) -> str:
    cmd = f"totalseg_download_weights -t {_DOWNLOAD_TASK[(task, fast)]}"
    return (f"TotalSegmentator weights for task '{task}'{' (fast)' if fast else ''} are missing in "
            f"{totalseg_weights_dir()} (datasets {', '.join(map(str, need))}): napari-medground never "
            f"downloads them; run `{cmd}` yourself, or set TOTALSEG_HOME_DIR (or TOTALSEG_WEIGHTS_PATH) "
            "to the folder that holds them")


# ------------------------------------------------------------------ run
def segment_with_totalsegmentator(study, structures: Iterable[str] | None = None, *, device: str = "auto",
                                  fast: bool = True, task: str = "total", progress: ProgressFn = None,
                                  cancel: CancelFn = None) -> AdapterSegmentation:
    """Segment ``structures`` (vocabulary terms like "liver", "left kidney", or
    TotalSegmentator names; None = all) on a 3D study with TotalSegmentator.

    Raises
    ------
    ModelUnavailable
        The package or its weights are missing (the message names both fixes).
    ValueError
        A 2D study, an unsupported task, or a structure the task does not have.
    """
    import importlib.util

    if study.is_2d:
        raise ValueError("TotalSegmentator needs a 3D CT or MR study, not a 2D image")
    structures = list(structures or [])
    problems = []
    if importlib.util.find_spec("totalsegmentator") is None:
        problems.append(missing_package_message("totalsegmentator", "totalsegmentator", "TotalSegmentator"))
    need = missing_weights(task, fast, subset=bool(structures))
    if need:
        problems.append(_weights_message(task, fast, need))
    if problems:
        raise ModelUnavailable("; ".join(problems))
    check_cancel(cancel, "TotalSegmentator")
    names = installed_label_names(task)
    roi = _resolve_structures(structures, names.values(), task)
    return _run(study, names, roi, device=device, fast=fast, task=task, progress=progress)


def _resolve_structures(structures: list[str], names: Iterable[str], task: str) -> list[str] | None:
    if not structures:
        return None
    pool = list(names)
    out: list[str] = []
    for s in structures:
        if s in pool:
            out.append(s)
            continue
        words = s.lower().split()
        side = words[0] if words and words[0] in ("left", "right") else None
        term = " ".join(words[1:] if side else words)
        found = totalseg_names_for(term, side, pool)
        if not found:
            raise ValueError(f"TotalSegmentator task '{task}' has no label for {s!r}")
        out += [n for n in found if n not in out]
    return out


def _run(study, names: dict[int, str], roi: list[str] | None, *, device: str, fast: bool, task: str,
         progress: ProgressFn) -> AdapterSegmentation:
    from importlib.metadata import version

    from totalsegmentator.python_api import totalsegmentator  # optional dependency

    from ...result import ModelUse
    from ...study.nifti_io import read_nifti, write_nifti
    from ..device import resolve_device

    dev = resolve_device(device)
    ts_device = "gpu" if dev == "cuda" else dev.replace("cuda:", "gpu:")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medground_totalseg_") as tmp:
        src, out = Path(tmp) / "image.nii.gz", Path(tmp) / "labels.nii.gz"
        write_nifti(study.array, study, src)
        report(progress, 0.05, "TotalSegmentator: running")
        with block_network("TotalSegmentator"):
            totalsegmentator(input=src, output=out, ml=True, fast=fast, task=task, roi_subset=roi,
                             device=ts_device, quiet=True)
        labels = labels_onto_grid(read_nifti(out), study)
    report(progress, 1.0, "TotalSegmentator: done")
    present = {int(v) for v in set(labels.ravel().tolist()) - {0}}
    found = {v: names[v] for v in sorted(present) if v in names}
    model = ModelUse("TotalSegmentator", version("TotalSegmentator"), None, dev, time.perf_counter() - t0)
    notes = (f"task {task}{' (fast, 3 mm)' if fast else ''}",) + (
        (f"not found in this scan: {', '.join(sorted(set(roi) - set(found.values())))}",)
        if roi and set(roi) - set(found.values()) else ())
    return AdapterSegmentation(labels, found, {v: totalseg_term(n) for v, n in found.items()}, model, notes)
