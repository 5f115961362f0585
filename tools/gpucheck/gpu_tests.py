"""The tests part: ``pytest -m gpu tests/gpu`` in a child process (on the CPU with AVSA_GPU_TESTS_ON_CPU=1), its
outcome per test and the differences each test recorded."""

from __future__ import annotations

import json
import os
import re
import sys

import torch

from tools.gpucheck.process import child_env, run_until

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


def run_tests(device: torch.device, work: str, deadline: float, log) -> dict:
    """Run the tests marked ``gpu`` until ``deadline``; their outcomes and measurements, and the status."""
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
