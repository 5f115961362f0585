"""The flow every eval-*.py script shares: parse → load the configs and the pre-trained model → train the benchmark
head with the engine (``engine.fit``) → one test pass (``engine.evaluate``) over the fixed test set → ``results.json``.
The dataset inherits the pre-training's input recipe, the run directory is ``<pretrain run dir>/eval-<name>/fold-NN``
and the test runs once, on the final weights (docs/evaluation.md).

A benchmark is an ``nn.Module`` with ``forward(batch) -> (loss, metrics)`` (the engine's task interface, training),
``make_meter()`` and ``evaluate(batch, meter)`` (test); the meter has ``all_reduce(device)`` and ``compute()``,
or is a dict of such meters.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from datasets import INPUT_KEYS, SCHEMA, build_dataset
from engine.compat import result_part
from engine.data import share_decoded
from engine.loop import autocast, evaluate, fit
from engine.run import Run, start_run
from engine.schema import PRETRAIN_SCHEMA
from engine.state import check_resume
from evaluation.features import FeatureDraws
from evaluation.pretrained import Pretrained, load_benchmark, load_pretrained
from evaluation.schema import EVAL_SCHEMA
from models import audio_input_problem
from utils.cli import add_overrides
from utils.config import load_config, read_config, validate_config
from utils.errors import CheckpointError, ConfigError
from utils.provenance import environment
from utils.runs import (eval_run_directory, fold_directory, latest_checkpoint, results_path, run_directory,
                        stale_reason, summarise_folds, summary_path, timestamp, write_results)
from utils.seeding import seed_everything, seed_worker

PRETRAINED = "pretrained checkpoint (sha256)"  # the run input (engine/compat.py) that binds a head to its weights

# build(eval_cfg, pretrained, train_set, test_set) -> the benchmark module
Builder = Callable[[dict, Pretrained, object, object], nn.Module]


def eval_parser(description: str, folds: bool = False) -> argparse.ArgumentParser:
    """The eval scripts' command line; ``folds``: also ``--folds 1,2,3`` (`fold_list`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", help="benchmark (eval) config, e.g. configs/benchmark/avsa/avsa-transf-4crop.yaml")
    parser.add_argument("pretrain_config", help="the pre-training config of the model to evaluate")
    parser.add_argument("--checkpoint", default=None,
                        help="pre-trained checkpoint (default <pretrain run dir>/checkpoint.pth)")
    add_overrides(parser, "an eval-config value")
    parser.add_argument("--test-only", action="store_true",
                        help="skip training: test the head saved in the run directory")
    parser.add_argument("--output", default=None, help="run directory (default <pretrain run dir>/eval-<name>/fold-NN)")
    parser.add_argument("--quiet", action="store_true", help="log to the run directory's eval.log only")
    if folds:
        parser.add_argument("--folds", default=None, help="comma-separated folds to run one after the other "
                                                          "(default: dataset.fold of the config)")
    return parser


def fold_list(args: argparse.Namespace) -> list[int | None]:
    """The folds of ``--folds``, in order; [None] (the config's own ``dataset.fold``) without it."""
    return [int(f) for f in args.folds.split(",")] if getattr(args, "folds", None) else [None]


def _get(section: dict, dotted: str):
    for part in dotted.split("."):
        section = section[part]
    return section


