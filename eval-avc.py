"""AVC-Bin (paper Table 1): does the audio come from the same video as the visual clip?

A 2-way classifier on FROZEN pre-trained features, logits averaged over the K viewpoints. Each sample is paired
with its own audio and with the audio of another sample of its batch (a derangement, fixed by the test seed on
the test set). With ``use_transf`` the video features are replaced by the pre-trained g_v2a's prediction.

    python eval-avc.py configs/benchmark/avc/avc-notransf-4crop.yaml configs/main/avsa/Cur-Loc4-TransfD2.yaml
"""

from evaluation.alignment import AlignmentProbe, build_probe
from evaluation.runner import run_script
from utils.cli import run_main
from utils.errors import ConfigError


def build(cfg: dict, pretrained, train_set, test_set) -> AlignmentProbe:
    batch_size = cfg["dataset"]["batch_size"]
    if batch_size < 2 or len(test_set) % batch_size == 1:
        raise ConfigError(f"<eval config>: dataset.batch_size: AVC-Bin pairs samples within a batch; {batch_size} "
                          f"leaves a batch of 1 sample (test split: {len(test_set)} samples)")
    return build_probe(cfg, pretrained)


def main(argv=None) -> int:
    return run_script(argv, task="avc-bin", build=build, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    run_main(main)
