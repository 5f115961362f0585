"""Frozen-feature training sets (``benchmark.feature_draws``): the frozen part of a benchmark run once per draw.

With frozen encoders (and translation networks) in eval mode, a training sample's frozen outputs depend only on its
random draws (viewpoints, rotation, augmentation), and epoch e of an avsa dataset gives the same draws whenever it is
read. So the outputs of N epochs can be computed once and the trainable head trained on them for many passes, at the
cost of N epochs of decoding, cropping and encoding (the on-the-fly benchmark pays that every epoch).

A benchmark that supports it has ``frozen_inputs(batch) -> {name: (B, ...) tensor}``, ``carry_keys`` (batch keys its
training step also needs: labels, indices) and a training step that accepts a batch of those instead of clips
(`evaluation.alignment.AlignmentProbe`, `evaluation.segmentation.Segmentation` with frozen encoders).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils.data import Dataset

from engine.data import DeviceBatches, make_loader
from utils.logs import ProgressStyle


class FeatureDraws(Dataset):
    """One item = one sample of one draw: the benchmark's ``frozen_inputs`` and ``carry_keys`` for it. Every
    process computes all draws (no sharding), so the set is the same on every rank. ``storage_dtype`` (e.g.
    float16) halves the memory of large inputs such as segmentation's feature maps."""

    in_memory = True  # engine.data.make_loader reads it in the main process (no worker processes)

    def __init__(self, benchmark: nn.Module, dataset, draws: int, batch_size: int, cfg: dict,
                 device: torch.device, *, autocast=contextlib.nullcontext, progress: ProgressStyle | None = None,
                 storage_dtype: torch.dtype = torch.float32):
        loader = make_loader(dataset, batch_size, cfg, train=False, device=device)
        parts: dict[str, list[torch.Tensor]] = {}
        benchmark.eval()
        with torch.no_grad():
            for draw in range(draws):
                # epoch=draw: the sampler tags each index with it, so the dataset makes that epoch's draws
                for batch in DeviceBatches(loader, device, desc=f"features {draw + 1}/{draws}", style=progress,
                                           epoch=draw):
                    with autocast():
                        inputs = benchmark.frozen_inputs(batch)
                    for key, value in inputs.items():
                        parts.setdefault(key, []).append(value.to("cpu", storage_dtype) if value.is_floating_point()
                                                         else value.cpu())
                    for key in benchmark.carry_keys:
                        if key in batch:
                            parts.setdefault(key, []).append(batch[key].cpu())
        self.tensors = {key: torch.cat(value) for key, value in parts.items()}
        self.draws, self.samples_per_draw = draws, len(dataset)

    def __len__(self) -> int:
        return self.draws * self.samples_per_draw

    def __getitem__(self, item: int) -> dict:
        return {key: value[item].float() if value.is_floating_point() else value[item]
                for key, value in self.tensors.items()}
