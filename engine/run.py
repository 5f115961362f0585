"""One run: distributed init, seeding, the resume check, then (once the start has succeeded) the run directory with
its log file, resolved ``config.yaml`` and TensorBoard writer."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.tensorboard.summary import hparams

from engine.compat import flatten, format_changes
from engine.data import DeviceBatches
from engine.state import check_resume
from utils import __version__
from utils.config import Section, save_config
from utils.distributed import DistInfo, cleanup, init_distributed
from utils.errors import ConfigError
from utils.logs import ProgressStyle, open_log_file, setup_logger, tensorboard_writer
from utils.provenance import git_state
from utils.seeding import seed_everything

# --debug: a smoke run of 2 train and 2 test steps (1 epoch, batch 4, no workers, a progress line every step), always
# from scratch, in its own directory (``utils.runs.debug_directory``) so that it never mixes with the real run's files.
DEBUG_OVERRIDES = ("optimizer.epochs=1", "limit_steps=2", "dataset.batch_size=4", "num_workers=0", "print_freq=1",
                   "resume=false")


def hparam_values(cfg: dict) -> dict[str, float | str]:
    """The resolved config as TensorBoard hyper-parameters: one per dotted key; numbers and text as they are,
    true/false, null and lists as in YAML's flow style."""
    values = {}
    for key, value in flatten(cfg).items():
        as_text = isinstance(value, bool) or not isinstance(value, (int, float, str))
        values[key] = json.dumps(value) if as_text else value
    return values


@dataclass
class Run:
    """Everything a script and the training loop share about the current process."""

    cfg: dict
    dist: DistInfo
    run_dir: str
    logger: logging.Logger
    writer: Any = None  # torch.utils.tensorboard.SummaryWriter on rank 0 when log2tb (after commit), else None
    quiet: bool = False
    inputs: dict = field(default_factory=dict)  # what else the result depends on, checked on resume (compat.py)
    log_name: str = "train.log"
    committed: bool = False

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def commit(self) -> None:
        """The start succeeded: create the run directory (rank 0) with ``config.yaml``, the log file (with what was
        logged so far) and ``tensorboard/``. ``fit`` calls it before the first step; idempotent."""
        if self.committed:
            return
        self.committed = True
        if self.is_main:
            save_config(self.cfg, self.run_dir)
            open_log_file(self.logger, self.run_dir, self.log_name)
            self.writer = tensorboard_writer(self.run_dir, self.cfg["log2tb"])

    @property
    def progress_style(self) -> ProgressStyle:
        return ProgressStyle(self.cfg["print_freq"], self.quiet, self.is_main)

    def device_batches(self, loader, desc: str, **options) -> DeviceBatches:
        """`DeviceBatches` of ``loader`` on this process's device, with this run's progress display; ``options``:
        ``epoch``, ``start_step``, ``monitor``, ``run_clock``."""
        return DeviceBatches(loader, self.device, desc=desc, style=self.progress_style,
                             world_size=self.dist.world_size, **options)

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def record_hparams(self, metric_tags: Iterable[str]) -> None:
        """TensorBoard's HParams tab: this run's resolved config (`hparam_values`) beside the last values of the
        scalars ``metric_tags``, so runs can be compared there (rank 0, with ``log2tb``)."""
        if self.writer is not None:
            for summary in hparams(hparam_values(self.cfg), {tag: 0.0 for tag in metric_tags}):
                self.writer.file_writer.add_summary(summary)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.dist.distributed:
            # gloo's worker threads free the last collective's tensors right after it completes, which needs the GIL;
            # a process group destroyed before they got it (its destructor joins them, holding the GIL) hangs the
            # exit. Seen in 1 of 2 exits right after the checkpoint of a SIGTERM (torch 2.11, gloo): let them finish.
            time.sleep(0.2)
        cleanup()


def start_run(cfg: dict, run_dir: str, *, quiet: bool = False, log_name: str = "train.log",
              inputs: dict | None = None, schema: Section | None = None) -> Run:
    """Join torchrun's group (if any), seed every generator, and check that a checkpoint this run will resume from
    (``resume`` and ``<run_dir>/checkpoint.pth``) was trained with the same result-changing settings and ``inputs``
    (engine/compat.py; ``ConfigError`` otherwise). Nothing is written yet: ``Run.commit`` creates the run
    directory, so a start that fails (refused resume, missing data or file) leaves no half-made run directory and
    an existing run's files untouched. ``schema``: the one ``cfg`` was validated against (default: a
    pre-training's, engine/schema.py)."""
    dist = init_distributed(cfg["device"], timeout_s=cfg["dist_timeout_s"])
    if cfg["sync_batchnorm"] and dist.device.type != "cuda":
        raise ConfigError("<config>: sync_batchnorm: SyncBatchNorm needs CUDA devices (this run is on CPU)")
    seed_everything(cfg["seed"], dist.rank)
    logger = setup_logger(quiet=quiet, is_main=dist.is_main)
    run = Run(cfg=cfg, dist=dist, run_dir=run_dir, logger=logger, quiet=quiet, inputs=dict(inputs or {}),
              log_name=log_name)
    git = git_state()
    commit = f" (commit {git['commit'][:12]}{', with local changes' if git['dirty'] else ''})" if git else ""
    logger.info(f"avsa {__version__}{commit}, torch {torch.__version__}, python {platform.python_version()}, "
                f"device {dist.device}, world size {dist.world_size}, run directory {os.path.abspath(run_dir)}")
    if dist.device_warning and dist.is_main:
        logger.warning(dist.device_warning)
    if cfg["resume"]:
        try:
            checked = check_resume(run_dir, cfg, run.inputs, schema)
        except BaseException:
            cleanup()
            raise
        if checked is not None and checked[1]:
            position, changes = checked
            epochs = [(before, after) for key, before, after in changes if key == "optimizer.epochs"]
            extended = f"; the run is extended to {epochs[0][1]} epochs" if epochs and epochs[0][1] > epochs[0][0] \
                else ""
            logger.info(f"config changed since the checkpoint (epoch {position.epoch + 1}, step {position.epoch_step}"
                        f" of the epoch, {position.step} steps in total): {format_changes(changes)}{extended}; "
                        f"config.yaml records the new values")
    return run
