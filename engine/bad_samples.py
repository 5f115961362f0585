"""Bad samples: a dataset replaces an unreadable sample by the next one of its order and says, in each sample's
``failures`` () int64, how many it skipped before it (datasets/base.py). The engine counts them here and decides when
a run stops; every rank takes the same decision (docs/reliability.md)."""

from __future__ import annotations

import torch

from utils.distributed import all_reduce_sum
from utils.errors import DataError


class BadSampleMonitor:
    """Counts an epoch's replaced samples and stops the run above ``max_bad_fraction`` of them.

    ``update(batch)`` counts a batch's ``failures``; ``over_limit()`` says whether this rank is above the limit
    (mid-epoch only once ``min_samples`` were attempted, so that one early bad file does not stop a run); after a
    vote over ranks, every rank raises ``error()``. ``end_epoch`` sums the epoch's counts over ranks and resets.
    """

    def __init__(self, max_bad_fraction: float = 1.0, min_samples: int = 1000):
        self.max_bad_fraction, self.min_samples = float(max_bad_fraction), int(min_samples)
        self.failed = self.delivered = 0

    @property
    def attempted(self) -> int:
        return self.failed + self.delivered

    @property
    def fraction(self) -> float:
        return self.failed / self.attempted if self.attempted else 0.0

    def update(self, batch) -> None:
        """Count a collated batch's ``failures`` (a batch without them counts nothing)."""
        if isinstance(batch, dict) and "failures" in batch:
            failures = batch["failures"]
            self.failed += int(failures.sum())
            self.delivered += int(failures.numel())

    def over_limit(self, mid_epoch: bool = True) -> bool:
        return (not mid_epoch or self.attempted >= self.min_samples) and self.fraction > self.max_bad_fraction

    def error(self) -> DataError:
        """What every rank raises when the vote says stop: this rank's counts, or that another rank is above."""
        if self.fraction > self.max_bad_fraction:
            return DataError(f"{self.failed} of {self.attempted} samples failed ({100 * self.fraction:.1f} %), above "
                             f"max_bad_fraction {self.max_bad_fraction:g}; the log lists each bad file")
        return DataError("another process saw too many bad samples; its log lists each bad file")

    def end_epoch(self, device: torch.device | str = "cpu") -> dict:
        """Collective: the epoch's counts summed over ranks, ``{failed, attempted, fraction}``; then reset. Raises
        ``error()`` on every rank when any rank's epoch is above the limit."""
        error = self.error()
        counts = torch.tensor([self.failed, self.attempted, self.over_limit(mid_epoch=False)], dtype=torch.int64,
                              device=device)
        failed, attempted, over = all_reduce_sum(counts).tolist()
        self.failed = self.delivered = 0
        if over:
            raise error
        return {"failed": failed, "attempted": attempted, "fraction": failed / attempted if attempted else 0.0}
