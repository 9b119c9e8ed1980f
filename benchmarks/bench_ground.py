"""End-to-end `medground ground` timings (fresh process: start-up, loading, conforming,
model, measurements, files), each against a naive baseline measured in the same run.

    python benchmarks/bench_ground.py [--device cpu|cuda] [--data ../shared/data]

Brain: "left hippocampus" on brain/t1_crop.nii.gz against a naive fp32 PyTorch MeshNet
forward of the same weights (8 x 128^3 crops stand for the 256^3 volume, whose naive
run crashes at the 104-channel layer).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEDGROUND = [sys.executable, "-m", "napari_medground.cli"]


def run_ground(study: Path, text: str, device: str) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-ground-"))
    t = time.perf_counter()
    p = subprocess.run([*MEDGROUND, "ground", str(study), text, "--out", str(out), "--device", device],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"ground failed: {p.stderr.strip()[-300:]}")
    json.loads((out / "result.json").read_text())
    return dt


def naive_meshnet_seconds(model_dir: Path, size: int = 128) -> float:
    """Plain nn.Sequential fp32 forward of the MeshNet weights on one size^3 crop."""
    import torch
    import torch.nn as nn
    from safetensors.torch import load_file

    spec = json.loads((model_dir / "model.json").read_text())
    layers = []
    for i, lay in enumerate(spec["layers"]):
        layers.append(nn.Conv3d(lay["in_channels"], lay["out_channels"], lay["kernel_size"],
                                padding=lay["padding"], dilation=lay["dilation"]))
        if i < len(spec["layers"]) - 1:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    state = load_file(str(model_dir / "model.safetensors"))
    net.load_state_dict({k.replace("model.", ""): v for k, v in state.items()})
    net.eval()
    x = torch.rand(1, 1, size, size, size)
    with torch.inference_mode():
        t = time.perf_counter()
        net(x)
        return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args(argv)
    t1 = args.data / "brain" / "t1_crop.nii.gz"
    if not t1.exists():
        print(f"shared data not found at {args.data}: nothing to time")
        return 0
    weights = REPO / "resources" / "weights" / "brainchop" / "model21_104class"
    brain = run_ground(t1, "left hippocampus", args.device)
    naive = 8 * naive_meshnet_seconds(weights)
    print(f"brain 'left hippocampus' end to end: {brain:.1f} s; naive fp32 MeshNet (8 x 128^3): {naive:.1f} s; "
          f"ratio {naive / brain:.1f}x (target: <= 10 s end to end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
