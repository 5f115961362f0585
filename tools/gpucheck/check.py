"""The check's orchestration: the budget shared out as one deadline per part, each part in a child process (the CLI
re-invoked with ``--part``; the tests part under pytest), the report rewritten after each part, and its targets."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import torch

from tools.gpucheck import REPO
from tools.gpucheck.common import TARGETS, Partial
from tools.gpucheck.gpu_tests import run_tests
from tools.gpucheck.loader import part_loader
from tools.gpucheck.media import part_media
from tools.gpucheck.precision import part_precision
from tools.gpucheck.process import child_env, children_cpu_s, run_until
from tools.gpucheck.render import write_outputs
from tools.gpucheck.train import part_train
from utils.provenance import git_state, versions
from utils.runs import read_results

PARTS = ("media", "tests", "train", "loader", "precision")
# Share of the budget per part; a part's deadline is the start plus the cumulative shares up to and including it.
SHARES = {"media": 0.07, "tests": 0.22, "train": 0.32, "loader": 0.14, "precision": 0.25}
PART_FUNCTIONS = {"media": part_media, "train": part_train, "loader": part_loader, "precision": part_precision}
MARGIN_S = {"full": 12.0, "quick": 2.0}  # a part stops its loops this long before its deadline, to write results
SCRIPT = os.path.join(REPO, "tools", "gpu_check.py")  # the CLI, which runs one part with --part


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


def machine_info(device: torch.device) -> dict:
    """Where the check runs: versions, CPU and GPU, the commit, the date."""
    found = versions()
    info = {"torch": found["torch"], "python": found["python"], "cpu_cores": os.cpu_count(),
            "device_type": device.type, "date": datetime.date.today().isoformat()}
    try:
        info["shm_free_gib"] = round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
    except OSError:
        info["shm_free_gib"] = None
    git = git_state(REPO)
    info["commit"] = git["commit"][:12] if git else os.environ.get("AVSA_COMMIT")  # no .git: the caller says
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device=torch.cuda.get_device_name(device), cuda=found["cuda"],
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


def run_part_process(name: str, args, settings: dict, work: str, deadline: float, log) -> dict:
    """Run one part in a child process until ``deadline``; its (possibly partial) results and status."""
    path = os.path.join(work, f"part-{name}.json")
    if os.path.exists(path):
        os.remove(path)
    margin = MARGIN_S["quick" if args.quick else "full"]
    command = [sys.executable, SCRIPT, "--part", name, "--work", work, "--device", args.device,
               "--deadline", str(deadline - margin), "--settings", json.dumps(settings)]
    code, output = run_until(command, deadline, child_env(torch.device(args.device)))
    log(output)
    status, error = "ok", None
    if code is None:
        status, error = "timeout", "killed at its deadline"
    elif code != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        status, error = "failed", lines[-1] if lines else f"exit code {code}"
    results = read_results(path)
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


def best_bf16_step(train: dict | None) -> tuple[float | None, str | None]:
    """Median step time of the fastest bf16 variant measured by the train part."""
    variants = [v for v in ((train or {}).get("results") or {}).get("variants", [])
                if v["precision"] == "bf16" and v.get("median_step_s")]
    if not variants:
        return None, None
    best = min(variants, key=lambda v: v["median_step_s"])
    return best["median_step_s"], best["variant"]


def run_check(args, parts: list[str], settings: dict) -> dict:
    """Run ``parts`` in order, each until its deadline within ``args.budget_s``; the report, rewritten to
    ``args.out`` (gpu_check.json, gpu_check.md) after each part, with every part's output in gpu_check.log."""
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
            begin, cpu = time.time(), children_cpu_s()
            if name == "tests":
                outcome = run_tests(device, work, ends[name], log)
            else:
                if name == "loader":
                    settings["step_s"], settings["step_source"] = (
                        (args.step_s, "--step-s") if args.step_s else best_bf16_step(report["parts"].get("train")))
                outcome = run_part_process(name, args, settings, work, ends[name], log)
            outcome["seconds"], outcome["cpu_s"] = time.time() - begin, children_cpu_s() - cpu
            report["parts"][name] = outcome
            report["targets"] = evaluate_targets(report["parts"])
            report["elapsed_s"] = time.time() - started
            write_outputs(report, args.out)
            print(f"  {outcome['status']} in {outcome['seconds']:.0f} s"
                  + (f": {outcome['error']}" if outcome.get("error") else ""), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return report
