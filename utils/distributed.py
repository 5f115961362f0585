"""Distributed helpers for torchrun (no launcher of our own).

Single node, N GPUs:   ``torchrun --standalone --nproc_per_node=N main-video-ssl.py CONFIG``
Multi-node (SLURM):    ``srun torchrun --nnodes=$SLURM_NNODES --nproc_per_node=8 --rdzv_backend=c10d
                        --rdzv_endpoint=$MASTER_ADDR:29500 --rdzv_id=$SLURM_JOB_ID main-video-ssl.py CONFIG``

``init_distributed()`` reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK; without them the run is a plain single
process. NCCL is used on CUDA, gloo on CPU. Collectives carry a timeout, so if one rank dies the others exit
with an error instead of hanging (torchrun then tears the group down; resume with the same command).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from utils.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    device_warning: str | None = None  # ``device: auto`` fell back to the CPU, and why

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def cuda_problem() -> str | None:
    """Why this process cannot use a GPU, in one sentence (None when it can): a torch built without CUDA, no NVIDIA
    driver, a driver too old for this torch, no visible device."""
    if not torch.backends.cuda.is_built():
        return f"this torch ({torch.__version__}) is built without CUDA"
    if torch.cuda.is_available():
        return None
    try:
        torch.cuda.init()  # fails with the driver's reason, which is_available() keeps to itself
        reason = "no CUDA device is visible"
    except (RuntimeError, AssertionError) as err:
        reason = str(err).split(". ")[0].rstrip(".")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        reason += f" (CUDA_VISIBLE_DEVICES={visible!r})"
    return f"{reason}; torch {torch.__version__} is built for CUDA {torch.version.cuda}"


def select_device(setting: str = "auto", local_rank: int = 0,
                  name: str = "<config>: device") -> tuple[torch.device, str | None]:
    """The device of ``device: auto|cpu|cuda`` for the process of ``local_rank``, and the warning to log when
    ``auto`` falls back to the CPU. ``cuda`` without a usable GPU is a one-line ``ConfigError`` saying why (``name``:
    the setting, in it)."""
    if setting == "cpu":
        return torch.device("cpu"), None
    problem = cuda_problem()
    if problem is None and local_rank >= torch.cuda.device_count():
        problem = f"process {local_rank} of this machine, but it has {torch.cuda.device_count()} GPU(s)"
    if problem is None:
        return torch.device("cuda", local_rank), None
    if setting == "cuda":
        raise ConfigError(f"{name}: cuda, but there is no usable GPU: {problem}; use cpu (or auto) to run on the CPU")
    return torch.device("cpu"), f"no usable GPU ({problem}); running on the CPU, ~100x slower"


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join torchrun's process group if launched by torchrun; pick the device (`select_device`)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev, warning = select_device(device, local_rank)
    use_cuda = dev.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s),
                                device_id=dev if use_cuda else None)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, device_warning=warning)


def get_rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns this rank's slice of the summed gradients.

    Each rank's loss depends on every rank's features (contrastive negatives); the gradient reaching a
    feature is the sum over ranks of the gradients of their losses. DDP then averages parameter gradients,
    which gives the gradient of the mean of the per-rank losses.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.size:(ctx.rank + 1) * ctx.size]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(n, ...) per rank -> (world·n, ...) in rank order, differentiable. Identity without a process group.
    Every rank must pass the same n (use drop_last)."""
    if get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over ranks (no gradient); identity without a process group."""
    if get_world_size() == 1:
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / get_world_size()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if get_world_size() == 1:
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
