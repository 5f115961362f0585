"""The benchmark modules: AVC pairs, fixed test draws, logit averaging, and truly frozen encoders."""

import math

import pytest
import torch
from torch import nn

from evaluation.alignment import AlignmentProbe, correspondence_pairs, derangement
from evaluation.pretrained import Frozen, Pretrained
from evaluation.segmentation import Segmentation
from models import build_model
from utils.seeding import make_generator


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_derangement_is_a_permutation_without_fixed_points(n):
    gen = torch.Generator().manual_seed(n)
    seen = set()
    for _ in range(60):
        perm = derangement(n, gen)
        assert sorted(perm.tolist()) == list(range(n))
        assert (perm != torch.arange(n)).all()
        seen.add(tuple(perm.tolist()))
    # drawn from all derangements: n = 2 has 1, n = 3 has 2 (both reached in 60 draws), n = 5 has 44, n = 8 14833
    assert len(seen) == {2: 1, 3: 2}[n] if n <= 3 else len(seen) > 20


def test_fixed_test_pairs_depend_only_on_seed_and_indices():
    indices = [7, 3, 11, 5]
    first = derangement(4, make_generator(0, *indices, mode="mixed"))
    torch.manual_seed(123)  # the global stream (training draws) must not matter
    assert torch.equal(derangement(4, make_generator(0, *indices, mode="mixed")), first)
    others = {tuple(derangement(4, make_generator(s, *indices, mode="mixed")).tolist()) for s in range(1, 12)}
    assert len(others) > 1  # the seed does change the draw


def test_correspondence_pairs_by_hand():
    video = torch.arange(3 * 2 * 1.0).reshape(3, 2, 1)
    audio = 100 + video
    v, a, labels = correspondence_pairs(video, audio, torch.tensor([2, 0, 1]))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    torch.testing.assert_close(v, torch.cat([video, video]))
    torch.testing.assert_close(a[3:], audio[[2, 0, 1]])  # viewpoint k paired with viewpoint k of the partner
    torch.testing.assert_close(a[:3], audio)


def _tiny_pretrained(width=4):
    torch.manual_seed(0)
    model = build_model({"name": "t", "model_dir": "x", "init_from": None,
                         "video": {"arch": "r2plus1d", "depth": 10, "width": width},
                         "audio": {"arch": "conv2d", "depth": 10, "width": width, "in_channels": 4}})
    return Pretrained(model, None, None, None, "x")


def _batch(b=3, k=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"video": torch.randn(b, k, 3, 4, 16, 16, generator=gen),
            "audio": torch.randn(b, k, 4, 20, 16, generator=gen),
            "position": torch.zeros(b, k, 3), "misaligned": torch.tensor([True, False, True][:b]),
            "index": torch.arange(b), "segmentation": torch.randint(0, 5, (b, k, 16, 16), generator=gen)}


def _bn_state(module):
    return {n: b.clone() for n, b in module.named_buffers() if "running" in n}


def test_alignment_probe_trains_only_the_classifier_and_averages_viewpoints():
    pretrained = _tiny_pretrained()
    before = {n: p.clone() for n, p in pretrained.model.state_dict().items()}
    probe = AlignmentProbe(pretrained, {"hidden_dim": 8, "dropout": 0.5, "normalize": False}, pairs="avsa",
                           use_transf=False, test_seed=0)
    probe.train()
    assert not probe.encoders.training and probe.classifier.training
    assert all(not p.requires_grad for p in probe.encoders.parameters())
    optimizer = torch.optim.SGD([p for p in probe.parameters() if p.requires_grad], lr=0.1)
    loss, _ = probe(_batch())
    loss.backward()
    optimizer.step()
    for name, value in pretrained.model.state_dict().items():  # weights AND BatchNorm statistics unchanged
        assert torch.equal(value, before[name]), name


class _FirstValues(nn.Module):
    """A stand-in encoder pair whose feature of a clip is its first two values, so a test sets the features."""

    out_dim = 2

    def forward(self, video, audio):
        return video.flatten(1)[:, :2], audio.flatten(1)[:, :2]


