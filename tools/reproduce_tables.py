#!/usr/bin/env python
"""Reproduce the paper's Tables 1–3 (or their demo-scale version) with one command, and write TABLES.md.

    python tools/reproduce_tables.py --suite paper [--only table1,table3] [--launcher "torchrun --nproc_per_node=8"]
    python tools/reproduce_tables.py --suite paper --dry-run          # the plan and every command, nothing runs
    python tools/reproduce_tables.py --suite demo                     # synthetic data, 2 CPU cores (make demo)

Parse → plan (tools/tables/planner.py) → run what is not up to date (runner.py) → TABLES.md (render.py); the tables
themselves are data (suites.py). What it runs, skips and writes where: docs/evaluation.md, "Reproducing Tables 1–3".
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.tables import ROOT  # noqa: E402
from tools.tables.planner import build_plan  # noqa: E402
from tools.tables.render import collect, describe, gate_test_clips, render  # noqa: E402
from tools.tables.runner import Runner, default_parallel, stop_on_sigterm  # noqa: E402
from tools.tables.suites import SUITES  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.files import write_text  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands; run nothing")
    parser.add_argument("--launcher", default="", help='prefix of every training command, e.g. '
                                                       '"torchrun --standalone --nproc_per_node=8"')
    parser.add_argument("--only", default="", help="comma-separated tables, e.g. table1,table3")
    parser.add_argument("--jobs", type=int, default=None, help="jobs run at the same time (default: 2 for the "
                                                               "demo on ≥ 2 cores, else 1)")
    parser.add_argument("--output", default=None, help="TABLES.md, figures and job logs (default results/<suite>; "
                                                       "the demo's figures go to docs/demo, where the README shows "
                                                       "them)")
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
    stop_on_sigterm()
    parallel = max(1, args.jobs or default_parallel(suite))
    threads = max(1, (os.cpu_count() or 1) // parallel)
    runner = Runner(plan, launcher, parallel, threads, os.path.join(output, "logs"))
    runner.say(f"suite {suite.name}: {len(plan.jobs)} jobs, {parallel} at a time with {threads} thread(s) each; "
               f"logs in {os.path.join(output, 'logs')}")
    failed = runner.run()
    tables_path = os.path.join(output, "TABLES.md")
    text = render(suite, collect(plan), only=only, test_clips=gate_test_clips(suite) if suite.gates else None)
    write_text(tables_path, text)
    runner.say(f"wrote {tables_path}" + (f"; {len(failed)} job(s) failed or skipped: {', '.join(failed)}"
                                         if failed else ""))
    print(text, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
