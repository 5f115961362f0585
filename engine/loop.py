"""The training loop: ``prepare`` makes the parts ready (`Training`), then ``fit`` runs the epochs of
``train_one_epoch`` (loader to optimizer step), a test phase after each (``evaluate``), checkpoints, resume and
pre-emption.

A *task* is an ``nn.Module`` whose ``forward(batch) -> (loss, metrics)`` takes a collated batch already on the
device and returns a scalar loss and a dict of scalar metrics (tensors or floats). It holds every trainable part
(encoders AND criterion), so DDP synchronises all of them and the test phase puts all of them in eval mode (the
original synchronised only the encoders and tested with the criterion's dropout on). Optional
``state_modules() -> {name: module}`` names the parts stored in checkpoints (default ``{"model": task}``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from engine.bad_samples import BadSampleMonitor
from engine.data import batch_size_of, make_loader
from engine.optim import build_optimizer, build_scheduler
from engine.run import Run
from engine.signals import RunInterrupted, StopRequest
from engine.state import Position, resume, save_state, state_modules
from utils.cli import available_cores
from utils.distributed import all_reduce_sum
from utils.errors import AvsaError
from utils.logs import RunClock
from utils.runs import LATEST, latest_checkpoint, snapshot_name

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDiverged(AvsaError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Means:
    """Sample-weighted means of named values (a task's loss and metrics): the running means of a training epoch (of
    rank-averaged floats; kept in checkpoints) and `evaluate`'s meter of a task (tensors, summed on the device and
    over ranks only at the end, so that a test step never waits for the device)."""

    def __init__(self, state: dict | None = None):
        self.count = state["count"] if state else 0
        self.sums: dict = dict(state["sums"]) if state else {}

    def update(self, values: dict, n: int) -> None:
        self.count += n
        for key, value in values.items():
            value = value.detach().double() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value * n

    def all_reduce(self, device: torch.device) -> None:
        keys = list(self.sums)  # the same order on every rank: the task's
        packed = torch.stack([torch.as_tensor(value, dtype=torch.float64, device=device).reshape(())
                              for value in [*(self.sums[k] for k in keys), self.count]])
        *sums, count = all_reduce_sum(packed).tolist()
        self.sums, self.count = dict(zip(keys, sums)), int(count)

    def compute(self) -> dict[str, float]:
        return {key: float(total) / max(self.count, 1) for key, total in self.sums.items()}

    def state(self) -> dict:
        return {"count": self.count, "sums": {key: float(total) for key, total in self.sums.items()}}


def _reduce_step(run: Run, loss: torch.Tensor, metrics: dict,
                 flags: tuple[float, ...] = ()) -> tuple[dict[str, float], list[float]]:
    """Rank-averaged loss and metrics of one step, plus each of ``flags`` summed over ranks (so every rank
    takes the same decision), in ONE collective and one device sync."""
    keys = sorted(metrics)
    packed = torch.stack([loss.detach().float().reshape(()),
                          *(torch.as_tensor(metrics[k], device=loss.device).detach().float().reshape(())
                            for k in keys),
                          *(torch.tensor(float(f), device=loss.device) for f in flags)])
    if run.dist.distributed:
        dist.all_reduce(packed)
        packed[:len(packed) - len(flags)] /= run.dist.world_size
    values = packed.tolist()
    return {"loss": values[0], **dict(zip(keys, values[1:1 + len(keys)]))}, values[1 + len(keys):]


def autocast(precision: str, device: torch.device):
    """The autocast context of a ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[precision])


def _format(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())


@dataclass
class Training:
    """What `prepare` made ready: the task on its device and ``wrapped``, the task as the steps run it (DDP-wrapped
    and/or compiled); the optimizer with its per-step schedule and the fp16 loss scaler; the loaders; where the run
    stands (``position``) and the running means of the epoch in progress (``meters``)."""

    task: nn.Module
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    train_loader: DataLoader
    test_loader: DataLoader | None
    position: Position
    meters: Means

    def save(self, run: Run, name: str = LATEST) -> None:
        """Collective: the whole training state to ``<run_dir>/<name>`` (rank 0 writes it atomically)."""
        save_state(os.path.join(run.run_dir, name), cfg=run.cfg, inputs=run.inputs, task=self.task,
                   optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.scaler, position=self.position,
                   meters=self.meters.state(), is_main=run.is_main)


