"""Action recognition on UCF101 / HMDB51 (paper Table 3; docs/evaluation.md).

The pre-trained video encoder + dropout + linear classifier, fine-tuned end to end (``train_encoders: true``; the
Scratch row starts from random encoders). Training clips: K = 1 clip per sample. Test: every video's dense clips
(the dataset's ``video`` mode, 25 clips evenly spaced in the paper protocol) arrive on the K axis; Clip@k scores
each clip on its own, Video@k the mean of the video's clip softmaxes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.metrics import TopKMeter, video_scores
from evaluation.pretrained import Pretrained, maybe_frozen
from models.classifiers import ActionClassifier


class ActionRecognition(nn.Module):
    def __init__(self, pretrained: Pretrained, head_cfg: dict, *, num_classes: int, train_encoders: bool):
        super().__init__()
        video_model = maybe_frozen(pretrained.model.video_model, not train_encoders)
        self.net = ActionClassifier(video_model, pretrained.model.out_dim, num_classes, head_cfg["dropout"])

    def clip_logits(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, M, 3, T, H, W) -> logits (B, M, classes)."""
        b, m = video.shape[:2]
        return self.net(video.flatten(0, 1)).reshape(b, m, -1)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Training step (the engine's task interface)."""
        logits = self.clip_logits(batch["video"])
        labels = batch["label"].repeat_interleave(logits.shape[1])
        logits = logits.flatten(0, 1)
        loss = F.cross_entropy(logits, labels)
        return loss, {"Acc": (logits.argmax(1) == labels).float().mean().detach() * 100}

    def make_meter(self) -> dict[str, TopKMeter]:
        return {"clip": TopKMeter("Clip", (1, 5)), "video": TopKMeter("Video", (1, 5))}

    @torch.no_grad()
    def evaluate(self, batch: dict, meter: dict[str, TopKMeter]) -> None:
        logits = self.clip_logits(batch["video"])
        meter["clip"].update(logits.flatten(0, 1), batch["label"].repeat_interleave(logits.shape[1]))
        meter["video"].update(video_scores(logits), batch["label"])
