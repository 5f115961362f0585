#!/usr/bin/env python
"""Pictures researchers want to see: the method, a 360° sample, a sound-source localisation map, segmentations, curves.

    python tools/visualize.py method CONFIG [--split test] [--index 0] [--set KEY=VALUE] --out method.png
    python tools/visualize.py sample CONFIG [--split test] [--index 0] [--set KEY=VALUE] --out sample.png
    python tools/visualize.py localize CONFIG --checkpoint RUN/checkpoint.pth [--split test] [--index 0] --out loc.png
    python tools/visualize.py segmentation EVAL_RUN_DIR [--samples 4] --out segmentation.png
    python tools/visualize.py curves RUN_DIR --out curves.png

Read (tools/figures/data.py) → draw (method.py, scene.py, results.py over panels.py). Every figure has a fixed size
(``FIGURE_SIZE`` at ``DPI``), so PNGs are comparable across runs. What each shows: the README ("Visualisation").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datasets.yt360 import SEGMENTATION_CLASSES  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from evaluation.schema import load_any_config  # noqa: E402
from tools.figures.data import (  # noqa: E402
    curve_scales, dataset_sample, model_localization, read_scalars, segmentation_predictions,
)
from tools.figures.method import plot_method  # noqa: E402
from tools.figures.results import plot_curves, plot_segmentation  # noqa: E402
from tools.figures.scene import plot_localization, plot_sample  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import load_config  # noqa: E402


def cmd_sample(args) -> str:
    """Sample ``--index`` of the split as the dataset makes it (`dataset_sample`)."""
    cfg = load_any_config(args.config, args.overrides, required=("dataset",))
    return plot_sample(args.out, dataset_sample(cfg, args.split, args.index))


def cmd_method(args) -> str:
    """The method on sample ``--index`` of the split (`dataset_sample`) with the config's model and loss."""
    cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    return plot_method(args.out, dataset_sample(cfg, args.split, args.index), cfg)


def cmd_localize(args) -> str:
    cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    frame, scores, sources = model_localization(cfg, args.config, args.checkpoint, args.split, args.index, args.step)
    title = f"localisation by {cfg['model']['name']} ({cfg['loss']['name']})"
    return plot_localization(args.out, frame, scores, title, sources)


def cmd_segmentation(args) -> str:
    crops, truth, prediction, title = segmentation_predictions(args.run_dir, args.samples)
    return plot_segmentation(args.out, crops, truth, prediction, [name for name, _ in SEGMENTATION_CLASSES], title)


def cmd_curves(args) -> str:
    steps_per_epoch, chance = curve_scales(args.run_dir)
    return plot_curves(args.out, read_scalars(args.run_dir), title=os.path.basename(os.path.normpath(args.run_dir)),
                       steps_per_epoch=steps_per_epoch, chance=chance)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for name, help_text in (("method", "the AVSA method drawn on a real sample: viewpoints, crops, rotated FOA, "
                                       "encoders, translation, contrastive pairs"),
                            ("sample", "a 360° sample: viewpoints, FOA power, crops, each view's FOA energy and "
                                       "intensity direction"),
                            ("localize", "sound-source localisation map of a trained model")):
        mode = modes.add_parser(name, help=help_text)
        mode.add_argument("config", help="pre-training config (its dataset section is used; method: also its model "
                                         "and loss)")
        mode.add_argument("--split", default="test", choices=["train", "test"])
        mode.add_argument("--index", type=int, default=0, help="sample index in the split")
        add_overrides(mode)
        mode.add_argument("--out", required=True, help="PNG path")
        if name == "localize":
            mode.add_argument("--checkpoint", required=True, help="pre-training checkpoint (checkpoint.pth)")
            mode.add_argument("--step", type=float, default=10.0, help="grid step in degrees")
    segm = modes.add_parser("segmentation", help="predictions next to ground truth of a segmentation eval run")
    segm.add_argument("run_dir", help="eval-audiovisual-segm.py run directory (holds results.json, checkpoint.pth)")
    segm.add_argument("--samples", type=int, default=4)
    segm.add_argument("--out", required=True)
    curves = modes.add_parser("curves", help="training curves of a run directory (TensorBoard events)")
    curves.add_argument("run_dir")
    curves.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    path = {"method": cmd_method, "sample": cmd_sample, "localize": cmd_localize, "segmentation": cmd_segmentation,
            "curves": cmd_curves}[args.mode](args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
