"""Runs a plan's jobs as subprocesses: dependency order, several at a time, one log file each, progress lines, and
a clean stop on Ctrl-C / SIGTERM (the scripts checkpoint, so the next run resumes them)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from tools.tables import ROOT
from tools.tables.planner import Job, Plan, command, is_done, ordered
from tools.tables.suites import Suite


class Runner:
    """Runs jobs as subprocesses, at most ``parallel`` at a time, each with ``threads`` intra-op threads; prints
    progress (job i/n, elapsed time, what is running) and each job's output prefixed with its key."""

    def __init__(self, plan: Plan, launcher: Sequence[str], parallel: int, threads: int, log_dir: str,
                 heartbeat_s: float = 30.0):
        self.plan, self.launcher, self.parallel, self.threads = plan, launcher, parallel, threads
        self.log_dir, self.heartbeat_s = log_dir, heartbeat_s
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.lock:
            print(f"[{_clock(time.monotonic() - self.started)}] {text}", flush=True)

    def run(self) -> list[str]:
        """Run what is not done; returns the keys of failed (or skipped because of a failure) jobs."""
        order = ordered(self.plan.jobs)
        total = len(order)
        number = {job.key: i for i, job in enumerate(order, 1)}
        pending: list[Job] = []
        for job in order:  # dependency order: a job that needs a job to run must run again after it
            if not is_done(job) or any(need in {p.key for p in pending} for need in job.needs):
                pending.append(job)
        for job in order:
            if job not in pending:
                self.say(f"[{number[job.key]}/{total}] done already: {job.key}")
        finished = {job.key for job in order if job not in pending}
        failed: list[str] = []
        running: dict[str, tuple[subprocess.Popen, float, threading.Thread]] = {}
        last_beat = time.monotonic()
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            self._loop(pending, running, finished, failed, number, total, last_beat)
        finally:  # interrupted (Ctrl-C, SIGTERM): the scripts checkpoint on SIGTERM, so a re-run resumes them
            for process, _, _ in running.values():
                process.terminate()
            for process, _, _ in running.values():
                process.wait()
        return failed

    def _loop(self, pending, running, finished, failed, number, total, last_beat) -> None:
        while pending or running:
            for job in list(pending):
                if any(n in failed for n in job.needs):
                    pending.remove(job)
                    failed.append(job.key)
                    self.say(f"[{number[job.key]}/{total}] SKIPPED (a job it needs failed): {job.key}")
                elif len(running) < self.parallel and all(n in finished for n in job.needs):
                    pending.remove(job)
                    running[job.key] = self._start(job, number[job.key], total)
            time.sleep(0.2)
            for key, (process, start, reader) in list(running.items()):
                # wait4: the job's CPU time, its DataLoader workers included (what a dedicated machine would need)
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid == 0:
                    continue
                process.returncode = os.waitstatus_to_exitcode(status)
                reader.join()
                del running[key]
                spent = _clock(time.monotonic() - start)
                cpu = usage.ru_utime + usage.ru_stime
                if process.returncode == 0 and is_done(self.plan.jobs[key]):
                    finished.add(key)
                    self.say(f"[{number[key]}/{total}] finished in {spent} ({cpu:.0f} CPU s): {key}")
                else:
                    failed.append(key)
                    self.say(f"[{number[key]}/{total}] FAILED (exit {process.returncode}) after {spent}: {key} "
                             f"(log: {self._log_path(key)})")
            if running and time.monotonic() - last_beat > self.heartbeat_s:
                last_beat = time.monotonic()
                now = time.monotonic()
                self.say(f"{len(finished)}/{total} done; running: " +
                         ", ".join(f"{k} ({_clock(now - s)})" for k, (_, s, _) in running.items()))

    def _log_path(self, key: str) -> str:
        return os.path.join(self.log_dir, key.replace(" ", "_").replace("/", "-") + ".log")

    def _start(self, job: Job, index: int, total: int):
        argv = command(job, self.launcher)
        if job.kind == "eval" and os.path.isfile(job.done):  # results of another checkpoint or other settings
            argv += ["--set", "resume=false"]                # (a retrained pre-training): start the evaluation over
        self.say(f"[{index}/{total}] start: {job.key}\n    {shlex.join(argv)}")
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads))
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
        tag = job.key if self.parallel > 1 else job.kind

        def relay() -> None:
            with open(self._log_path(job.key), "a", encoding="utf-8") as log:
                for line in process.stdout:
                    log.write(line)
                    with self.lock:
                        print(f"    [{tag}] {line.rstrip()}", flush=True)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        return process, time.monotonic(), reader


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def default_parallel(suite: Suite) -> int:
    """Concurrent jobs when --jobs is not given: 1 for the paper (each job owns the GPUs); demo: 2 jobs × 1 thread
    on a 2-core machine (measured faster than 1 job × 2 threads for the tiny demo models, docs/demo.md)."""
    return min(2, os.cpu_count() or 1) if suite.name == "demo" else 1


def stop_on_sigterm() -> None:
    """SIGTERM (a scheduler's, ``kill``) stops like Ctrl-C: ``Runner.run`` terminates the running jobs cleanly."""
    signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum, frame):
    raise KeyboardInterrupt
