#!/usr/bin/env python
"""Self-supervised audio-visual pre-training on YT-360: AVC, AVTS or AVSA (paper Sec. 2).

    python main-video-ssl.py configs/main/avsa/Cur-Loc4-TransfD2.yaml [--set KEY=VALUE ...] [--output DIR]
    torchrun --standalone --nproc_per_node=N main-video-ssl.py CONFIG        # DDP, one process per GPU

Outputs go to <model.model_dir>/<model.name> (or --output): config.yaml, train.log, tensorboard/, checkpoint.pth
(every epoch; the run resumes from it when rerun, with the same result-changing settings) and checkpoint-ep{E}.pth
at snapshot_epochs. --debug runs 2 train and 2 test steps into <run dir>-debug. See docs/pretraining.md.
"""

import os

from torch.utils.data import default_collate

from criterions import build_criterion
from datasets import build_dataset
from engine import DEBUG_OVERRIDES, PretextTask, fit, resumable, start_run
from engine.figures import save_batch_figure
from engine.schema import PRETRAIN_SCHEMA
from models import build_model
from utils.cli import base_parser, run_main
from utils.config import load_config
from utils.runs import debug_directory, run_directory


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="smoke run into <run dir>-debug: 2 train + 2 test steps of batch 4, no workers, a log "
                             "line per step, and debug-batch.png of the first batch")
    args = parser.parse_args(argv)
    overrides = args.overrides + (list(DEBUG_OVERRIDES) if args.debug else [])
    cfg = load_config(args.config, overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)

    run_dir = run_directory(cfg["model"], args.output)
    run = start_run(cfg, debug_directory(run_dir) if args.debug else run_dir, quiet=args.quiet)
    try:
        train_set = build_dataset(cfg["dataset"], "train", seed=cfg["seed"], config=args.config, overrides=overrides)
        test_set = build_dataset(cfg["dataset"], "test", seed=cfg["seed"], config=args.config, overrides=overrides)
        # Curriculum phase 2 (model.init_from) starts from the phase-1 encoders; a resumed run restores everything
        # from its own checkpoint and never needs the phase-1 file (the original loaded it on every start).
        model = build_model(cfg["model"], load_init=not resumable(cfg, run.run_dir))
        criterion = build_criterion(cfg["loss"], feature_dim=model.out_dim)
        if args.debug:
            run.commit()
            if run.is_main:
                first = default_collate([train_set[i] for i in range(min(4, len(train_set)))])
                figure = save_batch_figure(first, os.path.join(run.run_dir, "debug-batch.png"))
                run.logger.info(f"first batch: {figure}")
        results = fit(run, PretextTask(model, criterion), train_set, test_set, batch_size=cfg["dataset"]["batch_size"])
        run.logger.info(f"done: {results}")
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    run_main(main)
