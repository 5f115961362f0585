"""A tiny training run for the engine tests (not a test module): toy data whose samples depend only on
(seed, epoch, index), and a toy task with BatchNorm and dropout, so exact resume needs the restored RNG state.

In-process: ``config(...)``, ``ToyData``, ``ToyTask``; as a subprocess::

    python tests/engine/tiny_run.py RUN_DIR [--set KEY=VALUE ...] [--kill-at-forward N [--kill-rank R]]
    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/engine/tiny_run.py RUN_DIR ...
        [--signal-launcher-at-forward N --launcher-signal USR1]     # as a cluster signals torchrun before a time limit
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from utils.config import parse_override  # noqa: E402

FEATURES = 12


def config(**values) -> dict:
    """A validated run config (run-level keys + optimizer) for the toy runs; ``values`` use dotted keys."""
    raw = {"num_workers": 0, "print_freq": 1, "log2tb": False, "optimizer": {"lr": 0.05, "epochs": 3}}
    for key, value in values.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return PRETRAIN_SCHEMA.validate(raw, "", lambda key: "<test>")


class ToyData(Dataset):
    """Two Gaussian classes; each sample drawn from a generator seeded by (seed, epoch, index), as avsa datasets.
    ``bad_every``: every n-th sample reports one replaced (failed) sample, as datasets/base.py does."""

    def __init__(self, size: int = 32, seed: int = 0, bad_every: int = 0):
        self.size, self.seed, self.epoch, self.bad_every = size, seed, 0, bad_every

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch * 1009 + index)
        label = index % 2
        x = torch.randn(FEATURES, generator=generator) + 1.5 * label
        failures = int(self.bad_every > 0 and index % self.bad_every == 0)
        return {"x": x, "label": torch.tensor(label), "failures": torch.tensor(failures)}


class ToyTask(nn.Module):
    """Encoder (BatchNorm, dropout) + classifier. ``on_forward(n)`` is called before the n-th training forward
    (1-based, this process) so tests can inject a kill, a signal or a NaN at a known step."""

    def __init__(self, on_forward=None):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3))
        self.classifier = nn.Linear(16, 2)
        self.on_forward, self.forwards = on_forward, 0

    def forward(self, batch: dict):
        if self.training:
            self.forwards += 1
            if self.on_forward is not None:
                self.on_forward(self.forwards)
        logits = self.classifier(self.encoder(batch["x"]))
        loss = nn.functional.cross_entropy(logits, batch["label"])
        return loss, {"acc": 100.0 * (logits.argmax(1) == batch["label"]).float().mean()}

    def state_modules(self) -> dict[str, nn.Module]:
        return {"model": self.encoder, "criterion": self.classifier}


def main(argv=None) -> int:
    from engine import fit, start_run

    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--kill-at-forward", type=int, default=0, help="SIGKILL this process at that forward")
    parser.add_argument("--kill-rank", type=int, default=0, help="under torchrun: the rank that is killed")
    parser.add_argument("--signal-launcher-at-forward", type=int, default=0,
                        help="under torchrun, rank 0 at that forward: send --launcher-signal to torchrun, then wait "
                             "until torchrun has forwarded it to this process")
    parser.add_argument("--launcher-signal", default="TERM", help="signal name without SIG")
    args = parser.parse_args(argv)
    cfg = config(**dict(parse_override(text) for text in args.overrides))

    def kill(n):
        if n == args.kill_at_forward and int(os.environ.get("RANK", "0")) == args.kill_rank:
            os.kill(os.getpid(), signal.SIGKILL)
        if n == args.signal_launcher_at_forward and os.environ.get("RANK") == "0":
            signum = getattr(signal, f"SIG{args.launcher_signal}")
            os.kill(os.getppid(), signum)
            request = signal.getsignal(signum).__self__  # the engine's StopRequest (engine/signals.py)
            for _ in range(600):
                if request.signum:
                    break
                time.sleep(0.05)

    run = start_run(cfg, args.run_dir, quiet=True)
    try:
        fit(run, ToyTask(kill), ToyData(32), ToyData(16, seed=1), batch_size=8)
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    from utils.cli import run_main

    run_main(main)
