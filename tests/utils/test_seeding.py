"""The seed seeds Python, NumPy, torch and every DataLoader worker."""

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from utils.seeding import make_generator, seed_everything, seed_worker


class _RandomDraws(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor([random.random(), np.random.rand(), torch.rand(()).item()])


def _draw(seed: int) -> torch.Tensor:
    seed_everything(seed)
    loader = DataLoader(_RandomDraws(), batch_size=2, num_workers=2, worker_init_fn=seed_worker,
                        generator=make_generator(seed))
    return torch.cat([b for b in loader] + [torch.tensor([[random.random(), np.random.rand(), torch.rand(()).item()]])])


def test_same_seed_same_draws_in_main_process_and_workers():
    first, second, other = _draw(0), _draw(0), _draw(1)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    # the two workers draw different numbers (each worker is seeded differently)
    assert not torch.equal(first[0], first[2])