def train_one_epoch(run: Run, training: Training, stop: StopRequest, monitor: BadSampleMonitor,
                    run_clock: RunClock | None = None) -> dict[str, float]:
    """Train for the rest of epoch ``training.position.epoch``; the epoch's means of the loss and metrics."""
    cfg, position, optimizer = run.cfg, training.position, training.optimizer
    epoch = position.epoch
    training.wrapped.train()
    stream = run.device_batches(training.train_loader, f"train {epoch + 1}", epoch=epoch,
                                start_step=position.epoch_step, monitor=monitor, run_clock=run_clock)
    logged = stream.progress.totals
    for batch in stream:
        with autocast(cfg["precision"], run.device):
            loss, metrics = training.wrapped(batch)
        values, (stop_votes, bad_votes) = _reduce_step(run, loss, metrics, (stop.signum, monitor.over_limit()))
        if bad_votes:
            raise monitor.error()
        if not math.isfinite(values["loss"]):
            last = latest_checkpoint(run.run_dir)
            raise TrainingDiverged(
                f"loss is {values['loss']} at epoch {epoch + 1}, step {position.epoch_step + 1} of the epoch "
                f"(step {position.step + 1} in total); stopped without saving. Last good checkpoint: "
                f"{last if os.path.exists(last) else 'none'}. Lower optimizer.lr, set grad_clip, or use fp32, "
                f"with --set resume=false or a new --output (a run does not resume with changed settings)")
        optimizer.zero_grad(set_to_none=True)
        training.scaler.scale(loss).backward()
        if cfg["grad_clip"] is not None:
            training.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(training.task.parameters(), cfg["grad_clip"])
        training.scaler.step(optimizer)
        training.scaler.update()
        training.scheduler.step()
        position.epoch_step += 1
        position.step += 1
        training.meters.update(values, stream.samples)

        stream.progress.set(**values)
        if position.step % cfg["print_freq"] == 0 or position.epoch_step == 1:
            for key, value in values.items():
                run.scalar(f"train/{key}", value, position.step)
            run.scalar("train/lr", optimizer.param_groups[0]["lr"], position.step)
            window, logged = stream.progress.totals - logged, stream.progress.totals
            if window.steps:  # the steps timed since the last time (this one ends when the next batch is asked for)
                run.scalar("train/clips_per_s", window.clips_per_s, position.step)
                run.scalar("train/data_wait_fraction", window.wait_fraction, position.step)

        every = cfg["checkpoint_every_steps"]
        if stop_votes or (every and position.step % every == 0):
            training.save(run)
        if stop_votes:
            signum = int(stop.signum) or 15
            raise RunInterrupted(
                f"stopped by signal {signum} after epoch {epoch + 1} step {position.epoch_step} "
                f"(step {position.step} in total); checkpoint written to {latest_checkpoint(run.run_dir)}; "
                f"run the same command again to resume", signum)
    return training.meters.compute()


@torch.no_grad()
def evaluate(run: Run, model: nn.Module, loader, meter, score: Callable | None = None, *, desc: str = "test",
             epoch: int | None = None) -> tuple[dict[str, float], dict]:
    """One pass over ``loader`` with ``model`` in eval mode (no dropout, BatchNorm running statistics):
    ``score(batch, meter)`` (default ``model.evaluate``) under autocast for every batch on the device, then
    ``meter`` (or a dict of meters) summed over ranks: ``all_reduce(device)``, ``compute() -> metrics`` and, where
    a meter has it, ``details()``. Returns (metrics, details); replaced samples are counted and reported."""
    model.eval()
    score = score or model.evaluate
    monitor = BadSampleMonitor()  # counts only: a test pass scores what it could read
    for batch in run.device_batches(loader, desc, epoch=epoch, monitor=monitor):
        with autocast(run.cfg["precision"], run.device):
            score(batch, meter)
    bad = monitor.end_epoch(run.device)
    if bad["failed"]:  # each unreadable sample was replaced by the next one (the log names its file)
        run.logger.warning(f"{desc}: {bad['failed']} of {bad['attempted'] - bad['failed']} samples could not be "
                           "read and were replaced")
    metrics, details = {}, {}
    for part in meter.values() if isinstance(meter, dict) else [meter]:
        part.all_reduce(run.device)
        metrics.update(part.compute())
        details.update(part.details() if hasattr(part, "details") else {})
    return metrics, details


