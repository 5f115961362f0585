"""Classification heads of the downstream benchmarks (paper Tables 1 and 3; docs/original-code.md).

* ``PairClassifier``: AVC-Bin / AVSA-Bin. One (video, audio) feature pair per viewpoint → 2 logits
  (0 = aligned / corresponding, 1 = misaligned / non-corresponding); the benchmark averages the logits over the
  K viewpoints of a sample.
* ``ActionClassifier``: UCF101 / HMDB51. The video encoder's pooled feature → dropout → linear, fine-tuned end to end.
"""

from __future__ import annotations

import torch
from torch import nn


class PairClassifier(nn.Module):
    """Dropout on concat[video, audio] (2D) → Linear(2D, hidden) → ReLU → Linear(hidden, 2), as the original.

    ``normalize``: first standardise each of the 2D inputs (BatchNorm without affine parameters: batch statistics in
    training, running ones in eval), as linear probes do. The spec's classifier has none; frozen max-pooled features
    of small or randomly initialised encoders can be tiny (std ≈ 0.02 at demo scale) and then barely train.

    forward(video_feat (B, K, D), audio_feat (B, K, D)) -> logits (B, K, 2).
    """

    def __init__(self, feature_dim: int = 512, hidden_dim: int = 512, dropout: float = 0.5, num_classes: int = 2,
                 normalize: bool = False):
        super().__init__()
        self.norm = nn.BatchNorm1d(2 * feature_dim, affine=False) if normalize else None
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * feature_dim, hidden_dim), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_dim, num_classes))

    def forward(self, video_feat: torch.Tensor, audio_feat: torch.Tensor) -> torch.Tensor:
        x = torch.cat([video_feat, audio_feat], dim=-1)
        if self.norm is not None:
            x = self.norm(x.flatten(0, -2)).view(x.shape)
        return self.mlp(x)


class ActionClassifier(nn.Module):
    """Video encoder → pooled feature (N, D) → Dropout → Linear(D, num_classes), as the original.

    forward(video (N, 3, T, H, W)) -> logits (N, num_classes).
    """

    def __init__(self, video_model: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.video_model = video_model
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.video_model(video, return_embs=True)["pool"].flatten(1))
