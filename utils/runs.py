"""The run layout in one place: where runs go, what their files are called, and their ``results.json``.

Pre-training: ``<model.model_dir>/<model.name>`` (or ``--output``), ``<run>-debug`` for ``--debug``, holding
``checkpoint.pth`` (the latest state) and ``checkpoint-ep{E}.pth`` snapshots. Evaluation:
``<pre-training run>/eval-<benchmark.name>[-scratch][-<checkpoint file>]/fold-<NN>/results.json``; a multi-fold
evaluation's mean is the ``eval-…`` directory's ``results.json``. Pure path logic plus atomic ``results.json``
reading and writing; nothing here imports above utils/. Users' view: docs/pretraining.md, docs/evaluation.md.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
from collections.abc import Mapping, Sequence

from utils.files import cached_sha256, write_json

LATEST = "checkpoint.pth"   # a run's latest state: what a rerun resumes from and an evaluation reads by default
RESULTS = "results.json"
SCRATCH = "-scratch"        # eval directory suffix of randomly initialised encoders (benchmark.scratch: true)


# ------------------------------------------------------------------------------------------ pre-training runs
def run_directory(model_cfg: Mapping, output: str | None = None) -> str:
    """``output`` if given, else ``<model.model_dir>/<model.name>`` (the original code's layout)."""
    return output if output else os.path.join(model_cfg["model_dir"], model_cfg["name"])


def debug_directory(run_dir: str) -> str:
    """``<run_dir>-debug``: where ``--debug`` runs go, apart from the real run's files."""
    return os.path.normpath(run_dir) + "-debug"


def seed_directory(run_dir: str, seed: int) -> str:
    """``<run_dir>-seed<S>``: one training seed's run of a multi-seed suite (tools/reproduce_tables.py)."""
    return f"{run_dir}-seed{seed}"


def latest_checkpoint(run_dir: str) -> str:
    return os.path.join(run_dir, LATEST)


def snapshot_name(epoch: int) -> str:
    """File name of the snapshot kept after ``epoch`` epochs (``snapshot_epochs``)."""
    return f"checkpoint-ep{epoch}.pth"


# ------------------------------------------------------------------------------------------ evaluation runs
def eval_name(benchmark: str, scratch: bool, run_dir: str, checkpoint: str | None = None) -> str:
    """``<benchmark>[-scratch][-<checkpoint file>]``: a scratch evaluation never shares (and resumes) the directory
    of the same benchmark on pre-trained weights, and one of another file than ``run_dir``'s own ``checkpoint.pth``
    (e.g. ``checkpoint-ep50.pth``) has its own. ``checkpoint``: None for scratch or the run's own."""
    name = benchmark + (SCRATCH if scratch and not benchmark.endswith(SCRATCH) else "")
    if not scratch and checkpoint and os.path.abspath(checkpoint) != os.path.abspath(latest_checkpoint(run_dir)):
        name += "-" + os.path.splitext(os.path.basename(checkpoint))[0]
    return name


def eval_directory(run_dir: str, benchmark: str, scratch: bool, checkpoint: str | None = None) -> str:
    """``<run_dir>/eval-<eval_name>``: one evaluation's folds and, with several, their summary."""
    return os.path.join(run_dir, "eval-" + eval_name(benchmark, scratch, run_dir, checkpoint))


def fold_directory(eval_dir: str, fold: int) -> str:
    return os.path.join(eval_dir, f"fold-{fold:02d}")


def eval_run_directory(run_dir: str, benchmark: str, scratch: bool, fold: int = 1,
                       checkpoint: str | None = None) -> str:
    """The default run directory of an evaluation (one fold)."""
    return fold_directory(eval_directory(run_dir, benchmark, scratch, checkpoint), fold)


def summary_path(fold_run_dir: str) -> str:
    """The fold summary's ``results.json``, beside the fold directories."""
    return results_path(os.path.dirname(os.path.normpath(fold_run_dir)))


def finished_run_directory(path: str) -> str | None:
    """The run directory whose ``results.json`` ``path`` means: ``path`` itself, or the one ``fold-NN`` of a
    one-fold evaluation's ``eval-…`` directory; None when there is none."""
    if os.path.isfile(results_path(path)):
        return path
    folds = glob.glob(os.path.join(glob.escape(path), "fold-*", RESULTS))
    return os.path.dirname(folds[0]) if len(folds) == 1 else None


# ------------------------------------------------------------------------------------------ results.json
def results_path(run_dir: str) -> str:
    return os.path.join(run_dir, RESULTS)


def write_results(path: str, results: Mapping) -> None:
    """Write a results.json atomically (a reader sees the old or the new file, never a part)."""
    write_json(path, dict(results))


def read_results(path: str) -> dict | None:
    """A results.json's content, None when the file does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def timestamp() -> str:
    """The ``date`` of a results.json: UTC, ISO 8601, seconds."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _hashes_entry(hashes: Sequence[str]) -> str | list[str]:
    """results.json's ``config_sha256``: the hash of one fold, the list of several folds' hashes."""
    return list(hashes) if len(hashes) > 1 else hashes[0]


def summarise_folds(per_fold: list[dict]) -> dict:
    """The fold summary: mean of every metric over folds, with the per-fold values."""
    keys = per_fold[0]["metrics"]
    return {
        "benchmark": per_fold[0]["benchmark"],
        "task": per_fold[0]["task"],
        "folds": [r["fold"] for r in per_fold],
        "metrics": {k: sum(r["metrics"][k] for r in per_fold) / len(per_fold) for k in keys},
        "per_fold": {str(r["fold"]): r["metrics"] for r in per_fold},
        "pretrained": per_fold[0]["pretrained"],
        "config_sha256": _hashes_entry([r["config_sha256"] for r in per_fold]),
        "date": timestamp(),
    }


def stale_reason(path: str, checkpoint: str | None, config_hashes: Sequence[str]) -> str | None:
    """Why the results.json at ``path`` is not what an evaluation would write now, or None when it is: it must
    exist, record the sha256 of ``checkpoint`` (the pre-trained file it would read now; None: scratch) and the
    result-changing settings' hashes (one per fold, ``evaluation.runner.config_hash``)."""
    results = read_results(path)
    if results is None:
        return "no results yet"
    sha = cached_sha256(checkpoint) if checkpoint and os.path.isfile(checkpoint) else None
    if checkpoint and sha != results.get("pretrained", {}).get("sha256"):
        return f"computed from another pre-trained checkpoint than {checkpoint}"
    if results.get("config_sha256") != _hashes_entry(config_hashes):
        return "computed with other settings"
    return None
