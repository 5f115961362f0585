"""Training state on disk: write (rank 0, atomic), resume (every rank), and the curriculum's encoder init.

A checkpoint (see utils/checkpoint.py) holds, besides the config, the run's ``inputs`` (engine/compat.py) and version:
``epoch`` (the epoch in progress, 0-based) and ``epoch_step`` (its steps already done; 0 at an epoch boundary,
so ``checkpoint-ep{E}.pth`` has epoch = E: the weights after E epochs), ``step`` (optimizer steps in total),
one state dict per entry of the task's ``state_modules()`` (pre-training: ``model`` = the encoders, ``criterion``
= translation networks and heads), ``optimizer``, ``scheduler``, ``scaler``, ``meters`` (the running sums of the
epoch in progress), ``rng`` (a list: every rank's Python/NumPy/torch generator states) and ``environment`` (the
code's git commit and the library versions, utils/provenance.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from engine.compat import config_differences, format_changes
from utils.checkpoint import capture_rng_state, load_checkpoint, load_state_strict, restore_rng_state, save_checkpoint
from utils.config import Section
from utils.errors import CheckpointError, ConfigError
from utils.provenance import environment
from utils.runs import latest_checkpoint


@dataclass
class Position:
    epoch: int = 0       # epoch in progress (0-based)
    epoch_step: int = 0  # steps of that epoch already done
    step: int = 0        # optimizer steps in total


def state_modules(task: nn.Module) -> dict[str, nn.Module]:
    """The named parts saved in a checkpoint: ``task.state_modules()`` or the whole task as ``model``."""
    return task.state_modules() if hasattr(task, "state_modules") else {"model": task}


def _all_gather_object(obj) -> list:
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _broadcast_error(error: str | None) -> str | None:
    """Rank 0's error message (or None) on every rank, so a failed write stops all ranks together."""
    if not dist.is_initialized():
        return error
    box = [error]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def save_state(path: str, *, cfg: dict, inputs: dict, task: nn.Module, optimizer, scheduler, scaler,
               position: Position, meters: dict, is_main: bool) -> None:
    """Collective (every rank calls it): gathers the RNG states, rank 0 writes ``path`` atomically.
    A failed write (e.g. disk full) raises ``CheckpointError`` on every rank; the previous file stays intact."""
    rng = _all_gather_object(capture_rng_state())
    error = None
    if is_main:
        state = {"epoch": position.epoch, "epoch_step": position.epoch_step, "step": position.step, "config": cfg,
                 "inputs": inputs,
                 **{name: module.state_dict() for name, module in state_modules(task).items()},
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "scaler": scaler.state_dict(), "meters": meters, "rng": rng, "environment": environment()}
        try:
            save_checkpoint(state, path)
        except CheckpointError as err:
            error = str(err)
    error = _broadcast_error(error)
    if error:
        raise CheckpointError(error)


def resumable(cfg: dict, run_dir: str) -> bool:
    """Whether ``fit`` will resume (``resume: true`` and a checkpoint in ``run_dir``): a fresh run of a
    curriculum's phase 2 loads its phase-1 encoders, a resumed one must not need that file (the original needed it
    for every resume)."""
    return cfg["resume"] and os.path.exists(latest_checkpoint(run_dir))


def check_resume(run_dir: str, cfg: dict, inputs: dict,
                 schema: Section | None = None) -> tuple[Position, list] | None:
    """Before a run resumes from ``<run_dir>/checkpoint.pth``: its position and the result-neutral config changes
    (dotted key, checkpoint's value, new value); None when there is no checkpoint. A result-changing difference
    (engine/compat.py), or other ``inputs``, is a ``ConfigError`` naming every differing key with both values.
    ``schema``: the one ``cfg`` was validated against (`config_differences`)."""
    path = latest_checkpoint(run_dir)
    if not os.path.exists(path):
        return None
    state = load_checkpoint(path, mmap=True)
    ways_out = "use a new --output DIR for a run with these settings, or --set resume=false to start this one over"
    if not isinstance(state.get("config"), dict):
        raise ConfigError(f"{path}: records no config, so resuming it with this one cannot be checked; {ways_out}")
    changing, neutral = config_differences(state["config"], cfg, schema)
    saved = state.get("inputs", {key: "(not recorded)" for key in inputs})  # a checkpoint older than inputs
    changing += [(key, saved.get(key), inputs.get(key)) for key in sorted(set(saved) | set(inputs))
                 if saved.get(key) != inputs.get(key)]
    if changing:
        raise ConfigError(f"{path}: was trained with other settings than this run's: {format_changes(changing)} "
                          f"(checkpoint -> now); {ways_out}")
    return Position(state["epoch"], state.get("epoch_step", 0), state.get("step", 0)), neutral


def resume(run_dir: str, *, task: nn.Module, optimizer, scheduler, scaler, rank: int, world_size: int,
           device: torch.device, logger) -> tuple[Position, dict] | None:
    """Restore everything from ``<run_dir>/checkpoint.pth``; None when there is none.

    The checkpoint holds every trainable part, so resuming never needs the curriculum's phase-1 file.
    """
    path = latest_checkpoint(run_dir)
    if not os.path.exists(path):
        return None
    state = load_checkpoint(path, map_location=device)
    for name, module in state_modules(task).items():
        if name not in state:
            raise CheckpointError(f"{path}: has no {name!r} entry: not a checkpoint of this kind of run")
        load_state_strict(module, state[name], name, path)
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: optimizer state does not match this run's optimizer ({err})") from None
    rng = state["rng"]
    if len(rng) == world_size:
        restore_rng_state(rng[rank])
    else:
        logger.warning(f"{path} was written by {len(rng)} processes, this run has {world_size}: "
                       f"random streams restart from the seed (the run continues, but not bit-identically)")
    position = Position(state["epoch"], state["epoch_step"], state["step"])
    logger.info(f"resumed from {path}: epoch {position.epoch + 1}, step {position.epoch_step} of the epoch "
                f"({position.step} steps in total)")
    return position, state["meters"]
