"""LiteMedSAM timings: model load, image embedding, decoder with a cached embedding,
and a naive baseline that re-encodes the slice for every box.

    .venv/bin/python benchmarks/bench_litemedsam.py [--device cpu|cuda] [--boxes 10]
        [--slices 4] [--batch 1,2,4] [--runtimes torch,openvino] [--json]

``--runtimes`` times the encoder per slice for each CPU runtime (torch fp32, OpenVINO
bf16/fp32 through ``$MEDGROUND_SAM_RUNTIME``) in the same run, with the ratio against
torch, and the click-to-mask time on an encoded slice (a box: one decoder run; a point:
the candidate boxes of ``litemedsam.points.box_from_point``); with ``--box3d N`` also a
3D box over an N-slice lesion end to end (``segment_box_3d``: encoding every slice in the
box, the box scan and the walks), nothing cached beforehand.

The image is a synthetic 512 x 512 CT-like slice (a bright disc in soft tissue), so the
benchmark needs no data files. Times are wall-clock medians in seconds; on a shared
machine they include the contention.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def _study(n_slices: int):
    from napari_medground.study.model import Study

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512]
    disc = (yy - 250) ** 2 + (xx - 270) ** 2 < 60 ** 2
    vol = np.stack([rng.normal(40, 15, disc.shape) + 120 * disc for _ in range(n_slices)]).astype(np.float32)
    return Study(array=vol, affine_lps=np.diag([2.0, 0.8, 0.8, 1.0]), modality="CT")


def _boxes(n: int) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        j = rng.integers(-12, 13, size=4)
        out.append((190 + j[0], 210 + j[1], 310 + j[2], 330 + j[3]))
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run(device: str, n_boxes: int, n_slices: int, batches: list[int]) -> dict:
    import torch

    from napari_medground.models.litemedsam import infer as infer
    from napari_medground.models.litemedsam import runtime as rt
    from napari_medground.models.litemedsam.segment import open_session

    t0 = time.perf_counter()
    model = rt.load_model(device)
    load_s = time.perf_counter() - t0
    study = _study(max(n_slices, max(batches)))
    res: dict = {"device": model.device, "precision": model.precision, "threads": torch.get_num_threads(),
                 "load_s": round(load_s, 3)}

    rt.EMBEDDINGS.clear()
    warm = open_session(study, device=device)
    warm.embeddings([0])  # first call pays one-off allocations
    rt.EMBEDDINGS.clear()

    per_slice = {}
    for b in batches:
        rt.EMBEDDINGS.clear()
        old = infer.GPU_BATCH if model.device.startswith("cuda") else infer.CPU_BATCH
        setattr(infer, "GPU_BATCH" if model.device.startswith("cuda") else "CPU_BATCH", b)
        s = open_session(study, device=device)
        _sync(model.device)
        t = time.perf_counter()
        s.embeddings(list(range(b * max(1, n_slices // b))))
        _sync(model.device)
        per_slice[b] = (time.perf_counter() - t) / (b * max(1, n_slices // b))
        setattr(infer, "GPU_BATCH" if model.device.startswith("cuda") else "CPU_BATCH", old)
    res["encoder_s_per_slice_by_batch"] = {str(k): round(v, 4) for k, v in per_slice.items()}

    boxes = _boxes(n_boxes)
    session = open_session(study, device=device)
    session.embeddings([0])
    dec = []
    for b in boxes:
        _sync(model.device)
        t = time.perf_counter()
        session.segment(0, b)
        _sync(model.device)
        dec.append(time.perf_counter() - t)
    res["decoder_cached_s_median"] = round(statistics.median(dec), 4)

    naive = []
    for b in boxes:  # what a tool without the cache does: encode, then decode, per box
        rt.EMBEDDINGS.clear()
        s = open_session(study, device=device)
        _sync(model.device)
        t = time.perf_counter()
        s.segment(0, b)
        _sync(model.device)
        naive.append(time.perf_counter() - t)
    res["naive_per_box_s_median"] = round(statistics.median(naive), 4)
    cached_total = per_slice[batches[0]] + sum(dec)
    res["boxes"] = n_boxes
    res["cached_total_s"] = round(cached_total, 3)
    res["naive_total_s"] = round(sum(naive), 3)
    res["speedup_naive_over_cached"] = round(sum(naive) / cached_total, 2)
    return res


def _lesion_volume(n_slices: int):
    """A 256 x 256 MR-like volume with an ellipsoid lesion over ``n_slices`` slices (and 4
    empty ones around it), and the 3D box padded by 2 voxels around the lesion."""
    from napari_medground.result import Box
    from napari_medground.study.model import Study

    rng = np.random.default_rng(2)
    nz = n_slices + 4
    zz, yy, xx = np.mgrid[:nz, :256, :256]
    lesion = ((zz - (nz - 1) / 2) / (n_slices / 2)) ** 2 + ((yy - 120) / 30.0) ** 2 + ((xx - 140) / 24.0) ** 2 < 1
    vol = (rng.normal(300, 30, lesion.shape) + 500 * lesion).astype(np.float32)
    idx = np.argwhere(lesion)
    lo, hi = np.maximum(idx.min(0) - 2, 0), np.minimum(idx.max(0) + 2, np.array(vol.shape) - 1)
    study = Study(array=vol, affine_lps=np.diag([1.0, 1.0, 3.0, 1.0]), modality="MR")
    return study, Box(tuple(map(int, lo)), tuple(map(int, hi))), lesion


def run_runtimes(runtimes: list[str], n_slices: int, box3d: int = 0) -> dict:
    """Encoder seconds per slice for each CPU runtime, ratio to torch, click-to-mask times."""
    import os

    from napari_medground.models.litemedsam import points as pts
    from napari_medground.models.litemedsam import runtime as rt
    from napari_medground.models.litemedsam.segment import open_session

    study = _study(n_slices + 1)
    out: dict = {}
    for name in runtimes:
        os.environ["MEDGROUND_SAM_RUNTIME"] = name
        rt.EMBEDDINGS.clear()
        t = time.perf_counter()
        s = open_session(study, device="cpu", zoom=False)  # as the click paths run it
        s.embeddings([n_slices])  # conversion/compilation and first-call allocations
        setup = time.perf_counter() - t
        t = time.perf_counter()
        s.embeddings(list(range(n_slices)))
        enc = (time.perf_counter() - t) / n_slices
        clicks = []
        for box in _boxes(5):  # five different boxes: a repeated one is answered from the session's memo
            t = time.perf_counter()
            s.segment(0, box)
            clicks.append(time.perf_counter() - t)
        t = time.perf_counter()
        pts.box_from_point(s, 0, (250, 270))
        point = time.perf_counter() - t
        out[s.precision] = {"setup_s": round(setup, 2), "encoder_s_per_slice": round(enc, 3),
                            "click_box_to_mask_s": round(statistics.median(clicks), 3),
                            "click_point_to_mask_s": round(point, 3)}
        if box3d:
            from napari_medground.models.litemedsam.segment import segment_box_3d

            vol, box, lesion = _lesion_volume(box3d)
            rt.EMBEDDINGS.clear()
            t = time.perf_counter()
            r = segment_box_3d(vol, box, device="cpu")
            out[s.precision].update({
                "box3d_slices": int(box.max_voxel[0] - box.min_voxel[0] + 1),
                "box3d_s": round(time.perf_counter() - t, 2),
                "box3d_dice": round(2 * float((r.mask & lesion).sum()) / float(r.mask.sum() + lesion.sum()), 3)})
    os.environ.pop("MEDGROUND_SAM_RUNTIME", None)
    base = out.get("fp32", {}).get("encoder_s_per_slice")
    base3d = out.get("fp32", {}).get("box3d_s")
    for v in out.values():
        v["encoder_speedup_vs_torch"] = round(base / v["encoder_s_per_slice"], 2) if base else None
        if "box3d_s" in v:
            v["box3d_speedup_vs_torch"] = round(base3d / v["box3d_s"], 2) if base3d else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--boxes", type=int, default=10)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--batch", default="1,2,4", help="encoder batch sizes to time")
    ap.add_argument("--runtimes", default="", help="CPU runtimes to compare, e.g. torch,openvino,openvino-fp32")
    ap.add_argument("--box3d", type=int, default=0, help="with --runtimes: time a 3D box over this many slices")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.runtimes:
        rts = run_runtimes([r for r in args.runtimes.split(",") if r], args.slices, args.box3d)
        if args.json:
            print(json.dumps(rts))
            return
        for name, v in rts.items():
            print(f"  {name:<14} encoder {v['encoder_s_per_slice']:.3f} s/slice "
                  f"(x{v['encoder_speedup_vs_torch']} vs torch), click box->mask {v['click_box_to_mask_s']:.3f} s, "
                  f"point->mask {v['click_point_to_mask_s']:.3f} s, setup {v['setup_s']:.1f} s")
            if "box3d_s" in v:
                print(f"  {'':<14} 3D box over {v['box3d_slices']} slices {v['box3d_s']:.1f} s "
                      f"(x{v['box3d_speedup_vs_torch']} vs torch), Dice {v['box3d_dice']:.3f}")
        return
    res = run(args.device, args.boxes, args.slices, [int(b) for b in args.batch.split(",")])
    if args.json:
        print(json.dumps(res))
        return
    print(f"LiteMedSAM on {res['device']} ({res['precision']}, {res['threads']} threads)")
    print(f"  model load                      {res['load_s']:.3f} s")
    for b, v in res["encoder_s_per_slice_by_batch"].items():
        print(f"  embedding, batch {b:>2}             {v:.3f} s per slice")
    print(f"  decoder, embedding cached       {res['decoder_cached_s_median'] * 1000:.1f} ms (median)")
    print(f"  naive: encode + decode per box  {res['naive_per_box_s_median']:.3f} s (median)")
    print(f"  {res['boxes']} boxes on one slice: cached {res['cached_total_s']:.2f} s, naive "
          f"{res['naive_total_s']:.2f} s -> {res['speedup_naive_over_cached']:.1f}x")


if __name__ == "__main__":
    main()
