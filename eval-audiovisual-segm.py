"""Semantic segmentation of 360° viewpoints (paper Table 2): an FPN head on the frozen video encoder.

Variants (``benchmark``): video only; ``use_audio`` (+ the crop's audio feature); ``use_context`` (+ the pre-trained
translation networks' context over the K viewpoints); ``train_encoders`` (the End-to-end row). Reported: pixel
accuracy and mIoU over the 32 classes from the dataset-level confusion matrix (255 ignored), the mIoU of the 16
thing and the 16 stuff classes (``mIoU/things``, ``mIoU/stuff``), the original's per-image mIoU for comparison, and
each class's IoU and labelled pixels under ``details`` in results.json.

    python eval-audiovisual-segm.py configs/benchmark/segmentation/yt360-fpn-4crop-head-audio-ctx.yaml \\
        configs/main/avsa/Cur-Loc4-TransfD2.yaml
"""

from datasets.yt360 import SEGMENTATION_CLASSES, SEGMENTATION_GROUPS
from evaluation.runner import run_script
from evaluation.segmentation import Segmentation
from utils.cli import run_main


def build(cfg: dict, pretrained, train_set, test_set) -> Segmentation:
    return Segmentation(pretrained, cfg["benchmark"], test_set[0]["video"], num_classes=len(SEGMENTATION_CLASSES),
                        class_names=[name for name, _ in SEGMENTATION_CLASSES], groups=SEGMENTATION_GROUPS)


def main(argv=None) -> int:
    return run_script(argv, task="segmentation", build=build, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    run_main(main)
