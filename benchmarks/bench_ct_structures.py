"""CT structures at clinical resolution: time per structure, against today's per-slice path.

    .venv/bin/python benchmarks/bench_ct_structures.py [--structures liver,spleen,...]
        [--baseline liver,spleen,kidney_right,kidney_left] [--device cpu] [--json]

The study is ``../shared/data/totalseg/example_ct.nii.gz`` resampled (trilinear) to
0.8 x 0.8 x 1.5 mm, the clinical grid of the CT issue. Each structure is grounded by
its text through the public ``ground`` call on one shared Study, so structures share
the LiteMedSAM embedding cache as they do in the product. The baseline, measured in the
same run for the LiteMedSAM organs, is the naive path: every axial slice of the organ
encoded (no stride, no interpolation), in the torch runtime, with the cache cleared
before each organ. Structures made without a model (HU rules, shape, landmarks) print
their time only. Times are wall-clock seconds on this machine (a shared machine
includes the contention); ratios are baseline / product.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg" / "example_ct.nii.gz"
TEXTS = {  # structure -> what a radiologist types
    "liver": "liver", "spleen": "spleen", "kidney_right": "right kidney", "kidney_left": "left kidney",
    "lung_right": "right lung", "lung_left": "left lung", "aorta": "aorta",
    "inferior_vena_cava": "inferior vena cava", "vertebrae_L1": "L1 vertebra", "vertebrae_L3": "L3 vertebra",
    "sacrum": "sacrum", "urinary_bladder": "urinary bladder", "gallbladder": "gallbladder",
    "iliopsoas_left": "left psoas",
}
SAM_ORGANS = ("liver", "spleen", "kidney_right", "kidney_left")


def _resampled(study, spacing_mm=(0.8, 0.8, 1.5)):
    """Trilinear resampling to ``spacing_mm`` (LPS order x, y, z), same extent."""
    from scipy import ndimage as ndi

    from napari_medground.study.model import Study

    a = np.asarray(study.affine_lps, float)
    old = np.linalg.norm(a[:3, :3], axis=0)
    new = np.array([spacing_mm[k] for k in np.argmax(np.abs(a[:3, :3]), axis=0)], float)
    scale = new / old
    shape = tuple(int(np.floor((n - 1) / s)) + 1 for n, s in zip(study.array.shape, scale))
    arr = ndi.affine_transform(study.array.astype(np.float32), np.diag(scale), output_shape=shape,
                               order=1, mode="nearest")
    return Study(array=arr, affine_lps=a @ np.diag([*scale, 1.0]), modality="CT")


def _ground(study, text: str, device: str) -> tuple[float, str]:
    from napari_medground.reasoning.api import ground

    t0 = time.perf_counter()
    res = ground(study, text, device=device)
    f = res.findings[0] if res.findings else None
    return time.perf_counter() - t0, (f.status.value if f else "no finding")


def _baseline(study, organ: str, device: str) -> float:
    """The naive path: every slice of the organ encoded in torch, nothing cached or shared."""
    from napari_medground import cache
    from napari_medground.models.ct import organs_refine
    from napari_medground.models.ct.organs import segment_organ

    cache.clear_all()
    saved = organs_refine.STEP_MM, organs_refine.MAX_PROMPTED, os.environ.get("MEDGROUND_SAM_RUNTIME")
    organs_refine.STEP_MM, organs_refine.MAX_PROMPTED = 1e-3, 10_000
    os.environ["MEDGROUND_SAM_RUNTIME"] = "torch"
    try:
        t0 = time.perf_counter()
        segment_organ(study, organ, device=device)
        return time.perf_counter() - t0
    finally:
        organs_refine.STEP_MM, organs_refine.MAX_PROMPTED = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop("MEDGROUND_SAM_RUNTIME", None)
        else:
            os.environ["MEDGROUND_SAM_RUNTIME"] = saved[2]
        cache.clear_all()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--structures", default=",".join(TEXTS))
    p.add_argument("--baseline", default=",".join(SAM_ORGANS),
                   help="LiteMedSAM organs to time on the naive per-slice path too ('' for none)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not DATA.is_file():
        print(f"bench_ct_structures: skipped: {DATA} is absent (the shared test studies)")
        return 0
    from napari_medground import cache
    from napari_medground.study import load_study

    study = _resampled(load_study(DATA))
    print(f"example_ct resampled to 0.8 x 0.8 x 1.5 mm: {study.array.shape} voxels; device {args.device}; "
          f"{os.cpu_count()} CPU cores; runtime {os.environ.get('MEDGROUND_SAM_RUNTIME', 'auto')}")
    structures = [s for s in args.structures.split(",") if s]
    baseline = {s for s in args.baseline.split(",") if s}
    rows = []
    cache.clear_all()
    for name in structures:
        seconds, status = _ground(study, TEXTS.get(name, name), args.device)
        rows.append({"structure": name, "seconds": round(seconds, 2), "status": status})
    for row in rows:
        if row["structure"] in baseline and row["structure"] in SAM_ORGANS:
            row["baseline_seconds"] = round(_baseline(study, row["structure"], args.device), 2)
            row["ratio"] = round(row["baseline_seconds"] / max(row["seconds"], 1e-6), 2)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'structure':<20}{'status':<16}{'product s':>10}{'per-slice s':>13}{'ratio':>8}")
    for r in rows:
        base = f"{r['baseline_seconds']:>13.1f}{r['ratio']:>7.1f}x" if "ratio" in r else f"{'-':>13}{'-':>8}"
        print(f"{r['structure']:<20}{r['status']:<16}{r['seconds']:>10.1f}{base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
