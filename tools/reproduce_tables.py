#!/usr/bin/env python
"""Reproduce the paper's Tables 1–3 (or their demo-scale version) with one command, and write TABLES.md.

    python tools/reproduce_tables.py --suite paper [--only table1,table3] [--launcher "torchrun --nproc_per_node=8"]
    python tools/reproduce_tables.py --suite paper --dry-run          # the plan and every command, nothing runs
    python tools/reproduce_tables.py --suite demo                     # synthetic data, 2 CPU cores (make demo)

The plan is plain data (``SUITES`` below): every cell of every table names its pre-training row, its evaluation
config, the metric key of the evaluation's ``results.json`` and the published number (paper.md). From it come the
jobs, deduplicated (one pre-training serves many cells, one evaluation gives several metrics) and ordered by what
they need: data → curriculum phase 1 → phase 2 (whose ``model.init_from`` is pointed at phase 1's snapshot) →
evaluations → figures. A job whose output is up to date is skipped (pre-training: ``checkpoint.pth`` at its last
epoch, trained with the same result-changing settings; evaluation: ``results.json`` computed from the pre-trained
checkpoint the plan uses now, with the same settings; figures: the PNG), unless a job it needs runs (a retrained
pre-training invalidates its evaluations, which then start over). So a second run only writes TABLES.md again, and
an interrupted one continues (the scripts resume from their own checkpoints). A failed job is reported and its
dependants are skipped; the other jobs still run and TABLES.md shows what exists ("—" for a cell without a result).

Runs go to each pre-training config's ``<model.model_dir>/<model.name>`` (``--runs DIR``: ``DIR/<model.name>``;
demo: ``…-seed<S>`` per seed) and its evaluations to ``<that>/eval-<benchmark.name>/…`` as the eval scripts'
default; TABLES.md and the job logs to ``--output`` (default ``results/<suite>``).

The Kinetics-supervised rows need a checkpoint the user supplies (``--kinetics-checkpoint``, an avsa-format
checkpoint with a ``model`` entry for the R(2+1)D-18 architecture); without it they show "—".
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from evaluation.schema import EVAL_SCHEMA  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import ConfigError  # noqa: E402

# ==================================================================================================== the plan


@dataclass(frozen=True)
class Cell:
    """One number of a table: the evaluation that produces it and where it is in that evaluation's results."""

    evaluation: str                      # eval config (its benchmark.task picks the eval-*.py script)
    metric: str                          # key of results.json's "metrics", the one compared with ``published``
    published: float | None = None       # the paper's number (None at demo scale)
    beside: tuple[str, str] | None = None  # (label, metric key): a second number printed after the comparison
    overrides: tuple[str, ...] = ()      # --set for the eval config
    seeds: tuple[int, ...] = (0,)        # demo: the cell is the mean over these training seeds
    source: str | None = None            # pre-training row, when not the row's own (End-to-end starts from AVSA)


@dataclass(frozen=True)
class Row:
    label: tuple[str, str]               # (method, variant) as printed
    source: str                          # key of Suite.pretrain, or KINETICS
    cells: tuple[Cell | None, ...]       # one per column; None: not in the paper ("–")


@dataclass(frozen=True)
class Table:
    key: str                             # --only name
    caption: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Gate:
    """A demo target: mean of ``cell`` ≥ ``threshold``, or ≥ the mean of ``baseline`` + ``margin``."""

    text: str
    cell: tuple[str, str, int]           # (table key, row method, column index)
    threshold: float | None = None
    baseline: tuple[str, str, int] | None = None
    margin: float = 0.0


@dataclass(frozen=True)
class Suite:
    name: str
    pretrain: dict[str, str]             # row source -> pre-training config
    tables: tuple[Table, ...]
    folds: tuple[int, ...] = ()          # action recognition: --folds (mean over the official splits)
    seeded_runs: bool = False            # run directories per seed (…-seed<S>) and seed=<S> for every script
    data: tuple[str, ...] = ()           # a command that generates the data (idempotent), run first
    data_done: str | None = None         # the manifest that says the data is complete
    pretrain_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    figures: tuple[tuple[str, ...], ...] = ()  # visualize.py argument templates (see figure_jobs)
    notes: str = ""


KINETICS = "kinetics"  # rows whose encoders come from --kinetics-checkpoint
KINETICS_ARCH = "configs/main/avsa/InstDisc.yaml"  # the R(2+1)D-18 + audio CNN the checkpoint is loaded into

PAPER_MAIN = "configs/main/avsa/"
BENCH = "configs/benchmark/"


def _bin(kind: str, transf: str, crops: int, published: float) -> Cell:
    return Cell(f"{BENCH}{kind}/{kind}-{transf}-{crops}crop.yaml", "Acc@1", published)


def _segm(variant: str, pix_acc: float, miou: float, source: str | None = None) -> tuple[Cell, Cell]:
    """The published mIoU is the original's per-image mean: compare that, and show the dataset-level mIoU after it."""
    config = f"{BENCH}segmentation/yt360-fpn-4crop-{variant}.yaml"
    return (Cell(config, "PixAcc", pix_acc, source=source),
            Cell(config, "mIoU/per-image", miou, source=source, beside=("dataset-level", "mIoU")))


