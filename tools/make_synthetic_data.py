#!/usr/bin/env python
"""Write the embedded synthetic datasets (YT-360, UCF101 and HMDB51 layouts) deterministically from a seed.

    python tools/make_synthetic_data.py data/synthetic --preset demo --seed 0

Files that already exist are complete and are kept, so running it again is instant. What is written: docs/data.md
("The synthetic dataset"); the generator is the package `datasets/synthetic/`.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datasets.synthetic import DEFAULT_ROOT, PRESETS, generate  # noqa: E402
from utils.cli import run_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=DEFAULT_ROOT, help=f"output folder (default {DEFAULT_ROOT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                        help="tiny: a handful of files for tests; demo: enough for demo pre-training to learn")
    parser.add_argument("--workers", type=int, default=None, help="encoding processes (default: all cores)")
    parser.add_argument("--reverb", action="store_true", help="add early room reflections to the ambisonic sound")
    args = parser.parse_args(argv)
    summary = generate(args.root, args.preset, args.seed, workers=args.workers, reverb=args.reverb)
    print(f"{args.root}: {summary['written']} items written, {summary['skipped']} already there, "
          f"{summary['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    run_main(main)
