"""The four eval-*.py scripts end to end on the tiny synthetic data (CPU, tiny models), and their errors."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from datasets.yt360 import SEGMENTATION_CLASSES
from engine.schema import PRETRAIN_SCHEMA
from evaluation.schema import EVAL_SCHEMA
from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.config import load_config
from utils.errors import CheckpointError, ConfigError
from utils.provenance import git_state, versions
from tests import events
from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_RUN = ["--quiet", "--set", "num_workers=0", "--set", "optimizer.epochs=1", "--set", "log2tb=false"]


def _script(name):
    return load_script(f"{name}.py")


def _pretrain(root, name, loss):
    path = os.path.join(root, f"{name}.yaml")
    with open(path, "w") as f:  # in_channels 7: the demo benchmarks' audio is 4 log-mels + 3 intensity channels
        f.write(f"model: {{name: {name}, model_dir: {root}/runs, video: {{depth: 10, width: 4}}, "
                f"audio: {{width: 4, in_channels: 7}}}}\nloss: {loss}\n")
    from criterions import build_criterion
    from models import build_model

    cfg = load_config(path, required=("model",), schema=PRETRAIN_SCHEMA)
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    criterion = build_criterion(cfg["loss"], model.out_dim)
    save_checkpoint({"epoch": 1, "model": model.state_dict(), "criterion": criterion.state_dict(), "config": cfg},
                    os.path.join(root, "runs", name, "checkpoint.pth"))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from datasets.synthetic import generate

    root = str(tmp_path_factory.mktemp("eval"))
    generate(os.path.join(root, "data"), "tiny", 0, workers=1, log=lambda *a: None)
    avsa = _pretrain(root, "avsa",
                     "{name: avsa, proj_dim: 8, translation: {kind: transformer, depth: 1, expansion: 1}}")
    avc = _pretrain(root, "avc", "{name: avc, proj_dim: 8}")
    return {"root": root, "data": os.path.join(root, "data"), "avsa": avsa, "avc": avc}


def _yt360(world, *extra):
    return [*TINY_RUN, "--set", f"dataset.root={world['data']}/yt360", "--set", "dataset.batch_size=3",
            "--set", "dataset.test.clips_per_video=1", *extra]


def _results(path):
    with open(os.path.join(path, "results.json")) as f:
        return json.load(f)


def test_avsa_bin_with_translation(world):
    out = os.path.join(world["root"], "avsa-bin")
    assert _script("eval-avsa").main([os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), world["avsa"],
                                      "--output", out, *_yt360(world, "--set", "benchmark.use_transf=true",
                                                               "--set", "dataset.test.clips_per_video=4",
                                                               "--set", "log2tb=true")]) == 0
    results = _results(out)
    checkpoint = os.path.join(world["root"], "runs", "avsa", "checkpoint.pth")
    with open(checkpoint, "rb") as f:
        assert results["pretrained"]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert results["benchmark"] == "demo-avsa-notransf-4crop" and set(results["metrics"]) == {"Acc@1"}
    assert len(results["config_sha256"]) == 64 and results["date"]
    # provenance: the checkout's commit (None when the code is not a git checkout) and the library versions
    assert results["environment"] == {"git": git_state(), "versions": versions()}
    # frozen: the eval checkpoint holds the pre-trained encoders unchanged, BatchNorm statistics included
    pretrained = load_checkpoint(checkpoint)["model"]
    trained = load_checkpoint(os.path.join(out, "checkpoint.pth"))["model"]
    for name, value in pretrained.items():
        assert torch.equal(trained[f"encoders.module.{name}"], value), name
    assert results["metrics"]["Acc@1"] == pytest.approx(_avsa_bin_accuracy(out, world["avsa"], checkpoint, trained))
    # TensorBoard: the head's training curve, the test metric at the last epoch, and the run's settings beside it
    scalars = events.scalars(out)
    assert "train/loss" in scalars and scalars["test/Acc@1"] == [(1, pytest.approx(results["metrics"]["Acc@1"]))]
    hparams, metrics = events.hparams(out)
    assert hparams["benchmark.name"] == "demo-avsa-notransf-4crop" and hparams["benchmark.use_transf"] == "true"
    assert metrics == ["test/Acc@1"]


def _avsa_bin_accuracy(run_dir, pretrain_config, checkpoint, trained):
    """Acc@1 of an AVSA-Bin transf. run recomputed outside the eval code: the saved config's test set, the
    pre-trained encoders and g_v2a, and the trained classifier; the label is the sample's misalignment."""
    from criterions import build_criterion
    from datasets import build_dataset
    from models import build_model
    from models.classifiers import PairClassifier

    eval_cfg = load_config(os.path.join(run_dir, "config.yaml"), schema=EVAL_SCHEMA)
    pretrain_cfg = load_config(pretrain_config, schema=PRETRAIN_SCHEMA)
    state = load_checkpoint(checkpoint)
    model = build_model(pretrain_cfg["model"], load_init=False)
    model.load_state_dict(state["model"])
    criterion = build_criterion(pretrain_cfg["loss"], model.out_dim)
    criterion.load_state_dict(state["criterion"])
    head = eval_cfg["benchmark"]["head"]
    classifier = PairClassifier(model.out_dim, head["hidden_dim"], head["dropout"], normalize=head["normalize"])
    classifier.load_state_dict({k[len("classifier."):]: v for k, v in trained.items() if k.startswith("classifier.")})
    test_set = build_dataset(eval_cfg["dataset"], "test", seed=eval_cfg["benchmark"]["test_seed"])
    correct = []
    for module in (model, criterion, classifier):
        module.eval()
    with torch.no_grad():
        for index in range(len(test_set)):
            sample = test_set[index]
            video_feat, audio_feat = model(sample["video"], sample["audio"])  # (K, D) each
            audio_pred, _ = criterion.predict(video_feat[None], audio_feat[None], sample["position"][None])
            prediction = classifier(audio_pred, audio_feat[None]).mean(1).argmax(1)  # mean logit over viewpoints
            correct.append(int(prediction) == int(sample["misaligned"]))
    assert len(correct) == 12  # 3 test videos x 4 clips
    return 100.0 * sum(correct) / len(correct)


