"""Optional adapter: a MONAI bundle folder given by path (``pip install
'napari-medground[monai]'``). Nothing is downloaded: the folder must already hold the
bundle's ``configs/metadata.json``, its inference config and its weights.

The bundle's own inference config runs unchanged except for its input list
(``datalist``), output folder, bundle root and device; the study goes in as a
temporary NIfTI and the first image the bundle writes comes back onto the study grid.
Label names come from the metadata's output ``channel_def`` (MONAI bundle
specification), mapped to our vocabulary words where they match.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import ModelUnavailable
from ...progress import CancelFn, ProgressFn, check_cancel, report
from .common import AdapterSegmentation, block_network, labels_onto_grid, missing_package_message

log = logging.getLogger(__name__)

_CONFIGS = ("inference.json", "inference.yaml", "inference.yml")
_WEIGHTS = ("model.pt", "model.ts", "model.safetensors")


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle folder holds: name, version, inference config, weights and labels."""

    path: Path
    name: str
    version: str
    config: Path
    weights: Path
    labels: dict[int, str]


def inspect_bundle(bundle_dir: str | Path) -> BundleInfo:
    """Check a bundle folder without importing MONAI.

    Raises ModelUnavailable naming the folder and what is missing (the folder itself,
    ``configs/metadata.json``, an inference config, or weights under ``models/``).
    """
    root = Path(bundle_dir).expanduser()
    if not root.is_dir():
        raise ModelUnavailable(f"{root}: MONAI bundle folder not found; give the path of an unpacked bundle")
    meta_path = root / "configs" / "metadata.json"
    if not meta_path.is_file():
        raise ModelUnavailable(f"{root}: not a MONAI bundle (configs/metadata.json is missing)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{meta_path}: unreadable bundle metadata ({exc})") from None
    config = next((root / "configs" / c for c in _CONFIGS if (root / "configs" / c).is_file()), None)
    if config is None:
        raise ModelUnavailable(
            f"{root}: the bundle has no inference config (configs/{' or configs/'.join(_CONFIGS)})")
    weights = next((root / "models" / w for w in _WEIGHTS
                    if (root / "models" / w).is_file() and (root / "models" / w).stat().st_size > 0), None)
    if weights is None:
        raise ModelUnavailable(
            f"{root}: the bundle has no model weights (models/{' or models/'.join(_WEIGHTS)}); "
            "napari-medground never downloads them: fetch the bundle with its weights yourself "
            "(e.g. `python -m monai.bundle download`) and give that folder")
    name = str(meta.get("name") or root.name)
    return BundleInfo(root, name, str(meta.get("version", "")), config, weights, bundle_labels(meta))


def bundle_labels(meta: dict) -> dict[int, str]:
    """{label value: name} from ``network_data_format.outputs.<first>.channel_def`` (no background)."""
    outputs = (meta.get("network_data_format") or {}).get("outputs") or {}
    for spec in outputs.values():
        channels = (spec or {}).get("channel_def")
        if isinstance(channels, dict):
            out = {}
            for k, v in channels.items():
                try:
                    value = int(k)
                except (TypeError, ValueError):
                    continue
                if value != 0 and str(v).strip().lower() not in ("background", "bg"):
                    out[value] = str(v)
            return out
    return {}


def bundle_term(name: str) -> tuple[str, str | None]:
    """Our vocabulary term and side for a bundle label name ("left kidney", "kidney_left")."""
    words = name.replace("_", " ").replace("-", " ").lower().split()
    side = next((w for w in words if w in ("left", "right")), None)
    term = " ".join(w for w in words if w not in ("left", "right"))
    return term, side


def segment_with_monai_bundle(study, bundle_dir: str | Path, *, device: str = "auto",
                              progress: ProgressFn = None, cancel: CancelFn = None) -> AdapterSegmentation:
    """Run a MONAI bundle's inference config on the study and return its labels on the grid.

    Raises
    ------
    ModelUnavailable
        The folder is not a complete bundle, MONAI is not installed, or the bundle's
        inference config does not read its inputs from ``datalist``.
    """
    info = inspect_bundle(bundle_dir)
    import importlib.util

    if importlib.util.find_spec("monai") is None:
        raise ModelUnavailable(missing_package_message("monai", "monai", f"MONAI (for bundle {info.name})"))
    check_cancel(cancel, "MONAI bundle")
    return _run(study, info, device=device, progress=progress)


def _run(study, info: BundleInfo, *, device: str, progress: ProgressFn) -> AdapterSegmentation:
    from monai.bundle import ConfigParser  # optional dependency

    from ...result import ModelUse
    from ...study.nifti_io import read_nifti, write_nifti
    from ..device import resolve_device

    dev = resolve_device(device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medground_monai_") as tmp:
        src, out_dir = Path(tmp) / "image.nii.gz", Path(tmp) / "out"
        write_nifti(study.array, study, src)
        parser = ConfigParser()
        parser.read_meta(str(info.path / "configs" / "metadata.json"))
        parser.read_config(str(info.config))
        if "datalist" not in parser.config:
            raise ModelUnavailable(f"{info.config}: this bundle does not read its inputs from 'datalist'; "
                                   "napari-medground cannot feed it a study")
        parser["bundle_root"] = str(info.path)
        parser["output_dir"] = str(out_dir)
        parser["datalist"] = [{"image": str(src)}] if _expects_dicts(parser) else [str(src)]
        parser["device"] = f"$torch.device('{dev}')"
        report(progress, 0.05, f"MONAI bundle {info.name}: running")
        with block_network(f"MONAI bundle {info.name}"):
            parser.get_parsed_content("evaluator").run()
        written = sorted(out_dir.rglob("*.nii*"), key=lambda p: p.stat().st_mtime)
        if not written:
            raise ModelUnavailable(f"{info.config}: the bundle wrote no NIfTI output under its output_dir")
        labels = labels_onto_grid(read_nifti(written[-1]), study)
    report(progress, 1.0, f"MONAI bundle {info.name}: done")
    present = sorted(int(v) for v in set(labels.ravel().tolist()) - {0})
    names = {v: info.labels.get(v, f"label {v}") for v in present}
    model = ModelUse(f"MONAI bundle {info.name}", info.version, None, dev, time.perf_counter() - t0)
    return AdapterSegmentation(labels, names, {v: bundle_term(n) for v, n in names.items()}, model,
                               (f"bundle at {info.path}",))


def _expects_dicts(parser) -> bool:
    """Whether the bundle's own datalist is a literal list of {"image": path} dicts; the
    model-zoo bundles build it as a list of paths (then wrap each in a dict themselves)."""
    raw = parser.config.get("datalist")
    return bool(isinstance(raw, list) and raw and isinstance(raw[0], dict))
