#!/usr/bin/env python
"""One prepared check of a CUDA GPU: the tests marked ``gpu``, the paper config's training step, the loader's data
wait and bf16 vs fp32 loss, in one command that writes one JSON and one Markdown section (docs/performance.md).

    python tools/gpu_check.py [--out DIR] [--budget-s 450] [--parts media,tests,train,loader,precision]
                              [--config CONFIG] [--set KEY=VALUE ...] [--device cuda|cpu] [--quick]
                              [--peak-tflops P] [--step-s S] [--work DIR]
    sh tools/gpu_check.sh     # on a machine without PyAV: installs the wheels carried in .whl/, then the above

Each part runs in its own process with its share of ``--budget-s``; docs/performance.md ("GPU check") describes the
parts, their targets and the dry run on the CPU (``--device cpu --quick``).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import torch  # noqa: E402
from torch.utils.data import default_collate  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from datasets import build_dataset  # noqa: E402
from datasets.audio_stats import ensure_stats  # noqa: E402
from engine.data import DeviceBatches, make_loader, to_device  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from tools.bench_data import write_media_root  # noqa: E402
from tools.bench_train import VARIANTS, build_variant, train_step  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.distributed import select_device  # noqa: E402
from utils.files import write_json, write_text  # noqa: E402
from utils.logs import peak_memory_gib  # noqa: E402
from utils.provenance import git_state  # noqa: E402
from utils.seeding import seed_everything  # noqa: E402

PARTS = ("media", "tests", "train", "loader", "precision")
# Share of the budget per part; a part's deadline is the start plus the cumulative shares up to and including it.
SHARES = {"media": 0.07, "tests": 0.22, "train": 0.32, "loader": 0.14, "precision": 0.25}
PAPER_CONFIG = "configs/main/avsa/NoCur-Loc4-TransfD2.yaml"
DEMO_CONFIG = "configs/demo/avsa.yaml"
MEDIA_KINDS = ("gop250", "prepared")
TARGETS = {"speedup": 2.5, "data_wait": 0.05, "precision": 0.01}

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets (which print twice these figures
# "with sparsity"), matched in this order against torch.cuda.get_device_name(); the H100 SXM5 reports itself as
# "NVIDIA H100 80GB HBM3". --peak-tflops overrides.
BF16_PEAK_TFLOPS = (("H100 NVL", 835.5), ("H100 PCIe", 756.5), ("H100", 989.5),
                    ("H200 NVL", 835.5), ("H200", 989.5), ("A100", 312.0))

# Sizes of the full check and of the dry run (--quick).
FULL = {"config": PAPER_CONFIG, "overrides": [], "media_seconds": 10.0, "media_height": 320, "workers": 16,
        "train_warmup": 3, "train_steps": 20, "train_batches": 2, "loader_steps": 96, "capacity_steps": 48,
        "precision_steps": 200, "window": 20, "precision_batches": 4}
QUICK = {"config": DEMO_CONFIG,
         "overrides": ["dataset.batch_size=2", "dataset.video.crop_size=16", "model.video.width=4",
                       "model.audio.width=4", "dataset.decode_cache_mb=0"],
         "media_seconds": 2.0, "media_height": 64, "workers": 2, "train_warmup": 1, "train_steps": 2,
         "train_batches": 2, "loader_steps": 8, "capacity_steps": 4, "precision_steps": 10, "window": 5,
         "precision_batches": 2, "max_simulated_step_s": 0.02}


# ------------------------------------------------------------------------------------------ small pure helpers
def bf16_peak_tflops(device_name: str) -> float | None:
    """The data-sheet dense bf16 peak of a GPU by its name; None when unknown."""
    for key, peak in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


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


def deadlines(start: float, budget_s: float, parts: list[str]) -> dict[str, float]:
    """Each part's deadline: ``start`` + the budget's cumulative shares of the parts run (rescaled to sum to 1)."""
    total = sum(SHARES[p] for p in parts)
    out, used = {}, 0.0
    for part in parts:
        used += SHARES[part] / total
        out[part] = start + used * budget_s
    return out


def evaluate_targets(parts: dict) -> dict:
    """Pass / fail of each target from the parts' results; a target whose part has no figure is absent."""
    def results(name: str) -> dict:
        return (parts.get(name) or {}).get("results") or {}

    targets = {}
    counts = results("tests").get("counts")
    if counts:
        complete = parts["tests"]["status"] == "ok"
        targets["tests"] = {"value": counts, "target": "all pass", "complete": complete,
                            "pass": complete and counts.get("passed", 0) > 0
                            and counts.get("failed", 0) + counts.get("error", 0) == 0}
    variants = {v["variant"]: v for v in results("train").get("variants", []) if v.get("crops_per_s")}
    fast = [v for v in variants.values() if v["precision"] == "bf16"]
    if "fp32" in variants and fast:
        best = max(fast, key=lambda v: v["crops_per_s"])
        ratio = best["crops_per_s"] / variants["fp32"]["crops_per_s"]
        targets["speedup"] = {"value": ratio, "variant": best["variant"], "target": TARGETS["speedup"],
                              "pass": ratio >= TARGETS["speedup"]}
    for kind, result in results("loader").get("media", {}).items():
        if result.get("data_wait_fraction") is not None:
            targets[f"data_wait_{kind}"] = {"value": result["data_wait_fraction"], "target": TARGETS["data_wait"],
                                            "pass": result["data_wait_fraction"] <= TARGETS["data_wait"]}
    windows = results("precision").get("windows", [])
    if windows:
        worst = max(w["relative_difference"] for w in windows)
        targets["precision"] = {"value": worst, "windows": len(windows), "target": TARGETS["precision"],
                                "pass": worst <= TARGETS["precision"]}
    return targets