def to_channels_last(module: nn.Module) -> None:
    """Channels-last weights (4-D: channels_last, 5-D: channels_last_3d); convolutions then run channels-last."""
    for param in module.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
        elif param.dim() == 5:
            param.data = param.data.contiguous(memory_format=torch.channels_last_3d)


def cpu_threads(num_workers: int) -> int:
    """Intra-op threads for a training process on CPU: the cores left to it after its DataLoader workers (one
    thread each, `utils.seeding.seed_worker`) and the other ranks on this machine, at least one. torch's default
    (every core) plus the workers oversubscribed the cores: on 2 cores, 2 threads + 2 workers made each step cost
    several times more CPU time (docs/performance.md)."""
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, available_cores() // max(ranks, 1) - num_workers)


def prepare(run: Run, task: nn.Module, train_set, test_set=None, *, batch_size: int,
            test_batch_size: int | None = None, param_groups: list | None = None, collate_fn=None,
            find_unused_parameters: bool = False) -> Training:
    """Everything `fit` trains with: CPU threads, the task on the device (SyncBatchNorm, channels-last), the
    optimizer, the loaders, the per-step schedule, the fp16 scaler, the state of a resumed run, DDP and compile."""
    cfg = run.cfg
    if run.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # an explicit setting wins
        torch.set_num_threads(cpu_threads(cfg["num_workers"]))
    task.to(run.device)
    if cfg["sync_batchnorm"] and run.dist.distributed:
        task = nn.SyncBatchNorm.convert_sync_batchnorm(task)
    if cfg["channels_last"]:
        to_channels_last(task)
    optimizer = build_optimizer(cfg["optimizer"],
                                param_groups or [p for p in task.parameters() if p.requires_grad])
    loader_args = dict(rank=run.dist.rank, world_size=run.dist.world_size, device=run.device, collate_fn=collate_fn)
    train_loader = make_loader(train_set, batch_size, cfg, train=True, **loader_args)
    test_loader = None
    if test_set is not None:
        test_loader = make_loader(test_set, test_batch_size or batch_size, cfg, train=False, **loader_args)
    steps_per_epoch = len(train_loader.batch_sampler)
    scheduler = build_scheduler(cfg["optimizer"], optimizer, steps_per_epoch)
    scaler = torch.amp.GradScaler(run.device.type, enabled=cfg["precision"] == "fp16")

    restored = None
    if cfg["resume"]:
        restored = resume(run.run_dir, task=task, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                          rank=run.dist.rank, world_size=run.dist.world_size, device=run.device, logger=run.logger)
    position, meters = (restored[0], Means(restored[1])) if restored else (Position(), Means())

    for name, module in state_modules(task).items():
        count = sum(p.numel() for p in module.parameters())
        run.logger.info(f"{name}: {count / 1e6:.3f} M parameters ({type(module).__name__})")
    run.logger.info(f"train: {len(train_set)} samples, {steps_per_epoch} steps/epoch of {batch_size} "
                    f"({cfg['optimizer']['name']}, lr {cfg['optimizer']['lr']:g}, {cfg['precision']}); "
                    f"test: {len(test_set) if test_set is not None else 0} samples")

    wrapped = task
    if run.dist.distributed:
        wrapped = DistributedDataParallel(task, device_ids=[run.device.index] if run.device.type == "cuda" else None,
                                          find_unused_parameters=find_unused_parameters)
    if cfg["compile"]:
        wrapped.compile()
    return Training(task, wrapped, optimizer, scheduler, scaler, train_loader, test_loader, position, meters)


