#!/usr/bin/env python
"""Training-step throughput of a pre-training config: crops/s, peak memory, data-wait fraction and model FLOP rate,
for fp32 eager vs bf16 autocast + channels-last + cudnn.benchmark (+ torch.compile).

    python tools/bench_train.py CONFIG [--variants fp32,bf16-cl,bf16-cl-compile] [--steps 20] [--warmup 3]
                                [--batch-size B] [--workers W] [--threads T] [--device cpu|cuda]
                                [--peak-tflops P] [--set KEY=VALUE ...] [--json PATH]

Each variant runs in its own process on the engine's data path (``engine.data.DeviceBatches``) and autocast; what
each figure measures: docs/performance.md ("Training step").
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from criterions import build_criterion  # noqa: E402
from datasets import build_dataset  # noqa: E402
from engine.data import DeviceBatches, make_loader  # noqa: E402
from engine.loop import autocast, cpu_threads, to_channels_last  # noqa: E402
from engine.optim import build_optimizer  # noqa: E402
from engine.pretext import PretextTask  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from models import build_model  # noqa: E402
from utils.audio_features import AudioFeatures  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.distributed import select_device  # noqa: E402
from utils.logs import peak_memory_gib  # noqa: E402
from utils.seeding import seed_everything  # noqa: E402

VARIANTS = {
    "fp32": {"precision": "fp32", "channels_last": False, "compile": False},
    "bf16-cl": {"precision": "bf16", "channels_last": True, "compile": False},
    "bf16-cl-compile": {"precision": "bf16", "channels_last": True, "compile": True},
}


def crop_shapes(data: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of one crop's video (3, T, crop, crop) and audio (C, frames, n_mels) input for a YT-360 ``dataset``
    section (C: 4 log-mels, + 3 intensity-vector channels with ``audio.intensity``)."""
    frames = int(round(data["video"]["clip_duration"] * data["video"]["fps"]))
    crop = data["video"]["crop_size"]
    return (3, frames, crop, crop), AudioFeatures.from_recipe(data["audio"]).shape


def flops_per_crop(model, cfg: dict, device) -> dict:
    """Forward FLOPs of one crop through the video encoder, the audio encoder and the whole model (counted in eval
    mode: one crop would leave BatchNorm a single value per channel at small sizes; the count is the same)."""
    video_shape, audio_shape = crop_shapes(cfg["dataset"])
    video = torch.zeros(1, *video_shape, device=device)
    audio = torch.zeros(1, *audio_shape, device=device)
    counts, training = {}, model.training
    model.eval()
    with torch.no_grad():
        for name, run in (("video encoder", lambda: model.video_model(video)),
                          ("audio encoder", lambda: model.audio_model(audio)),
                          ("model", lambda: model(video, audio))):
            counter = FlopCounterMode(display=False)
            with counter:
                run()
            counts[name] = counter.get_total_flops()
    model.train(training)
    return counts


