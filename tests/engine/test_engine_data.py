"""The resumable, sharded batch order."""

import torch

from engine.data import EpochBatchSampler, batch_size_of, make_loader, start_epoch


def _indices(sampler):
    return [[i for _, i in batch] for batch in sampler]


def test_ranks_partition_each_global_batch_and_skipping_gives_the_tail():
    ranks = [EpochBatchSampler(23, 3, shuffle=True, drop_last=True, seed=5, rank=r, world_size=2) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(4)
    per_rank = [_indices(s) for s in ranks]
    assert [len(b) for b in per_rank] == [3, 3]            # 23 // 2 = 11 per rank -> 3 full batches of 3
    seen = [i for batches in per_rank for batch in batches for i in batch]
    assert len(seen) == len(set(seen)) == 18               # disjoint shards, no repeats
    order = torch.randperm(23, generator=torch.Generator().manual_seed(5 * 1_000_003 + 4)).tolist()
    # global step s = the contiguous block order[6s : 6s + 6] of the epoch's permutation
    for step in range(3):
        assert sorted(per_rank[0][step] + per_rank[1][step]) == sorted(order[6 * step:6 * step + 6])
    ranks[1].set_epoch(4, start_step=2)
    assert _indices(ranks[1]) == per_rank[1][2:]
    assert all(epoch == 4 for batch in ranks[1] for epoch, _ in batch)


def test_epochs_differ_and_the_same_seed_repeats():
    a = EpochBatchSampler(10, 5, shuffle=True, drop_last=True, seed=0)
    b = EpochBatchSampler(10, 5, shuffle=True, drop_last=True, seed=0)
    a.set_epoch(1)
    b.set_epoch(1)
    assert _indices(a) == _indices(b)
    b.set_epoch(2)
    assert _indices(a) != _indices(b)


def test_test_order_is_padded_so_every_rank_has_equal_batches():
    ranks = [EpochBatchSampler(7, 2, shuffle=False, drop_last=False, seed=0, rank=r, world_size=2) for r in range(2)]
    batches = [_indices(s) for s in ranks]
    assert batches[0] == [[0, 2], [4, 6]] and batches[1] == [[1, 3], [5, 0]]  # 0 repeated to pad 7 -> 8


class _Ordered(torch.utils.data.Dataset):
    """A dataset with its own epoch order: the loader must keep it (no shuffle on top) and tell each worker."""

    def __init__(self):
        self.epoch = -1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return {"index": torch.tensor(index), "epoch": torch.tensor(self.epoch)}


def test_loader_keeps_a_dataset_order_and_tells_persistent_workers_the_epoch():
    cfg = {"seed": 0, "num_workers": 1}
    loader = make_loader(_Ordered(), 2, cfg, train=True)
    for epoch in (3, 4):
        start_epoch(loader, epoch, start_step=1)
        batches = list(loader)
        assert [b["index"].tolist() for b in batches] == [[2, 3], [4, 5]]
        assert all(b["epoch"].tolist() == [epoch, epoch] for b in batches)
    assert batch_size_of({"meta": "x", "video": torch.zeros(5, 2)}) == 5
