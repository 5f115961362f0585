"""Frozen-feature probes: `FeatureDraws` holds exactly the features an on-the-fly probe would compute for the same
epochs' draws, and `PairClassifier(normalize=True)` is blind to the features' scale."""

import os

import pytest
import torch

from datasets import build_dataset
from evaluation.alignment import AlignmentProbe
from evaluation.features import FeatureDraws
from evaluation.pretrained import Pretrained
from evaluation.schema import EVAL_SCHEMA
from models import build_model
from models.classifiers import PairClassifier
from utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from datasets.synthetic import generate

    root = str(tmp_path_factory.mktemp("draws"))
    generate(os.path.join(root, "data"), "tiny", 0, workers=1, log=lambda *a: None)
    cfg = load_config(os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"),
                      [f"dataset.root={root}/data/yt360", "dataset.batch_size=2", "num_workers=0"], schema=EVAL_SCHEMA)
    torch.manual_seed(0)
    model = build_model({"name": "t", "model_dir": root, "init_from": None,
                         "video": {"arch": "r2plus1d", "depth": 10, "width": 4},
                         "audio": {"arch": "conv2d", "depth": 10, "width": 4, "in_channels": 7}})
    probe = AlignmentProbe(Pretrained(model, None, None, None, root), cfg["benchmark"]["head"], pairs="avsa",
                           use_transf=False, test_seed=0)
    return cfg, probe


def test_feature_draws_equal_on_the_fly_features_of_each_epoch(tiny):
    cfg, probe = tiny
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    draws = FeatureDraws(probe, dataset, 2, 2, cfg, torch.device("cpu"))
    n = len(dataset)
    feature_dim = probe.classifier.mlp[1].in_features // 2
    assert len(draws) == 2 * n and draws.tensors["video_feat"].shape[1:] == (4, feature_dim)
    probe.eval()
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        for index in range(n):
            sample = dataset[index]
            batch = {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
            with torch.no_grad():
                video_feat, audio_feat = probe.features(batch)
            item = draws[epoch * n + index]
            torch.testing.assert_close(item["video_feat"], video_feat[0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(item["audio_feat"], audio_feat[0], rtol=1e-5, atol=1e-6)
            assert item["misaligned"] == sample["misaligned"] and item["index"] == index
    # the two epochs are different draws (viewpoints, rotations), not one draw twice
    assert not torch.allclose(draws.tensors["video_feat"][:n], draws.tensors["video_feat"][n:])
    # a batch of cached features goes through the probe's training step like a batch of clips
    batch = {k: v[:4] for k, v in draws.tensors.items()}
    probe.train()
    loss, metrics = probe(batch)
    assert loss.requires_grad and 0 <= float(metrics["Acc"]) <= 100


def test_normalized_pair_classifier_ignores_the_feature_scale():
    torch.manual_seed(0)
    video, audio = torch.rand(16, 4, 8), torch.rand(16, 4, 8)
    for normalize, same in ((True, True), (False, False)):
        head = PairClassifier(8, 16, dropout=0.0, normalize=normalize).train()
        small, large = head(video, audio), head(video * 50, audio * 50)
        assert torch.allclose(small, large, atol=1e-3) == same
    head = PairClassifier(8, 16, normalize=True)
    assert "norm.running_mean" in head.state_dict() and not any("norm.weight" in k for k in head.state_dict())


def test_segmentation_trains_on_cached_pyramids_like_on_clips(tiny):
    from evaluation.segmentation import Segmentation

    cfg, probe = tiny
    seg_cfg = load_config(os.path.join(REPO, "configs/demo/benchmark/segmentation.yaml"),
                          [f"dataset.root={cfg['dataset']['root']}", "dataset.batch_size=2", "num_workers=0"],
                          schema=EVAL_SCHEMA)
    dataset = build_dataset(seg_cfg["dataset"], "train", seed=0)
    pretrained = Pretrained(probe.encoders.module, None, None, None, "")
    segmentation = Segmentation(pretrained, seg_cfg["benchmark"], dataset[0]["video"], 32)
    draws = FeatureDraws(segmentation, dataset, 1, 2, seg_cfg, torch.device("cpu"), storage_dtype=torch.float16)
    assert draws.tensors["emb.conv2x"].dtype == torch.float16
    assert draws.tensors["segmentation"].dtype == torch.int64  # labels are carried, not cast
    segmentation.eval()
    clips = {k: v[None] for k, v in dataset[0].items() if isinstance(v, torch.Tensor)}
    cached = {k: v[None] for k, v in draws[0].items()}
    with torch.no_grad():
        expected, got = segmentation.segment(clips), segmentation.segment(cached)
    assert got.shape == expected.shape == (4, 32, *clips["video"].shape[-2:])
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-2)  # float16 storage of the pyramid
    assert torch.equal(cached["segmentation"], clips["segmentation"])
    end_to_end = Segmentation(pretrained, {**seg_cfg["benchmark"], "train_encoders": True}, dataset[0]["video"], 32)
    with pytest.raises(Exception, match="frozen encoders"):
        end_to_end.frozen_inputs(clips)
