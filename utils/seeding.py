"""Seeding that really seeds: Python, NumPy, torch and every DataLoader worker (the original code ignored the config's
``seed``); and `make_generator`, the one way to make a seeded generator.
"""

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


def make_generator(*key: int, mode: str = "seed") -> torch.Generator | np.random.Generator:
    """The one way the project makes a seeded generator: the same ``key`` (integers) gives the same draws everywhere.

    * ``"seed"``: a torch generator seeded with the single integer of ``key`` as it is (the engine's sampler and
      DataLoader order).
    * ``"mixed"``: a torch generator seeded from NumPy's ``SeedSequence`` of the whole key, so that keys that differ in
      one integer (neighbouring samples, epochs, purposes) give unrelated streams: every per-sample draw of a dataset,
      the fixed AVC-Bin test pairs.
    * ``"numpy"``: a NumPy ``Generator`` (PCG64) of the ``SeedSequence`` of the key (the synthetic data generator).
    """
    if mode == "seed":
        if len(key) != 1:
            raise ValueError(f"mode 'seed' takes one integer, not {len(key)}")
        return torch.Generator().manual_seed(int(key[0]))
    if mode == "mixed":
        state = np.random.SeedSequence([int(k) for k in key]).generate_state(2)
        return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))
    if mode == "numpy":
        return np.random.default_rng([int(k) for k in key])
    raise ValueError(f"mode must be 'seed', 'mixed' or 'numpy', not {mode!r}")
