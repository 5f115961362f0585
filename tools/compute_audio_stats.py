#!/usr/bin/env python
"""Compute the per-mel-band mean and std that normalise a config's log-mel input, and write them to the file its
``dataset.audio.stats`` names (relative to ``dataset.root``).

    python tools/compute_audio_stats.py configs/main/avsa/Cur-Loc4-TransfD2.yaml [--set KEY=VALUE ...]
        [--crops-per-file 4] [--max-files 2000] [--seed 0]

Run it once per dataset and audio recipe, after preparing the data and before training: with the paper configs it
writes ``data/yt360/audio-stats-24000hz-512fft-240hop-128mels.npz``. The statistics pool every frame of the 4 FOA
channels of ``--crops-per-file`` random crops (``dataset.audio.clip_duration`` long, unrotated) of each of up to
``--max-files`` train audio files (0: all), with the config's recipe (rate, n_fft, hop, n_mels, parity); the file
stores that recipe, and a config with another recipe refuses it (datasets/audio_stats.py). Exit code 2 for a bad
config, 1 when no audio file can be read.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datasets.audio_stats import make_stats  # noqa: E402
from evaluation.schema import load_any_config  # noqa: E402
from utils.audio_features import load_mel_stats  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a config with a yt360 dataset section (pre-training or evaluation)")
    add_overrides(parser)
    parser.add_argument("--crops-per-file", type=int, default=4)
    parser.add_argument("--max-files", type=int, default=2000, help="train files drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = load_any_config(args.config, args.overrides, required=["dataset"])
    path = make_stats(cfg["dataset"], crops_per_file=args.crops_per_file, max_files=args.max_files, seed=args.seed)
    mean, std = load_mel_stats(path)
    print(f"{path}: mean {float(mean.mean()):.2f} dB, std {float(std.mean()):.2f} dB (averaged over {len(mean)} "
          "mel bands)")
    return 0


if __name__ == "__main__":
    run_main(main)
