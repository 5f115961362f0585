"""Negatives are gathered across ranks with gradients: on a global batch split over a 2-process gloo group, the
mean of the per-rank losses, the DDP-averaged parameter gradients and the embedding gradients equal those of one
process holding the whole batch."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from criterions import AVSA, AVTS

WORLD, SAMPLES, VIEWS, DIM = 2, 4, 4, 8
NO_DROPOUT = {"kind": "transformer", "depth": 1, "expansion": 2, "dropout": 0.0}
CASES = {
    "avsa-paper": lambda: AVSA(DIM, proj_dim=4, translation=NO_DROPOUT, negatives="paper"),
    "avsa-reference": lambda: AVSA(DIM, proj_dim=4, translation={**NO_DROPOUT, "kind": "mlp"},
                                   negatives="reference"),
    "avts": lambda: AVTS(DIM, proj_dim=4, translation=NO_DROPOUT, moments=2, pool_viewpoints="max"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(case: str, rows: slice):
    """Loss, metrics and gradients of criterion ``case`` on samples ``rows`` of the global batch."""
    torch.manual_seed(0)
    criterion = CASES[case]()
    generator = torch.Generator().manual_seed(1)
    video = torch.rand(SAMPLES, VIEWS, DIM, generator=generator)[rows].requires_grad_(True)
    audio = torch.rand(SAMPLES, VIEWS, DIM, generator=generator)[rows].requires_grad_(True)
    position = torch.rand(SAMPLES, VIEWS, 3, generator=generator)[rows]
    loss, metrics = criterion(video, audio, position)
    loss.backward()
    return {"loss": loss.detach(), "metrics": metrics, "video_grad": video.grad, "audio_grad": audio.grad,
            "param_grads": {name: p.grad for name, p in criterion.named_parameters()}}


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    per_rank = SAMPLES // WORLD
    results = {case: _run(case, slice(rank * per_rank, (rank + 1) * per_rank)) for case in CASES}
    torch.save(results, os.path.join(out_dir, f"{rank}.pt"))
    dist.destroy_process_group()


def test_two_ranks_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(WORLD)]
    for case in CASES:
        full = _run(case, slice(None))
        parts = [r[case] for r in ranks]
        assert torch.allclose(sum(p["loss"] for p in parts) / WORLD, full["loss"], atol=1e-5), case
        for key, value in full["metrics"].items():
            assert torch.allclose(sum(p["metrics"][key] for p in parts) / WORLD, value, atol=1e-4), (case, key)
        for name, grad in full["param_grads"].items():  # DDP averages parameter gradients over ranks
            assert torch.allclose(sum(p["param_grads"][name] for p in parts) / WORLD, grad, atol=1e-5), (case, name)
        for key in ("video_grad", "audio_grad"):
            # the gather's backward sums every rank's loss gradient into each rank's slice: W × d(mean loss)
            assert torch.allclose(torch.cat([p[key] for p in parts]) / WORLD, full[key], atol=1e-5), (case, key)