# ------------------------------------------------------------------------------------------ context of a run
def settings_for(args) -> dict:
    settings = dict(QUICK if args.quick else FULL)
    settings["config"] = args.config or settings["config"]
    settings["overrides"] = settings["overrides"] + list(args.overrides or [])
    settings["compile_backend"] = args.compile_backend or ("inductor" if args.device == "cuda" else "aot_eager")
    return settings


def load_run_config(settings: dict, root: str, clips_per_video: int = 1, workers: int = 0) -> dict:
    """The check's config: the chosen config with ``augment_on: gpu`` on a generated media root."""
    overrides = list(settings["overrides"]) + [
        f"num_workers={workers}", "dataset.augment_on=gpu", f"dataset.train.clips_per_video={clips_per_video}",
        f"dataset.root={root}", f"dataset.cache_dir={os.path.join(root, '.cache')}"]
    return load_config(os.path.join(REPO, settings["config"]), overrides, required=("dataset", "model", "loss"),
                       schema=PRETRAIN_SCHEMA)


def machine_info(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "cpu_cores": os.cpu_count(),
            "device_type": device.type, "date": datetime.date.today().isoformat()}
    try:
        info["shm_free_gib"] = round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
    except OSError:
        info["shm_free_gib"] = None
    git = git_state(REPO)
    info["commit"] = git["commit"][:12] if git else os.environ.get("AVSA_COMMIT")  # a copy without .git: the caller says
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), capability=f"{props.major}.{props.minor}",
                    gpu_memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
                    tf32={"cudnn": torch.backends.cudnn.allow_tf32,
                          "matmul": torch.backends.cuda.matmul.allow_tf32})
        smi = shutil.which("nvidia-smi")
        if smi:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                                 text=True)
            info["driver"] = out.stdout.strip() or None
    else:
        info["device"] = f"CPU ({platform.processor() or platform.machine()})"
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_device_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


class Partial:
    """The results of one part, rewritten to its JSON file after every step of the part."""

    def __init__(self, path: str, **fields):
        self.path, self.data = path, {"complete": False, **fields}
        self.save()

    def save(self, **fields) -> None:
        self.data.update(fields)
        write_json(self.path, self.data)


