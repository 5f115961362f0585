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


def test_generator_streams_keep_their_numbers():
    """The numbers behind the fixed test sets and the synthetic data: a change here changes both (values recorded from
    the helpers this one replaced: the dataset's per-sample generator, the AVC-Bin test pairs', the generator's)."""
    test_split = int.from_bytes(b"test", "little")
    draws = torch.rand(3, generator=make_generator(3, test_split, 0, 7, 3, mode="mixed"))
    assert draws.tolist() == [0.6135358214378357, 0.004830718040466309, 0.11807054281234741]
    draws = torch.rand(3, generator=make_generator(0, 7, 3, 11, 5, mode="mixed"))
    assert draws.tolist() == [0.32477760314941406, 0.3212769627571106, 0.04960954189300537]
    assert make_generator(0, 2, 5, mode="numpy").random(3).tolist() == [0.794837676802343, 0.8612423231934868,
                                                                        0.48289388556192514]
    assert torch.equal(torch.rand(4, generator=make_generator(42)), torch.rand(4, generator=torch.manual_seed(42)))
    # mixed: keys one integer apart give unrelated streams
    first, second = (torch.rand(8, generator=make_generator(0, 0, i, mode="mixed")) for i in (0, 1))
    assert not torch.equal(first, second)
