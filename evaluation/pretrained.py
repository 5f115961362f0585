"""The pre-trained model an evaluation starts from: built from the PRE-TRAINING config, loaded from its checkpoint.

``load_pretrained`` builds the audio-visual model (and, when the benchmark needs the translation networks, the
pre-training criterion that holds them), loads both strictly from ``<pretrain run dir>/checkpoint.pth`` (or
``--checkpoint``), and records the checkpoint's sha256 for results.json. ``scratch`` loads nothing (random
encoders: the Scratch row and the random-init baselines). The phase-1 file of a curriculum (``model.init_from``)
is never needed here (the original loaded it at every construction of the model).

``Frozen`` wraps a pre-trained part for the frozen-encoder benchmarks: no gradients, and eval mode that a parent's
``.train()`` cannot undo (the original's segmentation put its "frozen" encoders back in train mode, so BatchNorm
statistics drifted and dropout was on; docs/paper-fidelity.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from criterions import build_criterion
from engine.state import state_modules
from models import build_model
from utils.checkpoint import load_checkpoint, load_state_strict
from utils.errors import CheckpointError, ConfigError
from utils.files import cached_sha256
from utils.runs import latest_checkpoint, run_directory


@dataclass
class Pretrained:
    model: nn.Module                 # models.AVModel: .video_model, .audio_model, .out_dim
    criterion: nn.Module | None      # the pre-training criterion (translation networks), when asked for
    checkpoint: str | None           # None with scratch
    sha256: str | None
    run_dir: str                     # the pre-training run directory (evaluations go below it by default)


def load_pretrained(pretrain_cfg: dict, pretrain_path: str, checkpoint: str | None = None, *, scratch: bool = False,
                    translation: bool = False, with_criterion: bool = False) -> Pretrained:
    """Build and load the pre-trained model of ``pretrain_cfg`` (a resolved config read from ``pretrain_path``).

    translation: also rebuild the criterion and require translation networks (``criterion.has_translation``).
    with_criterion: also rebuild the criterion, of any kind (tools/visualize.py scores with its projection heads).
    """
    model = build_model(pretrain_cfg["model"], load_init=False)
    criterion = None
    if translation or with_criterion:
        if "loss" not in pretrain_cfg:
            needs = "this benchmark uses the pre-trained translation networks" if translation else "it is needed"
            raise ConfigError(f"{pretrain_path}: loss: {needs}, but the pre-training config has no loss section")
        criterion = build_criterion(pretrain_cfg["loss"], feature_dim=model.out_dim)
        if translation and not getattr(criterion, "has_translation", False):
            raise ConfigError(f"{pretrain_path}: loss.translation: this benchmark uses the pre-trained translation "
                              f"networks (use_transf / use_context), but {pretrain_cfg['model']['name']} was "
                              f"pre-trained without them; use a notransf / no-context benchmark config")
    run_dir = run_directory(pretrain_cfg["model"])
    if scratch:
        return Pretrained(model, criterion, None, None, run_dir)
    path = checkpoint or latest_checkpoint(run_dir)
    if not os.path.isfile(path):
        raise CheckpointError(f"pre-training checkpoint not found: {path} (pre-train with main-video-ssl.py "
                              f"{pretrain_path}, pass --checkpoint PATH, or set benchmark.scratch=true)")
    state = load_checkpoint(path)
    load_state_strict(model, state["model"], "model", path)
    if criterion is not None:
        if not state.get("criterion"):
            needs = "the translation networks are needed" if translation else "the criterion is needed"
            raise CheckpointError(f"{path}: has no criterion entry ({needs})")
        load_state_strict(criterion, state["criterion"], "criterion", path)
    return Pretrained(model, criterion, path, cached_sha256(path), run_dir)  # once per process, not per fold


def load_benchmark(benchmark: nn.Module, path: str) -> None:
    """Load a trained benchmark (head, and the encoders it trained) strictly from its checkpoint ``path``
    (``<eval run dir>/checkpoint.pth``): ``--test-only`` and tools/visualize.py."""
    state = load_checkpoint(path)
    for name, module in state_modules(benchmark).items():
        load_state_strict(module, state[name], name, path)


class Translation(nn.Module):
    """The pre-trained criterion's translation networks as a module: forward(video_feat (B, K, D), audio_feat
    (B, K, D), position (B, K, 3)) = ``criterion.predict`` -> (audio predicted from video, video predicted from
    audio), (B, K, D) each. ``position`` feeds the direction encoding of translators that have one."""

    def __init__(self, criterion: nn.Module):
        super().__init__()
        self.criterion = criterion

    def forward(self, video_feat: torch.Tensor, audio_feat: torch.Tensor,
                position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.criterion.predict(video_feat, audio_feat, position)


def maybe_frozen(module: nn.Module, frozen: bool) -> nn.Module:
    return Frozen(module) if frozen else module


class Frozen(nn.Module):
    """A pre-trained module used as a fixed feature extractor: requires_grad False, always in eval mode, run
    without autograd. ``forward`` passes through to ``module``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "Frozen":
        return super().train(False)

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.module(*args, **kwargs)
