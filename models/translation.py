"""Feature-translation networks g_v2a and g_a2v (paper Eqs. (1)–(5)).

A translator maps the K viewpoint features of one sample, (B, K, D), to K features of the other modality,
(B, K, D). ``kind: transformer`` mixes the K viewpoints with self-attention (Eqs. (3)–(4)); ``kind: mlp`` replaces
the attention sub-layer by a per-viewpoint MLP of about the same size, so no viewpoint sees another (the paper's
"AVSA (mlp)" row). Both use the original's layout: post-LayerNorm residual sub-layers, dropout before each residual
sum, and a ReLU after every layer. ``position_encoding: direction`` (new) adds a learned embedding of each
viewpoint's direction to its feature before the first layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Scaled dot-product self-attention over the K viewpoints (Eqs. (3)–(4) before the residual).

    ``heads=1`` is the original's SimplifiedAttention (one head over all D dims, scale √D, no dropout on the
    attention weights). With ``heads > 1`` each head has D/heads dims and, as the original's multi-head variant,
    dropout on the attention weights. Row k attends over l with softmax_l(q_k·k_l/√d) (the code's convention; the
    paper's Eq. (3) writes the key/query roles the other way round, which only renames the two matrices).
    """

    def __init__(self, dim: int, heads: int = 1, attention_dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature size {dim} is not divisible by {heads} attention heads")
        self.heads, self.attention_dropout = heads, attention_dropout
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, K, D) -> (B, K, D)."""
        def split(t: torch.Tensor) -> torch.Tensor:  # (B, K, D) -> (B, heads, K, D/heads)
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        mixed = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                               dropout_p=self.attention_dropout if self.training else 0.0)
        return self.dense(mixed.transpose(1, 2).flatten(2))


class _PostNormLayer(nn.Module):
    """A context sub-layer (set by the subclass) then the clip-wise feed-forward sub-layer of Eq. (5):
    h = Norm(h + Drop(context(h))); h = Norm(h + Drop(W2·ReLU(W1·h))); output ReLU(h), as the original."""

    def add_feed_forward(self, dim: int, expansion: int, dropout: float) -> None:
        """Called by the subclass after its context sub-layer, so parameters are ordered as the original's."""
        self.dense = nn.Sequential(nn.Linear(dim, expansion * dim), nn.ReLU(inplace=True),
                                   nn.Linear(expansion * dim, dim))
        self.dense_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def context(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.context(h)
        return F.relu(self.dense_norm(h + self.dropout(self.dense(h))))


class TransformerLayer(_PostNormLayer):
    """Eqs. (3)–(5): the viewpoints exchange information through self-attention."""

    def __init__(self, dim: int, expansion: int, dropout: float, heads: int, multihead: bool):
        super().__init__()
        self.attention = SelfAttention(dim, heads if multihead else 1, dropout if multihead else 0.0)
        self.attention_norm = nn.LayerNorm(dim)
        self.add_feed_forward(dim, expansion, dropout)

    def context(self, h: torch.Tensor) -> torch.Tensor:
        return self.attention_norm(h + self.dropout(self.attention(h)))


class MLPLayer(_PostNormLayer):
    """The attention sub-layer replaced by a per-viewpoint MLP D → 2D → D (4·D² weights, as the attention's four
    D×D matrices), so each output depends on its own viewpoint only."""

    def __init__(self, dim: int, expansion: int, dropout: float):
        super().__init__()
        self.clip_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.clip_mlp_norm = nn.LayerNorm(dim)
        self.add_feed_forward(dim, expansion, dropout)

    def context(self, h: torch.Tensor) -> torch.Tensor:
        return self.clip_mlp_norm(h + self.dropout(self.clip_mlp(h)))


def viewpoint_directions(position: torch.Tensor) -> torch.Tensor:
    """position (..., 3) = azimuth, elevation, time -> unit direction (..., 3) = (x front, y left, z up)."""
    azimuth, elevation = position[..., 0], position[..., 1]
    return torch.stack([torch.cos(azimuth) * torch.cos(elevation), torch.sin(azimuth) * torch.cos(elevation),
                        torch.sin(elevation)], dim=-1)


class Translator(nn.Module):
    """g_v2a or g_a2v: ``forward(x (B, K, D), position (B, K, 3) or None) -> (B, K, D)``.

    The layer stack is called ``transformer`` (also for ``kind: mlp``) because the released checkpoint names it so;
    like every module name here (``transformer.{i}.attention.{query,key,value,dense}``, ``attention_norm``,
    ``dense.0``, ``dense.2``, ``dense_norm``) it follows the original, so the released translators load 1:1.
    """

    def __init__(self, dim: int, *, kind: str = "transformer", depth: int = 2, expansion: int = 4,
                 dropout: float = 0.1, multihead: bool = False, heads: int = 8, position_encoding: str = "none"):
        super().__init__()
        if kind == "transformer":
            layers = [TransformerLayer(dim, expansion, dropout, heads, multihead) for _ in range(depth)]
        elif kind == "mlp":
            layers = [MLPLayer(dim, expansion, dropout) for _ in range(depth)]
        else:
            raise ValueError(f"unknown translation kind {kind!r} (transformer or mlp)")
        self.transformer = nn.Sequential(*layers)
        if position_encoding == "direction":  # the original computed the positions and never used them
            # A linear embedding of the unit direction (cos az·cos el, sin az·cos el, sin el) of each viewpoint;
            # position (B, K, 3) = azimuth, elevation (radians), clip time (s).
            self.position_embedding = nn.Linear(3, dim)
        elif position_encoding == "none":
            self.position_embedding = None
        else:
            raise ValueError(f"unknown position_encoding {position_encoding!r} (none or direction)")

    def forward(self, x: torch.Tensor, position: torch.Tensor | None = None) -> torch.Tensor:
        if self.position_embedding is not None:
            if position is None:
                raise ValueError("this translator encodes viewpoint directions: pass position (B, K, 3)")
            x = x + self.position_embedding(viewpoint_directions(position.to(x.dtype)))
        return self.transformer(x)
