"""AVSA-Bin (paper Table 1): is a viewpoint's audio spatially aligned with its video?

A 2-way classifier on FROZEN pre-trained features, logits averaged over the K viewpoints; the labels are the
dataset's misalignments (``dataset.misalign``: rotated audio, with a minimum angle). With ``use_transf`` the video
features are replaced by the pre-trained g_v2a's audio prediction from them.

    python eval-avsa.py configs/benchmark/avsa/avsa-transf-4crop.yaml configs/main/avsa/Cur-Loc4-TransfD2.yaml
"""

from evaluation.alignment import build_probe
from evaluation.runner import run_script
from utils.cli import run_main


def main(argv=None) -> int:
    return run_script(argv, task="avsa-bin", build=build_probe, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    run_main(main)
