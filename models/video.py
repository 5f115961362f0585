"""Video encoder: R(2+1)D as in the original AVSA code, not torchvision's variant.

Differences from Tran et al. that the released weights depend on: the (2+1)D mid-channels equal the
output channels (no parameter-matching formula), BatchNorm comes after the residual sum, the stem is a full
3×7×7 convolution, and the clip embedding is a global **max** pool. Module names equal the released checkpoint's
(``conv1.0``, ``conv2x.0.spt_conv1``, ...), so converting it is a prefix map.

Shapes: input (N, 3, T, H, W); at width 64 and 8×112×112 the stages give conv1 (64, 8, 56, 56), conv2x (64, 8, 56,
56), conv3x (128, 4, 28, 28), conv4x (256, 2, 14, 14), conv5x (512, 1, 7, 7), pool (512, 1, 1, 1).
"""

from __future__ import annotations

import torch
from torch import nn

from models.stages import StagedEncoder

# Blocks per stage (conv2x..conv5x) for each supported depth (the original's 18; depth 10 = one block per stage).
BLOCKS_PER_STAGE = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2)}


class R2Plus1DBlock(nn.Module):
    """(2+1)D residual block: spatial 1×3×3 → temporal 3×1×1, twice; output = ReLU(out_bn(main + shortcut)).

    The spatial stride sits in the first spatial conv, the temporal stride in the first temporal conv. The
    shortcut is a 1×1×1 conv with the full stride (and no BN) when the shape changes, identity otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        temporal_stride, spatial_stride = stride[0], stride[1:]
        self.spt_conv1 = nn.Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, *spatial_stride),
                                   padding=(0, 1, 1), bias=False)
        self.spt_bn1 = nn.BatchNorm3d(out_channels)
        self.tmp_conv1 = nn.Conv3d(out_channels, out_channels, (3, 1, 1), stride=(temporal_stride, 1, 1),
                                   padding=(1, 0, 0), bias=False)
        self.tmp_bn1 = nn.BatchNorm3d(out_channels)
        self.spt_conv2 = nn.Conv3d(out_channels, out_channels, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.spt_bn2 = nn.BatchNorm3d(out_channels)
        self.tmp_conv2 = nn.Conv3d(out_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.out_bn = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if in_channels != out_channels or any(s != 1 for s in stride):
            self.res_conv = nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False)
        else:
            self.res_conv = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.spt_bn1(self.spt_conv1(x)))
        h = self.relu(self.tmp_bn1(self.tmp_conv1(h)))
        h = self.relu(self.spt_bn2(self.spt_conv2(h)))
        h = self.tmp_conv2(h)
        shortcut = x if self.res_conv is None else self.res_conv(x)
        return self.relu(self.out_bn(h + shortcut))


class R2Plus1D(StagedEncoder):
    """R(2+1)D video encoder. ``width`` is the conv1/conv2x channel count (64 in the paper); later stages use
    2·, 4·, 8·width, so ``out_dim = 8·width``. ``forward(x)`` returns (N, out_dim, 1, 1, 1); with
    ``return_embs=True`` a dict of every stage's output (keys conv1, conv2x..conv5x, pool)."""

    STAGES = ("conv1", "conv2x", "conv3x", "conv4x", "conv5x", "pool")

    def __init__(self, depth: int = 18, width: int = 64):
        super().__init__()
        if depth not in BLOCKS_PER_STAGE:
            raise ValueError(f"R(2+1)D depth must be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
        blocks = BLOCKS_PER_STAGE[depth]
        channels = [width, width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        self.conv2x, self.conv3x, self.conv4x, self.conv5x = (
            self._stage(channels[i], channels[i + 1], blocks[i], (1, 1, 1) if i == 0 else (2, 2, 2))
            for i in range(4)
        )
        self.pool = nn.AdaptiveMaxPool3d(1)
        self.out_dim = channels[-1]

    @staticmethod
    def _stage(in_channels: int, out_channels: int, num_blocks: int, stride: tuple[int, int, int]) -> nn.Sequential:
        return nn.Sequential(R2Plus1DBlock(in_channels, out_channels, stride),
                             *(R2Plus1DBlock(out_channels, out_channels) for _ in range(num_blocks - 1)))

