"""The audio-visual model: one video and one audio encoder, run side by side (the original's ``av_wrapper``).

Attribute names ``video_model`` / ``audio_model`` are the original's, so the released ``model`` state dict loads
after stripping its ``module.`` prefix. There is no projection here: the heads live in the criteria, as in the original.
"""

from __future__ import annotations

import torch
from torch import nn


class AVModel(nn.Module):
    """``forward(video (N, 3, T, H, W), audio (N, C, Ta, F)) -> (video_emb (N, D), audio_emb (N, D))``."""

    def __init__(self, video_model: nn.Module, audio_model: nn.Module):
        super().__init__()
        if video_model.out_dim != audio_model.out_dim:
            raise ValueError(f"video and audio embeddings must have the same size, got {video_model.out_dim} "
                             f"and {audio_model.out_dim}")
        self.video_model = video_model
        self.audio_model = audio_model
        self.out_dim = video_model.out_dim

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # flatten, not view: the pooled maps may be channels-last (non-contiguous in NCDHW order).
        return self.video_model(video).flatten(1), self.audio_model(audio).flatten(1)