def test_avc_bin_test_set_is_fixed_across_runs(world):
    out = os.path.join(world["root"], "avc-bin")
    script = _script("eval-avc")
    args = [os.path.join(REPO, "configs/demo/benchmark/avc.yaml"), world["avc"], "--output", out, *_yt360(world)]
    script.main(args)
    first = _results(out)["metrics"]
    script.main([*args, "--test-only"])  # a new process-level build of the test set and its negative pairs
    assert _results(out)["metrics"] == first


def test_segmentation_with_audio_and_context(world):
    out = os.path.join(world["root"], "segm")
    _script("eval-audiovisual-segm").main([
        os.path.join(REPO, "configs/demo/benchmark/segmentation.yaml"), world["avsa"], "--output", out,
        *_yt360(world, "--set", "benchmark.use_audio=true", "--set", "benchmark.use_context=true")])
    results = _results(out)
    metrics, iou = results["metrics"], results["details"]["IoU"]
    assert {"PixAcc", "mIoU", "mIoU/per-image", "mIoU/stuff"} <= set(metrics) <= {
        "PixAcc", "mIoU", "mIoU/per-image", "mIoU/stuff", "mIoU/things"}
    assert 0 < metrics["mIoU"] <= metrics["PixAcc"] <= 100  # mIoU is not the pixel accuracy printed twice
    # The summary numbers are the means of the per-class IoUs recorded by name (sky, grass, ... are stuff).
    stuff = {name for name, index in SEGMENTATION_CLASSES if index >= 80}
    assert set(iou) <= {name for name, _ in SEGMENTATION_CLASSES} and "sky" in iou
    assert metrics["mIoU"] == pytest.approx(np.mean(list(iou.values())), abs=1e-3)
    assert metrics["mIoU/stuff"] == pytest.approx(np.mean([v for k, v in iou.items() if k in stuff]), abs=1e-3)
    assert set(results["details"]["pixels"]) <= set(iou)


