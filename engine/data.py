"""Data loading that can stop and restart anywhere: a seeded, sharded, skippable batch order.

Each epoch's order is a permutation drawn from a generator seeded by (seed, epoch), the same on every rank; rank r
takes every world_size-th element (DistributedSampler-equivalent sharding). ``set_epoch(epoch, start_step)`` skips
the batches a resumed run has already consumed. Indices travel to the workers as ``(epoch, index)`` pairs and the
dataset is told the epoch (``dataset.set_epoch(epoch)`` when it has one) right before each sample is drawn, so
datasets that derive their random draws from (seed, epoch, index) give the same sample whatever worker reads it,
with persistent workers, and after a resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from utils.errors import ConfigError, DataError
from utils.logs import Progress, ProgressStyle, RunClock
from utils.seeding import make_generator, seed_worker


def epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch)) % 2**63


class EpochBatchSampler(Sampler):
    """Yields this rank's batches of ``(epoch, index)`` pairs.

    drop_last=True (training): every rank gets the same number of full batches; the tail is dropped.
    drop_last=False (testing): the order is padded by repeating its start so every rank sees the same number of
    samples and batch sizes (the criterion gathers negatives across ranks, which needs equal batch sizes).
    limit: at most this many batches per epoch (0: all; ``limit_steps``, smoke runs).
    """

    def __init__(self, num_samples: int, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int,
                 rank: int = 0, world_size: int = 1, limit: int = 0):
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.drop_last, self.seed, self.limit = shuffle, drop_last, seed, limit
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def _per_rank(self) -> int:
        if self.drop_last:
            return self.num_samples // self.world_size
        return math.ceil(self.num_samples / self.world_size)

    def __len__(self) -> int:
        """Batches per epoch on this rank (before skipping)."""
        per_rank = self._per_rank()
        batches = per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)
        return min(batches, self.limit) if self.limit else batches

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=make_generator(epoch_seed(self.seed, self.epoch)))
        else:
            order = torch.arange(self.num_samples)
        total = self._per_rank() * self.world_size
        order = order.repeat(math.ceil(total / max(self.num_samples, 1)))[:total]
        mine = order[self.rank::self.world_size].tolist()
        for step in range(self.start_step, len(self)):
            yield [(self.epoch, i) for i in mine[step * self.batch_size:(step + 1) * self.batch_size]]


class _EpochIndexed(Dataset):
    """Receives ``(epoch, index)`` from the sampler and tells the wrapped dataset (in whichever process reads it)
    the epoch before reading. This is what lets workers persist across epochs."""

    def __init__(self, dataset: Dataset):
        self.dataset, self.epoch = dataset, None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if epoch != self.epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.epoch = epoch
        return self.dataset[index]


def make_loader(dataset: Dataset, batch_size: int, cfg: dict, *, train: bool, rank: int = 0, world_size: int = 1,
                device: torch.device = torch.device("cpu"), collate_fn=None) -> DataLoader:
    """DataLoader with an :class:`EpochBatchSampler` (``loader.batch_sampler``).

    batch_size: the GLOBAL batch (as in the paper's "batch size 28 over 2 GPUs"); each rank loads
    batch_size / world_size samples. cfg: the run config (``seed``, ``num_workers``, ``limit_steps``).
    Training order: a dataset with ``set_epoch`` orders its own epochs (avsa datasets: permutations that keep a
    video out of a batch twice, docs/data.md), which the sampler keeps; others are shuffled by the sampler.
    """
    if batch_size % world_size:
        raise ConfigError(f"<config>: dataset.batch_size: {batch_size} is not divisible by the {world_size} processes")
    per_rank = batch_size // world_size
    shuffle = train and not hasattr(dataset, "set_epoch")
    sampler = EpochBatchSampler(len(dataset), per_rank, shuffle=shuffle, drop_last=train, seed=cfg["seed"],
                                rank=rank, world_size=world_size, limit=cfg.get("limit_steps", 0))
    if len(sampler) == 0:
        raise ConfigError(f"<config>: dataset.batch_size: {batch_size} is larger than the "
                          f"{'train' if train else 'test'} split ({len(dataset)} samples)")
    # In-memory sets (evaluation.features.FeatureDraws) are read in the main process: workers would only copy.
    workers = 0 if getattr(dataset, "in_memory", False) else cfg["num_workers"]
    share_decoded(dataset, workers)
    return DataLoader(_EpochIndexed(dataset), batch_sampler=sampler, num_workers=workers,
                      collate_fn=collate_fn, pin_memory=device.type == "cuda", worker_init_fn=seed_worker,
                      generator=make_generator(cfg["seed"] + rank), persistent_workers=workers > 0)


def share_decoded(dataset: Dataset, num_workers: int) -> None:
    """With a decode cache (``dataset.decode_cache_mb``) and worker processes: decode the split here, before the
    workers fork, so that they share one decoded copy instead of each decoding every file again."""
    if num_workers > 0 and getattr(dataset, "decode_cache", None) is not None:
        dataset.fill_decode_cache()


def start_epoch(loader: DataLoader, epoch: int, start_step: int = 0) -> None:
    """Select the epoch's order (skipping ``start_step`` batches) and reseed the loader's generator."""
    loader.batch_sampler.set_epoch(epoch, start_step)
    loader.generator.manual_seed(epoch_seed(loader.batch_sampler.seed + loader.batch_sampler.rank, epoch))


def batches(loader: DataLoader):
    """Iterate ``loader``; a DataError raised in a worker comes back as the one-line error it was (DataLoader
    re-raises it with the worker's traceback pasted into the message)."""
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except DataError as err:
            text = str(err)
            if "Original Traceback" in text:
                last = [line for line in text.splitlines() if line.strip()][-1]
                raise DataError(last.split("DataError: ", 1)[-1]) from None
            raise
        yield batch


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch to ``device`` (non-blocking from pinned memory)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def finish_on_device(batch, loader: DataLoader):
    """A batch already on its device, finished by the dataset's ``device_transform`` when it has one (YT-360 with
    ``augment_on: gpu``: crops, FOA rotation, jitter and log-mel of the whole batch); other batches pass through."""
    dataset = loader.dataset.dataset if isinstance(loader.dataset, _EpochIndexed) else loader.dataset
    transform = getattr(dataset, "device_transform", None)
    return transform(batch) if transform is not None else batch


def batch_size_of(batch) -> int:
    """Number of samples in a collated batch (dim 0 of its first tensor)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else 0
    if isinstance(batch, (dict, list, tuple)):
        for value in (batch.values() if isinstance(batch, dict) else batch):
            n = batch_size_of(value)
            if n:
                return n
    return 0


class DeviceBatches:
    """The batches of ``loader`` on ``device``, each finished there (`finish_on_device`), with the step timings and
    progress display (``progress``: `utils.logs.Progress`) and the count of replaced samples: every loop over a loader
    (training, test passes, frozen features, the benchmark tools) iterates one of these.

    epoch: select that epoch's order first (`start_epoch`; loaders of `make_loader`), skipping ``start_step`` batches.
    monitor: counts each batch's ``failures`` (`engine.bad_samples.BadSampleMonitor`). world_size: the processes that
    step together (clips/s counts all of them). run_clock: the run's steps, for its ETA. clock: the time source.
    While a batch is being used: ``samples``, its size, and ``wait_s``, the time this process was blocked on the
    loader for it. A step's time runs from one batch's request to the next's.
    """

    def __init__(self, loader: DataLoader, device: torch.device, *, desc: str = "", style: ProgressStyle | None = None,
                 epoch: int | None = None, start_step: int = 0, monitor=None, world_size: int = 1,
                 run_clock: RunClock | None = None, clock: Callable[[], float] = time.perf_counter):
        if epoch is not None:
            start_epoch(loader, epoch, start_step)
        self.loader, self.device, self.monitor, self.world_size = loader, device, monitor, world_size
        self.progress = Progress(len(loader) - start_step, desc, style, device=device, run_clock=run_clock,
                                 clock=clock)
        self.clock = clock
        self.samples, self.wait_s = 0, 0.0

    def __len__(self) -> int:
        return self.progress.total

    def __iter__(self):
        end = self.clock()
        try:
            for batch in batches(self.loader):
                ready = self.clock()
                self.samples, self.wait_s = batch_size_of(batch), ready - end
                if self.monitor is not None:
                    self.monitor.update(batch)
                yield finish_on_device(to_device(batch, self.device), self.loader)
                now = self.clock()
                self.progress.step(self.samples * self.world_size, self.wait_s, now - end)
                end = now
        finally:
            self.progress.close()