def _action(suffix: str, ucf: tuple[float, float], hmdb: tuple[float, float]) -> tuple[Cell, ...]:
    return (Cell(f"{BENCH}ucf/ucf-8at16{suffix}.yaml", "Clip@1", ucf[0]),
            Cell(f"{BENCH}ucf/ucf-8at16{suffix}.yaml", "Video@1", ucf[1]),
            Cell(f"{BENCH}hmdb/hmdb-8at16{suffix}.yaml", "Clip@1", hmdb[0]),
            Cell(f"{BENCH}hmdb/hmdb-8at16{suffix}.yaml", "Video@1", hmdb[1]))


def _table1_row(method: str, variant: str, source: str, avc: tuple, avsa: tuple) -> Row:
    """avc, avsa: published (1 viewpoint, 4 viewpoints); None where the paper has "–" (transf. with 1 viewpoint)."""
    transf = "transf" if variant == "transf." else "notransf"
    cells = tuple(_bin(kind, transf, crops, value) if value is not None else None
                  for kind, values in (("avc", avc), ("avsa", avsa)) for crops, value in zip((1, 4), values))
    return Row((method, variant), source, cells)


_NONE2 = (None, None)

PAPER = Suite(
    name="paper",
    # Pre-training rows (spec §1.3, issue #6). Curriculum configs point model.init_from at InstDisc's snapshot.
    pretrain={
        "AVC": f"{PAPER_MAIN}InstDisc.yaml",
        "AVC-transf": f"{PAPER_MAIN}AVC-Loc4-TransfD2.yaml",
        "AVTS": f"{PAPER_MAIN}AVTS.yaml",
        "AVTS-transf": f"{PAPER_MAIN}AVTS-Loc4-TransfD2.yaml",
        "AVSA": f"{PAPER_MAIN}Cur-Loc4-TransfD2.yaml",
        "AVSA-nocur": f"{PAPER_MAIN}NoCur-Loc4-TransfD2.yaml",
        "AVSA-mlp": f"{PAPER_MAIN}Cur-Loc4-MLP.yaml",
    },
    folds=(1, 2, 3),
    tables=(
        Table("table1", "Table 1: accuracy (%) of binary AVC and AVSA predictions on the YT-360 test set",
              ("AVC-Bin, 1 viewpoint", "AVC-Bin, 4 viewpoints", "AVSA-Bin, 1 viewpoint", "AVSA-Bin, 4 viewpoints"),
              (_table1_row("AVC", "no transf.", "AVC", (79.82, 82.68), (59.48, 59.25)),
               _table1_row("AVC", "transf.", "AVC-transf", (None, 83.87), (None, 61.20)),
               _table1_row("AVTS", "no transf.", "AVTS", (80.08, 82.77), (59.78, 60.37)),
               _table1_row("AVTS", "transf.", "AVTS-transf", (None, 83.77), (None, 60.73)),
               _table1_row("AVSA", "no transf.", "AVSA", (86.19, 91.67), (64.97, 68.87)),
               _table1_row("AVSA", "transf.", "AVSA", (None, 89.83), (None, 69.97)))),
        Table("table2", "Table 2: pixel accuracy and mIoU (%) of semantic segmentation on the YT-360 test set",
              ("Video only, Pix Acc", "Video only, mIoU", "+Audio, Pix Acc", "+Audio, mIoU",
               "+Audio+Context, Pix Acc", "+Audio+Context, mIoU"),
              (Row(("AVC", ""), "AVC", (*_segm("head-vonly", 71.16, 32.85), *_segm("head-audio", 71.07, 32.69),
                                        *_NONE2)),
               Row(("AVTS", ""), "AVTS", (*_segm("head-vonly", 73.24, 34.88), *_segm("head-audio", 72.97, 34.88),
                                          *_NONE2)),
               Row(("AVSA", ""), "AVSA", (*_segm("head-vonly", 73.44, 35.11), *_segm("head-audio", 73.11, 34.63),
                                          *_segm("head-audio-ctx", 73.85, 35.83))),
               Row(("AVSA (no curr.)", ""), "AVSA-nocur",
                   (*_segm("head-vonly", 71.95, 33.66), *_segm("head-audio", 71.49, 33.23),
                    *_segm("head-audio-ctx", 72.06, 34.30))),
               Row(("AVSA (mlp)", ""), "AVSA-mlp",
                   (*_segm("head-vonly", 73.10, 35.02), *_segm("head-audio", 73.21, 34.83),
                    *_segm("head-audio-ctx", 72.68, 34.35))),
               Row(("Kinetics (sup)", ""), KINETICS, (*_segm("head-vonly", 75.47, 36.91), *_NONE2, *_NONE2)),
               # "we trained the whole system end-to-end" (paper Sec. 3.2): from the AVSA model, encoders fine-tuned
               Row(("End-to-end", ""), "AVSA", (*_segm("e2e-vonly", 77.37, 41.05), *_segm("e2e-audio", 77.93, 42.00),
                                                *_segm("e2e-audio-ctx", 79.65, 43.21))))),
        Table("table3", "Table 3: action recognition, top-1 accuracy (%) on UCF101 and HMDB51 (mean over the three "
                        "official splits)",
              ("UCF Clip@1", "UCF Video@1", "HMDB Clip@1", "HMDB Video@1"),
              (Row(("Scratch", ""), "AVSA", _action("-scratch", (54.85, 59.95), (27.40, 31.10))),
               Row(("Kinetics Sup.", ""), KINETICS, _action("", (78.50, 83.43), (46.45, 51.90))),
               Row(("AVC", ""), "AVC", _action("", (64.63, 69.68), (31.33, 34.58))),
               Row(("AVTS", ""), "AVTS", _action("", (65.65, 70.34), (32.29, 35.89))),
               Row(("AVSA", ""), "AVSA", _action("", (68.52, 73.80), (32.96, 37.66))))),
    ),
    notes="Table 3 is the mean over the three official splits (eval-action-recg.py --folds 1,2,3). Table 1's "
          "transf. rows evaluate g_v2a's prediction from the video (use_transf); Table 2's End-to-end row fine-tunes "
          "the AVSA (curriculum) model. Table 2's mIoU cells compare the original's per-image mIoU (the mean IoU "
          "over the classes present in each test viewpoint, mIoU/per-image), which the published numbers come "
          "from, and give the dataset-level mIoU (one confusion matrix over the whole test set) after it.",
)

