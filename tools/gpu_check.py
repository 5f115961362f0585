#!/usr/bin/env python
"""One prepared check of a CUDA GPU: the tests marked ``gpu``, the paper config's training step, the loader's data
wait and bf16 vs fp32 loss, in one command that writes one JSON and one Markdown section (docs/performance.md).

    python tools/gpu_check.py [--out DIR] [--budget-s 450] [--parts media,tests,train,loader,precision]
                              [--config CONFIG] [--set KEY=VALUE ...] [--device cuda|cpu] [--quick]
                              [--peak-tflops P] [--step-s S] [--work DIR]
    sh tools/gpu_check.sh     # on a machine without PyAV: installs the wheels carried in .whl/, then the above

Each part runs in its own process with its share of ``--budget-s`` (tools/gpucheck/: the parts, the orchestration,
the Markdown); docs/performance.md ("GPU check") describes the parts, their targets and the dry run on the CPU
(``--device cpu --quick``).
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tools.gpucheck.check import PARTS, part_main, run_check  # noqa: E402
from tools.gpucheck.common import DEMO_CONFIG, PAPER_CONFIG, settings_for  # noqa: E402
from tools.gpucheck.render import render_markdown  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.distributed import select_device  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "results", "gpu-check"),
                        help="where gpu_check.json, gpu_check.md and gpu_check.log go (default: %(default)s)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="wall-clock budget of all parts")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--config", help=f"pre-training config (default {PAPER_CONFIG}; --quick: {DEMO_CONFIG})")
    add_overrides(parser, "a config value, e.g. dataset.batch_size=16 on a smaller GPU")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--quick", action="store_true", help="toy sizes (the dry run)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: the table's)")
    parser.add_argument("--step-s", type=float, help="loader: the simulated model step (default: the fastest bf16 "
                        "step the train part measured; give it when rerunning the loader part alone)")
    parser.add_argument("--compile-backend", help="torch.compile backend (default: inductor on CUDA, aot_eager on CPU)")
    parser.add_argument("--work", help="folder for generated media and part results (default: a temporary one, "
                        "removed at the end)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        return part_main(args)
    device, warning = select_device(args.device or "auto", name="--device")  # --device cpu --quick: the dry run
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    args.device = device.type
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    settings = settings_for(args)
    settings["peak_tflops"] = args.peak_tflops
    report = run_check(args, parts, settings)
    print(render_markdown(report))
    return 0


if __name__ == "__main__":
    run_main(main)
