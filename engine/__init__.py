"""The one training/evaluation loop shared by main-video-ssl.py and every eval-*.py script.

How a script uses it (main-video-ssl.py is the complete example)::

    from engine import DEBUG_OVERRIDES, PretextTask, fit, start_run
    from utils.runs import run_directory

    cfg = load_config(args.config, args.overrides + list(DEBUG_OVERRIDES if args.debug else []),
                      required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)   # engine/schema.py
    run = start_run(cfg, run_directory(cfg["model"], args.output), quiet=args.quiet)   # checks a resume; no files yet
    try:
        # curriculum: phase-1 encoders on a fresh run only; a resumed run never needs that file (spec §10.26)
        model = build_model(cfg["model"], load_init=not resumable(cfg, run.run_dir))
        task = PretextTask(model, build_criterion(cfg["loss"], model.out_dim))  # any nn.Module with
        results = fit(run, task, train_set, test_set,                           #   forward(batch) -> (loss, metrics)
                      batch_size=cfg["dataset"]["batch_size"])
    finally:
        run.close()

* ``start_run(cfg, run_dir, *, quiet=False, log_name="train.log", inputs=None) -> Run``: torchrun init (timeout
  ``dist_timeout_s``), seeding (``seed`` + rank), and the resume check: a checkpoint in ``run_dir`` trained with
  other result-changing settings or ``inputs`` (engine/compat.py) is a one-line ``ConfigError``. ``Run`` has
  ``cfg, dist, run_dir, logger, writer, inputs, device, is_main, commit(), scalar(tag, value, step), close()``;
  ``commit()`` (``fit`` calls it before the first step) creates ``run_dir/{log_name, config.yaml, tensorboard/}``
  (rank 0), so a start that fails leaves nothing behind. ``DEBUG_OVERRIDES``:
  the ``--debug`` smoke run (``limit_steps: 2``), in ``utils.runs.debug_directory(run_dir)``.
* ``fit(run, task, train_set, test_set=None, *, batch_size, test_batch_size=None, param_groups=None,
  evaluate_fn=None, collate_fn=None, find_unused_parameters=False) -> {"train": {..}, "test": {..}}``:
  device, channels-last, AMP (``precision``), optional compile, Adam/AdamW/SGD with a per-step schedule, DDP,
  resume (``resume: true`` and ``<run_dir>/checkpoint.pth``; ``resumable(cfg, run_dir)`` tells beforehand),
  a test phase per epoch with the task in eval mode, checkpoints (``checkpoint.pth`` every
  epoch and every ``checkpoint_every_steps``; ``checkpoint-ep{E}.pth`` at ``snapshot_epochs``), SIGTERM/SIGUSR1
  (checkpoint, then ``RunInterrupted``), NaN/inf loss (``TrainingDiverged``), bad samples (batches' ``failures``
  counted per epoch, ``DataError`` above ``max_bad_fraction``), TensorBoard scalars.
* A task is an ``nn.Module``: ``forward(batch) -> (loss, metrics: dict[str, scalar])`` on a collated batch
  already on the device; optional ``state_modules() -> {name: module}`` names the checkpoint entries (default
  ``{"model": task}``). Everything trainable lives in it, so DDP synchronises all of it.
* Building blocks for scripts with their own loops or test phases: ``make_loader``, ``start_epoch``,
  ``to_device``, ``evaluate(run, model, loader, epoch)``, ``build_optimizer``, ``build_scheduler``.
"""

from engine.data import EpochBatchSampler, make_loader, start_epoch, to_device
from engine.loop import TrainingDiverged, autocast, evaluate, fit, train_one_epoch
from engine.optim import build_optimizer, build_scheduler, lr_factor
from engine.pretext import PretextTask
from engine.run import DEBUG_OVERRIDES, Run, start_run
from engine.signals import RunInterrupted
from engine.state import resumable

__all__ = ["DEBUG_OVERRIDES", "EpochBatchSampler", "PretextTask", "Run", "RunInterrupted", "TrainingDiverged",
           "autocast",
           "build_optimizer", "build_scheduler", "evaluate", "fit", "lr_factor", "resumable",
           "make_loader",
           "start_epoch", "start_run", "to_device", "train_one_epoch"]
