"""Text log, TensorBoard and progress display shared by every script (the run directory: utils/runs.py).

* ``train.log`` in the run directory (rank 0) plus the console, unless ``--quiet`` (log file only).
* Progress: a tqdm bar on an interactive terminal; otherwise periodic lines with the elapsed time, ETAs, clips/s,
  data wait and peak memory (batch jobs, CI, ``make demo`` piped to a file).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

LOGGER_NAME = "avsa"
_FORMAT = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


def setup_logger(quiet: bool = False, is_main: bool = True) -> logging.Logger:
    """Configure the project logger: rank 0 writes the console (unless quiet) and keeps its records for the log
    file that ``open_log_file`` opens once the run directory exists; other ranks only report warnings to the
    console."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    if is_main:
        logger.addHandler(PendingLog())
    if not quiet or not is_main:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(_FORMAT)
        logger.addHandler(console)
    return logger


class PendingLog(logging.Handler):
    """Keeps a logger's records until ``open_log_file`` writes them to the log file (a run creates its directory
    only once its start has succeeded)."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def open_log_file(logger: logging.Logger, run_dir: str, filename: str) -> None:
    """Write ``logger`` to ``<run_dir>/<filename>`` (appending) from now on, starting with what a ``PendingLog``
    of it has kept (which is then removed)."""
    os.makedirs(run_dir, exist_ok=True)
    file_handler = logging.FileHandler(os.path.join(run_dir, filename))
    file_handler.setFormatter(_FORMAT)
    for handler in list(logger.handlers):
        if isinstance(handler, PendingLog):
            for record in handler.records:
                file_handler.handle(record)
            logger.removeHandler(handler)
    logger.addHandler(file_handler)


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def tensorboard_writer(run_dir: str, enabled: bool = True):
    """A SummaryWriter in ``<run_dir>/tensorboard`` (rank 0 only; None when disabled)."""
    if not enabled:
        return None
    return SummaryWriter(os.path.join(run_dir, "tensorboard"))


def peak_memory_gib(device: torch.device) -> float:
    """This process's peak memory in GiB: on CUDA the largest allocation on ``device`` since the last reset of its
    peak statistics, otherwise the peak resident set (Linux reports it in KiB, macOS in bytes)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


@dataclass(frozen=True)
class ProgressStyle:
    """How a process shows a loop's progress: tqdm on an interactive terminal, otherwise a log line every
    ``print_freq`` steps; ``quiet``: log lines only (no bar); ``enabled``: False on every rank but 0."""

    print_freq: int = 50
    quiet: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class StepTimes:
    """Steps done, the samples they processed, their wall time and the part of it spent waiting for the loader."""

    steps: int = 0
    samples: int = 0
    time_s: float = 0.0
    wait_s: float = 0.0

    def __add__(self, other: StepTimes) -> StepTimes:
        return StepTimes(self.steps + other.steps, self.samples + other.samples, self.time_s + other.time_s,
                         self.wait_s + other.wait_s)

    def __sub__(self, other: StepTimes) -> StepTimes:
        return self + StepTimes(-other.steps, -other.samples, -other.time_s, -other.wait_s)

    @property
    def clips_per_s(self) -> float:
        return self.samples / max(self.time_s, 1e-9)

    @property
    def wait_fraction(self) -> float:
        return self.wait_s / max(self.time_s, 1e-9)


def duration(seconds: float) -> str:
    """``M:SS`` below an hour, ``H:MM:SS`` above (hours not wrapped into days)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunClock:
    """The training steps of a whole run, for its ETA: the steps left × the wall time per step this process has
    taken so far (test phases and checkpoints included, so the estimate settles after the first epoch)."""

    def __init__(self, total_steps: int, done_steps: int, clock: Callable[[], float] = time.perf_counter):
        self.total, self.done, self.clock = total_steps, done_steps, clock
        self.start, self.start_done = clock(), done_steps

    def advance(self) -> None:
        self.done += 1

    def eta_s(self) -> float | None:
        steps = self.done - self.start_done
        return (self.clock() - self.start) / steps * max(self.total - self.done, 0) if steps else None


class Progress:
    """A loop's progress, told one step at a time (``step``): a tqdm bar on an interactive terminal, otherwise a log
    line every ``print_freq`` steps (and the first and the last) with the elapsed time, the ETA of the loop and (with
    a ``run_clock``) of the run, clips/s and data-wait fraction since the previous line, the peak memory of
    ``device`` (`peak_memory_gib`) and the latest values (``set(**values)``)."""

    def __init__(self, total: int, desc: str, style: ProgressStyle | None = None, *,
                 device: torch.device | None = None, run_clock: RunClock | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.total, self.desc, self.style = total, desc, style or ProgressStyle(enabled=False)
        self.device, self.run_clock, self.clock = device, run_clock, clock
        self.values: dict[str, float] = {}
        self.totals = self.shown = StepTimes()
        self.start = clock()
        self.use_tqdm = self.style.enabled and not self.style.quiet and sys.stderr.isatty()
        self.bar = None

    def set(self, **values: float) -> None:
        self.values.update(values)

    def step(self, samples: int, wait_s: float, time_s: float) -> None:
        """One step done: ``samples`` processed in ``time_s`` seconds, ``wait_s`` of them waiting for the data."""
        self.totals += StepTimes(1, samples, time_s, wait_s)
        if self.run_clock is not None:
            self.run_clock.advance()
        if self.use_tqdm:  # the bar shows the elapsed time and the loop's ETA itself
            if self.bar is None:
                self.bar = tqdm(total=self.total, desc=self.desc, unit="step", dynamic_ncols=True, leave=False)
            postfix = (self._rates(self.totals) + self._run_eta(), self._values())
            self.bar.set_postfix_str(" | ".join(part for part in postfix if part), refresh=False)
            self.bar.update(1)
        elif self.style.enabled and (self.totals.steps % self.style.print_freq == 0
                                     or self.totals.steps in (1, self.total)):
            get_logger().info(self.line())

    def line(self) -> str:
        """``desc [steps/total] elapsed E, ETA T, run ETA R | N clips/s, data wait W %, peak M GiB | values``; the
        rates cover the steps since the previous line."""
        done, elapsed = self.totals.steps, self.clock() - self.start
        eta = elapsed / max(done, 1) * (self.total - done)
        window, self.shown = self.totals - self.shown, self.totals
        head = f"{self.desc} [{done}/{self.total}] elapsed {duration(elapsed)}, ETA {duration(eta)}{self._run_eta()}"
        return " | ".join(part for part in (head, self._rates(window), self._values()) if part)

    def _run_eta(self) -> str:
        eta = self.run_clock.eta_s() if self.run_clock is not None else None
        return f", run ETA {duration(eta)}" if eta is not None else ""

    def _rates(self, times: StepTimes) -> str:
        peak = f", peak {peak_memory_gib(self.device):.2f} GiB" if self.device is not None else ""
        return f"{times.clips_per_s:.1f} clips/s, data wait {100 * times.wait_fraction:.1f} %{peak}"

    def _values(self) -> str:
        return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values.items())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