# ------------------------------------------------------------------------------------------ part: media
def part_media(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    os.makedirs(os.path.join(work, "media"), exist_ok=True)
    for kind in MEDIA_KINDS:
        start = time.perf_counter()
        root = write_media_root(os.path.join(work, "media"), kind, settings["media_seconds"],
                                settings["media_height"])
        ensure_stats(load_run_config(settings, root)["dataset"])  # their log-mel statistics, as a real dataset's
        partial.save(**{kind: {"root": root, "seconds": time.perf_counter() - start}})
    height = settings["media_height"]
    partial.save(size=[2 * height, height], segment_seconds=settings["media_seconds"])


def media_root(work: str, kind: str) -> str:
    root = os.path.join(work, "media", kind)
    if not os.path.isfile(os.path.join(root, "train.txt")):
        raise FileNotFoundError(f"{root}: no generated media (the media part did not finish)")
    return root


# ------------------------------------------------------------------------------------------ cached batches
def cached_batches(cfg: dict, count: int, device: torch.device) -> list[dict]:
    """``count`` training batches made by the config's pipeline (decoded here, finished on ``device`` by
    ``device_transform``) and kept on the device: the same data for every variant, and no loading in the timings."""
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    dataset.set_epoch(0)
    size = cfg["dataset"]["batch_size"]
    batches = []
    for b in range(count):
        batch = default_collate([dataset[(b * size + i) % len(dataset)] for i in range(size)])
        batches.append(dataset.device_transform(to_device(batch, device)))
    sync(device)
    return batches


# ------------------------------------------------------------------------------------------ part: train
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


# ------------------------------------------------------------------------------------------ part: loader
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


# ------------------------------------------------------------------------------------------ part: precision
class RandomStream:
    """Generator states (CPU and the device's) of one of two models trained side by side, so that each draws the
    numbers it would draw alone (dropout), starting from the same state."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextmanager
    def active(self):
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            if self.cuda is not None:
                self.cuda = torch.cuda.get_rng_state(self.device)


def part_precision(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    cfg = load_run_config(settings, media_root(work, "prepared"), clips_per_video=settings["precision_batches"] * 8)
    batches = cached_batches(cfg, settings["precision_batches"], device)
    variants = {"fp32": "fp32", "bf16": "bf16-cl"}
    runs = {name: build_variant(cfg, variant, device) for name, variant in variants.items()}  # same seed: same init
    seed_everything(cfg["seed"])
    streams = {name: RandomStream(device) for name in runs}
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


# ------------------------------------------------------------------------------------------ part: tests
TEST_LINE = re.compile(r"^(tests/\S+::\S+(?: \S+)*?) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)")


def parse_pytest(output: str) -> dict:
    """Outcome per test from ``pytest -v`` output (lines 'path::name[param] OUTCOME ...')."""
    outcomes = {}
    for line in output.splitlines():
        match = TEST_LINE.match(line)
        if match:
            outcomes[match[1].split("::", 1)[1]] = match[2].lower()
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR ", "SKIPPED "))]
    return {"outcomes": outcomes, "counts": counts, "summary": summary}


def child_env(device: torch.device, **extra: str) -> dict:
    """The parts' environment. On the CPU one intra-op thread per process (unless OMP_NUM_THREADS says otherwise):
    on a small shared machine several threads spend most of their time waiting for each other."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    if device.type == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_tests(device: torch.device, work: str, deadline: float, log) -> dict:
    record = os.path.join(work, "test-records.jsonl")
    env = child_env(device, AVSA_GPU_CHECK_RECORD=record)
    if device.type == "cpu":
        env["AVSA_GPU_TESTS_ON_CPU"] = "1"
    command = [sys.executable, "-m", "pytest", "tests/gpu", "-m", "gpu", "-o", "addopts=", "-p", "no:cacheprovider",
               "--import-mode=importlib", "-v", "-rfEs", "--tb=short", "--color=no"]
    code, output = run_until(command, deadline, env)
    log(output)
    results = parse_pytest(output)
    if os.path.isfile(record):
        with open(record, encoding="utf-8") as f:
            results["measured"] = [json.loads(line) for line in f if line.strip()]
    # pytest exit codes: 0 all passed, 1 some failed (recorded per test); others: it could not run the tests
    status = "timeout" if code is None else "ok" if code in (0, 1) else "failed"
    error = None if status == "ok" else (f"pytest exit code {code}" if code is not None else "killed at its deadline")
    return {"status": status, "error": error, "results": results}


# ------------------------------------------------------------------------------------------ orchestration
PART_FUNCTIONS = {"media": part_media, "train": part_train, "loader": part_loader, "precision": part_precision}
MARGIN_S = {"full": 12.0, "quick": 2.0}  # a part stops its loops this long before its deadline, to write results


def run_until(command: list[str], deadline: float, env: dict | None = None) -> tuple[int | None, str]:
    """Run ``command`` in its own process group until ``deadline`` (``time.time()``); its exit code (None: killed,
    with every process it started, at the deadline) and its output (stdout, then stderr)."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=max(deadline - time.time(), 1.0))
        code = process.returncode
    except subprocess.TimeoutExpired:
        code = None
    try:  # also ends what it left behind (DataLoader workers, compile workers)
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if code is None:
        out, err = process.communicate()
    return code, out + err


def run_part_process(name: str, args, settings: dict, work: str, deadline: float, log) -> dict:
    """Run one part in a child process until ``deadline``; its (possibly partial) results and status."""
    path = os.path.join(work, f"part-{name}.json")
    if os.path.exists(path):
        os.remove(path)
    margin = MARGIN_S["quick" if args.quick else "full"]
    command = [sys.executable, os.path.abspath(__file__), "--part", name, "--work", work, "--device", args.device,
               "--deadline", str(deadline - margin), "--settings", json.dumps(settings)]
    code, output = run_until(command, deadline, child_env(torch.device(args.device)))
    log(output)
    status, error = "ok", None
    if code is None:
        status, error = "timeout", "killed at its deadline"
    elif code != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        status, error = "failed", lines[-1] if lines else f"exit code {code}"
    results = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    if status == "ok" and not (results or {}).get("complete"):
        status, error = "failed", "the part ended without its results"
    return {"status": status, "error": error, "results": results}


def part_main(args) -> int:
    """Child process: run one part and write DIR/part-NAME.json (partial as it goes, complete at the end)."""
    settings = json.loads(args.settings)
    device = torch.device(args.device)
    partial = Partial(os.path.join(args.work, f"part-{args.part}.json"), part=args.part)
    PART_FUNCTIONS[args.part](settings, args.work, device, args.deadline, partial)
    partial.save(complete=True)
    return 0


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_bf16_step(train: dict | None) -> tuple[float | None, str | None]:
    """Median step time of the fastest bf16 variant measured by the train part."""
    variants = [v for v in ((train or {}).get("results") or {}).get("variants", [])
                if v["precision"] == "bf16" and v.get("median_step_s")]
    if not variants:
        return None, None
    best = min(variants, key=lambda v: v["median_step_s"])
    return best["median_step_s"], best["variant"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "results", "gpu-check"),
                        help="where gpu_check.json, gpu_check.md and gpu_check.log go (default: %(default)s)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="wall-clock budget of all parts")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--config", help=f"pre-training config (default {PAPER_CONFIG}; --quick: {DEMO_CONFIG})")
    add_overrides(parser, "a config value, e.g. dataset.batch_size=16 on a smaller GPU")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--quick", action="store_true", help="toy sizes (the dry run)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: the table's)")
    parser.add_argument("--step-s", type=float, help="loader: the simulated model step (default: the fastest bf16 "
                        "step the train part measured; give it when rerunning the loader part alone)")
    parser.add_argument("--compile-backend", help="torch.compile backend (default: inductor on CUDA, aot_eager on CPU)")
    parser.add_argument("--work", help="folder for generated media and part results (default: a temporary one, "
                        "removed at the end)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        return part_main(args)
    device, warning = select_device(args.device or "auto", name="--device")  # --device cpu --quick: the dry run
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    args.device = device.type
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    settings = settings_for(args)
    settings["peak_tflops"] = args.peak_tflops
    device = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="avsa-gpu-check-")
    os.makedirs(work, exist_ok=True)
    log_path = os.path.join(args.out, "gpu_check.log")
    with open(log_path, "w", encoding="utf-8"):
        pass

    def log(text: str) -> None:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") or not text else text + "\n")

    started = time.time()
    report = {"mode": "quick" if args.quick else "full", "budget_s": args.budget_s, "config": settings["config"],
              "started": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(device),
              "settings": settings, "parts": {}, "targets": {}}
    ends = deadlines(started, args.budget_s, parts)
    try:
        for name in parts:
            print(f"gpu check: {name} (until +{ends[name] - started:.0f} s)", flush=True)
            log(f"===== {name} =====")
            begin, cpu = time.time(), _children_cpu_s()
            if name == "tests":
                outcome = run_tests(device, work, ends[name], log)
            else:
                if name == "loader":
                    settings["step_s"], settings["step_source"] = (
                        (args.step_s, "--step-s") if args.step_s else best_bf16_step(report["parts"].get("train")))
                outcome = run_part_process(name, args, settings, work, ends[name], log)
            outcome["seconds"], outcome["cpu_s"] = time.time() - begin, _children_cpu_s() - cpu
            report["parts"][name] = outcome
            report["targets"] = evaluate_targets(report["parts"])
            report["elapsed_s"] = time.time() - started
            write_outputs(report, args.out)
            print(f"  {outcome['status']} in {outcome['seconds']:.0f} s"
                  + (f": {outcome['error']}" if outcome.get("error") else ""), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(render_markdown(report))
    return 0


# ------------------------------------------------------------------------------------------ outputs
def write_outputs(report: dict, out: str) -> None:
    write_json(os.path.join(out, "gpu_check.json"), report)
    write_text(os.path.join(out, "gpu_check.md"), render_markdown(report))


def _fmt(value, spec: str = ".2f", scale: float = 1.0, suffix: str = "") -> str:
    return "—" if value is None else f"{value * scale:{spec}}{suffix}"


def _verdict(target: dict | None) -> str:
    return "not measured" if target is None else ("**pass**" if target["pass"] else "**FAIL**")


def render_markdown(report: dict) -> str:
    """One section for docs/performance.md: what ran where, the targets, then each part's table."""
    m, parts, targets = report["machine"], report["parts"], report["targets"]
    dry = report["mode"] == "quick"
    title = (f"### GPU check: {m['device']}, {m['date']}" if not dry else
             f"### GPU check dry run (CPU, toy sizes; not a GPU measurement): {m['date']}")
    gpu = (f"CUDA {m.get('cuda')}, cuDNN {m.get('cudnn')}, driver {m.get('driver') or '?'}, "
           f"{m.get('gpu_memory_gib')} GiB, TF32: cuDNN {m['tf32']['cudnn']}, matmul {m['tf32']['matmul']}; "
           if m["device_type"] == "cuda" else "")
    lines = [title, "",
             f"`tools/gpu_check.py` ({report['mode']} mode, {_fmt(report.get('elapsed_s'), '.0f')} s of a "
             f"{report['budget_s']:.0f}-s budget), config `{report['config']}`; torch {m['torch']}, {gpu}"
             f"{m['cpu_cores']} CPU cores, /dev/shm {_fmt(m.get('shm_free_gib'), '.1f')} GiB free; "
             f"commit {m.get('commit') or 'unknown'}.", "",
             "| target | measured | result |", "|---|---|---|"]
    t = targets.get("tests")
    counts = t["value"] if t else {}
    lines.append("| every test marked `gpu` passes | "
                 + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "—")
                 + ("" if not t or t["complete"] else f" (pytest {parts['tests']['status']})") + f" | {_verdict(t)} |")
    t = targets.get("speedup")
    lines.append(f"| bf16 + channels-last (+ compile) ≥ {TARGETS['speedup']}× fp32 eager crops/s | "
                 + (f"{t['value']:.2f}× ({t['variant']})" if t else "—") + f" | {_verdict(t)} |")
    for kind in MEDIA_KINDS:
        t = targets.get(f"data_wait_{kind}")
        lines.append(f"| data wait ≤ {100 * TARGETS['data_wait']:.0f} %, {kind} files | "
                     f"{_fmt(t and t['value'], '.1f', 100, ' %')} | {_verdict(t)} |")
    t = targets.get("precision")
    lines.append(f"| bf16 loss within {100 * TARGETS['precision']:.0f} % of fp32 in every window | "
                 + (f"worst {100 * t['value']:.2f} % over {t['windows']} windows" if t else "—")
                 + f" | {_verdict(t)} |")
    status = ", ".join(f"{name} {p['status']} ({p['seconds']:.0f} s)" + (f": {p['error']}" if p.get("error") else "")
                       for name, p in parts.items())
    lines += ["", f"Parts: {status}."]
    lines += _train_table(parts.get("train")) + _loader_table(parts.get("loader"))
    lines += _precision_table(parts.get("precision")) + _tests_table(parts.get("tests"))
    return "\n".join(lines) + "\n"