def test_action_recognition_folds_report_the_mean(world):
    out = os.path.join(world["root"], "ucf")
    ucf = [os.path.join(REPO, "configs/demo/benchmark/ucf.yaml"), world["avsa"], *TINY_RUN,
           "--set", f"dataset.root={world['data']}/ucf101", "--set", "dataset.batch_size=4",
           "--set", "dataset.train.clips_per_video=1", "--set", "dataset.test.clips_per_video=2"]
    _script("eval-action-recg").main([*ucf, "--output", out, "--folds", "1,2"])
    summary = _results(out)
    per_fold = [_results(os.path.join(out, f"fold-{f:02d}"))["metrics"] for f in (1, 2)]
    assert summary["folds"] == [1, 2] and summary["per_fold"]["2"] == per_fold[1]
    for key in ("Clip@1", "Clip@5", "Video@1", "Video@5"):
        assert summary["metrics"][key] == pytest.approx((per_fold[0][key] + per_fold[1][key]) / 2)
    # Fold 1 again, test only, with a designed classifier whose predictions vary from clip to clip (the 1-epoch one
    # predicts one class everywhere, which any way of scoring would get right): Clip@1 and Video@1 recomputed.
    fold_dir = os.path.join(out, "fold-01")
    net, test_set = _action_net(fold_dir, world["avsa"])
    _spread_classifier(net, test_set, os.path.join(fold_dir, "checkpoint.pth"))
    _script("eval-action-recg").main([*ucf, "--set", "dataset.fold=1", "--output", fold_dir, "--test-only"])
    net, test_set = _action_net(fold_dir, world["avsa"])
    clip_top1, video_top1, predicted = _action_accuracies(net, test_set)
    assert len(predicted) > 2
    metrics = _results(fold_dir)["metrics"]
    assert (metrics["Clip@1"], metrics["Video@1"]) == pytest.approx((clip_top1, video_top1))


def _action_net(run_dir, pretrain_config):
    """The fine-tuned network of an action run (from its checkpoint and saved config) and its test set."""
    from datasets import build_dataset
    from models import build_model
    from models.classifiers import ActionClassifier

    eval_cfg = load_config(os.path.join(run_dir, "config.yaml"), schema=EVAL_SCHEMA)
    pretrain_cfg = load_config(pretrain_config, schema=PRETRAIN_SCHEMA)
    trained = load_checkpoint(os.path.join(run_dir, "checkpoint.pth"))["model"]
    model = build_model(pretrain_cfg["model"], load_init=False)
    net = ActionClassifier(model.video_model, model.out_dim, trained["net.classifier.1.weight"].shape[0],
                           eval_cfg["benchmark"]["head"]["dropout"])
    net.load_state_dict({k[len("net."):]: v for k, v in trained.items() if k.startswith("net.")})
    return net.eval(), build_dataset(eval_cfg["dataset"], "test", seed=eval_cfg["benchmark"]["test_seed"])


def _spread_classifier(net, test_set, checkpoint):
    """Rewrite the checkpoint's classifier as W·(f − mean f) with W random, scaled to unit spread over the test
    clips' features f: the predicted class then varies from clip to clip."""
    with torch.no_grad():
        features = torch.cat([net.video_model(test_set[i]["video"], return_embs=True)["pool"].flatten(1)
                              for i in range(len(test_set))])
        centred = features - features.mean(0)
        weight = torch.randn(net.classifier[1].out_features, features.shape[1],
                             generator=torch.Generator().manual_seed(0))
        weight /= (centred @ weight.T).std()
        state = load_checkpoint(checkpoint)
        state["model"]["net.classifier.1.weight"] = weight
        state["model"]["net.classifier.1.bias"] = -weight @ features.mean(0)
        save_checkpoint(state, checkpoint)


def _action_accuracies(net, test_set):
    """(Clip@1, Video@1, predicted classes): every dense test clip scored on its own, each video by the mean of its
    clips' softmaxes."""
    clips_right, videos_right, clips, predicted = 0, 0, 0, set()
    with torch.no_grad():
        for index in range(len(test_set)):
            sample = test_set[index]
            logits = net(sample["video"])  # (clips, classes)
            clips_right += int((logits.argmax(1) == sample["label"]).sum())
            clips += logits.shape[0]
            videos_right += int(logits.softmax(1).mean(0).argmax() == sample["label"])
            predicted |= set(logits.argmax(1).tolist())
    assert clips == 2 * len(test_set)  # test.clips_per_video = 2 dense clips per video
    return 100.0 * clips_right / clips, 100.0 * videos_right / len(test_set), predicted


def test_missing_pretraining_checkpoint_is_one_line(world, tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "eval-avsa.py"), os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"),
         world["avsa"], "--checkpoint", str(tmp_path / "nope.pth"), *_yt360(world)],
        capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "pre-training checkpoint not found" in result.stderr


