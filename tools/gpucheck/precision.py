"""The precision part: fp32 eager and bf16 + channels-last trained side by side from the same seed on cached
batches: the mean loss of each window of steps and their relative difference."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

from tools.bench_train import build_variant, train_step
from tools.gpucheck.common import Partial, cached_batches, load_run_config
from tools.gpucheck.media import media_root
from utils.checkpoint import capture_rng_state, restore_rng_state
from utils.seeding import seed_everything


def window_comparison(reference: list[float], other: list[float], window: int) -> list[dict]:
    """Mean of each complete ``window``-step window of two loss curves and their relative difference
    |other − reference| / |reference|."""
    rows = []
    for start in range(0, min(len(reference), len(other)) - window + 1, window):
        a = statistics.fmean(reference[start:start + window])
        b = statistics.fmean(other[start:start + window])
        rows.append({"steps": [start, start + window], "fp32": a, "bf16": b,
                     "relative_difference": abs(b - a) / max(abs(a), 1e-12)})
    return rows


class RandomStream:
    """Generator states (`utils.checkpoint.capture_rng_state`) of one of two models trained side by side, so that
    each draws the numbers it would draw alone (dropout), starting from the same state."""

    def __init__(self):
        self.state = capture_rng_state()

    @contextmanager
    def active(self):
        restore_rng_state(self.state)
        try:
            yield
        finally:
            self.state = capture_rng_state()


def part_precision(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    """Both models one step each on the same batch until ``deadline``; the windows saved as they complete."""
    cfg = load_run_config(settings, media_root(work, "prepared"), clips_per_video=settings["precision_batches"] * 8)
    batches = cached_batches(cfg, settings["precision_batches"], device)
    variants = {"fp32": "fp32", "bf16": "bf16-cl"}
    runs = {name: build_variant(cfg, variant, device) for name, variant in variants.items()}  # same seed: same init
    seed_everything(cfg["seed"])
    streams = {name: RandomStream() for name in runs}
    losses = {name: [] for name in runs}
    window = settings["window"]
    partial.save(variants=variants, window=window, batches=len(batches), steps_planned=settings["precision_steps"])
    for step in range(settings["precision_steps"]):
        if time.time() > deadline:
            break
        for name, (task, optimizer, step_fn, autocast) in runs.items():
            task.train()
            with streams[name].active():
                losses[name].append(train_step(step_fn, optimizer, autocast, batches[step % len(batches)]))
        if (step + 1) % window == 0:
            partial.save(losses=losses, steps=step + 1,
                         windows=window_comparison(losses["fp32"], losses["bf16"], window))
    partial.save(losses=losses, steps=len(losses["fp32"]),
                 windows=window_comparison(losses["fp32"], losses["bf16"], window))
