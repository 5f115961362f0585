"""InfoNCE over clips of a (global) batch: the projection head h, the candidate logits and the loss (paper Eq. (7)).

Every criterion reduces to the same picture. Each sample b of the batch has C *clips* (C = K viewpoints for AVSA,
M moments for AVTS, 1 for AVC). A clip's prediction (one modality, possibly translated) must pick its own target
(the other modality, same sample, same clip) among candidates made of

* ``same``:   the C targets of its own sample (the positive at index c, plus C − 1 *hard* negatives), and
* ``others``: targets of the other N − 1 samples of the global batch (*easy* negatives), either every clip of
  every other sample (``negatives="paper"``, Eq. (8): (N − 1)·C) or only the clip with the same index c
  (``negatives="reference"``, the released code: N − 1; docs/paper-fidelity.md).

Logits are cosine similarities of the L2-normalised projections divided by the temperature τ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SETS = ("paper", "reference")


class Head(nn.Module):
    """Linear projection in_dim -> out_dim (512 -> 128 in the original); ``projection.0`` as in its checkpoint."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.projection = nn.Sequential(nn.Linear(in_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


def candidate_logits(predictions: torch.Tensor, targets: torch.Tensor, first_sample: int, negatives: str,
                     temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every prediction against its candidates.

    predictions: (B, C, P) unit vectors of this rank's samples; targets: (N, C, P) unit vectors of the global batch,
    where local sample b is global sample ``first_sample + b``.
    Returns ``same`` (B, C, C): [b, c, c'] = <pred[b, c], target[own b, c']> / τ (the positive on the diagonal), and
    ``others`` (B, C, E) over the other samples in batch order: E = (N − 1)·C, sample-major, for "paper";
    E = N − 1 (clip index c only) for "reference".
    """
    if negatives not in NEGATIVE_SETS:
        raise ValueError(f"negatives must be one of {NEGATIVE_SETS}, got {negatives!r}")
    batch, total = predictions.shape[0], targets.shape[0]
    own = torch.arange(batch, device=predictions.device) + first_sample
    # [b, n, c, c'] = <pred[b, c], target[n, c']>; at B = 28, C = 4 this is 12,544 dot products.
    logits = torch.einsum("bcp,ndp->bncd", predictions, targets) / temperature
    same = logits[torch.arange(batch, device=own.device), own]
    # the other samples in batch order, [0 .. own-1, own+1 .. N-1]; fixed shapes (no boolean mask) for compile
    other_samples = torch.arange(total - 1, device=own.device).expand(batch, total - 1)
    other_samples = other_samples + (other_samples >= own[:, None])
    others = logits[torch.arange(batch, device=own.device)[:, None], other_samples]  # (B, N-1, C, C)
    if negatives == "paper":
        others = others.permute(0, 2, 1, 3).flatten(2)
    else:
        others = others.diagonal(dim1=2, dim2=3).transpose(1, 2)
    return same, others


def info_nce(same: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Eq. (7) averaged over all B·C predictions: cross-entropy over [same, others] with the positive at c."""
    batch, clips = same.shape[:2]
    logits = torch.cat([same, others], dim=-1).flatten(0, 1)
    labels = torch.arange(clips, device=same.device).repeat(batch)
    return F.cross_entropy(logits, labels)


@torch.no_grad()
def retrieval_accuracies(same: torch.Tensor, others: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Percentages of predictions whose positive logit is strictly above every easy negative (AVC-Acc) and above
    every other clip of its own sample (AVSA-Acc for viewpoints, AVTS-Acc for moments).

    Both use a strict ``>``: a tie is not a correct ranking. (The original used ``≥`` for AVSA-Acc, so a collapsed
    model whose K logits are all equal scored 100 %; without ties the two definitions agree.) A value is None
    when there is nothing to compare with (N = 1, or C = 1).
    """
    positive = same.diagonal(dim1=1, dim2=2)  # (B, C)
    clips = same.shape[1]
    avc = (positive > others.amax(-1)).float().mean() * 100 if others.shape[-1] else None
    if clips == 1:
        return avc, None
    eye = torch.eye(clips, dtype=torch.bool, device=same.device)
    hardest = same.masked_fill(eye, float("-inf")).amax(-1)
    return avc, (positive > hardest).float().mean() * 100
