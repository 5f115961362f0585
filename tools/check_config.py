#!/usr/bin/env python
"""Validate a config and print it fully resolved (inheritance, overrides and defaults applied).

    python tools/check_config.py configs/main/avsa/Cur-Loc4-TransfD2.yaml --set dataset.batch_size=8
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import yaml  # noqa: E402

from evaluation.schema import load_any_config  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    add_overrides(parser)
    args = parser.parse_args(argv)
    cfg = load_any_config(args.config, args.overrides)
    print(yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None), end="")
    return 0


if __name__ == "__main__":
    run_main(main)
