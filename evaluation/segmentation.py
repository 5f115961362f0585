"""Semantic segmentation of 360° viewpoints (paper Table 2; docs/evaluation.md).

The FPN head (``models.fpn.FPNHead``) on the video encoder's conv2x..conv5x features, optionally conditioned on
the crop's audio feature and on the translation networks' context, concatenated per crop in the original's order:
[g_v2a(v) if use_context] + [a if use_audio] + [g_a2v(a) if use_audio and use_context]. The encoders (and the
translation networks) are frozen — truly: eval-mode BatchNorm, no dropout, no gradients — unless
``train_encoders`` (the End-to-end row). Logits at the c2 resolution are upsampled bilinearly to the label size;
the loss is the cross-entropy over labelled pixels (255 ignored). No test-time augmentation: the test split of the
dataset config does not augment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.metrics import IGNORE_INDEX, SegmentationMeter
from evaluation.pretrained import Frozen, Pretrained, Translation, maybe_frozen
from models.fpn import LEVELS, FPNHead
from utils.errors import ConfigError


class Segmentation(nn.Module):
    """example_video (K, 3, T, H, W): one sample's video, to size the pyramid (channels, frames per level);
    num_classes: the dataset's label classes (32); class_names, groups: for the test meter's per-class IoU and
    per-group mIoU (``evaluation.metrics.SegmentationMeter``)."""

    def __init__(self, pretrained: Pretrained, bench_cfg: dict, example_video: torch.Tensor, num_classes: int, *,
                 class_names=None, groups=None):
        super().__init__()
        self.class_names, self.groups = class_names, groups
        frozen = not bench_cfg["train_encoders"]
        self.use_audio, self.use_context = bench_cfg["use_audio"], bench_cfg["use_context"]
        self.num_classes = num_classes
        self.video_model = maybe_frozen(pretrained.model.video_model, frozen)
        needs_audio = self.use_audio or self.use_context
        self.audio_model = maybe_frozen(pretrained.model.audio_model, frozen) if needs_audio else None
        self.translation = maybe_frozen(Translation(pretrained.criterion), frozen) if self.use_context else None
        with torch.no_grad():
            levels = pretrained.model.video_model.eval()(example_video[:1], return_embs=True)
        dim = pretrained.model.out_dim
        cond_dim = dim * (self.use_context + self.use_audio + (self.use_audio and self.use_context))
        head = bench_cfg["head"]
        self.head = FPNHead([levels[n].shape[1] for n in LEVELS], [levels[n].shape[2] for n in LEVELS],
                            self.num_classes, cond_dim, head["fpn_dim"], head["segm_dim"], head["normalize"])

    carry_keys = ("segmentation",)

    def frozen_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """The frozen encoders' output for a batch of clips (``evaluation.features.FeatureDraws``): the pyramid
        levels (B, K, C, T, H, W) and the conditioning vector (B, K, D) when there is one."""
        if not isinstance(self.video_model, Frozen):
            raise ConfigError("<eval config>: benchmark.feature_draws: caching features needs frozen encoders "
                              "(train_encoders: false)")
        embs, cond = self._encode(batch)
        b, k = batch["video"].shape[:2]
        inputs = {f"emb.{name}": embs[name].unflatten(0, (b, k)) for name in LEVELS}
        if cond is not None:
            inputs["cond"] = cond.unflatten(0, (b, k))
        return inputs

    def _encode(self, batch: dict):
        video, audio = batch["video"], batch["audio"]
        b, k = video.shape[:2]
        embs = self.video_model(video.flatten(0, 1), return_embs=True)
        parts = []
        if self.audio_model is not None:
            audio_feat = self.audio_model(audio.flatten(0, 1)).flatten(1)
            if self.use_context:
                audio_from_video, video_from_audio = self.translation(embs["pool"].flatten(1).reshape(b, k, -1),
                                                                      audio_feat.reshape(b, k, -1), batch["position"])
                parts.append(audio_from_video.flatten(0, 1))
            if self.use_audio:
                parts.append(audio_feat)
            if self.use_audio and self.use_context:
                parts.append(video_from_audio.flatten(0, 1))
        return embs, (torch.cat(parts, dim=1) if parts else None)

    def segment(self, batch: dict) -> torch.Tensor:
        """video (B, K, 3, T, H, W), audio (B, K, 4, Ta, F), position (B, K, 3) -> logits (B·K, classes, H, W) at
        the crop size. A batch of cached `frozen_inputs` (with its ``segmentation`` labels) skips the encoders."""
        if "emb.conv5x" in batch:
            embs = {name: batch[f"emb.{name}"].flatten(0, 1) for name in LEVELS}
            cond = batch["cond"].flatten(0, 1) if "cond" in batch else None
            size = batch["segmentation"].shape[-2:]  # the label maps are on the crop grid
        else:
            (embs, cond), size = self._encode(batch), batch["video"].shape[-2:]
        logits = self.head(embs, cond)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Training step (the engine's task interface): cross-entropy over labelled pixels."""
        logits = self.segment(batch)
        labels = batch["segmentation"].flatten(0, 1)
        if not (labels != IGNORE_INDEX).any():  # nothing labelled: a zero loss that keeps every rank in step
            return logits.sum() * 0.0, {}
        loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
        valid = labels != IGNORE_INDEX
        return loss, {"PixAcc": (logits.argmax(1)[valid] == labels[valid]).float().mean().detach() * 100}

    def make_meter(self) -> SegmentationMeter:
        return SegmentationMeter(self.num_classes, class_names=self.class_names, groups=self.groups)

    @torch.no_grad()
    def evaluate(self, batch: dict, meter: SegmentationMeter) -> None:
        meter.update(self.segment(batch).argmax(1), batch["segmentation"].flatten(0, 1))
