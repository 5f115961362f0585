"""tools/convert_reference_checkpoint.py on a checkpoint generated with exactly the released keys and shapes
(reference-checkpoint-keys.txt): strict loading, a hand-written key mapping, and the same features (within 1e-4)
as a functional re-implementation of the original layout that reads the original tensors directly."""

import argparse
import os
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from criterions import LOSS_SCHEMA, build_criterion
from models import MODEL_SCHEMA, build_model
from tests.conftest import shared_path
from tools.convert_reference_checkpoint import convert_reference_state, main
from utils.checkpoint import load_checkpoint, load_state_strict
from utils.errors import CheckpointError

PAPER_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "main", "avsa",
                            "Cur-Loc4-TransfD2.yaml")
CONFIG_YAML = ("model:\n  name: Cur-Loc4-TransfD2\n  audio: {in_channels: 4}\n"
               "loss:\n  name: avsa\n  negatives: reference\n")


def _paper_config() -> dict:
    where = lambda key: "test"  # noqa: E731
    return {"model": MODEL_SCHEMA.validate({"name": "Cur-Loc4-TransfD2", "audio": {"in_channels": 4}}, "model", where),
            "loss": LOSS_SCHEMA.validate({"name": "avsa", "negatives": "reference"}, "loss", where)}


def _random_tensor(key: str, shape: tuple, dtype: str, generator) -> torch.Tensor:
    if dtype == "int64":
        return torch.tensor(1234, dtype=torch.int64)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=generator) + 0.5
    if key.endswith("running_mean") or key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=generator)
    if len(shape) == 1:  # BN / LayerNorm scale
        return 1 + 0.1 * torch.randn(shape, generator=generator)
    fan_in = torch.Size(shape[1:]).numel()
    return torch.randn(shape, generator=generator) / fan_in ** 0.5


@pytest.fixture(autouse=True)
def one_thread():
    # thread hand-offs cost more than they save on a shared 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference():
    """The released checkpoint's layout: {epoch, model ('module.' prefix), optimizer, train_criterion}."""
    keys_file = shared_path("spec", "reference-checkpoint-keys.txt")
    generator = torch.Generator().manual_seed(0)
    sections = {"model": OrderedDict(), "train_criterion": OrderedDict()}
    for line in open(keys_file):
        section, _, rest = line.rstrip("\n").partition("\t")
        if section in sections:
            key, shape, dtype = rest.split("\t")
            sections[section][key] = _random_tensor(key, eval(shape), dtype, generator)  # noqa: S307 (a tuple)
    assert len(sections["model"]) == 255 and len(sections["train_criterion"]) == 72
    optimizer = {"state": {0: {"step": 10, "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
                 "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-5,
                                   "amsgrad": False, "params": list(range(201))}]}
    return {"epoch": 100, "optimizer": optimizer, **sections}


# ---------------------------------------------------------------------- the original layout, written out
def _bn(x, p, name):
    return F.batch_norm(x, p[f"{name}.running_mean"], p[f"{name}.running_var"], p[f"{name}.weight"],
                        p[f"{name}.bias"], training=False, eps=1e-5)


def _reference_video(p, x):
    x = F.relu(_bn(F.conv3d(x, p["conv1.0.weight"], stride=(1, 2, 2), padding=(1, 3, 3)), p, "conv1.1"))
    for stage, stride in (("conv2x", 1), ("conv3x", 2), ("conv4x", 2), ("conv5x", 2)):
        for block in range(2):
            b, s = f"{stage}.{block}", stride if block == 0 else 1
            h = F.relu(_bn(F.conv3d(x, p[f"{b}.spt_conv1.weight"], stride=(1, s, s), padding=(0, 1, 1)), p,
                           f"{b}.spt_bn1"))
            h = F.relu(_bn(F.conv3d(h, p[f"{b}.tmp_conv1.weight"], stride=(s, 1, 1), padding=(1, 0, 0)), p,
                           f"{b}.tmp_bn1"))
            h = F.relu(_bn(F.conv3d(h, p[f"{b}.spt_conv2.weight"], padding=(0, 1, 1)), p, f"{b}.spt_bn2"))
            h = F.conv3d(h, p[f"{b}.tmp_conv2.weight"], padding=(1, 0, 0))
            shortcut = F.conv3d(x, p[f"{b}.res_conv.weight"], stride=s) if f"{b}.res_conv.weight" in p else x
            x = F.relu(_bn(h + shortcut, p, f"{b}.out_bn"))  # BN after the residual sum
    return x.amax(dim=(2, 3, 4))


def _reference_audio(p, x):
    x = F.relu(_bn(F.conv2d(x, p["conv1.0.weight"], stride=2, padding=3), p, "conv1.1"))
    for block, stride in (("block1", 1), ("block2", 2), ("block3", 2), ("block4", 1)):
        x = F.relu(_bn(F.conv2d(x, p[f"{block}.conv1.weight"], stride=stride, padding=1), p, f"{block}.bn1"))
        x = F.relu(_bn(F.conv2d(x, p[f"{block}.conv2.weight"], padding=1), p, f"{block}.bn2"))
    return x.amax(dim=(2, 3))


def _reference_transformer(p, x):
    lin = lambda h, name: F.linear(h, p[f"{name}.weight"], p[f"{name}.bias"])  # noqa: E731
    norm = lambda h, name: F.layer_norm(h, (512,), p[f"{name}.weight"], p[f"{name}.bias"])  # noqa: E731
    for layer in range(2):
        a = f"transformer.{layer}.attention"
        weights = torch.softmax(lin(x, f"{a}.query") @ lin(x, f"{a}.key").transpose(1, 2) / 512 ** 0.5, dim=-1)
        h = norm(x + lin(weights @ lin(x, f"{a}.value"), f"{a}.dense"), f"transformer.{layer}.attention_norm")
        d = lin(F.relu(lin(h, f"transformer.{layer}.dense.0")), f"transformer.{layer}.dense.2")
        x = F.relu(norm(h + d, f"transformer.{layer}.dense_norm"))
    return x


