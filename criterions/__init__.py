"""Pre-training criteria; ``build_criterion(cfg["loss"], feature_dim)`` and the schema of the ``loss`` section.

    loss: {name: avsa, temperature: 0.07, proj_dim: 128, negatives: paper,      # name: avc | avts | avsa
           translation: {kind: transformer, depth: 2, expansion: 4, multihead: false, heads: 8, dropout: 0.1}}

``negatives`` (avsa): paper (Eq. (8), K-1 + (N-1)·K) or reference (released code, K-1 + N-1). ``avc`` / ``avts``
take ``pool_viewpoints: max|mean`` (K > 1 viewpoints of a moment -> one clip) and default to no translation;
``avts``'s ``moments`` M (the K axis is M moments × K/M viewpoints, moment-major) follows ``dataset.temporal_clips``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from criterions.cross_modal import AVC, AVSA, AVTS, POOLS, CrossModalContrast
from criterions.infonce import NEGATIVE_SETS
from utils.config import REQUIRED, Field, Section

__all__ = ["CRITERIA", "LOSS_SCHEMA", "build_criterion", "CrossModalContrast", "AVC", "AVTS", "AVSA"]

CRITERIA = {"avc": AVC, "avts": AVTS, "avsa": AVSA}


def _translation_section(default_kind: str) -> Section:
    return Section({
        "kind": Field(str, default_kind, choices=["none", "transformer", "mlp"],
                      help="g_v2a/g_a2v: self-attention over viewpoints, per-viewpoint MLP, or none"),
        "depth": Field(int, 2, min=1, help="layers D"),
        "expansion": Field(int, 4, min=1, help="feed-forward hidden size = expansion × feature size"),
        "multihead": Field(bool, False, help="false: the original's single-head attention over all dims"),
        "heads": Field(int, 8, min=1, help="attention heads when multihead is true"),
        "dropout": Field(float, 0.1, min=0.0, max=1.0),
        "position_encoding": Field(str, "none", choices=["none", "direction"],
                                   help="add a learned embedding of each viewpoint's direction before layer 1"),
    })


def _check_loss(section: dict) -> str | None:
    if section["name"] == "avsa" and section["translation"]["kind"] == "none":
        return "translation: avsa needs translation networks (kind transformer or mlp)"
    return None


_POOL = Field(str, "max", choices=list(POOLS), help="pools the K viewpoints of a moment into one clip")

def _resolve_moments(cfg: dict) -> str | None:
    """Config check: ``loss.moments`` (avts) null becomes ``dataset.temporal_clips``; a set value must equal it."""
    loss = cfg.get("loss")
    if loss is None or loss["name"] != "avts":
        return None
    clips = cfg["dataset"].get("temporal_clips") if "dataset" in cfg else None
    if loss["moments"] is None:
        if clips is None:
            return ("loss.moments: null takes dataset.temporal_clips of the YT-360 dataset section, which this config "
                    "lacks; set it")
        if clips < 2:
            return f"dataset.temporal_clips: {clips}, but AVTS (loss.name avts) needs at least 2 moments per sample"
        loss["moments"] = clips
    elif clips is not None and loss["moments"] != clips:
        return (f"loss.moments: {loss['moments']} must equal dataset.temporal_clips ({clips}): the moments are the "
                f"dataset's temporal clips; leave loss.moments unset to take it from the dataset")
    return None


LOSS_SCHEMA = Section(
    {
        "name": Field(str, REQUIRED, help="criterion: avc | avts | avsa"),
        "temperature": Field(float, 0.07, min=1e-6, help="InfoNCE temperature τ"),
        "proj_dim": Field(int, 128, min=1, help="output size of the projection heads"),
    },
    tag="name",
    variants={
        "avc": {"pool_viewpoints": _POOL, "translation": _translation_section("none")},
        "avts": {"pool_viewpoints": _POOL, "translation": _translation_section("none"),
                 "moments": Field(int, None, nullable=True, min=2,
                                  help="temporal clips M per sample; null: dataset.temporal_clips")},
        "avsa": {"negatives": Field(str, "paper", choices=list(NEGATIVE_SETS),
                                    help="easy negatives: all viewpoints of other videos (paper) or the same "
                                         "viewpoint index only (reference)"),
                 "translation": _translation_section("transformer")},
    },
    check=_check_loss,
    config_check=_resolve_moments,
    optional=True,
)


def build_criterion(loss_cfg: Mapping, feature_dim: int = 512) -> nn.Module:
    """The criterion of a validated ``loss`` section, for embeddings of size ``feature_dim`` (``model.out_dim``)."""
    return CRITERIA[loss_cfg["name"]].from_config(loss_cfg, feature_dim)
