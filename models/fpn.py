"""FPN segmentation head on a video encoder's multi-scale features (paper Sec. 3.2, Table 2).

Levels c2..c5 = the encoder's conv2x..conv5x outputs, (N, C_l, T_l, H_l, W_l) with H halving from level to level
(56, 28, 14, 7 for 112-pixel crops). An optional conditioning vector per crop (audio feature, translation-network
context) is broadcast over c5 and concatenated on channels before the top-down pathway. Output: logits
(N, num_classes, H_2, W_2) at the c2 resolution; the caller upsamples them to the label size.

At the paper sizes the head has 4,235,055 parameters (no conditioning), 4,366,127 (cond 512) and 4,628,271
(cond 1536), as the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = ("conv2x", "conv3x", "conv4x", "conv5x")


class TimePool(nn.Module):
    """Learnable weighted sum over the time axis: (N, C, T, H, W) -> (N, C, H, W); weights start at 1/T."""

    def __init__(self, time_steps: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((1, 1, time_steps, 1, 1), 1.0 / time_steps))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features * self.weight).sum(dim=2)


def _semantic_stage(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_dim, out_dim, 3, padding=1, bias=False), nn.GroupNorm(32, out_dim),
                         nn.ReLU(inplace=True))


class FPNHead(nn.Module):
    """Feature pyramid with semantic branches, as the original's segmentation head.

    in_channels / time_steps: per level c2..c5 (paper: (64, 128, 256, 512) / (8, 4, 2, 1)); cond_dim: channels
    concatenated to c5 (0, 512 or 1536). normalize: standardise each level (c5 with its conditioning) per channel
    first, BatchNorm without affine parameters (batch statistics in training, running ones at test), as linear
    probes do: frozen encoders' levels differ in scale by orders of magnitude (a randomly initialised one's c5 is
    ~25× smaller than its c2), which otherwise decides how much each level is used; the original had none.
    forward(features {conv2x..conv5x: (N, C_l, T_l, H_l, W_l)}, cond (N, cond_dim) | None) -> (N, classes, H_2, W_2).
    """

    def __init__(self, in_channels: Sequence[int], time_steps: Sequence[int], num_classes: int, cond_dim: int = 0,
                 fpn_dim: int = 256, segm_dim: int = 128, normalize: bool = False):
        super().__init__()
        self.cond_dim = cond_dim
        in_channels = list(in_channels)
        in_channels[-1] += cond_dim
        self.norms = nn.ModuleList(nn.BatchNorm3d(c, affine=False) for c in in_channels) if normalize else None
        self.time_pools = nn.ModuleList(TimePool(t) for t in time_steps)
        self.laterals = nn.ModuleList(nn.Conv2d(c, fpn_dim, 1) for c in in_channels)
        self.outputs = nn.ModuleList(nn.Conv2d(fpn_dim, fpn_dim, 3, padding=1) for _ in in_channels)
        # level l (0 = c2) is brought to the c2 resolution by l upsampling stages; c2 gets one stage without.
        self.semantic = nn.ModuleList(
            nn.ModuleList(_semantic_stage(fpn_dim if i == 0 else segm_dim, segm_dim) for i in range(max(level, 1)))
            for level in range(len(in_channels)))
        self.classifier = nn.Conv2d(segm_dim, num_classes, 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):  # the original: every Conv weight ~ N(0, 0.001)
                nn.init.normal_(module.weight, std=0.001)

    def forward(self, features: Mapping[str, torch.Tensor], cond: torch.Tensor | None = None) -> torch.Tensor:
        levels = [features[name] for name in LEVELS]
        if self.cond_dim:
            c5 = levels[-1]
            levels[-1] = torch.cat([c5, cond[:, :, None, None, None].expand(-1, -1, *c5.shape[2:])], dim=1)
        if self.norms is not None:
            levels = [norm(x) for norm, x in zip(self.norms, levels)]
        laterals = [lat(pool(x)) for lat, pool, x in zip(self.laterals, self.time_pools, levels)]
        merged = [laterals[-1]]  # top-down: i_l = lateral_l + nearest-upsample(i_{l+1})
        for lateral in reversed(laterals[:-1]):
            merged.insert(0, lateral + F.interpolate(merged[0], size=lateral.shape[-2:], mode="nearest"))
        sizes = [x.shape[-2:] for x in merged]
        summed = 0
        for level, (branch, output) in enumerate(zip(self.semantic, self.outputs)):
            x = output(merged[level])
            for step, stage in enumerate(branch):
                x = stage(x)
                if level > 0:  # bilinear ×2 towards the next finer level
                    x = F.interpolate(x, size=sizes[level - 1 - step], mode="bilinear", align_corners=False)
            summed = summed + x
        return self.classifier(summed)
