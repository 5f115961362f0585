"""Evaluation metrics, computed from counts so they accumulate exactly across batches and ranks.

* Top-k accuracy (AVC-Bin, AVSA-Bin, action recognition): ``topk_correct`` counts hits per k.
* Clip@k / Video@k (paper Table 3): Clip@k scores every clip on its own; Video@k scores the mean of a video's clip
  softmaxes (25 dense clips per video in the paper protocol).
* Segmentation (paper Table 2): pixel accuracy and mIoU from ONE dataset-level confusion matrix
  (``torch.bincount``), the ignore label excluded; the original's per-image mIoU is kept as a secondary number
  (``per_image_iou``) so results can be compared with the released code's logs.

Every accumulator holds integer/float sums only; ``all_reduce()`` sums them over ranks (``utils.distributed``), so
the final number is the same whatever the batch size or the number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from utils.distributed import all_reduce_sum

IGNORE_INDEX = 255


# ------------------------------------------------------------------------------------------ classification
def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: Sequence[int] = (1, 5)) -> torch.Tensor:
    """Number of samples whose target is among the k highest scores, for each k.

    logits (N, C), target (N,) int -> (len(ks),) int64. k larger than C counts every sample (the target is
    always among all C classes).
    """
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (N, kmax)
    hits = top == target[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks]).to(torch.int64)


def topk_accuracy(logits: torch.Tensor, target: torch.Tensor, ks: Sequence[int] = (1, 5)) -> list[float]:
    """Top-k accuracies in percent, one per k."""
    return (topk_correct(logits, target, ks).double() * 100.0 / max(len(target), 1)).tolist()


def video_scores(clip_logits: torch.Tensor) -> torch.Tensor:
    """Video-level scores from dense clips: the mean of the clip softmaxes, as the original.

    clip_logits (V, M, C) for V videos of M clips -> (V, C).
    """
    return clip_logits.float().softmax(dim=-1).mean(dim=1)


class TopKMeter:
    """Accumulates top-k hits over batches (and ranks). ``compute()`` -> {f"{prefix}@{k}": percent}."""

    def __init__(self, prefix: str, ks: Sequence[int] = (1, 5)):
        self.prefix, self.ks = prefix, tuple(ks)
        self.correct = torch.zeros(len(self.ks), dtype=torch.int64)
        self.count = torch.zeros((), dtype=torch.int64)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        self.correct += topk_correct(logits.detach(), target, self.ks).cpu()
        self.count += len(target)

    def all_reduce(self, device: torch.device | str = "cpu") -> None:
        self.correct = all_reduce_sum(self.correct.to(device)).cpu()
        self.count = all_reduce_sum(self.count.to(device)).cpu()

    def compute(self) -> dict[str, float]:
        denom = max(int(self.count), 1)
        return {f"{self.prefix}@{k}": 100.0 * int(c) / denom for k, c in zip(self.ks, self.correct)}


# ------------------------------------------------------------------------------------------ segmentation
def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Dataset-level confusion counts: rows = ground truth, columns = prediction.

    pred, target: int tensors of the same shape (any, e.g. (N, H, W)); pixels whose target is ``ignore_index``
    are left out. -> (C, C) int64.
    """
    valid = target != ignore_index
    codes = target[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(codes, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_iou(confusion: torch.Tensor) -> torch.Tensor:
    """IoU_k = TP / (TP + FP + FN) per class (float64, fraction), NaN for a class absent from both the ground truth
    and the predictions of the whole dataset (its IoU is undefined)."""
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    return torch.where(union > 0, true_positive / union.clamp(min=1), torch.full_like(union, float("nan")))


def segmentation_scores(confusion: torch.Tensor,
                        groups: dict[str, Sequence[int]] | None = None) -> dict[str, float]:
    """Pixel accuracy and mIoU (percent) from a confusion matrix.

    IoU_k = TP / (TP + FP + FN); the mean runs over classes present in the ground truth or the predictions of
    the whole dataset (a class absent from both has no defined IoU). groups: name → class indices, each adding
    ``mIoU/<name>``, the mean over that group's present classes (left out when none is present).
    """
    iou = class_iou(confusion)
    present = ~iou.isnan()
    total = confusion.sum()
    scores = {
        "PixAcc": float(100.0 * confusion.diag().sum().double() / total) if total > 0 else 0.0,
        "mIoU": float(100.0 * iou[present].mean()) if present.any() else 0.0,
    }
    for name, members in (groups or {}).items():
        chosen = iou[torch.as_tensor(list(members), dtype=torch.long)]
        chosen = chosen[~chosen.isnan()]
        if len(chosen):
            scores[f"mIoU/{name}"] = float(100.0 * chosen.mean())
    return scores


def per_image_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                  ignore_index: int = IGNORE_INDEX) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's per-image mIoU terms (its ``mean_iou_with_unlabeled``), as (sum of IoUs, count).

    For each image n and class k, IoU = |P_k ∩ G_k| / |P_k ∪ G_k| with predictions at ignored pixels dropped;
    (n, k) pairs where the class is absent from both are skipped. The original's number is sum / count.
    pred, target (N, H, W) -> two scalars (float64, int64).
    """
    n = pred.shape[0]
    valid = target != ignore_index
    image = torch.arange(n, device=pred.device).view(n, *([1] * (pred.dim() - 1))).expand_as(pred)
    codes = (image[valid] * num_classes + target[valid].long()) * num_classes + pred[valid].long()
    confusion = torch.bincount(codes, minlength=n * num_classes * num_classes).view(n, num_classes, num_classes)
    confusion = confusion.double()
    true_positive = confusion.diagonal(dim1=1, dim2=2)
    union = confusion.sum(1) + confusion.sum(2) - true_positive
    present = union > 0
    return (true_positive[present] / union[present]).sum(), present.sum()


class SegmentationMeter:
    """Accumulates the confusion matrix and the per-image IoU terms over batches (and ranks).

    class_names: a name per class, for `details`; groups: see `segmentation_scores` (e.g. things / stuff)."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, *,
                 class_names: Sequence[str] | None = None, groups: dict[str, Sequence[int]] | None = None):
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.class_names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
        self.groups = groups
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.image_iou_sum = torch.zeros((), dtype=torch.float64)
        self.image_iou_count = torch.zeros((), dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target (N, H, W) class indices (target may hold ``ignore_index``)."""
        self.confusion += confusion_matrix(pred, target, self.num_classes, self.ignore_index).cpu()
        iou_sum, iou_count = per_image_iou(pred, target, self.num_classes, self.ignore_index)
        self.image_iou_sum += iou_sum.cpu()
        self.image_iou_count += iou_count.cpu()

    def all_reduce(self, device: torch.device | str = "cpu") -> None:
        self.confusion = all_reduce_sum(self.confusion.to(device)).cpu()
        self.image_iou_sum = all_reduce_sum(self.image_iou_sum.to(device)).cpu()
        self.image_iou_count = all_reduce_sum(self.image_iou_count.to(device)).cpu()

    def compute(self) -> dict[str, float]:
        scores = segmentation_scores(self.confusion, self.groups)
        scores["mIoU/per-image"] = float(100.0 * self.image_iou_sum / max(int(self.image_iou_count), 1))
        return scores

    def details(self) -> dict:
        """What the summary numbers hide, for results.json: ``IoU`` per class present (percent, by name) and
        ``pixels``, the labelled pixels of each class present in the ground truth."""
        iou, pixels = class_iou(self.confusion), self.confusion.sum(1)
        return {"IoU": {name: round(100.0 * float(iou[k]), 4) for k, name in enumerate(self.class_names)
                        if not iou[k].isnan()},
                "pixels": {name: int(pixels[k]) for k, name in enumerate(self.class_names) if pixels[k] > 0}}
