"""Action recognition on UCF101 / HMDB51 (paper Table 3): fine-tune the pre-trained video encoder.

The encoder + dropout + linear classifier are trained end to end (``benchmark.scratch: true``: from random
weights, the Scratch row). The test scores every video's dense clips (25 in the paper): Clip@1/5 per clip,
Video@1/5 from the mean of the clip softmaxes. ``--folds 1,2,3`` runs the three official splits and reports
their mean.

    python eval-action-recg.py configs/benchmark/ucf/ucf-8at16.yaml configs/main/avsa/Cur-Loc4-TransfD2.yaml \\
        --folds 1,2,3
"""

from evaluation.action import ActionRecognition
from evaluation.runner import run_script
from utils.cli import run_main
from utils.errors import DataError


def build(cfg: dict, pretrained, train_set, test_set) -> ActionRecognition:
    if list(test_set.classes) != list(train_set.classes):
        raise DataError(f"{cfg['dataset']['root']}: the train and test splits list different classes")
    bench = cfg["benchmark"]
    return ActionRecognition(pretrained, bench["head"], num_classes=len(train_set.classes),
                             train_encoders=bench["train_encoders"])


def main(argv=None) -> int:
    return run_script(argv, task="action", build=build, description=__doc__.splitlines()[0], folds=True)


if __name__ == "__main__":
    run_main(main)
