#!/usr/bin/env python
"""Check the dataset a config describes: index it, decode every file (or the first N), report the bad ones.

    python tools/check_dataset.py configs/demo/avsa.yaml --split train [--decode 100] [--workers 4]

Prints the items found, how many decoded fine, each bad file with its reason (one line each, also files the index
could not use: names outside the layout, audio without video), and class counts for labelled sets. Every item (file)
is decoded once and run through the sample transform, exactly as training would, by --workers processes (default:
every core this process may use). Exit code: 0 when everything decoded, 1 when some files are bad, 2 for a bad
config.
"""

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from datasets import build_dataset  # noqa: E402
from evaluation.schema import load_any_config  # noqa: E402
from utils.cli import add_overrides, available_cores, run_main  # noqa: E402
from utils.errors import DataError  # noqa: E402


class _ItemCheck(Dataset):
    """Item i → None when it decodes and transforms, else the one-line reason (runs in DataLoader workers)."""

    def __init__(self, dataset, count: int):
        self.dataset, self.count = dataset, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, item: int):
        try:
            self.dataset.transform(self.dataset.read(item, item), self.dataset.generator(item, "transform"))
        except DataError as err:
            return " ".join(str(err).split())
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--split", default="train", choices=["train", "test"])
    add_overrides(parser)
    parser.add_argument("--decode", type=int, default=None, metavar="N", help="decode only the first N items")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding processes (default: every core this process may use; 0: this process)")
    args = parser.parse_args(argv)
    cfg = load_any_config(args.config, args.overrides, required=["dataset"])
    torch.set_num_threads(1)
    dataset = build_dataset(cfg["dataset"], args.split, seed=cfg.get("seed", 0), config=args.config,
                            overrides=args.overrides)
    count = dataset.num_items if args.decode is None else min(max(args.decode, 0), dataset.num_items)
    print(f"{cfg['dataset']['name']} {args.split} split under {cfg['dataset']['root']}: {dataset.num_items} items "
          f"({dataset.describe_items()}), {len(dataset)} samples per epoch")
    for note in dataset.index_notes():
        print(f"note: {note}")
    workers = available_cores() if args.workers is None else max(args.workers, 0)
    loader = DataLoader(_ItemCheck(dataset, count), batch_size=None, num_workers=min(workers, count))
    bad = [reason for reason in loader if reason is not None] + dataset.index_problems()
    print(f"decoded fine: {count - (len(bad) - len(dataset.index_problems()))} of {count} items")
    if bad:
        print(f"bad files ({len(bad)}):")
        for reason in bad:
            print(f"  {reason}")
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        counts = collections.Counter(labels)
        print("class counts: " + ", ".join(f"{name} {counts[i]}" for i, name in enumerate(dataset.classes)))
    return 1 if bad else 0


if __name__ == "__main__":
    run_main(main)
