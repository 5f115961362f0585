#!/usr/bin/env python
"""Milliseconds per forward + backward of the paper's AVSA criterion (translation transformers of depth 2, four heads,
InfoNCE) at B = 28 samples × K = 4 viewpoints × 512-d embeddings on the CPU, for both negative sets.

    python tools/bench_criterion.py [--threads 2] [--steps 20] [--json results/bench_criterion.json]

The original's Video2AudioSeq took 86.8 ms per step for the same shapes on a 2-core machine (issue #5). The step is
dominated by the translators' matrix products (B·K = 112 tokens through 4 layers of 3.15 M weights: about 8.5 GFLOP
forward + backward), so the tool also measures this machine's matrix-product throughput right before, which gives the
floor any implementation of the same network has here (the machine may be shared and busy). The part that differs
from the original, the contrast (candidate logits + InfoNCE on the 128-d projections, both directions), is also
timed alone against a re-write of the original's recipe: a Python double loop builds the (B·K, K+B−1)
candidate index table on every call, then a gather and a batched dot product.
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from criterions import LOSS_SCHEMA, build_criterion  # noqa: E402
from criterions.infonce import candidate_logits, info_nce  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.files import write_json  # noqa: E402

ORIGINAL_MS = 86.8


def matmul_gflops(repeats: int = 30) -> float:
    """Throughput of a (112 × 512) @ (512 × 2048) product, the translators' typical shape."""
    a, b = torch.randn(112, 512), torch.randn(512, 2048)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 112 * 512 * 2048 * repeats / (time.perf_counter() - start) / 1e9


def translator_gflop(samples: int, views: int, dim: int, depth: int = 2, expansion: int = 4) -> float:
    """Forward + backward (≈ 3 × forward) multiply-adds × 2 of both translators' linear layers."""
    per_token_layer = 4 * dim * dim + 2 * expansion * dim * dim
    return 3 * 2 * samples * views * 2 * depth * per_token_layer / 1e9


def time_criterion(negatives: str, samples: int, views: int, dim: int, steps: int, warmup: int = 3) -> list[float]:
    """Per-step times (ms) of criterion(video, audio, position) + backward, criterion in train mode (dropout on)."""
    cfg = LOSS_SCHEMA.validate({"name": "avsa", "negatives": negatives}, "loss", lambda key: "bench")
    criterion = build_criterion(cfg, feature_dim=dim).train()
    generator = torch.Generator().manual_seed(0)
    video = torch.rand(samples, views, dim, generator=generator).requires_grad_(True)
    audio = torch.rand(samples, views, dim, generator=generator).requires_grad_(True)
    position = torch.rand(samples, views, 3, generator=generator)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        loss, _ = criterion(video, audio, position)
        loss.backward()
        if step >= warmup:
            times.append(1000 * (time.perf_counter() - start))
        criterion.zero_grad(set_to_none=True)
        video.grad = audio.grad = None
    return times


def original_style_contrast(predictions: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """The released code's easy+hard InfoNCE: per-call index table from a Python double loop."""
    samples, views = predictions.shape[:2]
    table = [[i * views + l for l in range(views)] + [n * views + j for n in range(samples) if n != i]
             for i in range(samples) for j in range(views)]
    candidates = targets.flatten(0, 1)[torch.tensor(table)]  # (B·K, K + B - 1, P)
    logits = torch.einsum("np,ncp->nc", predictions.flatten(0, 1), candidates) / temperature
    return F.cross_entropy(logits, torch.arange(views).repeat(samples))


def time_contrast(samples: int, views: int, proj_dim: int, steps: int, warmup: int = 3) -> dict[str, float]:
    """Median ms of forward + backward of both directions' contrast alone: ours vs the original's recipe."""
    generator = torch.Generator().manual_seed(0)
    features = [F.normalize(torch.randn(samples, views, proj_dim, generator=generator), dim=-1).requires_grad_(True)
                for _ in range(4)]
    recipes = {"ours": lambda p, t: info_nce(*candidate_logits(p, t, 0, "reference", 0.07)),
               "original recipe": lambda p, t: original_style_contrast(p, t, 0.07)}
    losses = {name: recipe(features[0], features[1]) for name, recipe in recipes.items()}
    assert torch.allclose(losses["ours"], losses["original recipe"], atol=1e-5), losses  # same loss
    medians = {}
    for name, recipe in recipes.items():
        times = []
        for step in range(warmup + steps):
            start = time.perf_counter()
            (recipe(features[0], features[1]) + recipe(features[2], features[3])).backward()
            if step >= warmup:
                times.append(1000 * (time.perf_counter() - start))
        medians[name] = statistics.median(times)
    return medians


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default %(default)s)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--samples", type=int, default=28, help="B")
    parser.add_argument("--views", type=int, default=4, help="K")
    parser.add_argument("--dim", type=int, default=512, help="embedding size")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
               "shape": [args.samples, args.views, args.dim], "original_ms": ORIGINAL_MS}
    gflops, gflop = matmul_gflops(), translator_gflop(args.samples, args.views, args.dim)
    results.update(matmul_gflops=gflops, translator_gflop=gflop, matmul_floor_ms=1000 * gflop / gflops)
    print(f"AVSA criterion forward+backward, B={args.samples} K={args.views} D={args.dim}, "
          f"{args.threads} threads, {args.steps} steps (original: {ORIGINAL_MS} ms)")
    print(f"  matrix products here now: {gflops:.1f} GFLOP/s -> the translators' {gflop:.1f} GFLOP need "
          f">= {1000 * gflop / gflops:.0f} ms")
    for negatives in ("reference", "paper"):
        times = time_criterion(negatives, args.samples, args.views, args.dim, args.steps)
        results[negatives] = {"median_ms": statistics.median(times), "min_ms": min(times)}
        print(f"  negatives={negatives:9s} median {statistics.median(times):6.1f} ms   min {min(times):6.1f} ms   "
              f"speed-up vs original {ORIGINAL_MS / statistics.median(times):4.1f}x")
    contrast = time_contrast(args.samples, args.views, 128, args.steps)
    results["contrast_median_ms"] = contrast
    print("  contrast alone (negatives=reference, both directions): "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in contrast.items()))
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    run_main(main)
