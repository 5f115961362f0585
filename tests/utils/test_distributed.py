"""A 2-process gloo group (spawned inside the test) gathers tensors with gradients correctly."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from utils.distributed import all_gather_with_grad, all_reduce_mean, init_distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    info = init_distributed(device="cpu", timeout_s=60)
    assert info.rank == rank and info.world_size == world
    # Rank r holds rows [r*2, r*2+1] of a global (4, 3) matrix x; loss_r = sum_j w_r · x_j (w_r differs by rank).
    x = (torch.arange(6, dtype=torch.float32).view(2, 3) + 6 * rank).requires_grad_(True)
    gathered = all_gather_with_grad(x)
    weight = torch.full((4, 3), float(rank + 1))
    loss = (gathered * weight).sum() + (gathered ** 2).sum() * (rank + 1)
    loss.backward()
    mean = all_reduce_mean(torch.tensor([float(rank)]))
    torch.save({"gathered": gathered.detach(), "grad": x.grad, "mean": mean}, os.path.join(out_dir, f"{rank}.pt"))
    dist.destroy_process_group()


def test_two_process_gather_with_gradients(tmp_path):
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    results = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(world)]
    full = torch.arange(12, dtype=torch.float32).view(4, 3)
    for r, res in enumerate(results):
        assert torch.equal(res["gathered"], full)
        assert res["mean"].item() == 0.5
        # d/dx_r of sum over ranks s of [sum(w_s * X) + (s+1) * sum(X^2)], restricted to rank r's rows:
        rows = full[2 * r:2 * r + 2]
        expected = sum(torch.full((2, 3), float(s + 1)) + 2 * (s + 1) * rows for s in range(world))
        assert torch.allclose(res["grad"], expected)


def test_single_process_is_identity():
    info = init_distributed(device="cpu")
    x = torch.ones(2, requires_grad=True)
    assert info.world_size == 1 and all_gather_with_grad(x) is x
