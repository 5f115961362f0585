"""The `loss` section: defaults per criterion, validation, and the modules build_criterion makes from it."""

import pytest
import torch

from criterions import AVC, AVSA, AVTS, LOSS_SCHEMA, build_criterion
from utils.errors import ConfigError


def _validate(section: dict) -> dict:
    return LOSS_SCHEMA.validate(section, "loss", lambda key: "test.yaml")


def test_paper_avsa_criterion():
    cfg = _validate({"name": "avsa"})
    assert cfg == {"name": "avsa", "temperature": 0.07, "proj_dim": 128, "negatives": "paper",
                   "translation": {"kind": "transformer", "depth": 2, "expansion": 4, "multihead": False, "heads": 8,
                                   "dropout": 0.1, "position_encoding": "none"}}
    criterion = build_criterion(cfg, feature_dim=512)
    assert isinstance(criterion, AVSA) and criterion.has_translation
    assert sum(p.numel() for p in criterion.parameters()) == 12_872_192  # released layout, spec §5.5


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
