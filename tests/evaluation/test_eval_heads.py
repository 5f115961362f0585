"""Shapes and parameter counts of the benchmark heads (AVC/AVSA-Bin, action recognition, segmentation FPN)."""

import pytest
import torch
from torch import nn

from models.classifiers import ActionClassifier, PairClassifier
from models.fpn import FPNHead, TimePool

PAPER_LEVELS = {"conv2x": (64, 8, 56), "conv3x": (128, 4, 28), "conv4x": (256, 2, 14), "conv5x": (512, 1, 7)}


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cond_dim, expected", [(0, 4_235_055), (512, 4_366_127), (1536, 4_628_271)])
def test_fpn_parameter_counts_match_the_original(cond_dim, expected):
    head = FPNHead((64, 128, 256, 512), (8, 4, 2, 1), num_classes=32, cond_dim=cond_dim)
    assert _count(head) == expected


def test_fpn_output_shape_and_conditioning_is_used():
    torch.manual_seed(0)
    head = FPNHead((8, 16, 32, 64), (4, 2, 1, 1), num_classes=5, cond_dim=6, fpn_dim=32, segm_dim=32)
    feats = {"conv2x": torch.randn(3, 8, 4, 16, 16), "conv3x": torch.randn(3, 16, 2, 8, 8),
             "conv4x": torch.randn(3, 32, 1, 4, 4), "conv5x": torch.randn(3, 64, 1, 2, 2)}
    cond = torch.randn(3, 6, requires_grad=True)
    logits = head(feats, cond)
    assert logits.shape == (3, 5, 16, 16)
    logits.square().sum().backward()
    assert cond.grad.abs().sum() > 0  # the conditioning reaches the output
    other = head(feats, cond.detach() + 1.0)
    assert not torch.allclose(other, logits)


def test_fpn_normalize_makes_each_level_scale_free():
    """head.normalize: per-level standardisation, so the logits do not depend on each level's scale and offset (a
    random encoder's c5 is ~25x below its c2) and the parameter count is that of the plain head. float64: the check
    is of the algebra, not of float32 rounding amplified through the head."""
    torch.manual_seed(0)
    head = FPNHead((8, 16, 32, 64), (4, 2, 1, 1), num_classes=5, cond_dim=6, fpn_dim=32, segm_dim=32,
                   normalize=True).double()
    plain = FPNHead((8, 16, 32, 64), (4, 2, 1, 1), num_classes=5, cond_dim=6, fpn_dim=32, segm_dim=32).double()
    assert _count(head) == _count(plain)
    for module in head.modules():  # weights larger than the original's N(0, 0.001), so that inputs matter
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=0.2)
    plain.load_state_dict(head.state_dict(), strict=False)  # the same weights (plain has no running statistics)
    feats = {"conv2x": torch.randn(3, 8, 4, 16, 16), "conv3x": torch.randn(3, 16, 2, 8, 8),
             "conv4x": torch.randn(3, 32, 1, 4, 4), "conv5x": torch.randn(3, 64, 1, 2, 2)}
    feats = {name: value.double() for name, value in feats.items()}
    cond = torch.randn(3, 6, dtype=torch.float64)
    scales = {"conv2x": 3.0, "conv3x": 0.5, "conv4x": 0.3, "conv5x": 0.2}  # variances far above BatchNorm's eps
    scaled = {name: value * scales[name] + 0.7 for name, value in feats.items()}
    head.train()
    with torch.no_grad():
        reference = head(feats, cond)
        assert (head(scaled, cond * 0.2 + 0.7) - reference).abs().max() < 1e-3 * reference.abs().max()
        difference = (plain(scaled, cond * 0.2 + 0.7) - plain(feats, cond)).abs().max()
        assert difference > 0.1 * plain(feats, cond).abs().max()  # without it, the scale of each level matters


def test_fpn_paper_shapes_and_init():
    head = FPNHead((64, 128, 256, 512), (8, 4, 2, 1), num_classes=32)
    feats = {k: torch.randn(1, c, t, s, s) for k, (c, t, s) in PAPER_LEVELS.items()}
    assert head(feats).shape == (1, 32, 56, 56)
    conv_weights = torch.cat([m.weight.flatten() for m in head.modules() if isinstance(m, nn.Conv2d)])
    assert conv_weights.std().item() == pytest.approx(0.001, rel=0.02)  # every conv ~ N(0, 0.001)


def test_time_pool_starts_as_the_mean_over_time():
    x = torch.randn(2, 3, 4, 5, 5)
    torch.testing.assert_close(TimePool(4)(x), x.mean(dim=2))


def test_pair_classifier_shape_and_count():
    clf = PairClassifier(feature_dim=512, hidden_dim=512)
    assert _count(clf) == 1024 * 512 + 512 + 512 * 2 + 2
    assert clf(torch.randn(3, 4, 512), torch.randn(3, 4, 512)).shape == (3, 4, 2)


class _PoolOnly(nn.Module):
    """Stand-in encoder: the mean over (T, H, W) of a linear map of the pixels, as ``pool``."""

    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, 1)

    def forward(self, video, return_embs=False):
        pool = self.proj(video).mean(dim=(2, 3, 4))
        return {"pool": pool} if return_embs else pool


def test_action_classifier_is_linear_on_the_pooled_feature():
    torch.manual_seed(0)
    clf = ActionClassifier(_PoolOnly(8), feature_dim=8, num_classes=51).eval()
    video = torch.randn(2, 3, 4, 6, 6)
    linear = clf.classifier[1]
    expected = linear(clf.video_model(video))
    torch.testing.assert_close(clf(video), expected)
    assert clf(video).shape == (2, 51)