def test_alignment_probe_scores_the_mean_of_the_viewpoint_logits():
    """Designed viewpoint logits (B = 4 samples, K = 3): the sample's prediction is the argmax of the MEAN LOGIT
    over its viewpoints, which gives 75 % here; a majority vote, a mean of softmaxes or the first viewpoint alone
    would give 50 %."""
    probe = AlignmentProbe(Pretrained(_FirstValues(), None, None, None, "x"),
                           {"hidden_dim": 2, "dropout": 0.5, "normalize": False}, pairs="avsa", use_transf=False,
                           test_seed=0)
    first, second = probe.classifier.mlp[1], probe.classifier.mlp[3]
    with torch.no_grad():  # logits = ReLU(video feature): Linear(4 → 2) keeps the video half, Linear(2 → 2) = I
        first.weight.copy_(torch.eye(2, 4)), first.bias.zero_()
        second.weight.copy_(torch.eye(2)), second.bias.zero_()
    logits = torch.tensor([[[0.0, 10.0], [4.0, 0.0], [4.0, 0.0]],   # mean (2.67, 3.33) -> 1; vote, softmax: 0
                           [[3.0, 0.0], [0.0, 1.0], [0.0, 1.0]],    # mean (1, 0.67) -> 0; vote, softmax: 1
                           [[0.0, 2.0], [0.0, 2.0], [5.0, 0.0]],    # mean (1.67, 1.33) -> 0; vote, first: 1
                           [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]])   # 0 by every rule
    video = torch.zeros(4, 3, 3, 2, 4, 4)
    video.view(4, 3, -1)[..., :2] = logits
    batch = {"video": video, "audio": torch.zeros(4, 3, 4, 8, 8), "position": torch.zeros(4, 3, 3),
             "misaligned": torch.tensor([True, True, False, False]), "index": torch.arange(4)}
    probe.eval()
    torch.testing.assert_close(probe.logits_and_labels(batch, fixed=True)[0], logits)
    meter = probe.make_meter()
    probe.evaluate(batch, meter)
    assert meter.compute()["Acc@1"] == pytest.approx(75.0)  # predictions 1, 0, 0, 0 against labels 1, 1, 0, 0


def test_frozen_stays_in_eval_mode():
    frozen = Frozen(nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5)))
    nn.Sequential(frozen).train()
    assert not any(m.training for m in frozen.modules())
    x = torch.randn(4, 3) * 5 + 2
    torch.testing.assert_close(frozen(x), frozen(x))  # no dropout, running statistics
    assert torch.equal(frozen.module[0].running_mean, torch.zeros(3))


@pytest.mark.parametrize("train_encoders", [False, True])
def test_segmentation_encoders_frozen_unless_end_to_end(train_encoders):
    pretrained = _tiny_pretrained()
    bn_before = _bn_state(pretrained.model)
    weights_before = {n: p.clone() for n, p in pretrained.model.named_parameters()}
    cfg = {"use_audio": True, "use_context": False, "train_encoders": train_encoders,
           "head": {"fpn_dim": 16, "segm_dim": 32, "normalize": False}}
    batch = _batch()
    segm = Segmentation(pretrained, cfg, batch["video"][0], num_classes=5)
    assert segm.head.cond_dim == pretrained.model.out_dim
    segm.train()
    optimizer = torch.optim.SGD([p for p in segm.parameters() if p.requires_grad], lr=0.1)
    loss, metrics = segm(batch)
    assert loss.item() == pytest.approx(math.log(5), abs=0.05)  # N(0, 0.001) init: near-uniform predictions
    loss.backward()
    optimizer.step()
    bn_changed = any(not torch.equal(v, bn_before[n]) for n, v in _bn_state(pretrained.model).items())
    weights_changed = any(not torch.equal(p, weights_before[n]) for n, p in pretrained.model.named_parameters())
    assert bn_changed == train_encoders and weights_changed == train_encoders
    assert segm.segment(batch).shape == (6, 5, 16, 16)