def test_translation_benchmark_needs_translation_networks(world):
    with pytest.raises(ConfigError, match=r"avc\.yaml: loss\.translation: .*without them"):
        _script("eval-avsa").main([os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), world["avc"],
                                   *_yt360(world, "--set", "benchmark.use_transf=true")])


def test_dataset_classes_must_match_the_config(world):
    with pytest.raises(ConfigError, match=r"dataset\.num_classes: 51 .* has 5 classes"):
        _script("eval-action-recg").main([os.path.join(REPO, "configs/demo/benchmark/ucf.yaml"), world["avsa"],
                                          *TINY_RUN, "--set", f"dataset.root={world['data']}/ucf101",
                                          "--set", "dataset.num_classes=51",
                                          "--output", os.path.join(world["root"], "bad")])


def test_script_refuses_another_task(world):
    with pytest.raises(ConfigError, match="benchmark.task: this script runs avc-bin"):
        _script("eval-avc").main([os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), world["avsa"]])


def test_scratch_needs_no_checkpoint(world, tmp_path):
    out = str(tmp_path / "scratch")
    _script("eval-avsa").main([os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), world["avsa"], "--output", out,
                               "--checkpoint", str(tmp_path / "nope.pth"),
                               *_yt360(world, "--set", "benchmark.scratch=true")])
    assert _results(out)["pretrained"] == {**_results(out)["pretrained"], "checkpoint": None, "sha256": None,
                                           "scratch": True}
    with pytest.raises(CheckpointError, match="--test-only: no trained benchmark"):
        _script("eval-avsa").main([os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), world["avsa"],
                                   "--output", str(tmp_path / "empty"), "--test-only", *_yt360(world)])


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_results_belong_to_the_checkpoint_they_were_computed_from(world, tmp_path, capsys):
    from evaluation.runner import PRETRAINED
    from tools.tables import planner as tables
    from utils.cli import run_main

    config = _pretrain(str(tmp_path), "avsa", "{name: avsa, proj_dim: 8}")
    run_dir = tmp_path / "runs" / "avsa"
    args = [os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), config, *_yt360(world)]
    script = _script("eval-avsa")
    assert script.main(args) == 0
    first_dir = run_dir / "eval-demo-avsa-notransf-4crop" / "fold-01"  # the default layout
    first, sha_a = _results(first_dir), _sha256(run_dir / "checkpoint.pth")
    assert first["pretrained"]["sha256"] == sha_a
    job = tables.Job("eval", "eval", ("eval-avsa.py", *args), str(first_dir / "results.json"))
    assert tables.is_done(job)
    assert tables.is_done(tables.Job("eval", "eval", (*job.argv, "--set", "num_workers=1"), job.done))
    assert not tables.is_done(tables.Job("eval", "eval", (*job.argv, "--set", "optimizer.lr=0.5"), job.done))

    # another checkpoint file of the run (a snapshot): its own evaluation, never the first one's head
    state = load_checkpoint(run_dir / "checkpoint.pth")
    state["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()}
    save_checkpoint(state, str(run_dir / "checkpoint-ep1.pth"))
    sha_b = _sha256(run_dir / "checkpoint-ep1.pth")
    assert script.main(args + ["--checkpoint", str(run_dir / "checkpoint-ep1.pth")]) == 0
    second_dir = run_dir / "eval-demo-avsa-notransf-4crop-checkpoint-ep1" / "fold-01"
    assert _results(second_dir)["pretrained"]["sha256"] == sha_b
    assert load_checkpoint(second_dir / "checkpoint.pth")["inputs"] == {PRETRAINED: sha_b}
    assert _results(first_dir) == first

    # the pre-training is retrained (checkpoint.pth replaced): its old evaluation is refused, not reused
    save_checkpoint(state, str(run_dir / "checkpoint.pth"))
    assert not tables.is_done(job)
    capsys.readouterr()
    for extra in ([], ["--test-only"]):
        with pytest.raises(SystemExit) as info:
            run_main(script.main, args + extra)
        err = capsys.readouterr().err.strip()
        assert info.value.code == 2 and len(err.splitlines()) == 1, err
        assert f"{PRETRAINED} {sha_a[:12]} -> {sha_b[:12]}" in err and "--set resume=false" in err
    assert _results(first_dir) == first
    # ... until it starts over: then its numbers and their sha256 are the new weights'
    assert script.main(args + ["--set", "resume=false"]) == 0
    assert _results(first_dir)["pretrained"]["sha256"] == sha_b and tables.is_done(job)
