"""Run directory, text log, TensorBoard and progress display shared by every script.

* Run directory: ``<model.model_dir>/<model.name>`` as in the original, or ``--output``.
* ``train.log`` in the run directory (rank 0) plus the console, unless ``--quiet`` (log file only).
* Progress: a tqdm bar with clips/s on an interactive terminal; plain periodic lines otherwise (batch jobs,
  CI, ``make demo`` piped to a file).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

LOGGER_NAME = "avsa"
_FORMAT = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


def run_directory(model_cfg: Mapping, output: str | None = None) -> str:
    return output if output else os.path.join(model_cfg["model_dir"], model_cfg["name"])


def setup_logger(run_dir: str | None, quiet: bool = False, is_main: bool = True,
                 filename: str = "train.log") -> logging.Logger:
    """Configure the project logger: rank 0 writes ``<run_dir>/<filename>`` and (unless quiet) the console;
    other ranks only report warnings to the console."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    if is_main and run_dir:
        open_log_file(logger, run_dir, filename)
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


class Progress:
    """A loop's progress, told one step at a time (``step``): a tqdm bar on an interactive terminal, otherwise a log
    line every ``print_freq`` steps (and the first and the last). ``set(**values)`` attaches the latest metrics."""

    def __init__(self, total: int, desc: str, style: ProgressStyle | None = None):
        self.total, self.desc, self.style = total, desc, style or ProgressStyle(enabled=False)
        self.values: dict[str, float] = {}
        self.totals = StepTimes()
        self.use_tqdm = self.style.enabled and not self.style.quiet and sys.stderr.isatty()
        self.bar = None

    def set(self, **values: float) -> None:
        self.values.update(values)

    def _text(self) -> str:
        return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values.items())

    def step(self, samples: int, wait_s: float, time_s: float) -> None:
        """One step done: ``samples`` processed in ``time_s`` seconds, ``wait_s`` of them waiting for the data."""
        self.totals = t = self.totals + StepTimes(1, samples, time_s, wait_s)
        if self.use_tqdm:
            if self.bar is None:
                self.bar = tqdm(total=self.total, desc=self.desc, unit="step", dynamic_ncols=True, leave=False)
            self.bar.set_postfix_str(f"{t.clips_per_s:.1f} clips/s {self._text()}", refresh=False)
            self.bar.update(1)
        elif self.style.enabled and (t.steps % self.style.print_freq == 0 or t.steps in (1, self.total)):
            get_logger().info(f"{self.desc} [{t.steps}/{self.total}] {t.clips_per_s:.1f} clips/s {self._text()}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
