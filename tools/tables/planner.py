"""The plan of a suite: its cells resolved into deduplicated jobs (data, pre-training, evaluation, figures), their
dependencies and order, and whether a job's output is up to date."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.compat import config_differences
from engine.schema import PRETRAIN_SCHEMA
from evaluation.runner import eval_parser, fold_list, stale_results
from evaluation.schema import EVAL_SCHEMA
from tools.tables import ROOT
from tools.tables.suites import KINETICS, KINETICS_ARCH, Cell, Suite, cell_key
from utils.checkpoint import load_checkpoint
from utils.cli import base_parser
from utils.config import load_config
from utils.errors import ConfigError
from utils.runs import (eval_directory, eval_name, fold_directory, latest_checkpoint, results_path, run_directory,
                        seed_directory)

SCRIPTS = {"avc-bin": "eval-avc.py", "avsa-bin": "eval-avsa.py", "action": "eval-action-recg.py",
           "segmentation": "eval-audiovisual-segm.py"}


@dataclass
class Job:
    key: str                             # unique name, shown in the progress lines and used for the log file
    kind: str                            # data | pretrain | eval | figure
    argv: tuple[str, ...]                # script and arguments (the launcher / interpreter is prepended)
    done: str                            # the file whose presence means the job is done
    needs: tuple[str, ...] = ()
    epochs: int | None = None            # pretraining: ``done`` must hold this epoch
    distributed: bool = False            # prefixed with --launcher
    inputs: tuple[str, ...] = ()         # figure: what it draws from; ``done`` must be newer than each


@dataclass
class Plan:
    suite: Suite
    jobs: dict[str, Job]                 # in dependency order
    # (table, row method, variant, column) -> [(seed, eval job key)]
    cells: dict[tuple[str, str, str, int], list[tuple[int, str]]]
    runs: dict[tuple[str, int], str]     # (source, seed) -> pre-training run directory
    pretrain_keys: dict[tuple[str, int], str] = field(default_factory=dict)  # (source, seed) -> job key
    metrics: dict[str, str] = field(default_factory=dict)  # eval job key -> results.json path


def build_plan(suite: Suite, *, only: Sequence[str] = (), runs_root: str | None = None,
               kinetics_checkpoint: str | None = None, output: str | None = None) -> Plan:
    """Resolve every config of the cells in ``only`` (all tables when empty) into deduplicated jobs."""
    tables = [t for t in suite.tables if not only or t.key in only]
    unknown = set(only) - {t.key for t in suite.tables}
    if unknown:
        raise ConfigError(f"--only: unknown table(s) {', '.join(sorted(unknown))}; "
                          f"choose from {', '.join(t.key for t in suite.tables)}")
    jobs: dict[str, Job] = {}
    if suite.data:
        jobs["data"] = Job("data", "data", suite.data, suite.data_done)
    pretrain_cfgs = {source: load_config(path, suite.pretrain_overrides.get(source, ()), required=("model",),
                                         schema=PRETRAIN_SCHEMA)
                     for source, path in suite.pretrain.items()}
    default_dirs = {source: run_directory(cfg["model"]) for source, cfg in pretrain_cfgs.items()}
    plan = Plan(suite, jobs, {}, {})

    def run_dir(source: str, seed: int) -> str:
        model = pretrain_cfgs[source]["model"]
        base = run_directory({**model, "model_dir": runs_root}) if runs_root else default_dirs[source]
        return seed_directory(base, seed) if suite.seeded_runs else base

    def pretrain_job(source: str, seed: int) -> str:
        key = f"pretrain {source}" + (f" seed {seed}" if suite.seeded_runs else "")
        if key in jobs:
            return key
        overrides = list(suite.pretrain_overrides.get(source, ()))
        needs = ["data"] if suite.data else []
        init = pretrain_cfgs[source]["model"].get("init_from")
        if init:  # curriculum phase 2: phase 1 is the suite's run whose default directory holds init_from
            phase1 = [s for s, d in default_dirs.items()
                      if os.path.abspath(d) == os.path.abspath(os.path.dirname(init))]
            if phase1:
                needs.append(pretrain_job(phase1[0], seed))
                overrides.append(f"model.init_from={os.path.join(run_dir(phase1[0], seed), os.path.basename(init))}")
            elif not os.path.isfile(init):
                raise ConfigError(f"{suite.pretrain[source]}: model.init_from: {init} is not produced by any "
                                  f"pre-training of the {suite.name} suite and does not exist")
        if suite.seeded_runs:
            overrides.append(f"seed={seed}")
        directory = run_dir(source, seed)
        plan.runs[(source, seed)] = directory
        plan.pretrain_keys[(source, seed)] = key
        argv = ("main-video-ssl.py", suite.pretrain[source], *_sets(overrides), "--output", directory)
        epochs = load_config(suite.pretrain[source], overrides, schema=PRETRAIN_SCHEMA)["optimizer"]["epochs"]
        jobs[key] = Job(key, "pretrain", argv, latest_checkpoint(directory), tuple(needs), epochs, distributed=True)
        return key

    for table in tables:
        for row in table.rows:
            for column, cell in enumerate(row.cells):
                if cell is None:
                    continue
                source = cell.source or row.source
                entries = plan.cells.setdefault(cell_key(table, row, column), [])
                if source == KINETICS and not kinetics_checkpoint:
                    continue
                for seed in cell.seeds:
                    entries.append((seed, _eval_job(plan, suite, cell, source, seed, pretrain_job, run_dir,
                                                    kinetics_checkpoint, runs_root)))
    if suite.figures and not only:
        _figure_jobs(plan, suite.figures_dir or output or os.path.join("results", suite.name))
    return plan


def _sets(overrides: Sequence[str]) -> list[str]:
    return [arg for text in overrides for arg in ("--set", text)]


def _eval_job(plan: Plan, suite: Suite, cell: Cell, source: str, seed: int, pretrain_job, run_dir,
              kinetics_checkpoint: str | None, runs_root: str | None) -> str:
    overrides = [*cell.overrides, *([f"seed={seed}"] if suite.seeded_runs else [])]
    eval_cfg = load_config(cell.evaluation, overrides, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    bench = eval_cfg["benchmark"]
    needs = ["data"] if suite.data else []
    if source == KINETICS:  # its own directory: named after no pre-training of the suite
        pretrain_config, checkpoint = KINETICS_ARCH, kinetics_checkpoint
        base = os.path.join(runs_root or "checkpoints", "kinetics-supervised")
    else:
        pretrain_config = suite.pretrain[source]
        base = run_dir(source, seed)
        checkpoint = None
        if not bench["scratch"]:
            needs.append(pretrain_job(source, seed))
            checkpoint = latest_checkpoint(base)
    folded = bench["task"] == "action" and suite.folds
    # the eval script's default directory (utils.runs), for a run directory of the plan's
    name = eval_name(bench["name"], bench["scratch"], base)
    output = eval_directory(base, bench["name"], bench["scratch"])
    if not folded:  # with --folds the script puts each fold in its fold-NN below --output
        output = fold_directory(output, eval_cfg["dataset"].get("fold", 1))
    argv = (SCRIPTS[bench["task"]], cell.evaluation, pretrain_config,
            *(("--checkpoint", checkpoint) if checkpoint else ()), *_sets(overrides),
            *(("--folds", ",".join(map(str, suite.folds))) if folded else ()), "--output", output)
    key = f"eval {name} of {source if not bench['scratch'] else 'random init'}" + \
          (f" seed {seed}" if suite.seeded_runs else "")
    done = results_path(output)
    previous = plan.jobs.get(key)
    if previous is not None and previous.argv != argv:
        raise ConfigError(f"{cell.evaluation}: two different evaluations would share {output}")
    plan.jobs[key] = Job(key, "eval", argv, done, tuple(needs), distributed=True)
    plan.metrics[key] = done
    return key


FIGURE_TOOL = "tools/visualize.py"
FIGURE_PACKAGE = "tools/figures"  # the tool's modules


def figure_sources() -> list[str]:
    """The figure tool and every module of its package (listed from the folder), relative to the repository."""
    names = sorted(os.listdir(os.path.join(ROOT, FIGURE_PACKAGE)))
    return [FIGURE_TOOL, *(f"{FIGURE_PACKAGE}/{name}" for name in names if name.endswith(".py"))]


def _figure_jobs(plan: Plan, output: str) -> None:
    """Figures of the demo: ``{pretrain:SRC}`` (seed 0's config: the data is drawn, nothing trained),
    ``{checkpoint:SRC}`` / ``{run:SRC}`` (seed 0's checkpoint, run directory) and ``{eval:TABLE:ROW:COLUMN}`` (the
    run directory of that cell's seed-0 evaluation). A figure's inputs are the files it draws (the data manifest,
    checkpoint or results.json, config) and the tool's own files (`figure_sources`): it is redrawn when one of them
    is newer than its PNG."""
    suite = plan.suite
    sources = figure_sources()
    for template in suite.figures:
        mode, needs, inputs, argv = template[0], set(), list(sources), []
        for arg in template[1:]:
            if arg.startswith("{") and arg.endswith("}"):
                what, _, ref = arg[1:-1].partition(":")
                if what == "eval":
                    table, row, column = ref.split(":")
                    key = next(job for (t, r, _, c), entries in plan.cells.items()
                               if (t, r, c) == (table, row, int(column)) for seed, job in entries if seed == 0)
                    needs.add(key)
                    inputs.append(plan.jobs[key].done)
                    arg = os.path.dirname(plan.jobs[key].done)
                elif what == "pretrain":
                    needs.update(["data"] if suite.data else [])
                    inputs.extend([suite.pretrain[ref], *([suite.data_done] if suite.data else [])])
                    arg = suite.pretrain[ref]
                else:
                    key = plan.pretrain_keys[(ref, 0)]
                    needs.add(key)
                    inputs.append(plan.jobs[key].done)
                    arg = {"checkpoint": plan.jobs[key].done, "run": plan.runs[(ref, 0)]}[what]
            argv.append(arg)
        png = os.path.join(output, f"{mode}.png")
        key = f"figure {mode}"
        plan.jobs[key] = Job(key, "figure", (FIGURE_TOOL, mode, *argv, "--out", png), png, tuple(sorted(needs)),
                             inputs=tuple(dict.fromkeys(inputs)))


def ordered(jobs: dict[str, Job]) -> list[Job]:
    """Jobs in dependency order (stable: data, pre-training, evaluation, figures as declared)."""
    rank = {"data": 0, "pretrain": 1, "eval": 2, "figure": 3}
    done: list[Job] = []
    seen: set[str] = set()

    def visit(job: Job) -> None:
        if job.key in seen:
            return
        seen.add(job.key)
        for need in job.needs:
            visit(jobs[need])
        done.append(job)

    for job in sorted(jobs.values(), key=lambda j: rank[j.kind]):
        visit(job)
    return done


def is_done(job: Job) -> bool:
    """Whether the job's output is up to date (not considering the jobs it needs: ``Runner.run``)."""
    if not os.path.isfile(job.done):
        return False
    if job.kind == "data":
        with open(job.done, encoding="utf-8") as f:
            return bool(json.load(f).get("complete"))
    if job.kind == "pretrain":
        args, _ = base_parser("").parse_known_args(job.argv[1:])
        state = load_checkpoint(job.done, mmap=True)
        cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
        return int(state.get("epoch", 0)) >= job.epochs and not config_differences(state.get("config", {}), cfg)[0]
    if job.kind == "eval":
        args = eval_parser("", folds=True).parse_args(job.argv[1:])
        return stale_results(args, fold_list(args), job.done) is None
    drawn = os.path.getmtime(job.done)
    return all(os.path.isfile(path) and os.path.getmtime(path) <= drawn for path in job.inputs)


def command(job: Job, launcher: Sequence[str]) -> list[str]:
    prefix = list(launcher) if job.distributed and launcher else [sys.executable]
    return [*prefix, *job.argv]