# ---------------------------------------------------------------------------------------------------- demo suite
DEMO_BENCH = "configs/demo/benchmark/"
DEMO_SUITE = "configs/demo/suite/"
GATE_SEEDS = (0, 1)
_RANDOM = ("benchmark.scratch=true",)
# The 15-minute budget (docs/demo.md): a probe's cost is its data (decode, crops, rotation, log-mel ≈ 8-13 CPU ms per
# 4-view sample), so the cells that are not demo targets compute the frozen features of one epoch's draws instead of
# two and test on 150 clips; the targets keep 2 draws and 900 test clips.
_LIGHT = ("benchmark.feature_draws=1", "dataset.test.clips_per_video=1")


def _demo_bin(config: str, seeds=(0,), overrides=()) -> Cell:
    light = () if seeds == GATE_SEEDS else _LIGHT
    return Cell(config, "Acc@1", seeds=seeds, overrides=(*overrides, *light))


def _demo_table1_row(method: str, variant: str, source: str, avsa_4_seeds, transf: bool = False,
                     overrides=(), gate_only: bool = False) -> Row:
    """gate_only: only the AVSA-Bin 4-viewpoint cell (the random-init baseline of the demo targets)."""
    kind = "transf" if transf else "notransf"
    skip = transf or gate_only
    cells = (None if skip else _demo_bin(f"{DEMO_SUITE}avc-notransf-1crop.yaml", overrides=overrides),
             None if skip else _demo_bin(f"{DEMO_BENCH}avc.yaml", overrides=overrides),
             None if skip else _demo_bin(f"{DEMO_SUITE}avsa-notransf-1crop.yaml", overrides=overrides),
             _demo_bin(f"{DEMO_BENCH}avsa.yaml" if not transf else f"{DEMO_SUITE}avsa-{kind}-4crop.yaml",
                       avsa_4_seeds, overrides))
    return Row((method, variant), source, cells)


DEMO = Suite(
    name="demo",
    pretrain={"AVC": "configs/demo/avc.yaml", "AVSA": "configs/demo/avsa.yaml"},
    seeded_runs=True,
    data=("tools/make_synthetic_data.py", "data/synthetic"),
    data_done="data/synthetic/synthetic.json",
    tables=(
        Table("table1", "Table 1 (demo): AVC-Bin and AVSA-Bin accuracy (%) on the synthetic YT-360 test set",
              ("AVC-Bin, 1 viewpoint", "AVC-Bin, 4 viewpoints", "AVSA-Bin, 1 viewpoint", "AVSA-Bin, 4 viewpoints"),
              (_demo_table1_row("random init", "no transf.", "AVSA", GATE_SEEDS, overrides=_RANDOM, gate_only=True),
               _demo_table1_row("AVC", "no transf.", "AVC", GATE_SEEDS),
               _demo_table1_row("AVSA", "no transf.", "AVSA", GATE_SEEDS),
               _demo_table1_row("AVSA", "transf.", "AVSA", (0,), transf=True))),
        Table("table2", "Table 2 (demo): segmentation of the synthetic YT-360 test viewpoints, FPN head on frozen "
                        "encoders, video only",
              ("Pix Acc", "mIoU", "mIoU things", "mIoU stuff"),
              tuple(Row((method, ""), source, tuple(Cell(f"{DEMO_BENCH}segmentation.yaml", metric, overrides=o)
                                                    for metric in ("PixAcc", "mIoU", "mIoU/things", "mIoU/stuff")))
                    for method, source, o in (("random init", "AVSA", _RANDOM), ("AVC", "AVC", ()),
                                              ("AVSA", "AVSA", ())))),
        Table("table3", "Table 3 (demo): action recognition on the synthetic UCF101-layout set (5 motion classes), "
                        "full fine-tuning",
              ("Clip@1", "Video@1"),
              tuple(Row((method, ""), source, (Cell(f"{DEMO_BENCH}ucf.yaml", "Clip@1", overrides=o),
                                               Cell(f"{DEMO_BENCH}ucf.yaml", "Video@1", overrides=o)))
                    for method, source, o in (("Scratch", "AVSA", _RANDOM), ("AVC", "AVC", ()),
                                              ("AVSA", "AVSA", ())))),
    ),
    gates=(
        Gate("AVSA-Bin (4 viewpoints) of the AVSA-pretrained encoders ≥ 65 %", ("table1", "AVSA", 3), threshold=65.0),
        Gate("AVSA-Bin of AVSA-pretrained ≥ AVC-pretrained + 5 points", ("table1", "AVSA", 3),
             baseline=("table1", "AVC", 3), margin=5.0),
        Gate("AVSA-Bin of AVC-pretrained ≥ random init + 3 points", ("table1", "AVC", 3),
             baseline=("table1", "random init", 3), margin=3.0),
    ),
    figures=(
        ("sample", "{pretrain:AVSA}", "--split", "test", "--index", "0"),
        ("localize", "{pretrain:AVSA}", "--checkpoint", "{checkpoint:AVSA}", "--split", "test", "--index", "0"),
        ("segmentation", "{eval:table2:AVSA:0}"),
        ("curves", "{run:AVSA}"),
    ),
    notes="Demo scale: synthetic data (tools/make_synthetic_data.py), tiny encoders, minutes of CPU training; the "
          "numbers are not comparable with the paper's and no published value is shown. AVC-Bin does not separate "
          "the methods at this scale (shared/spec/demo-feasibility.md); AVSA-Bin does. \"random init\" / "
          "\"Scratch\": the same encoders, randomly initialised (benchmark.scratch).",
)

