"""Command-line plumbing shared by the scripts and tools: common flags and one-line error reporting."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from utils.errors import AvsaError


def add_overrides(parser: argparse.ArgumentParser, what: str = "a config value") -> None:
    """The ``--set KEY=VALUE`` option (repeatable), collected in ``args.overrides`` for `utils.config.load_config`."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override {what} (dotted key, YAML value); repeatable")


def base_parser(description: str, config_help: str = "YAML config") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", help=config_help)
    add_overrides(parser)
    parser.add_argument("--output", default=None, help="run directory (default <model.model_dir>/<model.name>)")
    parser.add_argument("--quiet", action="store_true", help="log to the run directory's log file only")
    return parser


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run ``main``; a project error (bad config, bad checkpoint, bad data) becomes ONE line on stderr and its
    exit code (2 for configs), never a traceback. Other exceptions are bugs and keep their traceback. A reader
    that stops reading the output (``... | head``) ends the program quietly, exit code 141 (128 + SIGPIPE)."""
    try:
        code = main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        sys.exit(141)
    except AvsaError as err:
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system has one), at least 1: the default number of
    worker processes of the data tools, and what a CPU training process shares out (`engine.loop.cpu_threads`)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