def build_variant(cfg: dict, variant: str, device: torch.device, compile_backend: str = "inductor"):
    """One variant's pre-training task (encoders + criterion, initialised from ``cfg["seed"]``) on ``device``, its
    optimizer, the callable a step runs (the task, or the task compiled) and the step's autocast context."""
    options = VARIANTS[variant]
    seed_everything(cfg["seed"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = options["channels_last"]  # fp32 eager: the default (off)
    model = build_model(cfg["model"], load_init=False)
    task = PretextTask(model, build_criterion(cfg["loss"], feature_dim=model.out_dim)).to(device)
    if options["channels_last"]:
        to_channels_last(task)
    optimizer = build_optimizer(cfg["optimizer"], [p for p in task.parameters() if p.requires_grad])
    step_fn = torch.compile(task, backend=compile_backend) if options["compile"] else task
    return task, optimizer, step_fn, autocast(options["precision"], device)


def train_step(step_fn, optimizer, autocast, batch: dict) -> float:
    """One optimizer step on a finished batch, as `engine.loop.train_one_epoch` does; the loss (syncs the device)."""
    with autocast:
        loss, _ = step_fn(batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def run_variant(cfg: dict, variant: str, steps: int, warmup: int, device: torch.device) -> dict:
    """Train ``warmup + steps`` steps of one variant; timings of the last ``steps``."""
    options = VARIANTS[variant]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    task, optimizer, step_fn, autocast = build_variant(cfg, variant, device)
    flops = flops_per_crop(task.model, cfg, device)
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    batch_size = cfg["dataset"]["batch_size"]
    loader = make_loader(dataset, batch_size, cfg, train=True, device=device)
    crops = batch_size * cfg["dataset"]["viewpoints"]["num"] * cfg["dataset"]["temporal_clips"]
    waits, totals, cpu, losses = [], [], [], []
    epoch = 0
    task.train()
    while len(totals) < warmup + steps:
        stream = DeviceBatches(loader, device, epoch=epoch)
        end, end_cpu = time.perf_counter(), time.process_time()
        for batch in stream:  # on the device, finished by the dataset's device transform
            losses.append(train_step(step_fn, optimizer, autocast, batch))  # also synchronises the device
            now, now_cpu = time.perf_counter(), time.process_time()
            waits.append(stream.wait_s)
            totals.append(now - end)
            cpu.append(now_cpu - end_cpu)
            end, end_cpu = now, now_cpu
            if len(totals) == warmup + steps:
                break
        epoch += 1
    waits, totals, cpu = waits[warmup:], totals[warmup:], cpu[warmup:]
    step_s = statistics.median(totals)
    result = {"variant": variant, **options, "batch_size": batch_size, "crops_per_step": crops,
              "steps": steps, "median_step_s": step_s, "crops_per_s": crops / step_s,
              "data_wait_fraction": sum(waits) / sum(totals), "main_cpu_s_per_step": statistics.median(cpu),
              "losses": losses, "flops_per_crop_forward": flops,
              "threads": torch.get_num_threads(), "workers": cfg["num_workers"], "device": str(device)}
    # Forward + backward ≈ 3 × forward.
    result["model_tflops_per_s"] = 3 * flops["model"] * result["crops_per_s"] / 1e12
    result["peak_memory_gib"] = peak_memory_gib(device)  # this variant's: it runs in its own process
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    add_overrides(parser)
    parser.add_argument("--variants", default="fp32,bf16-cl", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (workers start, compile)")
    parser.add_argument("--batch-size", type=int, help="override dataset.batch_size")
    parser.add_argument("--workers", type=int, help="override num_workers")
    parser.add_argument("--threads", type=int, help="torch intra-op threads of the training process "
                        "(default: the engine's choice)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--peak-tflops", type=float, help="device peak for the model FLOP utilisation")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one variant in this process
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.batch_size:
        overrides.append(f"dataset.batch_size={args.batch_size}")
    if args.workers is not None:
        overrides.append(f"num_workers={args.workers}")
    cfg = load_config(args.config, overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    device, warning = select_device(args.device or "auto", name="--device")
    if warning and not args.only:
        print(f"warning: {warning}", file=sys.stderr)

    if args.only:
        if args.threads:
            torch.set_num_threads(args.threads)
        elif device.type == "cpu":
            torch.set_num_threads(cpu_threads(cfg["num_workers"]))
        result = run_variant(cfg, args.only, args.steps, args.warmup, device)
        with open(args.json, "w") as f:
            json.dump(result, f)
        return 0

    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        with tempfile.NamedTemporaryFile(suffix=".json") as part:
            command = [sys.executable, os.path.abspath(__file__), *(argv if argv is not None else sys.argv[1:]),
                       "--only", variant, "--json", part.name]
            subprocess.run(command, check=True)
            with open(part.name) as f:
                results.append(json.load(f))
    base = results[0]
    print(f"{args.config}: batch {base['batch_size']} ({base['crops_per_step']} crops), {base['workers']} workers, "
          f"{base['threads']} threads, {base['device']}, median of {args.steps} steps after {args.warmup}")
    print("  forward GFLOPs per crop: " + ", ".join(f"{k} {v / 1e9:.2f}"
                                                   for k, v in base["flops_per_crop_forward"].items()))
    print(f"  {'variant':<18}{'crops/s':>9}{'vs fp32':>9}{'step s':>9}{'CPU s':>7}{'data wait':>11}{'peak GiB':>10}"
          f"{'TFLOP/s':>9}{'MFU':>7}  loss first -> last")
    for r in results:
        mfu = f"{100 * r['model_tflops_per_s'] / args.peak_tflops:.1f}%" if args.peak_tflops else "-"
        print(f"  {r['variant']:<18}{r['crops_per_s']:>9.2f}{r['crops_per_s'] / base['crops_per_s']:>8.2f}x"
              f"{r['median_step_s']:>9.3f}{r['main_cpu_s_per_step']:>7.2f}{100 * r['data_wait_fraction']:>10.1f}%"
              f"{r['peak_memory_gib']:>10.2f}"
              f"{r['model_tflops_per_s']:>9.3f}{mfu:>7}  {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}")
    summary = {"config": args.config, "overrides": overrides, "load_before": load_before,
               "load_after": [round(x, 2) for x in os.getloadavg()],
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "torch": torch.__version__,
                           "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
               "results": results}
    print(f"  load average before/after: {summary['load_before']} / {summary['load_after']}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    run_main(main)
