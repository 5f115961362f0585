"""Translation networks g_v2a / g_a2v: Eqs. (3)–(5) with the original's post-norm + ReLU layout, multi-head,
viewpoint-direction encoding, and the context-free MLP variant."""

import math

import pytest
import torch
import torch.nn.functional as F

from models.translation import Translator


@torch.no_grad()
def _layer_by_hand(layer, x, heads):
    """One transformer layer written out per sample and viewpoint (eval mode: no dropout)."""
    att = layer.attention
    B, K, D = x.shape
    d = D // heads
    out = torch.empty_like(x)
    for b in range(B):
        q, k, v = (F.linear(x[b], m.weight, m.bias) for m in (att.query, att.key, att.value))
        mixed = torch.zeros(K, D)
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            for i in range(K):
                scores = torch.tensor([float(q[i, sl] @ k[j, sl]) / math.sqrt(d) for j in range(K)])
                alpha = torch.softmax(scores, 0)  # Eq. (3)
                mixed[i, sl] = sum(alpha[j] * v[j, sl] for j in range(K))
        y = F.layer_norm(x[b] + F.linear(mixed, att.dense.weight, att.dense.bias), (D,),
                         layer.attention_norm.weight, layer.attention_norm.bias)  # Eq. (4)
        hidden = torch.relu(F.linear(y, layer.dense[0].weight, layer.dense[0].bias))
        z = F.layer_norm(y + F.linear(hidden, layer.dense[2].weight, layer.dense[2].bias), (D,),
                         layer.dense_norm.weight, layer.dense_norm.bias)  # Eq. (5)
        out[b] = torch.relu(z)  # the original's extra ReLU after every layer
    return out


@pytest.mark.parametrize("multihead,heads", [(False, 1), (True, 2)])
def test_transformer_equals_equations(multihead, heads):
    torch.manual_seed(0)
    net = Translator(8, kind="transformer", depth=2, expansion=3, dropout=0.1, multihead=multihead, heads=heads)
    net.eval()
    x = torch.rand(2, 3, 8)
    expected = x
    for layer in net.transformer:
        expected = _layer_by_hand(layer, expected, heads)
    assert torch.allclose(net(x), expected, atol=1e-5)


def test_viewpoint_context_and_permutation_equivariance():
    torch.manual_seed(0)
    transformer = Translator(8, kind="transformer", depth=2).eval()
    mlp = Translator(8, kind="mlp", depth=2).eval()
    x = torch.rand(2, 4, 8)
    changed = x.clone()
    changed[:, 3] += 1.0
    perm = torch.tensor([2, 0, 3, 1])
    for net in (transformer, mlp):
        assert torch.allclose(net(x[:, perm]), net(x)[:, perm], atol=1e-6)
    # attention mixes viewpoints; the MLP variant sees its own viewpoint only
    assert not torch.allclose(transformer(changed)[:, 0], transformer(x)[:, 0], atol=1e-4)
    assert torch.allclose(mlp(changed)[:, :3], mlp(x)[:, :3], atol=1e-6)


def test_mlp_variant_has_similar_size():
    size = {kind: sum(p.numel() for p in Translator(512, kind=kind, depth=2).parameters())
            for kind in ("transformer", "mlp")}
    assert size["transformer"] == 2 * 3_152_384  # the released translators
    assert abs(size["mlp"] - size["transformer"]) / size["transformer"] < 1e-3


def test_direction_encoding():
    torch.manual_seed(0)
    net = Translator(6, depth=1, position_encoding="direction").eval()
    x = torch.rand(1, 3, 6)
    deg = math.pi / 180
    # front, 90° to the left, straight up (azimuth positive to the left, elevation up); time is ignored
    position = torch.tensor([[[0.0, 0.0, 1.0], [90 * deg, 0.0, 2.0], [30 * deg, 90 * deg, 3.0]]])
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    embedded = x + directions @ net.position_embedding.weight.T + net.position_embedding.bias
    assert torch.allclose(net(x, position), net.transformer(embedded), atol=1e-5)
    assert not torch.allclose(net(x, position), net.transformer(x), atol=1e-3)
    with pytest.raises(ValueError, match="position"):
        net(x)
    assert "position_embedding.weight" not in Translator(6, depth=1).state_dict()  # released layout unchanged
