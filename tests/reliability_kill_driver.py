"""Kill-and-resume driver for tests/test_reliability_interrupts.py (not a test module).

One interpreter imports torch and the engine once, then FORKS every training process: a fork costs milliseconds
where a fresh ``python`` costs seconds on a loaded 2-core machine. Each child is the tiny run of
tests/engine/tiny_run.py (toy data, BatchNorm + dropout task, 3 epochs x 8 steps, a checkpoint every 3 steps and
after each epoch) started through ``utils.cli.run_main`` exactly as a script is.

    python tests/reliability_kill_driver.py WORK_DIR [--kills 12] [--seed 0]        # SIGKILL at traced events
    python tests/reliability_kill_driver.py WORK_DIR --timed 100 [--slow-write 0.02] # SIGKILL after random delays
    python tests/reliability_kill_driver.py WORK_DIR --disk-full TMPFS_DIR           # the disk fills up mid-run

Writes ``WORK_DIR/report.json``. Event mode: an uninterrupted reference run records its trace of events
(training forwards, test forwards, checkpoint writes and renames); each kill is a seeded random event of the part of
that trace still ahead of the checkpoint the run resumes from, so every kill certainly happens, and the checkpoint
it must leave behind (the last one whose rename completed) is known beforehand. Kills inside a checkpoint write
stop the child after a random fraction of the file's bytes is on disk (fsync'ed). Timed mode: a random delay in
[0, duration of the reference run], checkpoint writes slowed (``--slow-write`` seconds between the two halves) so
that many kills land inside them; a shared page tells which phase the child died in.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import mmap
import os
import random
import signal
import struct
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

from engine import fit, start_run  # noqa: E402
from utils.checkpoint import load_checkpoint  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.runs import LATEST  # noqa: E402

_spec = importlib.util.spec_from_file_location("tiny_run", os.path.join(HERE, "engine", "tiny_run.py"))
tiny_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_run)

TRAIN_SAMPLES, TEST_SAMPLES, BATCH = 64, 16, 8  # 8 steps per epoch, 2 test batches
SETTINGS = {"checkpoint_every_steps": 3, "optimizer.epochs": 3}
PHASES = ["setup", "train step", "test phase", "checkpoint write", "before rename", "renaming", "after rename",
          "finished"]
# shared page: phase index, (epoch, epoch_step, step) of the last checkpoint.pth whose rename completed, and of the
# one being renamed (phase "renaming": os.replace is atomic, so the file on disk is one of the two)
_LAYOUT = struct.Struct("iiiiiii")
_NONE = (-1, -1, -1)


class Shared:
    """An anonymous shared page the children write and the driver reads (after the child is dead)."""

    def __init__(self):
        self.page = mmap.mmap(-1, mmap.PAGESIZE)
        self.set(0, _NONE, _NONE)

    def set(self, phase: int, last: tuple | None = None, pending: tuple | None = None) -> None:
        _, current_last, current_pending = self.get()
        self.page[:_LAYOUT.size] = _LAYOUT.pack(phase, *(last if last is not None else current_last),
                                                *(pending if pending is not None else current_pending))

    def get(self) -> tuple[int, tuple, tuple]:
        phase, *values = _LAYOUT.unpack(self.page[:_LAYOUT.size])
        return phase, tuple(values[:3]), tuple(values[3:])


class Child:
    """The hooks of one training process: records its events and SIGKILLs itself at ``kill`` =
    (kind, n-th event of that kind in this process, byte fraction for writes)."""

    def __init__(self, shared: Shared, kill: tuple | None = None, slow_write: float = 0.0,
                 fill_after_first: str | None = None):
        self.shared, self.kill, self.slow_write, self.fill = shared, kill, slow_write, fill_after_first
        self.trace: list[list] = []
        self.counts: dict[str, int] = {}

    def event(self, kind: str, *info) -> None:
        self.trace.append([kind, *info])
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.kill is not None and self.kill[0] == kind and self.kill[1] == self.counts[kind]:
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> None:
        real_save, real_replace = torch.save, os.replace
        pending = {}

        def save(obj, f, *args, **kwargs):
            self.shared.set(PHASES.index("checkpoint write"))
            pending["position"] = (obj["epoch"], obj["epoch_step"], obj["step"])
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            fraction = self.kill[2] if self.kill and self.kill[0] == "write" else 0.5
            cut = int(len(data) * fraction)
            f.write(data[:cut])
            f.flush()
            os.fsync(f.fileno())
            self.event("write", *pending["position"])  # a kill here leaves a partial temporary file
            time.sleep(self.slow_write)
            f.write(data[cut:])
            self.shared.set(PHASES.index("before rename"))

        def replace(src, dst, *args, **kwargs):
            if not str(dst).endswith(".pth"):  # config.yaml is also written atomically
                return real_replace(src, dst, *args, **kwargs)
            self.event("before-rename", *pending["position"])
            latest = os.path.basename(dst) == LATEST
            if latest:
                self.shared.set(PHASES.index("renaming"), pending=pending["position"])
            real_replace(src, dst, *args, **kwargs)
            if latest:
                self.shared.set(PHASES.index("after rename"), pending["position"])
                if self.fill and len([e for e in self.trace if e[0] == "after-rename"]) == 0:
                    fill_disk(self.fill)
            self.event("after-rename", *pending["position"])

        torch.save = save
        os.replace = replace

    def task(self) -> torch.nn.Module:
        child = self

        class TracedTask(tiny_run.ToyTask):
            def forward(self, batch):
                phase = "train step" if self.training else "test phase"
                child.shared.set(PHASES.index(phase))
                child.event("forward" if self.training else "test")
                return super().forward(batch)

        return TracedTask()


def fill_disk(directory: str) -> None:
    """Write a filler file until the file system is full (a tmpfs: nothing else is affected)."""
    with open(os.path.join(directory, "filler.bin"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def train(run_dir: str, child: Child) -> int:
    cfg = tiny_run.config(**SETTINGS)
    run = start_run(cfg, run_dir, quiet=True)
    try:
        fit(run, child.task(), tiny_run.ToyData(TRAIN_SAMPLES), tiny_run.ToyData(TEST_SAMPLES, seed=1),
            batch_size=BATCH)
    finally:
        run.close()
    return 0


def fork_run(run_dir: str, child: Child, log_path: str, kill_after: float | None = None,
             trace_path: str | None = None) -> int:
    """Run ``train`` in a forked child; its exit code (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            torch.set_num_threads(1)  # no OpenMP pool in a forked child
            child.install()
            run_main(lambda argv: train(run_dir, child), [])
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
            child.shared.set(PHASES.index("finished"))
            if trace_path:
                with open(trace_path, "w") as f:
                    json.dump(child.trace, f)
        except BaseException:  # noqa: BLE001 (a bug: show it in the child's log)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def position_of(run_dir: str) -> list[int] | None:
    path = os.path.join(run_dir, LATEST)
    if not os.path.exists(path):
        return None
    state = load_checkpoint(path)  # raises if the file is not a complete checkpoint
    return [state["epoch"], state["epoch_step"], state["step"]]


def ahead_of(trace: list[list], position: list[int] | None) -> list[list]:
    """The events of the reference trace after the rename that wrote ``position`` (all of them when None)."""
    if position is None:
        return trace
    renames = [i for i, e in enumerate(trace) if e[0] == "after-rename" and e[1:] == position]
    return trace[renames[-1] + 1:]


def expected_after(ahead: list[list], index: int, before: list[int] | None) -> list[int] | None:
    """The checkpoint a kill at ``ahead[index]`` leaves: the last completed rename up to it."""
    # a kill at an after-rename event fires once its rename is done; at any other event, before it
    last = index + 1 if ahead[index][0] == "after-rename" else index
    done = [e[1:] for e in ahead[:last] if e[0] == "after-rename"]
    return done[-1] if done else before


def event_kills(work: str, kills: int, seed: int, shared: Shared) -> dict:
    rng = random.Random(seed)
    reference_dir, run_dir = os.path.join(work, "reference"), os.path.join(work, "interrupted")
    trace_path = os.path.join(work, "trace.json")
    started = time.monotonic()
    code = fork_run(reference_dir, Child(shared), os.path.join(work, "reference.log"), trace_path=trace_path)
    reference_s = time.monotonic() - started
    with open(trace_path) as f:
        trace = json.load(f)
    records = []
    position = None
    for attempt in range(kills):
        ahead = ahead_of(trace, position)
        if not ahead:
            break
        # a random event up to the second checkpoint ahead, so that the run advances and many kills fit in it
        renames = [i + 1 for i, e in enumerate(ahead) if e[0] == "after-rename"]
        window = renames[1] if len(renames) > 1 else len(ahead)
        index = rng.randrange(window)
        kind = ahead[index][0]
        nth = sum(1 for e in ahead[:index + 1] if e[0] == kind)
        fraction = round(rng.uniform(0.0, 1.0), 3)
        expected = expected_after(ahead, index, position)
        code_killed = fork_run(run_dir, Child(shared, (kind, nth, fraction)),
                               os.path.join(work, f"kill-{attempt:02d}.log"))
        phase = PHASES[shared.get()[0]]
        found = position_of(run_dir)
        records.append({"event": kind, "nth": nth, "fraction": fraction if kind == "write" else None,
                        "resumed_from": position, "phase": phase, "exit": code_killed, "expected": expected,
                        "checkpoint": found})
        position = found
    started = time.monotonic()
    final = fork_run(run_dir, Child(shared), os.path.join(work, "final.log"))
    return {"reference_exit": code, "reference_s": reference_s, "trace_events": len(trace), "kills": records,
            "final_exit": final, "final_s": time.monotonic() - started, "final_checkpoint": position_of(run_dir)}


def timed_kills(work: str, kills: int, seed: int, slow_write: float, shared: Shared) -> dict:
    rng = random.Random(seed)
    reference_dir, run_dir = os.path.join(work, "reference"), os.path.join(work, "interrupted")
    started = time.monotonic()
    code = fork_run(reference_dir, Child(shared, slow_write=slow_write), os.path.join(work, "reference.log"))
    duration = time.monotonic() - started
    records, restarts = [], 0
    while len(records) < kills and restarts < 20 * kills:
        restarts += 1
        before = position_of(run_dir)
        shared.set(0, tuple(before) if before else _NONE, _NONE)
        delay = rng.uniform(0.0, duration)
        exit_code = fork_run(run_dir, Child(shared, slow_write=slow_write),
                             os.path.join(work, f"timed-{len(records):03d}.log"), kill_after=delay)
        phase, last, renaming = shared.get()
        found = position_of(run_dir)
        if exit_code == 0:  # finished before the kill: start the interrupted run over
            for name in os.listdir(run_dir):
                os.remove(os.path.join(run_dir, name))
            continue
        expected = [list(last) if last[0] >= 0 else None]
        if PHASES[phase] == "renaming":
            expected.append(list(renaming))
        records.append({"delay": round(delay, 3), "phase": PHASES[phase], "exit": exit_code,
                        "resumed_from": before, "expected_one_of": expected, "checkpoint": found})
    final = fork_run(run_dir, Child(shared), os.path.join(work, "final.log"))
    return {"reference_exit": code, "reference_s": duration, "kills": records, "final_exit": final,
            "final_checkpoint": position_of(run_dir), "final_differences": differences(reference_dir, run_dir),
            "leftovers": sorted(name for name in os.listdir(run_dir) if ".tmp" in name)}


def differences(dir_a: str, dir_b: str) -> list[str]:
    """Entries of the two runs' final checkpoints that are not bit-identical (the config aside)."""
    a, b = (load_checkpoint(os.path.join(d, LATEST)) for d in (dir_a, dir_b))

    def same(x, y) -> bool:
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return isinstance(y, (list, tuple)) and len(x) == len(y) and all(map(same, x, y))
        return x == y

    return sorted(key for key in a.keys() | b.keys() if key != "config" and not same(a.get(key), b.get(key)))


def disk_full(work: str, directory: str, shared: Shared) -> dict:
    """The run directory on a small file system that fills up right after the first checkpoint.pth."""
    run_dir = os.path.join(directory, "run")
    log = os.path.join(work, "disk-full.log")
    code = fork_run(run_dir, Child(shared, fill_after_first=directory), log)
    with open(log) as f:
        stderr = f.read()
    return {"exit": code, "stderr": stderr, "checkpoint": position_of(run_dir),
            "leftovers": sorted(name for name in os.listdir(run_dir) if ".tmp" in name)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work")
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timed", type=int, default=0, metavar="N", help="N kills after random delays instead")
    parser.add_argument("--slow-write", type=float, default=0.02, help="timed mode: seconds inside each write")
    parser.add_argument("--disk-full", default=None, metavar="DIR", help="also run on this small file system")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    shared = Shared()
    if args.timed:
        report = timed_kills(args.work, args.timed, args.seed, args.slow_write, shared)
    else:
        report = event_kills(args.work, args.kills, args.seed, shared)
    if args.disk_full:
        report["disk_full"] = disk_full(args.work, args.disk_full, shared)
    with open(os.path.join(args.work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
