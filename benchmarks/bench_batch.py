"""Benchmark: `run_batch` rows per second on 1 and 2 local workers, same manifest.

Usage:  .venv/bin/python benchmarks/bench_batch.py [--phantoms 10] [--workers 1,2] [--device cpu]

The manifest: ``--phantoms`` synthetic CT phantoms (distinct seeds, so no per-study
cache is shared between rows) with "right lung", plus the real fast inputs from
../shared/data when present (two chest X-rays with "cardiomegaly", the small CT with
"right lung"). Each worker count runs on a fresh local cluster into a fresh folder and
prints: rows, total seconds (cluster start included) and rows/s, compute seconds
(first submit to last result, worker imports included) and rows/s, then the ratio of
the last worker count's rows/s to the first's. Timings on a shared machine are
inflated by whatever else runs there.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEDGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))


def write_manifest(folder: Path, n_phantoms: int) -> Path:
    """Phantom NIfTIs + the shared fast inputs -> ``folder/manifest.csv``."""
    from napari_medground.synthetic.phantom import make_ct_phantom
    from napari_medground.study.nifti_io import write_nifti

    lines = ["study,finding"]
    for seed in range(n_phantoms):
        study, _ = make_ct_phantom(seed=seed)
        path = folder / f"phantom_{seed:02d}.nii.gz"
        write_nifti(study.array, study, path)
        lines.append(f"{path.name},right lung")
    shared = [("cxr/00000001_000.png", "cardiomegaly"), ("cxr/00027426_000.png", "cardiomegaly"),
              ("totalseg/example_ct_sm.nii.gz", "right lung")]
    for rel, finding in shared:
        if (SHARED / rel).exists():
            lines.append(f"{SHARED / rel},{finding}")
        else:
            print(f"note: {SHARED / rel} absent, row left out", file=sys.stderr)
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phantoms", type=int, default=10)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    from napari_medground.batch import run_batch
    from napari_medground.models.device import physical_cores

    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    rates = []
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        manifest = write_manifest(Path(tmp), args.phantoms)
        print(f"manifest: {sum(1 for _ in open(manifest)) - 1} rows; {physical_cores()} physical core(s); "
              f"load average {os.getloadavg()[0]:.1f}")
        for n in counts:
            s = run_batch(manifest, Path(tmp) / f"out_{n}", workers=n, device=args.device)
            if s.failed:
                print(f"  {s.failed} row(s) failed: "
                      + "; ".join(f"{o.row_id}: {o.reason}" for o in s.failures))
            rates.append((s.rows_per_second, s.rows_per_second_compute))
            print(f"workers {n}: {s.done + s.failed} rows, total {s.seconds:.1f} s = "
                  f"{s.rows_per_second:.3f} rows/s; compute {s.compute_seconds:.1f} s = "
                  f"{s.rows_per_second_compute:.3f} rows/s")
    if len(rates) >= 2 and rates[0][0] > 0 and rates[0][1] > 0:
        print(f"ratio {counts[-1]} vs {counts[0]} workers: total {rates[-1][0] / rates[0][0]:.2f}x, "
              f"compute {rates[-1][1] / rates[0][1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
