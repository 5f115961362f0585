"""Encoders and the audio-visual model: exact released architecture (parameter counts, key names, shapes),
the width option, multi-scale outputs, channels-last, and the `model` config section."""

import pytest
import torch

from engine.schema import PRETRAIN_SCHEMA
from models import MODEL_SCHEMA, build_model
from models.audio import Conv2D
from models.video import R2Plus1D
from tests.conftest import shared_path
from utils.checkpoint import save_checkpoint
from utils.errors import ConfigError


def _validate(section: dict, **audio) -> dict:
    """The model section of a pre-training config with this ``model`` and a YT-360 dataset (``audio``: its audio
    keys)."""
    cfg = {"dataset": {"name": "yt360", "root": "data", "audio": audio}, "model": section}
    return PRETRAIN_SCHEMA.validate(cfg, "", lambda key: "test.yaml")["model"]


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _video_params(width: int, blocks: int) -> int:
    """Parameter count of the released R(2+1)D-18 written out: 3×7×7 stem, (2+1)D blocks with mid = out, BN (2 per
    channel)."""
    total = 3 * width * 3 * 7 * 7 + 2 * width
    channels = [width, width, 2 * width, 4 * width, 8 * width]
    for stage in range(4):
        for b in range(blocks):
            cin, cout = (channels[stage] if b == 0 else channels[stage + 1]), channels[stage + 1]
            total += cin * cout * 9 + cout * cout * 3 + cout * cout * 9 + cout * cout * 3 + 4 * 2 * cout
            if b == 0 and stage > 0:
                total += cin * cout  # 1×1×1 shortcut conv, no BN
    return total


def _audio_params(width: int, in_channels: int = 4) -> int:
    total = in_channels * width * 49 + 2 * width
    for cin, cout in [(width, width), (width, 2 * width), (2 * width, 4 * width), (4 * width, 8 * width)]:
        total += cin * cout * 9 + cout * cout * 9 + 2 * 2 * cout
    return total


def test_paper_sizes_match_released_parameter_counts():
    model = build_model(_validate({"name": "paper"}))
    assert _count(model.video_model) == 15_379_136 == _video_params(64, 2)
    assert _count(model.audio_model) == 4_735_104 == _audio_params(64)
    assert model.out_dim == 512
    assert _count(R2Plus1D(depth=10, width=8)) == _video_params(8, 1)
    assert _count(Conv2D(width=8, in_channels=2)) == _audio_params(8, 2)


