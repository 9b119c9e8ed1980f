"""Benchmark: load_study on a synthetic 512x512x400 CT series vs a plain pydicom loop.

Usage:  .venv/bin/python benchmarks/bench_load.py [--slices 400] [--size 512] [--repeats 2]

Writes an uncompressed int16 CT series (RescaleIntercept -1024, shuffled file names)
to a temporary folder, then times, in the same run and on the same (cached) files:
  naive : dcmread each file, sort by ImagePositionPatient z, stack pixel_array*slope+intercept
  ours  : napari_medground.load_study(folder)
and prints both times (best of ``--repeats``), the ratio, and whether the targets hold
(>= 2x faster than naive, < 3 s). Also checks both give the same HU values.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def naive_load(folder: Path) -> np.ndarray:
    """The plain pydicom loop a script would write."""
    import pydicom

    slices = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])


def write_series(folder: Path, n_slices: int, size: int) -> None:
    from napari_medground.synthetic.dicom import geometry_affine, write_dicom_series

    rng = np.random.default_rng(0)
    vol = rng.integers(0, 2500, size=(n_slices, size, size), dtype=np.int16)
    affine = geometry_affine((1.25, 0.7, 0.7), (-180.0, -180.0, -400.0))
    write_dicom_series(folder, vol, affine, slope=1.0, intercept=-1024.0, shuffle_seed=1)


def best_time(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    from napari_medground.study import load_study

    with tempfile.TemporaryDirectory(prefix="medground-bench-") as tmp:
        folder = Path(tmp) / "ct"
        t = time.perf_counter()
        write_series(folder, args.slices, args.size)
        print(f"wrote {args.slices} slices of {args.size}x{args.size} in {time.perf_counter() - t:.1f} s")
        t_naive, ref = best_time(lambda: naive_load(folder), args.repeats)
        ref_shape = ref.shape
        ref_sum = float(ref.sum(dtype=np.float64))
        del ref
        t_ours, study = best_time(lambda: load_study(folder), args.repeats)
        same = study.shape == ref_shape and float(study.array.sum(dtype=np.float64)) == ref_sum
    ratio = t_naive / t_ours
    print(f"naive pydicom loop: {t_naive:.2f} s")
    print(f"load_study:         {t_ours:.2f} s ({study.array.dtype}, {study.shape})")
    print(f"ratio:              {ratio:.1f}x faster (target >= 2x); under 3 s: {t_ours < 3.0}; same values: {same}")
    return 0 if (ratio >= 2 and t_ours < 3.0 and same) else 1


if __name__ == "__main__":
    sys.exit(main())
