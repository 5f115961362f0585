"""One run: distributed init, seeding, run directory, log file, resolved ``config.yaml``, TensorBoard writer."""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from typing import Any

import torch

from utils import __version__
from utils.config import save_config
from utils.distributed import DistInfo, cleanup, init_distributed
from utils.errors import ConfigError
from utils.logs import setup_logger, tensorboard_writer
from utils.seeding import seed_everything

# --debug (spec §7.1): tiny batch, no workers, a progress line every step.
DEBUG_OVERRIDES = ("dataset.batch_size=4", "num_workers=0", "print_freq=1")


@dataclass
class Run:
    """Everything a script and the training loop share about the current process."""

    cfg: dict
    dist: DistInfo
    run_dir: str
    logger: logging.Logger
    writer: Any  # torch.utils.tensorboard.SummaryWriter on rank 0 when log2tb, else None
    quiet: bool = False

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        cleanup()


def start_run(cfg: dict, run_dir: str, *, quiet: bool = False, log_name: str = "train.log") -> Run:
    """Join torchrun's group (if any), seed every generator, create ``run_dir`` with ``log_name``,
    ``config.yaml`` and ``tensorboard/`` (rank 0 only)."""
    dist = init_distributed(cfg["device"], timeout_s=cfg["dist_timeout_s"])
    if cfg["sync_batchnorm"] and dist.device.type != "cuda":
        raise ConfigError("<config>: sync_batchnorm: SyncBatchNorm needs CUDA devices (this run is on CPU)")
    seed_everything(cfg["seed"], dist.rank)
    logger = setup_logger(run_dir, quiet=quiet, is_main=dist.is_main, filename=log_name)
    writer = None
    if dist.is_main:
        save_config(cfg, run_dir)
        writer = tensorboard_writer(run_dir, cfg["log2tb"])
    logger.info(f"avsa {__version__}, torch {torch.__version__}, python {platform.python_version()}, "
                f"device {dist.device}, world size {dist.world_size}, run directory {os.path.abspath(run_dir)}")
    return Run(cfg=cfg, dist=dist, run_dir=run_dir, logger=logger, writer=writer, quiet=quiet)
