#!/usr/bin/env python
"""Convert the authors' released AVSA checkpoint (checkpoint.pth.tar) into an avsa checkpoint.

    python tools/convert_reference_checkpoint.py checkpoint.pth.tar checkpoints/Cur-Loc4-TransfD2/converted.pth

The released file is a dict {epoch, model, optimizer, train_criterion} whose keys carry DataParallel's ``module.``
and MultiTask's ``losses.0.`` prefixes. Our module names equal the original's, so conversion strips the prefixes and
checks the result by a strict load into the model and criterion built from ``--config``. What the output holds:
README.md, "The authors' released checkpoint".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from criterions import build_criterion  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from models import build_model  # noqa: E402
from utils.checkpoint import load_checkpoint, load_state_strict, save_checkpoint  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import CheckpointError  # noqa: E402

DEFAULT_CONFIG = os.path.join(REPO, "configs", "main", "avsa", "Cur-Loc4-TransfD2.yaml")
# section of the original file -> (our entry, prefix its keys carry)
SECTIONS = {"model": ("model", "module."), "train_criterion": ("criterion", "losses.0.")}


def strip_prefix(state: Mapping, prefix: str, what: str, path: str) -> dict:
    foreign = [key for key in state if not key.startswith(prefix)]
    if foreign:
        raise CheckpointError(f"{path}: {what} key {foreign[0]!r} lacks the {prefix!r} prefix of the released "
                              f"checkpoint")
    return {key[len(prefix):]: value for key, value in state.items()}


def convert_reference_state(reference: Mapping, cfg: Mapping, path: str = "<reference>") -> dict:
    """The avsa checkpoint dict for the original's loaded ``reference`` dict and a validated config (needs the
    ``model`` and ``loss`` sections). Raises CheckpointError if the weights do not fit the built modules."""
    missing = [section for section in (*SECTIONS, "epoch") if section not in reference]
    if missing:
        raise CheckpointError(f"{path}: not a released AVSA checkpoint (no {missing[0]!r} entry)")
    model = build_model(cfg["model"], load_init=False)
    criterion = build_criterion(cfg["loss"], feature_dim=model.out_dim)
    converted = {"epoch": int(reference["epoch"]), "step": 0, "config": dict(cfg)}
    for section, module in (("model", model), ("train_criterion", criterion)):
        entry, prefix = SECTIONS[section]
        load_state_strict(module, strip_prefix(reference[section], prefix, section, path), entry, path)
        converted[entry] = module.state_dict()
    return converted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Safety: the input is read with torch.load(weights_only=True) and no extra allow-listed types "
               "(the released file holds only dicts, tensors and numbers), so it cannot run code; a file that "
               "needs anything else is refused with an error.")
    parser.add_argument("input", help="the authors' checkpoint.pth.tar")
    parser.add_argument("output", help="where to write the avsa checkpoint")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="config whose model and loss sections describe the checkpoint (default: %(default)s)")
    add_overrides(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides, schema=PRETRAIN_SCHEMA)
    reference = load_checkpoint(args.input, require_avsa=False)
    save_checkpoint(convert_reference_state(reference, cfg, args.input), args.output)
    print(f"wrote {args.output} (epoch {int(reference['epoch'])})")
    return 0


if __name__ == "__main__":
    run_main(main)
