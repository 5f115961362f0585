"""What every avsa dataset shares: epoch order, per-sample random generators, bad-sample handling, stage timing.

Training visits the units in ``repeats`` fresh permutations per epoch (``set_epoch``), testing in a fixed order; every
draw of sample ``index`` comes from a generator seeded by (seed, split, epoch, index, purpose) (the test split ignores
the epoch), so samples do not depend on workers or order. ``__getitem__`` replaces a sample whose file fails
(``DataError``) by the next one, logs the file once, and counts it in the sample's ``failures``; the engine
(engine/bad_samples.py) stops a run above ``max_bad_fraction``. Details: docs/data.md ("Epoch order, randomness,
bad samples").
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch.utils.data import Dataset

from utils.errors import DataError
from utils.media import DecodeCache, read_audio, read_video
from utils.seeding import make_generator

__all__ = ["ClipDataset"]

log = logging.getLogger("avsa.datasets")

# Consecutive failing samples after which __getitem__ gives up: far more than any usable dataset produces, so
# that a dataset that is entirely unreadable stops at once instead of looping.
MAX_CONSECUTIVE_FAILURES = 32

_STREAMS = {"order": 0, "locate": 1, "decode": 2, "transform": 3}
_UNTIMED = nullcontext()


class ClipDataset(Dataset):
    """Base class. Subclasses call ``super().__init__`` and implement ``locate``, ``read``, ``transform`` and
    ``item_path``; ``decode(index)`` = ``read(locate(index), index)`` is the expensive I/O, ``transform`` all the
    augmentation (so that it can move to the GPU)."""

    def __init__(self, *, split: str, seed: int, num_units: int, repeats: int, train: bool, num_items: int):
        self.split, self.seed, self.train = split, int(seed), train
        self.num_units, self.repeats, self.num_items = num_units, repeats, num_items
        self.epoch = 0
        # One flag per item (file), shared with forked or spawned DataLoader workers: a bad file is logged once.
        self._reported = multiprocessing.Array(ctypes.c_bool, max(num_items, 1))
        self._order = self._epoch_order()

    # ---------------------------------------------------------------------------------------------- epoch order
    def _epoch_order(self) -> torch.Tensor:
        if not self.train:
            return torch.arange(self.num_units).repeat(self.repeats)
        generator = self.generator(0, "order")
        return torch.cat([torch.randperm(self.num_units, generator=generator) for _ in range(self.repeats)])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch: its training order and random draws (cheap when the epoch is unchanged)."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._order = self._epoch_order()

    def __len__(self) -> int:
        return len(self._order)

    def unit(self, index: int) -> int:
        """The unit (video or segment) at position ``index`` of the epoch order."""
        return int(self._order[index])

    def generator(self, index: int, stream: str) -> torch.Generator:
        """The generator of one purpose (``_STREAMS``) of sample ``index``: seeded by (seed, split, epoch, index,
        purpose), the epoch being 0 for the test split."""
        split = int.from_bytes(self.split.encode(), "little")
        return make_generator(self.seed, split, self.epoch if self.train else 0, index, _STREAMS[stream], mode="mixed")

    # ---------------------------------------------------------------------------------------------- stage timing
    # Benchmarks (tools/bench_data.py) set ``timer``: called with a stage name ("probe", "decode video", "decode audio",
    # "label maps", "crops", "rotation", "video transforms", "log-mel"), it returns a context manager that the stage
    # runs in. None (the default): the stages run untimed, at the cost of an empty ``with``.
    timer: Callable[[str], AbstractContextManager] | None = None

    def stage(self, name: str) -> AbstractContextManager:
        """The context of one stage of a sample: ``timer(name)``, or nothing without a timer."""
        return _UNTIMED if self.timer is None else self.timer(name)

    # ---------------------------------------------------------------------------------------------- decoding
    decode_cache: DecodeCache | None = None  # set by subclasses from ``dataset.decode_cache_mb``

    def read_video(self, path, start: float, duration: float, fps: float) -> torch.Tensor:
        """`utils.media.read_video`, through this process's decode cache when the config enables one."""
        with self.stage("decode video"):
            if self.decode_cache is not None:
                return self.decode_cache.video(path, start, duration, fps)
            return read_video(path, start, duration, fps)

    def read_audio(self, path, start: float, duration: float, rate: int, audio_format: str = "ambix") -> torch.Tensor:
        """`utils.media.read_audio`, through this process's decode cache when the config enables one."""
        with self.stage("decode audio"):
            if self.decode_cache is not None:
                return self.decode_cache.audio(path, start, duration, rate, audio_format)
            return read_audio(path, start, duration, rate, audio_format)

    def media_files(self, item: int) -> list[tuple[str, str]]:
        """(kind, path) of the files item ``item`` reads: kind "video" or "audio" (for `fill_decode_cache`)."""
        return [("video", self.item_path(item))]

    def fill_decode_cache(self) -> int:
        """Decode every file of the split into the decode cache (until it is full) and return how many files it
        holds. Called in the main process before the DataLoader forks its workers, which then share the decoded
        files instead of each decoding all of them again. Unreadable files are skipped here and reported when a
        sample reads them."""
        cache = self.decode_cache
        if cache is None:
            return 0
        video, audio = self.cfg["video"], self.cfg.get("audio")
        for item in range(self.num_items):
            for kind, path in self.media_files(item):
                try:
                    if kind == "video":
                        cache.video(path, 0.0, 1.0 / video["fps"], video["fps"])
                    else:
                        cache.audio(path, 0.0, 1.0 / audio["rate"], audio["rate"], audio["format"])
                except DataError:
                    continue
            if cache.overflowed:
                break
        return len(cache)

    # ---------------------------------------------------------------------------------------------- sample
    def locate(self, index: int) -> int:
        """Item (file) used by sample ``index``."""
        raise NotImplementedError

    def read(self, item: int, index: int) -> dict:
        raise NotImplementedError

    def transform(self, raw: dict, generator: torch.Generator) -> dict:
        raise NotImplementedError

    def item_path(self, item: int) -> str:
        raise NotImplementedError

    def describe_items(self) -> str:
        """What the items are, for reports (e.g. "12 segments of 5 videos")."""
        raise NotImplementedError

    def index_notes(self) -> list[str]:
        """Facts about the index worth a look that are not bad files (e.g. listed ids without files)."""
        return []

    def index_problems(self) -> list[str]:
        """Files the index found but cannot use, one line each "<path>: <reason>"."""
        return []

    def decode(self, index: int) -> dict:
        """The expensive part of sample ``index``: uint8 frames, raw audio and metadata (see the subclass)."""
        return self.read(self.locate(index), index)

    def __getitem__(self, index: int) -> dict:
        last_error = None
        attempts = min(MAX_CONSECUTIVE_FAILURES, len(self))
        for failures in range(attempts):
            position = (index + failures) % len(self)
            item = self.locate(position)
            try:
                sample = self.transform(self.read(item, position), self.generator(position, "transform"))
            except DataError as err:
                self._report(item, err)
                last_error = err
                continue
            sample["index"] = torch.tensor(position, dtype=torch.int64)
            sample["failures"] = torch.tensor(failures, dtype=torch.int64)
            return sample
        raise DataError(f"{self.split} split: {attempts} consecutive samples failed to decode "
                        f"from index {index}; last: {last_error}")

    def _report(self, item: int, err: DataError) -> None:
        with self._reported.get_lock():
            first = not self._reported[item]
            self._reported[item] = True
        if first:
            log.warning("bad sample replaced by another: %s", " ".join(str(err).split()))

