"""The `loss` section: defaults per criterion, validation, and the modules build_criterion makes from it."""

import os

import pytest
import torch

from criterions import AVC, AVSA, AVTS, LOSS_SCHEMA, build_criterion
from engine.schema import PRETRAIN_SCHEMA
from models.translation import SelfAttention
from utils.config import load_config
from utils.errors import ConfigError

PAPER_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "main", "avsa")


def _validate(section: dict) -> dict:
    return LOSS_SCHEMA.validate(section, "loss", lambda key: "test.yaml")


def test_paper_avsa_criterion():
    cfg = _validate({"name": "avsa"})
    assert cfg == {"name": "avsa", "temperature": 0.07, "proj_dim": 128, "negatives": "paper",
                   "translation": {"kind": "transformer", "depth": 2, "expansion": 4, "multihead": False, "heads": 8,
                                   "dropout": 0.1, "position_encoding": "none"}}
    criterion = build_criterion(cfg, feature_dim=512)
    assert isinstance(criterion, AVSA) and criterion.has_translation
    assert sum(p.numel() for p in criterion.parameters()) == 12_872_192  # the released criterion's parameter count


def test_avc_and_avts_defaults():
    avc = build_criterion(_validate({"name": "avc"}), feature_dim=16)
    assert isinstance(avc, AVC) and not avc.has_translation
    assert sorted(avc.state_dict()) == ["audio_projection.projection.0.bias", "audio_projection.projection.0.weight",
                                        "video_projection.projection.0.bias", "video_projection.projection.0.weight"]
    avts = build_criterion(_validate({"name": "avts", "moments": 3, "translation": {"kind": "mlp"}}), feature_dim=16)
    assert isinstance(avts, AVTS) and avts.moments == 3 and avts.has_translation
    loss, metrics = avts(torch.rand(2, 6, 16), torch.rand(2, 6, 16))
    assert torch.isfinite(loss) and "AVTS-Acc/A2V" in metrics
    with pytest.raises(ValueError, match="cannot be split into 3 moments"):
        avts(torch.rand(2, 4, 16), torch.rand(2, 4, 16))


def test_invalid_loss_sections():
    with pytest.raises(ConfigError, match=r"test\.yaml: loss\.translation: avsa needs translation networks"):
        _validate({"name": "avsa", "translation": {"kind": "none"}})
    with pytest.raises(ConfigError, match=r"loss\.negatives: unknown key"):
        _validate({"name": "avc", "negatives": "paper"})
    with pytest.raises(ConfigError, match=r"loss\.negatives: 'papers' is not one of"):
        _validate({"name": "avsa", "negatives": "papers"})
    with pytest.raises(ConfigError, match=r"loss\.name: 'avs' is not one of"):
        _validate({"name": "avs"})
    with pytest.raises(ConfigError, match=r"loss\.moments: 1 is below the minimum 2"):
        _validate({"name": "avts", "moments": 1})


def test_avts_moments_follow_the_dataset_temporal_clips():
    def resolve(loss: dict, **dataset) -> dict:
        cfg = {"dataset": {"name": "yt360", "root": "data", **dataset}, "loss": loss}
        return PRETRAIN_SCHEMA.validate(cfg, "", lambda key: "test.yaml")["loss"]

    assert resolve({"name": "avts"}, temporal_clips=3)["moments"] == 3
    assert build_criterion(resolve({"name": "avts"}, temporal_clips=2), feature_dim=8).moments == 2
    assert resolve({"name": "avts", "moments": 3}, temporal_clips=3)["moments"] == 3
    assert "moments" not in resolve({"name": "avc"}, temporal_clips=3)
    with pytest.raises(ConfigError, match=r"^test\.yaml: loss\.moments: 2 must equal dataset\.temporal_clips \(3\)"):
        resolve({"name": "avts", "moments": 2}, temporal_clips=3)
    with pytest.raises(ConfigError, match=r"^test\.yaml: dataset\.temporal_clips: 1, but AVTS \(loss\.name avts\) "
                                          r"needs at least 2 moments per sample"):
        resolve({"name": "avts"})
    with pytest.raises(ConfigError, match=r"loss\.moments: null takes dataset\.temporal_clips"):
        PRETRAIN_SCHEMA.validate({"loss": {"name": "avts"}}, "", lambda key: "t")


def test_direction_encoding_uses_positions():
    torch.manual_seed(0)
    cfg = _validate({"name": "avsa", "translation": {"position_encoding": "direction", "dropout": 0.0}})
    criterion = build_criterion(cfg, feature_dim=8)
    video, audio = torch.rand(2, 3, 8), torch.rand(2, 3, 8)
    position = torch.rand(2, 3, 3)
    loss_a, _ = criterion(video, audio, position)
    loss_b, _ = criterion(video, audio, position.flip(1))
    assert not torch.allclose(loss_a, loss_b)
    with pytest.raises(ValueError, match="position"):
        criterion.predict(video, audio)


def _paper_criterion(name: str):
    cfg = load_config(os.path.join(PAPER_CONFIGS, name), required=("loss",), schema=PRETRAIN_SCHEMA)
    return build_criterion(cfg["loss"], feature_dim=512).eval()


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_mlp_config_builds_per_viewpoint_mlps_not_transformers():
    """Cur-Loc4-MLP.yaml ("AVSA (mlp)", Table 2): no attention anywhere, the MLP layers' size, and no viewpoint sees
    another; Cur-Loc4-TransfD2.yaml's transformer mixes them."""
    mlp, transformer = _paper_criterion("Cur-Loc4-MLP.yaml"), _paper_criterion("Cur-Loc4-TransfD2.yaml")
    assert not any(isinstance(m, SelfAttention) or "attention" in name for name, m in mlp.named_modules())
    assert any(isinstance(m, SelfAttention) for m in transformer.modules())
    d = 512

    def linear(n_in, n_out):
        return n_in * n_out + n_out

    layer_norm = 2 * d
    mlp_layer = (linear(d, 2 * d) + linear(2 * d, d) + layer_norm  # per-viewpoint MLP D -> 2D -> D
                 + linear(d, 4 * d) + linear(4 * d, d) + layer_norm)  # feed-forward, expansion 4
    heads = 4 * linear(d, 128)
    assert _count(mlp) == 2 * 2 * mlp_layer + heads == 12_870_144  # 2 translators x depth 2
    assert _count(transformer) == 12_872_192
    torch.manual_seed(0)
    video, audio = torch.rand(2, 4, d), torch.rand(2, 4, d)
    changed_video, changed_audio = video.clone(), audio.clone()
    changed_video[:, 3] += 1.0
    changed_audio[:, 3] += 1.0
    for criterion, mixes in ((mlp, False), (transformer, True)):
        audio_pred, video_pred = criterion.predict(video, audio)
        audio_pred2, video_pred2 = criterion.predict(changed_video, changed_audio)
        for before, after in ((audio_pred, audio_pred2), (video_pred, video_pred2)):
            assert not torch.allclose(before[:, 3], after[:, 3])  # viewpoint j's own output changes
            assert torch.allclose(before[:, :3], after[:, :3], atol=1e-6) != mixes  # the others: only with attention


@pytest.mark.parametrize("name", ["avc", "avts", "avsa"])
def test_mlp_translation_has_no_attention_for_every_criterion(name):
    criterion = build_criterion(_validate({"name": name, "translation": {"kind": "mlp"}}), feature_dim=16)
    assert criterion.has_translation
    assert not any(isinstance(m, SelfAttention) for m in criterion.modules())
