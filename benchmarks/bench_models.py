"""Model benchmarks: brain MeshNet end to end vs a naive fp32 PyTorch run; LiteMedSAM timings.

    .venv/bin/python benchmarks/bench_models.py                 # CPU, one region + all regions
    .venv/bin/python benchmarks/bench_models.py --device cuda   # GPU (fp16), naive fp32 on the GPU too
    .venv/bin/python benchmarks/bench_models.py --quick         # skip the whole-volume run

The naive reference is the plain ``nn.Sequential`` MeshNet (default memory layout, fp32,
whole output tensor, argmax) on the same weights in the same process. On the CPU the
full 256^3 volume crashes it (a 7 GB fp32 output at the 104-channel layer), so it runs
on a 128^3 crop and is scaled by voxel count (x8), as ../shared/tools/contract_check.py
does. Timings on a shared machine are inflated by other processes: compare ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("MEDGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))
T1 = SHARED / "brain" / "t1_crop.nii.gz"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def naive_seconds(device: str, size: int) -> float:
    """Plain fp32 PyTorch MeshNet (default layout) on a ``size``^3 crop of t1_crop."""
    import torch

    from napari_medground.models.brain import conform as bc
    from napari_medground.models.brain.meshnet import parse_spec, reference_module
    from napari_medground.models.registry import get_manifest, weights_path
    from napari_medground.models.weights import load_state_dict
    from napari_medground.study.nifti_io import read_nifti

    m = get_manifest("model21_104class")
    state = load_state_dict(weights_path(m), "safetensors")
    net = reference_module(parse_spec(json.loads(m.file_path("spec").read_text()), state), state).to(device)
    conf = bc.conform(read_nifti(T1))
    lo = (256 - size) // 2
    x = conf.network_input(conf.volume[lo:lo + size, lo:lo + size, lo:lo + size])
    xt = torch.from_numpy(x.copy())[None, None].to(device)
    with torch.inference_mode():
        if device.startswith("cuda"):
            net(xt).argmax(1)
            torch.cuda.synchronize()
        t = time.perf_counter()
        net(xt).argmax(1)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t


def bench_brain(device: str, quick: bool, naive_size: int) -> dict:
    t0 = time.perf_counter()
    from napari_medground.models.brain.segment import clear_brain_cache, segment_brain
    from napari_medground.models.device import resolve_device
    from napari_medground.study.nifti_io import read_nifti

    dev = resolve_device(device)
    study, t_load = timed(read_nifti, T1)
    out: dict = {"device": dev, "load_study_s": t_load, "imports_s": time.perf_counter() - t0 - t_load}
    region = ["Left-Hippocampus"]
    seg, out["left_hippocampus_cold_s"] = timed(segment_brain, study, regions=region, device=dev)
    out["left_hippocampus_ml"] = float(seg.mask(region[0]).sum() * study.voxel_volume_ml)
    out["notes"] = list(seg.notes)
    clear_brain_cache()
    _, out["left_hippocampus_warm_s"] = timed(segment_brain, study, regions=region, device=dev)
    _, out["left_hippocampus_cached_s"] = timed(segment_brain, study, regions=region, device=dev)
    out["peak_rss_mb_after_roi"] = peak_rss_mb()
    if not quick:
        clear_brain_cache()
        full, out["all_104_regions_s"] = timed(segment_brain, study, device=dev)
        out["regions_found"] = int(len(set(full.labels.ravel().tolist())) - 1)
        out["peak_rss_mb_after_full"] = peak_rss_mb()
    size = 256 if dev.startswith("cuda") else naive_size
    t_naive = naive_seconds(dev, size)
    out["naive_fp32_s"] = t_naive
    out["naive_size"] = size
    out["naive_full_volume_s"] = t_naive * (256 / size) ** 3
    out["speedup_one_region"] = out["naive_full_volume_s"] / out["left_hippocampus_warm_s"]
    if "all_104_regions_s" in out:
        out["speedup_all_regions"] = out["naive_full_volume_s"] / out["all_104_regions_s"]
    if dev.startswith("cuda"):
        import torch

        out["cuda_peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# ------------------------------------------------------------------ LiteMedSAM
def bench_litemedsam(device: str) -> dict:
    """LiteMedSAM embedding (uncached) and decoder (cached) times -- filled in when
    ``napari_medground.models.litemedsam.segment`` (built by another part of the project) exists."""
    try:
        from napari_medground.models.litemedsam import segment as litemedsam
    except ImportError as exc:
        return {"skipped": f"models/litemedsam.py not available ({exc})"}
    if not hasattr(litemedsam, "segment_box_2d"):
        return {"skipped": "models/litemedsam.py has no segment_box_2d yet"}
    from napari_medground.result import Box
    from napari_medground.study.model import Study
    from napari_medground.study.nifti_io import read_nifti

    t1 = read_nifti(T1)
    # one coronal slice as a 2D study
    study = Study(t1.array[128].copy(), t1.affine_lps[:, [1, 2, 0, 3]], modality="MR")
    try:
        _, cold = timed(litemedsam.segment_box_2d, study, Box((100, 90), (160, 170)), device=device)
        _, warm = timed(litemedsam.segment_box_2d, study, Box((105, 95), (150, 160)), device=device)
    except Exception as exc:  # noqa: BLE001 - another part's API may still move; report, do not fail
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"embedding_plus_decoder_s": cold, "decoder_cached_s": warm, "peak_rss_mb": peak_rss_mb()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    ap.add_argument("--quick", action="store_true", help="skip the whole-volume 104-region run")
    ap.add_argument("--naive-size", type=int, default=128, help="crop edge for the naive CPU run")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if not T1.exists():
        print(f"skipped: {T1} not found (set MEDGROUND_SHARED_DATA)")
        return 0
    res = {"brain_meshnet": bench_brain(args.device, args.quick, args.naive_size),
           "litemedsam": bench_litemedsam(args.device)}
    b = res["brain_meshnet"]
    print(f"MeshNet 104 regions on t1_crop, device {b['device']} (load average {os.getloadavg()[0]:.1f})")
    for k, v in b.items():
        if k != "notes":
            print(f"  {k:<28} {v:.3f}" if isinstance(v, float) else f"  {k:<28} {v}")
    print(f"  one region: {b['speedup_one_region']:.1f}x faster than naive fp32 MeshNet "
          f"({b['naive_full_volume_s']:.1f} s for 256^3, from {b['naive_size']}^3)")
    if "speedup_all_regions" in b:
        print(f"  all regions: {b['speedup_all_regions']:.1f}x")
    print("LiteMedSAM:", json.dumps(res["litemedsam"]))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