SUITES = {"paper": PAPER, "demo": DEMO}

SCRIPTS = {"avc-bin": "eval-avc.py", "avsa-bin": "eval-avsa.py", "action": "eval-action-recg.py",
           "segmentation": "eval-audiovisual-segm.py"}

# ==================================================================================================== jobs


@dataclass
class Job:
    key: str                             # unique name, shown in the progress lines and used for the log file
    kind: str                            # data | pretrain | eval | figure
    argv: tuple[str, ...]                # script and arguments (the launcher / interpreter is prepended)
    done: str                            # the file whose presence means the job is done
    needs: tuple[str, ...] = ()
    epochs: int | None = None            # pretraining: ``done`` must hold this epoch
    distributed: bool = False            # prefixed with --launcher


@dataclass
class Plan:
    suite: Suite
    jobs: dict[str, Job]                 # in dependency order
    cells: dict[tuple[str, str, str, int], list[tuple[int, str]]]  # (table, row method, variant, column) -> (seed, eval job)
    runs: dict[tuple[str, int], str]     # (source, seed) -> pre-training run directory
    pretrain_keys: dict[tuple[str, int], str] = field(default_factory=dict)  # (source, seed) -> job key
    metrics: dict[str, str] = field(default_factory=dict)  # eval job key -> results.json path


def _cell_key(table: Table, row: Row, column: int) -> tuple[str, str, str, int]:
    return table.key, row.label[0], row.label[1], column