def test_state_dict_keys_and_shapes_equal_released_checkpoint():
    expected = {}
    for line in open(shared_path("spec", "reference-checkpoint-keys.txt")):
        if line.startswith("model\t"):
            _, key, shape, dtype = line.rstrip("\n").split("\t")
            expected[key.removeprefix("module.")] = (shape, dtype)
    model = build_model(_validate({"name": "paper"}))
    ours = {k: (str(tuple(v.shape)), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}
    assert len(expected) == 255
    assert list(ours) == list(expected)  # same names in the same order
    assert ours == expected


def test_multiscale_outputs_and_width_option():
    torch.manual_seed(0)
    video = R2Plus1D(depth=18, width=4).eval()
    embs = video(torch.randn(2, 3, 4, 16, 16), return_embs=True)
    assert {k: tuple(v.shape) for k, v in embs.items()} == {
        "conv1": (2, 4, 4, 8, 8), "conv2x": (2, 4, 4, 8, 8), "conv3x": (2, 8, 2, 4, 4),
        "conv4x": (2, 16, 1, 2, 2), "conv5x": (2, 32, 1, 1, 1), "pool": (2, 32, 1, 1, 1)}
    # global MAX pooling (not average) of the last stage
    assert torch.equal(embs["pool"], embs["conv5x"].amax(dim=(2, 3, 4), keepdim=True))
    audio = Conv2D(width=4).eval()
    embs = audio(torch.randn(2, 4, 20, 16), return_embs=True)
    assert {k: tuple(v.shape) for k, v in embs.items()} == {
        "conv1": (2, 4, 10, 8), "block1": (2, 4, 10, 8), "block2": (2, 8, 5, 4), "block3": (2, 16, 3, 2),
        "block4": (2, 32, 3, 2), "pool": (2, 32, 1, 1)}
    assert torch.equal(embs["pool"], embs["block4"].amax(dim=(2, 3), keepdim=True))


def test_av_model_forward_and_channels_last():
    torch.manual_seed(0)
    model = build_model(_validate({"name": "tiny", "video": {"width": 4, "depth": 10}, "audio": {"width": 4}}))
    model.eval()
    video, audio = torch.randn(3, 3, 4, 16, 16), torch.randn(3, 4, 20, 16)
    video_emb, audio_emb = model(video, audio)
    assert video_emb.shape == audio_emb.shape == (3, 32) and model.out_dim == 32
    assert (video_emb >= 0).all()  # max-pooled ReLU outputs
    model.video_model.to(memory_format=torch.channels_last_3d)
    model.audio_model.to(memory_format=torch.channels_last)
    cl_video, cl_audio = model(video.to(memory_format=torch.channels_last_3d),
                               audio.to(memory_format=torch.channels_last))
    assert torch.allclose(cl_video, video_emb, atol=1e-5) and torch.allclose(cl_audio, audio_emb, atol=1e-5)


def test_model_section_validation():
    cfg = _validate({"name": "x"})
    assert cfg["video"] == {"arch": "r2plus1d", "depth": 18, "width": 64}
    assert cfg["audio"] == {"arch": "conv2d", "depth": 10, "width": 64, "in_channels": 4}
    with pytest.raises(ConfigError, match=r"model\.audio: width 8 must equal video\.width 4"):
        _validate({"name": "x", "video": {"width": 4}, "audio": {"width": 8}})
    with pytest.raises(ConfigError, match=r"model\.video\.depth: 12 is not one of \[10, 18\]"):
        _validate({"name": "x", "video": {"depth": 12}})
    with pytest.raises(ConfigError, match=r"model\.name: required key is missing"):
        _validate({})


def test_audio_input_channels_follow_the_dataset():
    """model.audio.in_channels: the dataset's channel count unless set, and a set value must agree with it."""
    assert MODEL_SCHEMA.validate({"name": "x"}, "model", lambda key: "t")["audio"]["in_channels"] is None  # alone
    assert _validate({"name": "x"})["audio"]["in_channels"] == 4  # the 4 FOA log-mels
    section = _validate({"name": "x", "video": {"width": 4, "depth": 10}, "audio": {"width": 4}}, intensity=True)
    assert section["audio"]["in_channels"] == 7  # + the 3 intensity-vector channels
    assert build_model(section).audio_model.conv1[0].weight.shape == (4, 7, 7, 7)
    assert _validate({"name": "x", "audio": {"in_channels": 7}}, intensity=True)["audio"]["in_channels"] == 7
    with pytest.raises(ConfigError, match=r"^test\.yaml: model\.audio\.in_channels: 4, but dataset\.audio\.intensity: "
                                          r"true gives 7 audio channels per crop \(4 log-mels \+ 3 intensity-vector\); "
                                          r"leave model\.audio\.in_channels unset"):
        _validate({"name": "x", "audio": {"in_channels": 4}}, intensity=True)
    with pytest.raises(ConfigError, match=r"model\.audio\.in_channels: null takes the audio channels of the YT-360 "
                                          r"dataset section, which this config lacks"):
        PRETRAIN_SCHEMA.validate({"model": {"name": "x"}}, "", lambda key: "t")
    # without a dataset section a set value stands
    alone = PRETRAIN_SCHEMA.validate({"model": {"name": "x", "audio": {"in_channels": 2}}}, "", lambda key: "t")
    assert alone["model"]["audio"]["in_channels"] == 2


def test_init_from_loads_encoders(tmp_path):
    section = {"name": "tiny", "video": {"width": 2, "depth": 10}, "audio": {"width": 2}}
    torch.manual_seed(1)
    phase1 = build_model(_validate(section))
    save_checkpoint({"model": phase1.state_dict(), "epoch": 50, "step": 0, "config": {}}, str(tmp_path / "p1.pth"))
    torch.manual_seed(2)
    phase2 = build_model(_validate({**section, "init_from": str(tmp_path / "p1.pth")}))
    for key, value in phase1.state_dict().items():
        assert torch.equal(phase2.state_dict()[key], value), key
    missing = _validate({**section, "init_from": str(tmp_path / "nope.pth")})
    with pytest.raises(ConfigError, match="model.init_from: checkpoint not found"):
        build_model(missing)
    build_model(missing, load_init=False)  # resume / evaluation: weights come from elsewhere
