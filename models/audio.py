"""Audio encoder: the original's 9-layer 2-D CNN over log-mel spectrograms of the 4 FOA channels.

No residual connections; global **max** pool. Module names equal the released checkpoint's (``conv1.0``,
``block1.conv1``, ...). Shapes: input (N, C, Ta, F) = (N, 4, 100, 128) in the paper; at width 64 the stages give
conv1 (64, 50, 64), block1 (64, 50, 64), block2 (128, 25, 32), block3 (256, 13, 16), block4 (512, 13, 16),
pool (512, 1, 1).
"""

from __future__ import annotations

import torch
from torch import nn

from models.stages import StagedEncoder

SUPPORTED_DEPTHS = (10,)  # conv1 + 4 blocks × 2 convs = 9 conv layers (+ the pool: "depth 10" in the original)


class ConvBlock2d(nn.Module):
    """Two 3×3 conv · BN · ReLU layers; the first carries the stride."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class Conv2D(StagedEncoder):
    """Audio CNN. ``width`` is the conv1/block1 channel count (64 in the paper); ``out_dim = 8·width``.
    ``forward(x)`` returns (N, out_dim, 1, 1); with ``return_embs=True`` a dict (keys conv1, block1..block4, pool)."""

    STAGES = ("conv1", "block1", "block2", "block3", "block4", "pool")

    def __init__(self, depth: int = 10, width: int = 64, in_channels: int = 4):
        super().__init__()
        if depth not in SUPPORTED_DEPTHS:
            raise ValueError(f"audio Conv2D depth must be one of {SUPPORTED_DEPTHS}, got {depth}")
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.block1 = ConvBlock2d(width, width, stride=1)
        self.block2 = ConvBlock2d(width, 2 * width, stride=2)
        self.block3 = ConvBlock2d(2 * width, 4 * width, stride=2)
        self.block4 = ConvBlock2d(4 * width, 8 * width, stride=1)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.out_dim = 8 * width
