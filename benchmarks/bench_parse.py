"""Benchmark: parse() per prompt (warm) and a cold start that loads the embedding model.

Usage:  .venv/bin/python benchmarks/bench_parse.py [--repeats 3] [--threshold] [--st]

  warm     : every prompt of tests/core/language_prompts.py, parsed ``--repeats`` times in
             one process (rules only, and with the embedding fallback); ms per prompt
             (mean, median, p95, max). Target < 20 ms.
  fallback : prompts that need the embedding (unknown words), warm; ms per prompt.
  paste    : a 5,000-character paste (cut to 2,000), warm; ms. Target < 50 ms.
  cold     : a fresh Python process: import, load the vocabulary and the embedding model,
             parse one prompt with an unknown word; wall seconds (best of 3). Target < 3 s.
  --st     : the cold start again with MEDGROUND_EMBEDDINGS=sentence-transformers.
  --threshold : the similarity table of the threshold validation words.
Prints the figures and whether the targets hold. Timings on a shared 2-core CPU are
inflated by whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.core.language_prompts import EMBEDDING_NEGATIVE, EMBEDDING_POSITIVE, PROMPTS  # noqa: E402

FALLBACK_PROMPTS = [
    "tumorous lesion in the liver",
    "enlarging spleen",
    "left flurbogland",
    "pancreatitis",
    "opacifying right lower lobe",
    "hypothalamus",
    "metastasised nodule",
    "shadow in the left lung",
]


def _stats(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"mean {statistics.mean(ms):.2f} ms, median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, "
        f"max {ms[-1]:.2f} ms (n={len(ms)})"
    )


def warm(repeats: int, use_embeddings: bool) -> list[float]:
    from napari_medground.language import parse

    texts = [t for t, _ in PROMPTS]
    for t in texts:  # warm-up: vocabulary, typo index, model
        parse(t, use_embeddings=use_embeddings)
    out = []
    for _ in range(repeats):
        for t in texts:
            t0 = time.perf_counter()
            parse(t, use_embeddings=use_embeddings)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def fallback(repeats: int) -> list[float]:
    from napari_medground.language import parse

    for t in FALLBACK_PROMPTS:
        parse(t)
    out = []
    for _ in range(repeats):
        for t in FALLBACK_PROMPTS:
            t0 = time.perf_counter()
            parse(t)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def paste() -> float:
    from napari_medground.language import parse

    text = (
        "Small left pleural effusion. No pneumothorax. 6 mm nodule in the right upper lobe. "
        "Lorem ipsum dolor sit amet flurbogland. "
    ) * 40
    text = text[:5000]
    parse(text)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        parse(text)
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def cold(engine: str | None) -> float:
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from napari_medground.language import parse\n"
        "p = parse('tumorous lesion in the liver')\n"
        "assert p.queries[0].proposals, 'the embedding fallback did not run'\n"
        "print(time.perf_counter() - t0)\n"
    )
    env = dict(os.environ)
    if engine:
        env["MEDGROUND_EMBEDDINGS"] = engine
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"cold start failed: {r.stderr.strip().splitlines()[-1:]}")
        times.append(wall)
    return min(times)


def threshold_table() -> None:
    from napari_medground.language import embedding

    words = list(EMBEDDING_POSITIVE) + EMBEDDING_NEGATIVE
    rows = sorted(zip(words, embedding.nearest(words)), key=lambda r: -r[1][2])
    print(f"threshold {embedding.ACCEPT_THRESHOLD}: similarity, word -> nearest term (expected)")
    for w, (term, _kind, sim, near) in rows:
        expected = EMBEDDING_POSITIVE.get(w, "-")
        mark = "ACCEPT" if sim >= embedding.ACCEPT_THRESHOLD else "reject"
        print(f"  {sim:.3f} {mark} {w!r:22} -> {term!r} via {near!r} (expected {expected})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threshold", action="store_true", help="print the threshold validation table")
    ap.add_argument("--st", action="store_true", help="also time a cold start with sentence-transformers")
    args = ap.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (timings inflated when busy)")
    rules = warm(args.repeats, use_embeddings=False)
    full = warm(args.repeats, use_embeddings=True)
    fb = fallback(args.repeats)
    p = paste()
    c = cold(None)
    print(f"warm, rules only     : {_stats(rules)}")
    print(f"warm, with fallback  : {_stats(full)}")
    print(f"warm, fallback used  : {_stats(fb)}")
    print(f"5,000-character paste: {p:.1f} ms (best of 3)")
    print(f"cold start (numpy embedding engine, incl. model): {c:.2f} s (best of 3)")
    if args.st:
        print(f"cold start (sentence-transformers engine): {cold('sentence-transformers'):.2f} s (best of 3)")
    if args.threshold:
        threshold_table()
    ok = statistics.mean(full) < 20 and p < 50 and c < 3
    print(f"targets (< 20 ms warm, < 50 ms paste, < 3 s cold): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