def _short(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


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
    default_dirs = {source: os.path.join(cfg["model"]["model_dir"], cfg["model"]["name"])
                    for source, cfg in pretrain_cfgs.items()}
    plan = Plan(suite, jobs, {}, {})

    def run_dir(source: str, seed: int) -> str:
        cfg = pretrain_cfgs[source]
        base = os.path.join(runs_root, cfg["model"]["name"]) if runs_root else default_dirs[source]
        return f"{base}-seed{seed}" if suite.seeded_runs else base

    def pretrain_job(source: str, seed: int) -> str:
        key = f"pretrain {source}" + (f" seed {seed}" if suite.seeded_runs else "")
        if key in jobs:
            return key
        overrides = list(suite.pretrain_overrides.get(source, ()))
        needs = ["data"] if suite.data else []
        init = pretrain_cfgs[source]["model"].get("init_from")
        if init:  # curriculum phase 2: phase 1 is the suite's run whose default directory holds init_from
            phase1 = [s for s, d in default_dirs.items() if os.path.abspath(d) == os.path.abspath(os.path.dirname(init))]
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
        jobs[key] = Job(key, "pretrain", argv, os.path.join(directory, "checkpoint.pth"), tuple(needs), epochs,
                        distributed=True)
        return key

    for table in tables:
        for row in table.rows:
            for column, cell in enumerate(row.cells):
                if cell is None:
                    continue
                source = cell.source or row.source
                entries = plan.cells.setdefault(_cell_key(table, row, column), [])
                if source == KINETICS and not kinetics_checkpoint:
                    continue
                for seed in cell.seeds:
                    entries.append((seed, _eval_job(plan, suite, cell, source, seed, pretrain_job, run_dir,
                                                    kinetics_checkpoint, runs_root)))
    if suite.figures and not only:
        _figure_jobs(plan, output or os.path.join("results", suite.name))
    return plan


def _sets(overrides: Sequence[str]) -> list[str]:
    return [arg for text in overrides for arg in ("--set", text)]


def _eval_job(plan: Plan, suite: Suite, cell: Cell, source: str, seed: int, pretrain_job, run_dir,
              kinetics_checkpoint: str | None, runs_root: str | None) -> str:
    overrides = [*cell.overrides, *([f"seed={seed}"] if suite.seeded_runs else [])]
    eval_cfg = load_config(cell.evaluation, overrides, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    bench = eval_cfg["benchmark"]
    needs = ["data"] if suite.data else []
    if source == KINETICS:
        pretrain_config, checkpoint = KINETICS_ARCH, kinetics_checkpoint
        base = os.path.join(runs_root or "checkpoints", "kinetics-supervised")
    else:
        pretrain_config = suite.pretrain[source]
        base = run_dir(source, seed)
        checkpoint = None
        if not bench["scratch"]:
            needs.append(pretrain_job(source, seed))
            checkpoint = os.path.join(base, "checkpoint.pth")
    folded = bench["task"] == "action" and suite.folds
    name = bench["name"] + ("-random-init" if bench["scratch"] and "scratch" not in bench["name"] else "")
    output = os.path.join(base, f"eval-{name}") if folded else os.path.join(base, f"eval-{name}", "fold-01")
    argv = (SCRIPTS[bench["task"]], cell.evaluation, pretrain_config,
            *(("--checkpoint", checkpoint) if checkpoint else ()), *_sets(overrides),
            *(("--folds", ",".join(map(str, suite.folds))) if folded else ()), "--output", output)
    key = f"eval {name} of {source if not bench['scratch'] else 'random init'}" + \
          (f" seed {seed}" if suite.seeded_runs else "")
    done = os.path.join(output, "results.json")
    previous = plan.jobs.get(key)
    if previous is not None and previous.argv != argv:
        raise ConfigError(f"{cell.evaluation}: two different evaluations would share {output}")
    plan.jobs[key] = Job(key, "eval", argv, done, tuple(needs), distributed=True)
    plan.metrics[key] = done
    return key


def _figure_jobs(plan: Plan, output: str) -> None:
    """Figures of the demo: ``{pretrain:SRC}`` / ``{checkpoint:SRC}`` / ``{run:SRC}`` (seed 0's config, checkpoint,
    run directory) and ``{eval:TABLE:ROW:COLUMN}`` (the run directory of that cell's seed-0 evaluation)."""
    for template in plan.suite.figures:
        mode, needs, argv = template[0], set(), []
        for arg in template[1:]:
            if arg.startswith("{") and arg.endswith("}"):
                what, _, ref = arg[1:-1].partition(":")
                if what == "eval":
                    table, row, column = ref.split(":")
                    key = next(job for (t, r, _, c), entries in plan.cells.items()
                               if (t, r, c) == (table, row, int(column)) for seed, job in entries if seed == 0)
                    needs.add(key)
                    arg = os.path.dirname(plan.jobs[key].done)
                else:
                    key = plan.pretrain_keys[(ref, 0)]
                    needs.add(key)
                    arg = {"pretrain": plan.suite.pretrain[ref], "checkpoint": plan.jobs[key].done,
                           "run": plan.runs[(ref, 0)]}[what]
            argv.append(arg)
        png = os.path.join(output, f"{mode}.png")
        key = f"figure {mode}"
        plan.jobs[key] = Job(key, "figure", ("tools/visualize.py", mode, *argv, "--out", png), png, tuple(sorted(needs)))


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


# ==================================================================================================== running


def is_done(job: Job) -> bool:
    """Whether the job's output is up to date (not considering the jobs it needs: ``Runner.run``)."""
    if not os.path.isfile(job.done):
        return False
    if job.kind == "data":
        with open(job.done, encoding="utf-8") as f:
            return bool(json.load(f).get("complete"))
    if job.kind == "pretrain":
        from engine.compat import config_differences
        from utils.checkpoint import load_checkpoint
        from utils.cli import base_parser

        args, _ = base_parser("").parse_known_args(job.argv[1:])
        state = load_checkpoint(job.done, mmap=True)
        cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
        return int(state.get("epoch", 0)) >= job.epochs and not config_differences(state.get("config", {}), cfg)[0]
    if job.kind == "eval":
        from evaluation.runner import eval_parser, stale_results

        parser = eval_parser("")
        parser.add_argument("--folds", default=None)
        args = parser.parse_args(job.argv[1:])
        folds = [int(f) for f in args.folds.split(",")] if args.folds else [None]
        return stale_results(args, folds, job.done) is None
    return True


def command(job: Job, launcher: Sequence[str]) -> list[str]:
    prefix = list(launcher) if job.distributed and launcher else [sys.executable]
    return [*prefix, *job.argv]


def describe(plan: Plan, launcher: Sequence[str]) -> str:
    lines = [f"suite {plan.suite.name}: {len(plan.jobs)} jobs"]
    planned = {key[0] for key in plan.cells}
    lines += [f"{table.key}: {note}" for table in plan.suite.tables if table.key in planned
              for note in protocol_notes(table)]
    for i, job in enumerate(ordered(plan.jobs), 1):
        lines.append(f"[{i}/{len(plan.jobs)}] {job.key}" + (f"  (after: {', '.join(job.needs)})" if job.needs else ""))
        lines.append(f"    {shlex.join(command(job, launcher))}")
    lines.append("cells:")
    for (table, method, variant, column), entries in plan.cells.items():
        label = f"{method} {variant}".strip()
        jobs = "; ".join(f"seed {seed}: {job}" if plan.suite.seeded_runs else job for seed, job in entries) or \
               "not run (needs --kinetics-checkpoint)"
        cell = _find_cell(plan.suite, table, method, variant, column)
        lines.append(f"  {table} | {label} | column {column + 1} | {cell.metric} of {cell.evaluation} "
                     f"x {plan.suite.pretrain.get(cell.source or _row(plan.suite, table, method, variant).source, KINETICS_ARCH)}"
                     f" -> {jobs}")
    return "\n".join(lines)


def _row(suite: Suite, table: str, method: str, variant: str) -> Row:
    return next(r for t in suite.tables if t.key == table for r in t.rows if r.label == (method, variant))


def _find_cell(suite: Suite, table: str, method: str, variant: str, column: int) -> Cell:
    return _row(suite, table, method, variant).cells[column]


class Runner:
    """Runs jobs as subprocesses, at most ``parallel`` at a time, each with ``threads`` intra-op threads; prints
    progress (job i/n, elapsed time, what is running) and each job's output prefixed with its key."""

    def __init__(self, plan: Plan, launcher: Sequence[str], parallel: int, threads: int, log_dir: str,
                 heartbeat_s: float = 30.0):
        self.plan, self.launcher, self.parallel, self.threads = plan, launcher, parallel, threads
        self.log_dir, self.heartbeat_s = log_dir, heartbeat_s
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.lock:
            print(f"[{_clock(time.monotonic() - self.started)}] {text}", flush=True)

    def run(self) -> list[str]:
        """Run what is not done; returns the keys of failed (or skipped because of a failure) jobs."""
        order = ordered(self.plan.jobs)
        total = len(order)
        number = {job.key: i for i, job in enumerate(order, 1)}
        pending: list[Job] = []
        for job in order:  # dependency order: a job that needs a job to run must run again after it
            if not is_done(job) or any(need in {p.key for p in pending} for need in job.needs):
                pending.append(job)
        for job in order:
            if job not in pending:
                self.say(f"[{number[job.key]}/{total}] done already: {job.key}")
        finished = {job.key for job in order if job not in pending}
        failed: list[str] = []
        running: dict[str, tuple[subprocess.Popen, float, threading.Thread]] = {}
        last_beat = time.monotonic()
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            self._loop(pending, running, finished, failed, number, total, last_beat)
        finally:  # interrupted (Ctrl-C, SIGTERM): the scripts checkpoint on SIGTERM, so a re-run resumes them
            for process, _, _ in running.values():
                process.terminate()
            for process, _, _ in running.values():
                process.wait()
        return failed

    def _loop(self, pending, running, finished, failed, number, total, last_beat) -> None:
        while pending or running:
            for job in list(pending):
                if any(n in failed for n in job.needs):
                    pending.remove(job)
                    failed.append(job.key)
                    self.say(f"[{number[job.key]}/{total}] SKIPPED (a job it needs failed): {job.key}")
                elif len(running) < self.parallel and all(n in finished for n in job.needs):
                    pending.remove(job)
                    running[job.key] = self._start(job, number[job.key], total)
            time.sleep(0.2)
            for key, (process, start, reader) in list(running.items()):
                # wait4: the job's CPU time, its DataLoader workers included (what a dedicated machine would need)
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid == 0:
                    continue
                process.returncode = os.waitstatus_to_exitcode(status)
                reader.join()
                del running[key]
                spent = _clock(time.monotonic() - start)
                cpu = usage.ru_utime + usage.ru_stime
                if process.returncode == 0 and is_done(self.plan.jobs[key]):
                    finished.add(key)
                    self.say(f"[{number[key]}/{total}] finished in {spent} ({cpu:.0f} CPU s): {key}")
                else:
                    failed.append(key)
                    self.say(f"[{number[key]}/{total}] FAILED (exit {process.returncode}) after {spent}: {key} "
                             f"(log: {self._log_path(key)})")
            if running and time.monotonic() - last_beat > self.heartbeat_s:
                last_beat = time.monotonic()
                now = time.monotonic()
                self.say(f"{len(finished)}/{total} done; running: " +
                         ", ".join(f"{k} ({_clock(now - s)})" for k, (_, s, _) in running.items()))

    def _log_path(self, key: str) -> str:
        return os.path.join(self.log_dir, key.replace(" ", "_").replace("/", "-") + ".log")

    def _start(self, job: Job, index: int, total: int):
        argv = command(job, self.launcher)
        if job.kind == "eval" and os.path.isfile(job.done):  # results of another checkpoint or other settings
            argv += ["--set", "resume=false"]                # (a retrained pre-training): start the evaluation over
        self.say(f"[{index}/{total}] start: {job.key}\n    {shlex.join(argv)}")
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads))
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
        tag = job.key if self.parallel > 1 else job.kind

        def relay() -> None:
            with open(self._log_path(job.key), "a", encoding="utf-8") as log:
                for line in process.stdout:
                    log.write(line)
                    with self.lock:
                        print(f"    [{tag}] {line.rstrip()}", flush=True)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        return process, time.monotonic(), reader


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


