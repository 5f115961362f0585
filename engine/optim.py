"""Optimizer and per-step learning-rate schedule from the ``optimizer`` config section (schema in engine/schema.py).

The schedule is a pure function of the optimizer step, so a resumed run continues it exactly. Milestones and
warm-up are given in epochs and converted with the number of steps per epoch. The paper's pre-training uses Adam
(lr 1e-4, weight decay 1e-5, coupled L2) with a constant rate (the original's MultiStepLR with gamma 1.0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def build_optimizer(opt_cfg: dict, params: Iterable) -> torch.optim.Optimizer:
    """params: parameters or parameter groups (dicts, as torch.optim accepts)."""
    params = list(params)
    name, lr, wd = opt_cfg["name"], opt_cfg["lr"], opt_cfg["weight_decay"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(opt_cfg["betas"]), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(opt_cfg["betas"]), weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=opt_cfg["momentum"], nesterov=opt_cfg["nesterov"],
                           weight_decay=wd)


def lr_factor(step: int, steps_per_epoch: int, opt_cfg: dict) -> float:
    """Multiplier of the base learning rate after ``step`` optimizer steps.

    Linear warm-up over ``warmup_epochs`` (from 1/warmup_steps to 1), then constant, multistep (×gamma at each
    milestone epoch) or cosine (base lr → min_lr over the remaining steps).
    """
    sched = opt_cfg["schedule"]
    warmup = int(round(sched["warmup_epochs"] * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if sched["name"] == "multistep":
        epoch = step / steps_per_epoch
        return sched["gamma"] ** sum(epoch >= m for m in sched["milestones"])
    if sched["name"] == "cosine":
        total = max(opt_cfg["epochs"] * steps_per_epoch - warmup, 1)
        progress = min((step - warmup) / total, 1.0)
        floor = sched["min_lr"] / opt_cfg["lr"] if opt_cfg["lr"] > 0 else 0.0
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(opt_cfg: dict, optimizer: torch.optim.Optimizer,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimizer step (not per epoch)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps_per_epoch, opt_cfg))
