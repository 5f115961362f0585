"""The train part: the config's training step in each tools/bench_train.py variant (fp32 eager, bf16 +
channels-last, + compile) on batches cached on the device: crops/s, peak memory, counted FLOPs and MFU against the
data-sheet bf16 peak and a measured matrix product."""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tools.bench_train import VARIANTS, build_variant, train_step
from tools.gpucheck.common import Partial, cached_batches, free_device_memory, load_run_config, sync
from tools.gpucheck.media import media_root
from utils.logs import peak_memory_gib

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets (which print twice these figures
# "with sparsity"), matched in this order against torch.cuda.get_device_name(); the H100 SXM5 reports itself as
# "NVIDIA H100 80GB HBM3". --peak-tflops overrides.
BF16_PEAK_TFLOPS = (("H100 NVL", 835.5), ("H100 PCIe", 756.5), ("H100", 989.5),
                    ("H200 NVL", 835.5), ("H200", 989.5), ("A100", 312.0))


def bf16_peak_tflops(device_name: str) -> float | None:
    """The data-sheet dense bf16 peak of a GPU by its name; None when unknown."""
    for key, peak in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


def measured_matmul_tflops(device: torch.device) -> float:
    """bf16 matrix product rate on random data (median of 10 after 3 warm-ups): 8192³ on CUDA, 512³ on CPU."""
    n = 8192 if device.type == "cuda" else 512
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    times = []
    for i in range(13):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def time_variant(cfg: dict, variant: str, batches: list[dict], settings: dict, device: torch.device,
                 deadline: float, count_flops: bool) -> dict:
    """Warm-up + timed training steps of one tools/bench_train.py variant on the cached batches."""
    free_device_memory(device)
    task, optimizer, step_fn, autocast = build_variant(cfg, variant, device, settings["compile_backend"])
    task.train()
    warmup, steps = settings["train_warmup"], settings["train_steps"]
    times, losses, flops = [], [], None
    for step in range(warmup + steps):
        if step > warmup and time.time() > deadline:
            break
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        if step == 0 and count_flops:  # forward + backward of one step, counted (this warm-up step is slower)
            counter = FlopCounterMode(display=False)
            with counter:
                losses.append(train_step(step_fn, optimizer, autocast, batch))
            flops = counter.get_total_flops()
        else:
            losses.append(train_step(step_fn, optimizer, autocast, batch))
        times.append(time.perf_counter() - start)
    timed = times[warmup:]
    crops = cfg["dataset"]["batch_size"] * cfg["dataset"]["viewpoints"]["num"] * cfg["dataset"]["temporal_clips"]
    result = {"variant": variant, **VARIANTS[variant], "steps": len(timed), "warmup": warmup,
              "first_step_s": times[0], "median_step_s": statistics.median(timed) if timed else None,
              "peak_memory_gib": peak_memory_gib(device), "losses": losses, "crops_per_step": crops}
    result["crops_per_s"] = crops / result["median_step_s"] if timed else None
    if flops is not None:
        result["flops_per_step"] = flops
    del task, optimizer, step_fn
    if VARIANTS[variant]["compile"]:
        torch._dynamo.reset()
    return result


def part_train(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    """Each variant in turn until ``deadline`` (the rest recorded as skipped); one that fails is recorded."""
    cfg = load_run_config(settings, media_root(work, "prepared"), clips_per_video=settings["train_batches"] * 8)
    batches = cached_batches(cfg, settings["train_batches"], device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = settings.get("peak_tflops") or bf16_peak_tflops(name)
    batches_gib = sum(t.numel() * t.element_size() for b in batches for t in b.values()
                      if isinstance(t, torch.Tensor)) / 2**30
    partial.save(config=settings["config"], batch_size=cfg["dataset"]["batch_size"], batches_gib=batches_gib,
                 views=cfg["dataset"]["viewpoints"]["num"], compile_backend=settings["compile_backend"],
                 peak_tflops=peak, peak_source="--peak-tflops" if settings.get("peak_tflops") else (
                     "NVIDIA data sheet (dense bf16)" if peak else None),
                 matmul_tflops=measured_matmul_tflops(device), variants=[])
    flops = None
    for variant in VARIANTS:
        if time.time() > deadline:
            partial.data.setdefault("skipped", []).append(variant)
            partial.save()
            continue
        partial.save(running=variant)
        try:
            result = time_variant(cfg, variant, batches, settings, device, deadline, count_flops=flops is None)
        except Exception as err:  # e.g. out of memory, or a compiler error: recorded, the next variant still runs
            partial.data["variants"].append({"variant": variant, **VARIANTS[variant],
                                             "error": f"{type(err).__name__}: {err}"})
            partial.save(running=None)
            continue
        flops = result.get("flops_per_step", flops)
        if flops and result["median_step_s"]:
            result["tflops_per_s"] = flops / result["median_step_s"] / 1e12
            result["mfu"] = result["tflops_per_s"] / peak if peak else None
            result["matmul_fraction"] = result["tflops_per_s"] / partial.data["matmul_tflops"]
        partial.data["variants"].append(result)
        partial.save(running=None, flops_per_step=flops)