def _failure(error: str) -> str:
    """An error message as one short table cell."""
    return "failed: " + " ".join(error.split())[:150].replace("|", "/")


def _table(intro: str, header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A paragraph and a Markdown table; ``align``: one letter per column, l(eft) or r(ight)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ["", intro, "", "| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(row) + " |" for row in rows]


def _train_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("variants"):
        return []
    base = next((v.get("crops_per_s") for v in r["variants"] if v["variant"] == "fp32"), None)
    rows = [[v["variant"], _fmt(v["crops_per_s"], ".1f"),
             _fmt(v["crops_per_s"] / base if base and v["crops_per_s"] else None, ".2f", suffix="×"),
             _fmt(v["median_step_s"], ".1f", 1000), f"{v['first_step_s']:.1f}", f"{v['peak_memory_gib']:.2f}",
             _fmt(v.get("tflops_per_s"), ".1f"), _fmt(v.get("mfu"), ".1f", 100, " %"),
             _fmt(v.get("matmul_fraction"), ".1f", 100, " %"), f"{v['losses'][0]:.4f} → {v['losses'][-1]:.4f}"]
            if "error" not in v else [v["variant"], _failure(v["error"])] + [""] * 8 for v in r["variants"]]
    rows += [[variant, "not run (out of time)"] + [""] * 8 for variant in r.get("skipped", [])]
    intro = (f"Training step, batch {r['batch_size']} × {r['views']} views on batches cached on the device "
             f"({_fmt(r.get('batches_gib'), '.2f')} GiB, in the peak memory); "
             f"{_fmt(r.get('flops_per_step'), '.1f', 1e-9)} GFLOP per step (forward + backward, counted); "
             f"bf16 peak {_fmt(r.get('peak_tflops'), '.1f')} TFLOP/s ({r.get('peak_source') or 'unknown device'}), "
             f"measured bf16 matmul {_fmt(r.get('matmul_tflops'), '.1f')} TFLOP/s; compile backend "
             f"{r['compile_backend']}:")
    return _table(intro, ["variant", "crops/s", "vs fp32", "step ms", "first step s", "peak GiB", "TFLOP/s", "MFU",
                          "of matmul", "loss first → last"], rows, "lrrrrrrrrl")


def _loader_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("media"):
        return []
    step, source = r.get("simulated_step_s"), r.get("step_source")
    rows = [[kind, str(x["workers"]), _fmt(x.get("data_wait_fraction"), ".1f", 100, " %"),
             _fmt(x.get("device_transform_ms"), ".1f"), _fmt(x.get("capacity_samples_per_s"), ".1f"),
             _fmt(x.get("needed_samples_per_s"), ".1f"), str(x["timed_steps"])] if "error" not in x else
            [kind, str(x["workers"]), _failure(x["error"])] + [""] * 4
            for kind, x in r["media"].items()]
    intro = ("Loader, `augment_on: gpu`, the model step simulated by sleeping "
             + (f"{1000 * step:.1f} ms ({'given' if source == '--step-s' else f'the {source} step'})" if step
                else "0 ms (no step time measured)")
             + ":")
    return _table(intro, ["files", "workers", "data wait", "device transform ms", "loader samples/s",
                          "needed samples/s", "steps"], rows, "lrrrrrr")


def _precision_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("windows"):
        return []
    rows = [[f"{w['steps'][0]}–{w['steps'][1]}", f"{w['fp32']:.4f}", f"{w['bf16']:.4f}",
             f"{100 * w['relative_difference']:.2f} %"] for w in r["windows"]]
    intro = (f"bf16 + channels-last vs fp32 eager, {r['steps']} steps from the same seed on {r['batches']} cached "
             "batches (mean loss per window):")
    return _table(intro, ["steps", "fp32", "bf16", "difference"], rows, "lrrr")


def _tests_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("outcomes"):
        return []
    measured = {x["test"]: {k: v for k, v in x.items() if k != "test"} for x in r.get("measured", [])}
    rows = [[f"`{test}`", outcome, json.dumps(measured[test], separators=(", ", ": "))[:200]
             if test in measured else ""] for test, outcome in r["outcomes"].items()]
    return _table("Tests (tests/gpu/test_gpu.py), with the differences each measured:",
                  ["test", "outcome", "measured"], rows, "lll")


if __name__ == "__main__":
    run_main(main)
