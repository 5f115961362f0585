"""Exact resume: N steps straight vs. N/2 steps, SIGKILL, resume -> bit-identical weights and optimizer state
(CPU, fixed seed). Runs in subprocesses (tests/engine/tiny_run.py) so the kill is a real SIGKILL."""

import os
import signal
import subprocess
import sys

import torch

from utils.checkpoint import load_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# 3 epochs x 4 steps = 12 steps; a checkpoint every 3 steps; one DataLoader worker (persistent), so samples must
# not depend on worker random streams.
SETTINGS = ["--set", "checkpoint_every_steps=3", "--set", "num_workers=1"]


def _run(run_dir, *extra):
    return subprocess.run([sys.executable, os.path.join(HERE, "tiny_run.py"), str(run_dir), *SETTINGS, *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            _assert_identical(a[key], b[key])
        elif isinstance(a[key], list):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                _assert_identical({"v": x}, {"v": y}) if not isinstance(x, dict) else _assert_identical(x, y)
        else:
            assert a[key] == b[key], key


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    straight = _run(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr

    killed = _run(tmp_path / "killed", "--kill-at-forward", "8")  # during step 8; last checkpoint: step 6
    assert killed.returncode == -signal.SIGKILL
    interrupted = load_checkpoint(tmp_path / "killed" / "checkpoint.pth")
    assert (interrupted["epoch"], interrupted["epoch_step"], interrupted["step"]) == (1, 2, 6)

    resumed = _run(tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in (tmp_path / "killed" / "train.log").read_text()

    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pth") for name in ("straight", "killed"))
    assert a["step"] == b["step"] == 12
    for entry in ("model", "criterion", "optimizer", "scheduler", "meters"):
        _assert_identical(a[entry], b[entry])
    # and the straight run really trained (the check above would also pass for two untouched models)
    assert not torch.equal(a["criterion"]["weight"], interrupted["criterion"]["weight"])
