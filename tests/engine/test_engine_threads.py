"""CPU training processes leave their DataLoader workers (and the other local ranks) a core each."""

import os

import pytest

from engine.loop import cpu_threads


@pytest.mark.parametrize("cores, ranks, workers, expected", [
    (2, None, 2, 1),   # the development VM: 2 workers take both cores, the trainer keeps one thread
    (2, None, 0, 2),
    (16, None, 4, 12),
    (16, "2", 4, 4),   # two torchrun ranks share the 16 cores: 8 each, minus 4 workers
    (4, "8", 2, 1),    # never fewer than one
])
def test_cpu_threads(monkeypatch, cores, ranks, workers, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    if ranks is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", ranks)
    assert cpu_threads(workers) == expected
