"""Text log, TensorBoard and progress display shared by every script (the run directory: utils/runs.py).

* ``train.log`` in the run directory (rank 0) plus the console, unless ``--quiet`` (log file only).
* Progress: a tqdm bar with clips/s on an interactive terminal; plain periodic lines otherwise (batch jobs,
  CI, ``make demo`` piped to a file).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator

LOGGER_NAME = "avsa"
_FORMAT = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


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
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(os.path.join(run_dir, "tensorboard"))


class Progress:
    """Iterate with progress: tqdm (with clips/s) on a terminal, a log line every ``print_freq`` steps
    otherwise. ``set(**values)`` attaches the latest metrics to the display."""

    def __init__(self, iterable: Iterable, total: int, desc: str, print_freq: int = 50,
                 clips_per_step: int = 1, quiet: bool = False, enabled: bool = True):
        self.iterable, self.total, self.desc = iterable, total, desc
        self.print_freq, self.clips_per_step = max(1, print_freq), clips_per_step
        self.values: dict[str, float] = {}
        self.enabled = enabled
        self.use_tqdm = enabled and not quiet and sys.stderr.isatty()

    def set(self, **values: float) -> None:
        self.values.update(values)

    def _text(self) -> str:
        return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values.items())

    def __iter__(self) -> Iterator:
        logger = get_logger()
        start = time.perf_counter()
        if self.use_tqdm:
            from tqdm import tqdm

            bar = tqdm(self.iterable, total=self.total, desc=self.desc, unit="step", dynamic_ncols=True, leave=False)
            for i, item in enumerate(bar):
                yield item
                rate = (i + 1) * self.clips_per_step / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix_str(f"{rate:.1f} clips/s {self._text()}", refresh=False)
            bar.close()
            return
        for i, item in enumerate(self.iterable):
            yield item
            if self.enabled and ((i + 1) % self.print_freq == 0 or i == 0 or i + 1 == self.total):
                rate = (i + 1) * self.clips_per_step / max(time.perf_counter() - start, 1e-9)
                logger.info(f"{self.desc} [{i + 1}/{self.total}] {rate:.1f} clips/s {self._text()}")
