"""Seeding that really seeds: Python, NumPy, torch and every DataLoader worker (the original ignored the
config's ``seed``, spec §10.22)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed every generator of this process. Ranks get distinct streams (seed + rank)."""
    seed = int(seed) + int(rank)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive Python and NumPy seeds from the worker's torch seed, which the
    loader sets from its (seeded) generator, so worker augmentations are reproducible. Also keep each worker
    to one intra-op thread (several workers × several threads oversubscribe the cores)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)


def make_generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen
