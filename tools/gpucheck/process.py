"""Child processes of the check: one run in its own process group until a deadline, its environment, and the CPU
time the finished ones used."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time

import torch

from tools.gpucheck import REPO


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


def child_env(device: torch.device, **extra: str) -> dict:
    """The parts' environment. On the CPU one intra-op thread per process (unless OMP_NUM_THREADS says otherwise):
    on a small shared machine several threads spend most of their time waiting for each other."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    if device.type == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
