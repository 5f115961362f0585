"""The loader part: the engine's loader with ``augment_on: gpu`` on both file kinds, the model step simulated by
sleeping the fastest bf16 step: the fraction of the time spent waiting for data, and the loader's own rate."""

from __future__ import annotations

import math
import statistics
import time

import torch

from datasets import build_dataset
from engine.data import DeviceBatches, make_loader
from tools.gpucheck.common import MEDIA_KINDS, Partial, load_run_config, sync
from tools.gpucheck.media import media_root

def loader_run(cfg: dict, device: torch.device, step_s: float, settings: dict, deadline: float) -> dict:
    """Steps of [wait for a batch, finish it on the device, sleep ``step_s``]: 2 × workers warm-up steps (the
    workers start and their first batches arrive together), ``loader_steps`` timed ones; then without the sleep,
    2 × workers steps that drain what the workers had prefetched, and ``capacity_steps`` timed: the loader's rate."""
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    batch_size = cfg["dataset"]["batch_size"]
    loader = make_loader(dataset, batch_size, cfg, train=True, device=device)
    stream = DeviceBatches(loader, device, epoch=0)
    iterator = iter(stream)
    warmup = 2 * cfg["num_workers"]
    phases = {"warmup": (warmup, step_s), "timed": (settings["loader_steps"], step_s), "drain": (warmup, 0.0),
              "capacity": (settings["capacity_steps"], 0.0)}
    records = {phase: [] for phase in phases}
    started = time.perf_counter()
    for phase, (count, sleep_s) in phases.items():
        for _ in range(count):
            if phase != "warmup" and time.time() > deadline:
                break
            begin = time.perf_counter()
            next(iterator)  # waits for the loader (stream.wait_s), then finishes the batch on the device
            sync(device)
            finished = time.perf_counter()
            time.sleep(sleep_s)
            records[phase].append((stream.wait_s, finished - begin - stream.wait_s, time.perf_counter() - begin))
    del iterator, stream, loader
    timed, capacity = records["timed"], records["capacity"]
    result = {"workers": cfg["num_workers"], "batch_size": batch_size, "simulated_step_s": step_s,
              "warmup_steps": len(records["warmup"]), "timed_steps": len(timed), "capacity_steps": len(capacity),
              "seconds": time.perf_counter() - started}
    if timed:
        result["data_wait_fraction"] = sum(r[0] for r in timed) / sum(r[2] for r in timed)
        result["device_transform_ms"] = 1000 * statistics.median(r[1] for r in timed)
        result["step_s"] = sum(r[2] for r in timed) / len(timed)
    if capacity:  # batches (waited for and finished on the device) per second, with no model step
        result["capacity_samples_per_s"] = len(capacity) * batch_size / sum(r[2] for r in capacity)
    if step_s > 0:
        result["needed_samples_per_s"] = batch_size / step_s  # what the model step alone consumes
    return result


def part_loader(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    """`loader_run` on each file kind, with an epoch long enough to hold every batch it asks for."""
    step_s = min(settings.get("step_s") or 0.0, settings.get("max_simulated_step_s") or math.inf)
    partial.save(simulated_step_s=step_s, step_source=settings.get("step_source"), media={})
    batches = 4 * settings["workers"] + settings["loader_steps"] + settings["capacity_steps"]
    for n, kind in enumerate(MEDIA_KINDS):
        partial.save(running=kind)
        batch_size = load_run_config(settings, media_root(work, kind))["dataset"]["batch_size"]
        # one epoch (8 videos × clips_per_video samples) holds every batch: no epoch boundary in the timings
        cfg = load_run_config(settings, media_root(work, kind), clips_per_video=math.ceil(batches * batch_size / 8)
                              + 1, workers=settings["workers"])
        # the first kind may use only its half of the time left
        share = deadline if n == len(MEDIA_KINDS) - 1 else time.time() + (deadline - time.time()) / 2
        try:
            partial.data["media"][kind] = loader_run(cfg, device, step_s, settings, share)
        except Exception as err:  # e.g. workers killed for lack of shared memory: record it, try the other files
            partial.data["media"][kind] = {"workers": settings["workers"], "error": f"{type(err).__name__}: {err}"}
        partial.save(running=None)
