"""The pre-training task: encoders and criterion in ONE module, so DDP wraps (and synchronises) every trainable
part — encoders, translation networks, heads. The original wrapped only the encoders, so the criterion's weights
diverged across ranks."""

from __future__ import annotations

from torch import nn


class PretextTask(nn.Module):
    def __init__(self, model: nn.Module, criterion: nn.Module):
        super().__init__()
        self.model, self.criterion = model, criterion

    def forward(self, batch: dict):
        """batch: ``video`` (B, K, 3, T, H, W), ``audio`` (B, K, 4, Ta, F), ``position`` (B, K, 3).
        Returns the criterion's (loss, metrics); embeddings cross as (B, K, D)."""
        video, audio = batch["video"], batch["audio"]
        samples, views = video.shape[:2]
        video_emb, audio_emb = self.model(video.flatten(0, 1), audio.flatten(0, 1))
        return self.criterion(video_emb.view(samples, views, -1), audio_emb.view(samples, views, -1),
                              batch["position"])

    def state_modules(self) -> dict[str, nn.Module]:
        """Checkpoint entries: ``model`` (the encoders, what evaluations and the curriculum load) and
        ``criterion`` (translation networks and projection heads)."""
        return {"model": self.model, "criterion": self.criterion}