def _set(section: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        section = section.setdefault(part, {})
    section[last] = value


def _inherited_keys(eval_data, pretrain_cfg: dict) -> tuple[str, ...]:
    """The `INPUT_KEYS` that the eval dataset (a raw or validated ``dataset`` section) and the pre-training dataset
    both have."""
    pretrain_data = pretrain_cfg.get("dataset")
    if pretrain_data is None or not isinstance(eval_data, dict):
        return ()
    name = eval_data.get("name", SCHEMA.fields["name"].default)
    eval_keys = INPUT_KEYS.get(name, ()) if isinstance(name, str) else ()
    return tuple(key for key in INPUT_KEYS[pretrain_data["name"]] if key in eval_keys)


def input_differences(eval_cfg: dict, pretrain_cfg: dict) -> list[tuple[str, object, object]]:
    """(key, eval value, pre-training value) of the inherited input keys whose values differ."""
    keys = _inherited_keys(eval_cfg["dataset"], pretrain_cfg)
    values = [(key, _get(eval_cfg["dataset"], key), _get(pretrain_cfg["dataset"], key)) for key in keys]
    return [(key, ours, theirs) for key, ours, theirs in values if ours != theirs]


def resolve_configs(config: str, pretrain_config: str, overrides: Sequence[str] = ()) -> tuple[dict, dict]:
    """(eval config with ``overrides``, pre-training config), the eval's ``dataset`` completed with the
    pre-training's input recipe (the module docstring); one-line ConfigError for an explicit disagreement."""
    pretrain_cfg = load_config(pretrain_config, required=("model",), schema=PRETRAIN_SCHEMA)
    keys = _inherited_keys(read_config(config, overrides)[0].get("dataset"), pretrain_cfg)
    recipe: dict = {}
    for key in keys:
        _set(recipe, key, copy.deepcopy(_get(pretrain_cfg["dataset"], key)))
    raw, origins = read_config(config, overrides, under={"dataset": recipe} if recipe else None,
                               under_source=pretrain_config)
    eval_cfg = validate_config(raw, origins, config, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    problem = audio_input_problem(eval_cfg["dataset"], pretrain_cfg["model"])
    if problem:  # e.g. a model pre-trained with intensity-vector channels, evaluated on log-mels only
        raise ConfigError(f"{config}: {problem} in the pre-training config {pretrain_config}")
    differences = input_differences(eval_cfg, pretrain_cfg)  # only explicit settings can differ
    if differences and not eval_cfg["benchmark"]["allow_input_mismatch"]:
        key, ours, theirs = differences[0]
        raise ConfigError(
            f"{origins.get(f'dataset.{key}', config)}: dataset.{key}: {json.dumps(ours)}, but the model was "
            f"pre-trained with {json.dumps(theirs)} ({pretrain_config}); use the pre-training's value (a key "
            "left unset inherits it), or set benchmark.allow_input_mismatch: true")
    return eval_cfg, pretrain_cfg


def load_configs(args: argparse.Namespace, overrides: Sequence[str] = ()) -> tuple[dict, dict]:
    """`resolve_configs` of the command line (``--set`` and ``overrides`` apply to the eval config)."""
    return resolve_configs(args.config, args.pretrain_config, [*args.overrides, *overrides])


def stats_source(args: argparse.Namespace, eval_cfg: dict, pretrain_cfg: dict) -> dict:
    """``build_dataset``'s config/overrides for the command that makes a missing audio statistics file: the
    pre-training config when the file is the one it names (at the eval's root), else the eval command line."""
    data, pretrain_data = eval_cfg["dataset"], pretrain_cfg.get("dataset")
    if (pretrain_data is not None and data["name"] == pretrain_data["name"] == "yt360"
            and data["audio"]["stats"] == pretrain_data["audio"]["stats"]):
        return {"config": args.pretrain_config,
                "overrides": [] if data["root"] == pretrain_data["root"] else [f"dataset.root={data['root']}"]}
    return {"config": args.config, "overrides": args.overrides}


def config_hash(eval_cfg: dict, model_cfg: dict) -> str:
    """sha256 of the result-changing settings (engine/compat.py) of an evaluation and of the pre-trained model."""
    text = json.dumps([result_part(eval_cfg), result_part({"model": model_cfg})], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def default_run_dir(pretrained: Pretrained, eval_cfg: dict) -> str:
    """``<pretrain run dir>/eval-<name>[-scratch][-<checkpoint>]/fold-<NN>`` (``utils.runs.eval_run_directory``)."""
    bench = eval_cfg["benchmark"]
    return eval_run_directory(pretrained.run_dir, bench["name"], bench["scratch"], eval_cfg["dataset"].get("fold", 1),
                              pretrained.checkpoint)


def stale_results(args: argparse.Namespace, folds: Sequence[int | None], path: str) -> str | None:
    """Why ``path`` (a results.json) is not what ``eval-*.py`` with ``args`` (and ``folds``) would compute now, or
    None when it is (``utils.runs.stale_reason``: the same pre-trained checkpoint and result-changing settings)."""
    if not os.path.isfile(path):
        return "no results yet"  # before resolving any config: the common case of a plan's first run
    hashes, checkpoint = [], None
    for fold in folds:
        eval_cfg, pretrain_cfg = load_configs(args, [f"dataset.fold={fold}"] if fold is not None else [])
        hashes.append(config_hash(eval_cfg, pretrain_cfg["model"]))
        if not eval_cfg["benchmark"]["scratch"]:
            checkpoint = args.checkpoint or latest_checkpoint(run_directory(pretrain_cfg["model"]))
    return stale_reason(path, checkpoint, hashes)


def test_loader(dataset, batch_size: int, run: Run) -> DataLoader:
    """The fixed test order in consecutive batches of ``batch_size / world_size``; rank r takes batches r, r + W, …
    (no padding, no repeats: every sample is scored once)."""
    chunk = max(batch_size // run.dist.world_size, 1)
    order = [list(range(start, min(start + chunk, len(dataset)))) for start in range(0, len(dataset), chunk)]
    share_decoded(dataset, run.cfg["num_workers"])
    return DataLoader(dataset, batch_sampler=order[run.dist.rank::run.dist.world_size],
                      num_workers=run.cfg["num_workers"], worker_init_fn=seed_worker,
                      pin_memory=run.device.type == "cuda")


def run_benchmark(args: argparse.Namespace, eval_cfg: dict, pretrain_cfg: dict, build: Builder,
                  output: str | None = None) -> dict:
    """Train and test one benchmark; returns the results dict (also written to ``<run dir>/results.json``)."""
    bench = eval_cfg["benchmark"]
    # Seed before building: with scratch: true the encoders' random initialisation is the run's seed's (otherwise two
    # "seeds" of the random-init baseline would evaluate the same encoders).
    seed_everything(eval_cfg["seed"])
    pretrained = load_pretrained(pretrain_cfg, args.pretrain_config, args.checkpoint, scratch=bench["scratch"],
                                 translation=bool(bench.get("use_transf") or bench.get("use_context")))
    run = start_run(eval_cfg, output or default_run_dir(pretrained, eval_cfg), quiet=args.quiet, log_name="eval.log",
                    inputs={PRETRAINED: pretrained.sha256}, schema=EVAL_SCHEMA)
    try:
        run.logger.info(f"benchmark {bench['name']} ({bench['task']}) of "
                        f"{'randomly initialised encoders (scratch)' if bench['scratch'] else pretrained.checkpoint}")
        differences = input_differences(eval_cfg, pretrain_cfg)
        if differences:  # accepted with benchmark.allow_input_mismatch
            run.logger.warning("inputs other than the pre-training's (benchmark.allow_input_mismatch): " + ", ".join(
                f"dataset.{key} {json.dumps(ours)} (pre-training {json.dumps(theirs)})"
                for key, ours, theirs in differences))
        source = stats_source(args, eval_cfg, pretrain_cfg)
        train_set = build_dataset(eval_cfg["dataset"], "train", seed=eval_cfg["seed"], **source)
        test_set = build_dataset(eval_cfg["dataset"], "test", seed=bench["test_seed"], **source)
        benchmark = build(eval_cfg, pretrained, train_set, test_set)
        batch_size = eval_cfg["dataset"]["batch_size"]
        if args.test_only:
            path = latest_checkpoint(run.run_dir)
            if not os.path.isfile(path):
                raise CheckpointError(f"--test-only: no trained benchmark in {path}; run without --test-only first")
            check_resume(run.run_dir, eval_cfg, run.inputs, EVAL_SCHEMA)  # the head of these weights and settings
            run.commit()
            load_benchmark(benchmark, path)
            benchmark.to(run.device)
        else:
            fit_set = train_set
            if bench.get("feature_draws"):  # frozen-encoder probes: features of N epochs' draws, computed once
                benchmark.to(run.device)
                fit_set = FeatureDraws(
                    benchmark, train_set, bench["feature_draws"], batch_size, eval_cfg, run.device,
                    autocast=lambda: autocast(eval_cfg["precision"], run.device), progress=run.progress_style,
                    storage_dtype=getattr(torch, bench["feature_dtype"]))
                run.logger.info(f"frozen features of {bench['feature_draws']} draws of the {len(train_set)} training "
                                f"samples computed: the classifier trains on these {len(fit_set)}")
            # No test phase per epoch: the test set is scored once, on the final weights, below.
            fit(run, benchmark, fit_set, batch_size=batch_size, evaluate_fn=lambda epoch: {})
        metrics, details = evaluate(run, benchmark, test_loader(test_set, batch_size, run), benchmark.make_meter())
        run.logger.info(f"{bench['name']}: " + " ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
        for key, value in metrics.items():  # at the last epoch, as the training curves of the head
            run.scalar(f"test/{key}", value, eval_cfg["optimizer"]["epochs"])
        run.record_hparams([f"test/{key}" for key in metrics])
        results = {
            "benchmark": bench["name"],
            "task": bench["task"],
            "metrics": metrics,
            **({"details": details} if details else {}),
            "fold": eval_cfg["dataset"].get("fold"),
            "pretrained": {"config": os.path.abspath(args.pretrain_config), "checkpoint": pretrained.checkpoint,
                           "sha256": pretrained.sha256, "scratch": bench["scratch"]},
            "config_sha256": config_hash(eval_cfg, pretrain_cfg["model"]),
            "date": timestamp(),
            "run_dir": os.path.abspath(run.run_dir),
            "environment": environment(),
        }
        if run.is_main:
            write_results(results_path(run.run_dir), results)
        return results
    finally:
        run.close()


def run_script(argv: Sequence[str] | None, *, task: str, build: Builder, description: str,
               folds: bool = False) -> int:
    """The whole of an eval-*.py script's main(). ``folds``: accept ``--folds 1,2,3`` (one run per official split,
    then the mean over folds in ``<eval dir>/results.json``)."""
    args = eval_parser(description, folds).parse_args(argv)
    folds_run = fold_list(args)
    per_fold = []
    for fold in folds_run:
        eval_cfg, pretrain_cfg = load_configs(args, [f"dataset.fold={fold}"] if fold is not None else [])
        if eval_cfg["benchmark"]["task"] != task:
            raise ConfigError(f"{args.config}: benchmark.task: this script runs {task} benchmarks, the config is "
                              f"{eval_cfg['benchmark']['task']!r}")
        output = fold_directory(args.output, fold) if args.output and len(folds_run) > 1 else args.output
        per_fold.append(run_benchmark(args, eval_cfg, pretrain_cfg, build, output))
    if len(per_fold) > 1:
        summary = summarise_folds(per_fold)
        if os.environ.get("RANK", "0") == "0":  # the process group of the last fold is already closed
            write_results(summary_path(per_fold[0]["run_dir"]), summary)
            print(f"{summary['benchmark']} mean over folds {summary['folds']}: "
                  + " ".join(f"{k} {v:.2f}" for k, v in summary["metrics"].items()))
    return 0