def _section(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------- tests
def test_converted_checkpoint_loads_strict_and_gives_the_same_features(reference):
    converted = convert_reference_state(reference, _paper_config())
    assert converted["epoch"] == 100 and converted["step"] == 0 and converted["config"]["loss"]["name"] == "avsa"
    # hand-written mapping: prefixes stripped, names and tensors unchanged
    for ours, theirs in [("video_model.conv1.0.weight", "module.video_model.conv1.0.weight"),
                         ("video_model.conv3x.0.res_conv.weight", "module.video_model.conv3x.0.res_conv.weight"),
                         ("video_model.conv5x.1.out_bn.running_var", "module.video_model.conv5x.1.out_bn.running_var"),
                         ("audio_model.block4.bn2.num_batches_tracked",
                          "module.audio_model.block4.bn2.num_batches_tracked")]:
        assert torch.equal(converted["model"][ours], reference["model"][theirs]), ours
    for ours, theirs in [("v2a_transformer.transformer.0.attention.query.weight",
                          "losses.0.v2a_transformer.transformer.0.attention.query.weight"),
                         ("a2v_transformer.transformer.1.dense.2.weight",
                          "losses.0.a2v_transformer.transformer.1.dense.2.weight"),
                         ("audio_pred_head.projection.0.bias", "losses.0.audio_pred_head.projection.0.bias")]:
        assert torch.equal(converted["criterion"][ours], reference["train_criterion"][theirs]), ours

    cfg = _paper_config()
    model, criterion = build_model(cfg["model"]), build_criterion(cfg["loss"], 512)
    load_state_strict(model, converted["model"], "model", "converted")
    load_state_strict(criterion, converted["criterion"], "criterion", "converted")
    model.eval(), criterion.eval()
    assert torch.equal(model.video_model.conv3x[0].res_conv.weight,
                       reference["model"]["module.video_model.conv3x.0.res_conv.weight"])

    generator = torch.Generator().manual_seed(1)
    video, audio = torch.randn(2, 3, 4, 32, 32, generator=generator), torch.randn(2, 4, 20, 32, generator=generator)
    with torch.no_grad():
        video_emb, audio_emb = model(video, audio)
        ref_video = _reference_video(_section(reference["model"], "module.video_model."), video)
        ref_audio = _reference_audio(_section(reference["model"], "module.audio_model."), audio)
        assert torch.allclose(video_emb, ref_video, atol=1e-4, rtol=1e-4)
        assert torch.allclose(audio_emb, ref_audio, atol=1e-4, rtol=1e-4)
        assert video_emb.abs().max() > 1e-2 and audio_emb.abs().max() > 1e-2  # not a trivially zero comparison

        features = torch.rand(2, 4, 512, generator=generator), torch.rand(2, 4, 512, generator=generator)
        audio_pred, video_pred = criterion.predict(*features)
        losses = reference["train_criterion"]
        assert torch.allclose(audio_pred, _reference_transformer(_section(losses, "losses.0.v2a_transformer."),
                                                                 features[0]), atol=1e-4)
        assert torch.allclose(video_pred, _reference_transformer(_section(losses, "losses.0.a2v_transformer."),
                                                                 features[1]), atol=1e-4)
        head = _section(losses, "losses.0.audio_pred_head.projection.0.")
        assert torch.allclose(criterion.audio_pred_head(audio_pred), F.linear(audio_pred, head["weight"],
                                                                              head["bias"]), atol=1e-5)


def test_command_line(reference, tmp_path, capsys):
    source, target = tmp_path / "checkpoint.pth.tar", tmp_path / "converted.pth"
    torch.save(reference, source)
    config = PAPER_CONFIG if os.path.exists(PAPER_CONFIG) else tmp_path / "paper.yaml"
    if config != PAPER_CONFIG:
        config.write_text(CONFIG_YAML)
    assert main([str(source), str(target), "--config", str(config)]) == 0
    state = load_checkpoint(str(target))  # an avsa checkpoint now, loaded with weights_only
    cfg = _paper_config()
    load_state_strict(build_model(cfg["model"]), state["model"], "model", str(target))
    load_state_strict(build_criterion(cfg["loss"], 512), state["criterion"], "criterion", str(target))
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "weights_only=True" in " ".join(capsys.readouterr().out.split())


def test_refuses_foreign_and_unsafe_files(reference, tmp_path):
    renamed = {**reference, "model": {k.removeprefix("module."): v for k, v in reference["model"].items()}}
    with pytest.raises(CheckpointError, match="lacks the 'module.' prefix"):
        convert_reference_state(renamed, _paper_config())
    with pytest.raises(CheckpointError, match="no 'train_criterion' entry"):
        convert_reference_state({"epoch": 1, "model": reference["model"]}, _paper_config())
    unsafe = tmp_path / "unsafe.pth.tar"
    torch.save({"epoch": 1, "args": argparse.Namespace(lr=1e-4)}, unsafe)  # a pickled object: not weights_only
    config = tmp_path / "paper.yaml"
    config.write_text(CONFIG_YAML)
    with pytest.raises(CheckpointError, match="refusing to load"):
        main([str(unsafe), str(tmp_path / "out.pth"), "--config", str(config)])
