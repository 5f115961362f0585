"""The pre-training criteria AVC, AVTS and AVSA (paper Eqs. (6)–(8); docs/original-code.md).

``criterion(video_emb (B, K, D), audio_emb (B, K, D), position (B, K, 3)) -> (loss, metrics)`` with this rank's B
samples; K is the viewpoint axis of the batch (for AVTS: M moments × K/M viewpoints, moment-major). Both directions
are contrasted and averaged: V2A predicts audio from video, A2V video from audio. With translation networks a
direction predicts g_v2a(v) (g_a2v(a)) through ``audio_pred_head`` (``video_pred_head``) against a (v) through
``audio_head`` (``video_head``), as the released AVSA criterion; without them (plain AVC/AVTS) v through
``video_projection`` is matched against a through ``audio_projection`` and vice versa, as the released InstDisc.
AVC and AVTS contrast moments (each moment's viewpoint features pooled: Table 1's "transf." rows), AVSA viewpoints.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from criterions.infonce import Head, candidate_logits, info_nce, retrieval_accuracies
from models.translation import Translator
from utils.distributed import all_gather_with_grad, get_rank
from utils.errors import AvsaError

POOLS = {"max": lambda x, dim: x.amax(dim), "mean": lambda x, dim: x.mean(dim)}


class CrossModalContrast(nn.Module):
    """Shared body of AVC, AVTS and AVSA; see the module docstring. ``moments``: clips in time per sample (the K
    axis is moment-major); ``pool_viewpoints``: max|mean pools each moment's viewpoints into one clip, None keeps
    every viewpoint as its own clip (AVSA)."""

    same_sample_metric: str | None = None  # name of the accuracy among a sample's own clips (AVSA-Acc, AVTS-Acc)

    def __init__(self, feature_dim: int, *, temperature: float = 0.07, proj_dim: int = 128,
                 translation: Mapping | None = None, negatives: str = "paper", moments: int = 1,
                 pool_viewpoints: str | None = None):
        super().__init__()
        translation = dict(translation or {"kind": "none"})
        self.temperature, self.negatives, self.moments = temperature, negatives, moments
        self.pool_viewpoints = pool_viewpoints
        self.has_translation = translation["kind"] != "none"
        if self.has_translation:  # the kind (transformer or mlp) goes to the Translator with the other settings
            # Attribute order and names as the released Video2AudioSeq criterion, so its checkpoint loads 1:1.
            self.v2a_transformer = Translator(feature_dim, **translation)
            self.a2v_transformer = Translator(feature_dim, **translation)
            self.video_head, self.audio_head = Head(feature_dim, proj_dim), Head(feature_dim, proj_dim)
            self.video_pred_head, self.audio_pred_head = Head(feature_dim, proj_dim), Head(feature_dim, proj_dim)
        else:
            self.video_projection, self.audio_projection = Head(feature_dim, proj_dim), Head(feature_dim, proj_dim)

    # ------------------------------------------------------------------------------------------ translation
    def predict(self, video_emb: torch.Tensor, audio_emb: torch.Tensor,
                position: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Translated features without heads, as the "transf." benchmark rows use them: (audio predicted from video,
        video predicted from audio), each (B, K, D). The viewpoints of one moment are translated together."""
        if not self.has_translation:
            raise AvsaError(f"the {type(self).__name__} criterion has no translation networks "
                            f"(loss.translation.kind: none)")
        batch, views = video_emb.shape[:2]
        if views % self.moments:
            raise ValueError(f"{views} clips per sample cannot be split into {self.moments} moments")

        def per_moment(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.reshape(batch * self.moments, views // self.moments, *x.shape[2:])

        audio_pred = self.v2a_transformer(per_moment(video_emb), per_moment(position))
        video_pred = self.a2v_transformer(per_moment(audio_emb), per_moment(position))
        return audio_pred.reshape(video_emb.shape), video_pred.reshape(audio_emb.shape)

    # ------------------------------------------------------------------------------------------ contrast
    def clips(self, features: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> (B, C, D): C = K viewpoints, or M moments pooled over their viewpoints."""
        if self.pool_viewpoints is None:
            return features
        moments = features.unflatten(1, (self.moments, -1))
        return POOLS[self.pool_viewpoints](moments, 2)

    def forward(self, video_emb: torch.Tensor, audio_emb: torch.Tensor,
                position: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.has_translation:
            audio_pred, video_pred = self.predict(video_emb, audio_emb, position)
            directions = {"V2A": (audio_pred, self.audio_pred_head, audio_emb, self.audio_head),
                          "A2V": (video_pred, self.video_pred_head, video_emb, self.video_head)}
        else:
            directions = {"V2A": (video_emb, self.video_projection, audio_emb, self.audio_projection),
                          "A2V": (audio_emb, self.audio_projection, video_emb, self.video_projection)}
        # The targets are all-gathered with gradients, so every prediction sees the whole global batch as candidates
        # and the mean of the per-rank losses is the one-process loss on the global batch. Every rank must hold the
        # same B (drop_last); the metrics are this rank's (average them across ranks to log).
        first_sample = get_rank() * video_emb.shape[0]
        losses, metrics = [], {}
        for name, (prediction, prediction_head, target, target_head) in directions.items():
            prediction = F.normalize(prediction_head(self.clips(prediction)), dim=-1)
            target = F.normalize(target_head(self.clips(target)), dim=-1)
            same, others = candidate_logits(prediction, all_gather_with_grad(target), first_sample,
                                            self.negatives, self.temperature)
            losses.append(info_nce(same, others))
            metrics[f"Loss/{name}"] = losses[-1].detach()
            avc_acc, same_sample_acc = retrieval_accuracies(same, others)
            if avc_acc is not None:
                metrics[f"AVC-Acc/{name}"] = avc_acc
            if self.same_sample_metric and same_sample_acc is not None:
                metrics[f"{self.same_sample_metric}/{name}"] = same_sample_acc
        return (losses[0] + losses[1]) / 2, metrics


def _common_args(cfg: Mapping) -> dict:
    translation = dict(cfg["translation"])
    if translation["kind"] == "none":
        translation = {"kind": "none"}
    return {"temperature": cfg["temperature"], "proj_dim": cfg["proj_dim"], "translation": translation}


class AVC(CrossModalContrast):
    """Audio-visual correspondence, Eq. (6): each clip against the other videos of the global batch (N − 1
    negatives). With K > 1 viewpoints they are pooled first (after translation, if any)."""

    @classmethod
    def from_config(cls, cfg: Mapping, feature_dim: int) -> "AVC":
        return cls(feature_dim, **_common_args(cfg), negatives="paper", moments=1,
                   pool_viewpoints=cfg["pool_viewpoints"])


class AVTS(CrossModalContrast):
    """Audio-visual temporal synchronisation: AVC whose proposal set also holds the other M − 1 moments of the same
    video (hard negatives), i.e. all B·M clips of the global batch."""

    same_sample_metric = "AVTS-Acc"

    @classmethod
    def from_config(cls, cfg: Mapping, feature_dim: int) -> "AVTS":
        return cls(feature_dim, **_common_args(cfg), negatives="paper", moments=cfg["moments"],
                   pool_viewpoints=cfg["pool_viewpoints"])


class AVSA(CrossModalContrast):
    """Audio-visual spatial alignment, Eq. (8): each translated viewpoint feature against the K viewpoints of its
    own video (K − 1 hard negatives) plus easy negatives from the other videos (``negatives``: "paper" = all
    their viewpoints, "reference" = the same viewpoint index only, as the released code)."""

    same_sample_metric = "AVSA-Acc"

    @classmethod
    def from_config(cls, cfg: Mapping, feature_dim: int) -> "AVSA":
        return cls(feature_dim, **_common_args(cfg), negatives=cfg["negatives"], moments=1, pool_viewpoints=None)