def fit(run: Run, task: nn.Module, train_set, test_set=None, *, batch_size: int, test_batch_size: int | None = None,
        param_groups: list | None = None,
        evaluate_fn: Callable[[int], dict[str, float]] | None = None, collate_fn=None,
        find_unused_parameters: bool = False) -> dict[str, dict[str, float]]:
    """Train ``task`` for ``optimizer.epochs`` epochs, resuming from ``<run_dir>/checkpoint.pth`` when ``resume``.

    batch_size / test_batch_size: global batch sizes (split over ranks).
    param_groups: optimizer parameter groups (default: every parameter of ``task`` that requires a gradient).
    evaluate_fn(epoch) -> metrics: replaces the default test phase over ``test_set``.
    Returns ``{"train": ..., "test": ...}`` metrics of the last epoch run (empty when already finished).
    """
    training = prepare(run, task, train_set, test_set if evaluate_fn is None else None, batch_size=batch_size,
                       test_batch_size=test_batch_size, param_groups=param_groups, collate_fn=collate_fn,
                       find_unused_parameters=find_unused_parameters)
    run.commit()  # everything is ready: only now does the run directory get its files
    cfg, position = run.cfg, training.position
    monitor = BadSampleMonitor(cfg["max_bad_fraction"])
    results: dict[str, dict[str, float]] = {}
    epochs = cfg["optimizer"]["epochs"]
    if position.epoch >= epochs:
        run.logger.info(f"already trained for {epochs} epochs; nothing to do")
    run_clock = RunClock(epochs * len(training.train_loader), position.step)
    with StopRequest() as stop:
        while position.epoch < epochs:
            epoch = position.epoch
            started = time.perf_counter()
            train_metrics = train_one_epoch(run, training, stop, monitor, run_clock)
            bad = monitor.end_epoch(run.device)
            if bad["attempted"]:
                run.scalar("train-epoch/bad_samples", bad["failed"], epoch + 1)
                run.scalar("train-epoch/bad_fraction", bad["fraction"], epoch + 1)
            training.task.eval()
            test_metrics = evaluate_fn(epoch) if evaluate_fn is not None else _test_phase(run, training, epoch)
            for key, value in train_metrics.items():
                run.scalar(f"train-epoch/{key}", value, epoch + 1)
            for key, value in test_metrics.items():
                run.scalar(f"test/{key}", value, epoch + 1)
            run.logger.info(f"epoch {epoch + 1}/{epochs} ({time.perf_counter() - started:.1f} s) "
                            f"train {_format(train_metrics)} | test {_format(test_metrics)}")
            results = {"train": train_metrics, "test": test_metrics}

            position.epoch, position.epoch_step = epoch + 1, 0
            training.meters = Means()
            for name in [LATEST] + ([snapshot_name(epoch + 1)] if epoch + 1 in cfg["snapshot_epochs"] else []):
                training.save(run, name)
            if run.writer is not None:
                run.writer.flush()
    if results.get("test"):  # a run that ended with its own test phase: comparable in TensorBoard's HParams tab
        run.record_hparams([*(f"train-epoch/{key}" for key in results["train"]),
                            *(f"test/{key}" for key in results["test"])])
    return results


def _test_phase(run: Run, training: Training, epoch: int) -> dict[str, float]:
    """The task's means over the test set after every ``test_every``-th epoch and the last ({} otherwise)."""
    last = epoch + 1 == run.cfg["optimizer"]["epochs"]
    if training.test_loader is None or not ((epoch + 1) % run.cfg["test_every"] == 0 or last):
        return {}

    def score(batch, meter: Means) -> None:
        loss, metrics = training.wrapped(batch)
        meter.update({"loss": loss, **metrics}, batch_size_of(batch))

    return evaluate(run, training.wrapped, training.test_loader, Means(), score, desc=f"test {epoch + 1}",
                    epoch=epoch)[0]
