"""The encoders' shared forward pass: their named stages, applied in order."""

from __future__ import annotations

import torch
from torch import nn


class StagedEncoder(nn.Module):
    """An encoder that applies its submodules named in ``STAGES`` in order. ``forward(x)`` returns the last stage's
    output; with ``return_embs=True`` a dict of every stage's output by name (e.g. for the FPN head)."""

    STAGES: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor, return_embs: bool = False):
        embs = {}
        for name in self.STAGES:
            x = getattr(self, name)(x)
            embs[name] = x
        return embs if return_embs else x
