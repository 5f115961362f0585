"""AVC-Bin and AVSA-Bin (paper Table 1): a 2-way classifier on frozen audio and video features.

Per viewpoint the classifier sees (v, a) — or (â, a) with ``use_transf``, â = g_v2a(v) the audio predicted from the
video over the K viewpoints by the pre-trained translation network — and the K viewpoints' logits are averaged
into the sample's prediction. Training minimises the cross-entropy of every viewpoint (labels repeated K times).
AVSA-Bin: label 1 iff the sample's audio was rotated away from the video (``batch["misaligned"]``). AVC-Bin: each
sample with its own audio (0) and with that of another sample of the batch (1): a derangement, never a sample with
itself (the original code's draw failed for a batch of 1), fixed at test time by the test seed and the batch's indices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.metrics import TopKMeter
from evaluation.pretrained import Frozen, Pretrained, Translation
from models.classifiers import PairClassifier
from utils.errors import DataError
from utils.seeding import make_generator


def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random permutation of range(n) without fixed points (rejection: ≈ e draws). n ≥ 2."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    identity = torch.arange(n)
    while True:
        perm = torch.randperm(n, generator=generator)
        if (perm != identity).all():
            return perm


def correspondence_pairs(video_feat: torch.Tensor, audio_feat: torch.Tensor, partner: torch.Tensor):
    """AVC-Bin pairs: (v_i, a_i) labelled 0 and (v_i, a_partner(i)) labelled 1, viewpoint k with viewpoint k.

    video_feat, audio_feat (B, K, D); partner (B,) -> video (2B, K, D), audio (2B, K, D), labels (2B,) int64.
    """
    b = video_feat.shape[0]
    labels = torch.cat([torch.zeros(b, dtype=torch.int64), torch.ones(b, dtype=torch.int64)]).to(video_feat.device)
    return (torch.cat([video_feat, video_feat]), torch.cat([audio_feat, audio_feat[partner.to(audio_feat.device)]]),
            labels)


class AlignmentProbe(nn.Module):
    """Frozen encoders (and g_v2a) + a trainable ``PairClassifier``; ``pairs``: ``"avc"`` or ``"avsa"``."""

    def __init__(self, pretrained: Pretrained, head_cfg: dict, *, pairs: str, use_transf: bool, test_seed: int):
        super().__init__()
        self.encoders = Frozen(pretrained.model)
        self.translation = Frozen(Translation(pretrained.criterion)) if use_transf else None
        self.classifier = PairClassifier(pretrained.model.out_dim, head_cfg["hidden_dim"], head_cfg["dropout"],
                                         normalize=head_cfg["normalize"])
        self.pairs, self.test_seed = pairs, test_seed

    carry_keys = ("misaligned", "index")  # what the pairs need, kept next to cached features (FeatureDraws)

    def frozen_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """The frozen part's output for a batch of clips (``evaluation.features.FeatureDraws``)."""
        video_feat, audio_feat = self.features(batch)
        return {"video_feat": video_feat, "audio_feat": audio_feat}

    def features(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """video (B, K, 3, T, H, W), audio (B, K, 4, Ta, F) -> per-viewpoint features (B, K, D) each; a batch of
        cached features (`frozen_inputs`) carries them already."""
        if "video_feat" in batch:
            return batch["video_feat"], batch["audio_feat"]
        b, k = batch["video"].shape[:2]
        video_feat, audio_feat = self.encoders(batch["video"].flatten(0, 1), batch["audio"].flatten(0, 1))
        video_feat, audio_feat = video_feat.reshape(b, k, -1), audio_feat.reshape(b, k, -1)
        if self.translation is not None:
            video_feat = self.translation(video_feat, audio_feat, batch["position"])[0]
        return video_feat, audio_feat

    def logits_and_labels(self, batch: dict, fixed: bool):
        """-> per-viewpoint logits (N, K, 2) and labels (N,). AVC partners: from the global (seeded, checkpointed)
        generator in training; from the test seed and the batch's indices when ``fixed``."""
        video_feat, audio_feat = self.features(batch)
        if self.pairs == "avsa":
            labels = batch["misaligned"].long()
        else:
            if video_feat.shape[0] < 2:
                raise DataError("AVC-Bin pairs each sample with another sample of its batch, but a batch holds 1 "
                                "sample: use a batch size (per process) of at least 2 that leaves no test batch of 1")
            # the same test batch gives the same pairs: a generator of the test seed and the batch's indices
            generator = make_generator(self.test_seed, *batch["index"].tolist(), mode="mixed") if fixed else None
            partner = derangement(video_feat.shape[0], generator)
            video_feat, audio_feat, labels = correspondence_pairs(video_feat, audio_feat, partner)
        return self.classifier(video_feat, audio_feat), labels

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Training step (the engine's task interface): cross-entropy of every viewpoint."""
        logits, labels = self.logits_and_labels(batch, fixed=False)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))
        accuracy = (logits.mean(1).argmax(1) == labels).float().mean() * 100
        return loss, {"Acc": accuracy.detach()}

    def make_meter(self) -> TopKMeter:
        return TopKMeter("Acc", ks=(1,))

    @torch.no_grad()
    def evaluate(self, batch: dict, meter: TopKMeter) -> None:
        logits, labels = self.logits_and_labels(batch, fixed=True)
        meter.update(logits.mean(1), labels)  # the K viewpoints' logits averaged, as the original


def build_probe(cfg: dict, pretrained: Pretrained, train_set=None, test_set=None) -> AlignmentProbe:
    """The probe of an ``avc-bin`` or ``avsa-bin`` eval config: what eval-avc.py and eval-avsa.py train and test."""
    bench = cfg["benchmark"]
    return AlignmentProbe(pretrained, bench["head"], pairs=bench["task"].removesuffix("-bin"),
                          use_transf=bench["use_transf"], test_seed=bench["test_seed"])