# ==================================================================================================== TABLES.md


def read_metrics(path: str) -> dict[str, float] | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)["metrics"]


def collect(plan: Plan) -> dict[tuple, dict[int, float]]:
    """cell -> {seed: value} for every cell whose results.json exists; (*cell, metric) -> {seed: value} for the
    number a cell shows beside its compared one."""
    values = {}
    for key, entries in plan.cells.items():
        cell = _find_cell(plan.suite, *key)
        values[key] = _seed_values(plan, entries, cell.metric)
        if cell.beside:
            values[(*key, cell.beside[1])] = _seed_values(plan, entries, cell.beside[1])
    return values


def _seed_values(plan: Plan, entries: list[tuple[int, str]], metric: str) -> dict[int, float]:
    found = {}
    for seed, job in entries:
        metrics = read_metrics(plan.metrics[job])
        if metrics is not None and metric in metrics:
            found[seed] = float(metrics[metric])
    return found


def _mean(values: dict[int, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def format_cell(cell: Cell | None, values: dict[int, float], beside: dict[int, float] | None = None) -> str:
    """ours / published (ours − published), then "; <label> <value>" for a cell's ``beside`` number; "—": not run
    yet; "–": not in the paper (nor in the demo)."""
    if cell is None:
        return "–"
    text = _format_seeds(values)
    if cell.published is not None:
        ours = _mean(values)
        text = f"— / {cell.published:.2f}" if ours is None else \
            f"{text} / {cell.published:.2f} ({ours - cell.published:+.2f})"
    if cell.beside:
        text += f"; {cell.beside[0]} {_format_seeds(beside or {})}"
    return text


def _format_seeds(values: dict[int, float]) -> str:
    """The mean over seeds, and each seed's value in brackets when there are several; "—" for none."""
    ours = _mean(values)
    text = "—" if ours is None else f"{ours:.2f}"
    if ours is not None and len(values) > 1:
        text += " (" + " / ".join(f"{values[s]:.2f}" for s in sorted(values)) + ")"
    return text


def misalignment_protocol(config: str, overrides: Sequence[str] = ()) -> str | None:
    """How an AVSA-Bin evaluation config labels its test samples, in words (None for other tasks)."""
    cfg = load_config(config, overrides, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    if cfg["benchmark"]["task"] != "avsa-bin":
        return None
    misalign = cfg["dataset"]["misalign"]
    rotation = "a yaw" if misalign["mode"] == "yaw" else "a 3-D rotation"
    if misalign["min_angle_deg"] == 0:
        extent = (f"{rotation} drawn uniformly over all angles, each one labelled misaligned however small "
                  f"(the original's protocol)")
    else:
        extent = f"{rotation} of at least {misalign['min_angle_deg']:g}° (near-zero rotations never drawn)"
    return f"{100 * misalign['probability']:g} % of the test samples have their audio rotated by {extent}"


def protocol_notes(table: Table) -> list[str]:
    """One line per distinct AVSA-Bin protocol among the table's cells, naming the configs that use it."""
    protocols: dict[str, list[str]] = {}
    for row in table.rows:
        for cell in row.cells:
            text = cell and misalignment_protocol(cell.evaluation, cell.overrides)
            if text and _short(cell.evaluation) not in protocols.setdefault(text, []):
                protocols[text].append(_short(cell.evaluation))
    return [f"AVSA-Bin protocol ({', '.join(configs)}): {text}." for text, configs in protocols.items()]


def render(suite: Suite, values: dict, *, only: Sequence[str] = (), test_clips: dict[str, int] | None = None) -> str:
    """TABLES.md: the paper's layout, one Markdown table per paper table (and the demo targets)."""
    published = any(c is not None and c.published is not None for t in suite.tables for r in t.rows for c in r.cells)
    lines = [f"# Tables 1–3 reproduced (suite: {suite.name})", ""]
    if published:
        lines.append("Each cell: ours / published (ours − published). \"—\": not run yet; \"–\": not in the paper.")
    else:
        lines.append("Each cell: the mean over training seeds (per-seed values in brackets, seed order). "
                     "\"—\": not run yet; \"–\": not part of the demo.")
    if suite.notes:
        lines += ["", suite.notes]
    for table in suite.tables:
        if only and table.key not in only:
            continue
        lines += ["", f"## {table.caption}", "",
                  "| Pre-training | | " + " | ".join(table.columns) + " |",
                  "|---|---|" + "---|" * len(table.columns)]
        for row in table.rows:
            cells = [format_cell(cell, values.get(_cell_key(table, row, i), {}),
                                 values.get((*_cell_key(table, row, i), cell.beside[1])) if cell and cell.beside
                                 else None)
                     for i, cell in enumerate(row.cells)]
            lines.append(f"| {row.label[0]} | {row.label[1]} | " + " | ".join(cells) + " |")
        notes = protocol_notes(table)
        if notes:
            lines += ["", *notes]
    if suite.gates:
        lines += ["", "## Demo targets", ""]
        seeds = sorted({s for t in suite.tables for r in t.rows for c in r.cells if c for s in c.seeds})
        lines.append(f"Means over training seeds {', '.join(map(str, GATE_SEEDS))} "
                     f"(other cells: seed {seeds[0]}).")
        if test_clips:
            lines.append("Test clips: " + ", ".join(f"{k}: {v}" for k, v in test_clips.items()) + ".")
        lines += ["", "| target | measured | result |", "|---|---|---|"]
        for gate in suite.gates:
            lines.append("| " + " | ".join(_gate_row(suite, gate, values)) + " |")
    return "\n".join(lines) + "\n"


def _gate_value(suite: Suite, ref: tuple[str, str, int], values: dict) -> float | None:
    table, method, column = ref
    row = next(r for t in suite.tables if t.key == table for r in t.rows if r.label[0] == method)
    return _mean(values.get((table, method, row.label[1], column), {}))


def _gate_row(suite: Suite, gate: Gate, values: dict) -> tuple[str, str, str]:
    ours = _gate_value(suite, gate.cell, values)
    if gate.baseline is None:
        if ours is None:
            return gate.text, "—", "not run"
        return gate.text, f"{ours:.2f}", "pass" if ours >= gate.threshold else "FAIL"
    base = _gate_value(suite, gate.baseline, values)
    if ours is None or base is None:
        return gate.text, "—", "not run"
    return (gate.text, f"{ours:.2f} vs {base:.2f} ({ours - base:+.2f})",
            "pass" if ours >= base + gate.margin else "FAIL")


def gate_test_clips(suite: Suite) -> dict[str, int]:
    """Size of the test set behind each gate's evaluation config (the demo's "≥ 900 test clips")."""
    from datasets import build_dataset

    sizes = {}
    for gate in suite.gates:
        table, method, column = gate.cell
        row = next(r for t in suite.tables if t.key == table for r in t.rows if r.label[0] == method)
        config = row.cells[column].evaluation
        if config not in sizes:
            cfg = load_config(config, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
            try:
                sizes[config] = len(build_dataset(cfg["dataset"], "test", seed=cfg["benchmark"]["test_seed"]))
            except Exception:  # noqa: BLE001 - the count is informative; a missing dataset must not stop the report
                continue
    return {_short(k): v for k, v in sizes.items()}


# ==================================================================================================== main


def default_parallel(suite: Suite) -> int:
    """Concurrent jobs when --jobs is not given: 1 for the paper (each job owns the GPUs); demo: 2 jobs × 1 thread
    on a 2-core machine (measured faster than 1 job × 2 threads for the tiny demo models, docs/demo.md)."""
    return min(2, os.cpu_count() or 1) if suite.name == "demo" else 1


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands; run nothing")
    parser.add_argument("--launcher", default="", help='prefix of every training command, e.g. '
                                                       '"torchrun --standalone --nproc_per_node=8"')
    parser.add_argument("--only", default="", help="comma-separated tables, e.g. table1,table3")
    parser.add_argument("--jobs", type=int, default=None, help="jobs run at the same time (default: 2 for the "
                                                               "demo on ≥ 2 cores, else 1)")
    parser.add_argument("--output", default=None, help="TABLES.md, figures and job logs (default results/<suite>)")
    parser.add_argument("--runs", default=None, help="root of the run directories (default: each config's "
                                                     "model.model_dir)")
    parser.add_argument("--kinetics-checkpoint", default=None,
                        help="avsa-format checkpoint of a Kinetics-supervised model (the Kinetics rows)")
    args = parser.parse_args(argv)
    suite = SUITES[args.suite]
    only = [t for t in args.only.split(",") if t]
    output = args.output or os.path.join("results", suite.name)
    os.chdir(ROOT)
    plan = build_plan(suite, only=only, runs_root=args.runs, kinetics_checkpoint=args.kinetics_checkpoint,
                      output=output)
    launcher = shlex.split(args.launcher)
    if args.dry_run:
        print(describe(plan, launcher))
        return 0
    signal.signal(signal.SIGTERM, _terminate)  # stop the running jobs cleanly (Runner.run's finally)
    parallel = max(1, args.jobs or default_parallel(suite))
    threads = max(1, (os.cpu_count() or 1) // parallel)
    runner = Runner(plan, launcher, parallel, threads, os.path.join(output, "logs"))
    runner.say(f"suite {suite.name}: {len(plan.jobs)} jobs, {parallel} at a time with {threads} thread(s) each; "
               f"logs in {os.path.join(output, 'logs')}")
    failed = runner.run()
    os.makedirs(output, exist_ok=True)
    tables_path = os.path.join(output, "TABLES.md")
    text = render(suite, collect(plan), only=only, test_clips=gate_test_clips(suite) if suite.gates else None)
    with open(tables_path, "w", encoding="utf-8") as f:
        f.write(text)
    runner.say(f"wrote {tables_path}" + (f"; {len(failed)} job(s) failed or skipped: {', '.join(failed)}"
                                         if failed else ""))
    print(text, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
