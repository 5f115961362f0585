#!/usr/bin/env python
"""Per-mel-band mean and std of the log-mel features of 1-s FOA crops, written as an .npz (keys mean, std: (n_mels,)),
the format of the original's MelSpectDB-24khz-257fft-128mels-norm-stats.npz (spec §4.2, §11).

    python tools/compute_audio_stats.py --audio-dir data/yt360/audio --output stats.npz [--parity] [--crops-per-file 4]

Crops are taken at seeded random times from every .m4a/.wav/.ogg file of the folder, all 4 channels pooled (the
same stats serve every channel). Use ``--parity`` for the original's magnitude scale, without it for the power (true
dB) scale of ``log_mel(parity=False)``. (A dataset-config source belongs here once ``datasets.build_dataset`` exists.)
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from utils.audio_features import log_mel  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.errors import DataError  # noqa: E402
from utils.media import probe_media, read_audio  # noqa: E402

AUDIO_EXTENSIONS = (".m4a", ".wav", ".ogg")


def audio_files(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: not a folder")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(AUDIO_EXTENSIONS))
    if not files:
        raise DataError(f"{folder}: no {'/'.join(AUDIO_EXTENSIONS)} files")
    return files


def mel_stats(files, *, crops_per_file: int, seed: int, parity: bool, audio_format: str,
              rate: int = 24000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over every crop, channel and frame, per mel band (float64 accumulation)."""
    generator = torch.Generator().manual_seed(seed)
    total = total_sq = None
    count = 0
    for path in files:
        duration = probe_media(path).duration
        if duration is None or duration < 1.0:
            raise DataError(f"{path}: shorter than one 1-s crop (or duration unknown)")
        starts = torch.rand(crops_per_file, generator=generator) * (duration - 1.0)
        crops = torch.stack([read_audio(path, float(s), 1.0, rate, audio_format) for s in starts])
        features = log_mel(crops, rate=rate, parity=parity).double()
        features = features.reshape(-1, features.shape[-1])  # (crops·channels·frames, n_mels)
        total = features.sum(0) if total is None else total + features.sum(0)
        total_sq = features.pow(2).sum(0) if total_sq is None else total_sq + features.pow(2).sum(0)
        count += features.shape[0]
    mean = total / count
    std = (total_sq / count - mean**2).clamp(min=0).sqrt()
    return mean.float().numpy(), std.float().numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio-dir", required=True, help="folder of 4-channel audio files")
    parser.add_argument("--output", required=True, help=".npz to write (keys mean, std)")
    parser.add_argument("--crops-per-file", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parity", action="store_true", help="the original's magnitude scale (spec §4.2)")
    parser.add_argument("--audio-format", choices=["ambix", "fuma"], default="ambix")
    args = parser.parse_args(argv)
    files = audio_files(args.audio_dir)
    mean, std = mel_stats(files, crops_per_file=args.crops_per_file, seed=args.seed, parity=args.parity,
                          audio_format=args.audio_format)
    np.savez(args.output, mean=mean, std=std)
    print(f"{args.output}: {len(files)} files × {args.crops_per_file} crops; mean {mean.mean():.2f} dB, "
          f"std {std.mean():.2f} dB (averaged over {mean.shape[0]} mel bands)")
    return 0


if __name__ == "__main__":
    run_main(main)
