"""Evaluation metrics against hand computations and scikit-learn's confusion matrix."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import jaccard_score

from evaluation.metrics import (SegmentationMeter, TopKMeter, confusion_matrix, per_image_iou,
                                segmentation_scores, topk_accuracy, video_scores)


def test_topk_accuracy_by_hand():
    logits = torch.tensor([[0.1, 0.5, 0.2, 0.0],   # ranking 1, 2, 0, 3
                           [0.9, 0.0, 0.3, 0.4],   # ranking 0, 3, 2, 1
                           [0.2, 0.1, 0.0, 0.7]])  # ranking 3, 0, 1, 2
    target = torch.tensor([2, 0, 2])
    # top-1: only sample 1; top-2: samples 1 and ... sample 0's target 2 is 2nd -> yes; sample 2's target is last.
    assert topk_accuracy(logits, target, ks=(1, 2, 3, 4)) == pytest.approx([100 / 3, 200 / 3, 200 / 3, 100.0])
    # k beyond the number of classes counts every sample
    assert topk_accuracy(logits, target, ks=(5,)) == pytest.approx([100.0])


def test_topk_meter_accumulates_across_batches():
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(50, 7, generator=gen), torch.randint(0, 7, (50,), generator=gen)
    meter = TopKMeter("Clip", ks=(1, 5))
    for chunk in range(0, 50, 16):
        meter.update(logits[chunk:chunk + 16], target[chunk:chunk + 16])
    ranks = (logits > logits.gather(1, target[:, None])).sum(1)  # classes scored above the target
    expected = {"Clip@1": 100 * float((ranks < 1).float().mean()), "Clip@5": 100 * float((ranks < 5).float().mean())}
    assert meter.compute() == pytest.approx(expected)


def test_video_scores_average_clip_softmax():
    clip_logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])  # one video, two clips
    p1 = np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum()
    p2 = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(video_scores(clip_logits)[0].numpy(), (p1 + p2) / 2, rtol=1e-6)


def _random_maps(seed, n=6, size=(9, 11), classes=5, ignore_fraction=0.2):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, (n, *size))
    target[rng.random((n, *size)) < ignore_fraction] = 255
    pred = np.where(rng.random((n, *size)) < 0.5, target, rng.integers(0, classes, (n, *size)))
    pred[pred == 255] = 0
    return torch.from_numpy(pred), torch.from_numpy(target)


@pytest.mark.parametrize("seed", [0, 1])
def test_confusion_scores_equal_sklearn(seed):
    classes = 5
    pred, target = _random_maps(seed, classes=classes)
    valid = (target != 255).numpy().ravel()
    y_true, y_pred = target.numpy().ravel()[valid], pred.numpy().ravel()[valid]
    sk = sk_confusion_matrix(y_true, y_pred, labels=list(range(classes)))
    ours = confusion_matrix(pred, target, classes)
    np.testing.assert_array_equal(ours.numpy(), sk)
    scores = segmentation_scores(ours)
    assert scores["PixAcc"] == pytest.approx(100 * np.mean(y_true == y_pred))
    assert scores["mIoU"] == pytest.approx(100 * jaccard_score(y_true, y_pred, average="macro"))


def test_miou_skips_classes_absent_everywhere():
    pred = torch.tensor([[0, 0, 1, 1]])
    target = torch.tensor([[0, 1, 1, 255]])
    # class 0: TP 1, union 2 -> 0.5; class 1: TP 1, union 2 -> 0.5; class 2 absent: not averaged.
    scores = segmentation_scores(confusion_matrix(pred, target, 3))
    assert scores == pytest.approx({"PixAcc": 100 * 2 / 3, "mIoU": 50.0})


def test_per_image_iou_equals_loop_over_images_and_classes():
    classes = 4
    pred, target = _random_maps(3, n=5, classes=classes, ignore_fraction=0.3)
    pred[0][target[0] != 255] = 3  # image 0 predicts one class everywhere valid: several IoUs are 0 or undefined
    ious = []
    for p, t in zip(pred, target):
        p = torch.where(t == 255, torch.full_like(p, 255), p)  # the original sets ignored predictions to 255
        for k in range(classes):
            inter, union = ((p == k) & (t == k)).sum(), ((p == k) | (t == k)).sum()
            if union > 0:
                ious.append(float(inter) / float(union))
    total, count = per_image_iou(pred, target, classes)
    assert int(count) == len(ious)
    assert float(total / count) == pytest.approx(np.mean(ious))


def test_segmentation_meter_is_batch_size_invariant():
    pred, target = _random_maps(4, n=8, classes=5)
    whole, parts = SegmentationMeter(5), SegmentationMeter(5)
    whole.update(pred, target)
    for i in range(0, 8, 3):
        parts.update(pred[i:i + 3], target[i:i + 3])
    assert parts.compute() == pytest.approx(whole.compute())
    assert whole.compute()["mIoU"] != pytest.approx(whole.compute()["PixAcc"])


def test_class_and_group_iou_equal_sklearn_per_class_jaccard():
    classes = 6
    pred, target = _random_maps(5, classes=classes)
    target[target == 4] = 255  # class 4 absent from the ground truth, still predicted: IoU 0
    pred[pred == 5], target[target == 5] = 0, 0  # class 5 absent from both: undefined, left out
    valid = (target != 255).numpy().ravel()
    y_true, y_pred = target.numpy().ravel()[valid], pred.numpy().ravel()[valid]
    sk = jaccard_score(y_true, y_pred, labels=list(range(5)), average=None, zero_division=0.0)
    meter = SegmentationMeter(classes, class_names=list("abcdef"), groups={"low": [0, 1, 5], "high": [3, 4]})
    meter.update(pred, target)
    details, scores = meter.details(), meter.compute()
    assert details["IoU"] == pytest.approx({name: 100 * v for name, v in zip("abcde", sk)})
    assert details["IoU"]["e"] == 0.0 and "f" not in details["IoU"]
    assert scores["mIoU"] == pytest.approx(100 * np.mean(sk))
    assert scores["mIoU/low"] == pytest.approx(100 * np.mean(sk[[0, 1]]))  # f: undefined, not averaged as 0
    assert scores["mIoU/high"] == pytest.approx(100 * np.mean(sk[[3, 4]]))
    assert details["pixels"] == {name: int((y_true == k).sum()) for k, name in enumerate("abcd")}
    assert "mIoU/none" not in segmentation_scores(meter.confusion, {"none": [5]})
