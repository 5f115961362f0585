"""Pre-emption under torchrun (2 gloo ranks on CPU): the signal of the documented SLURM recipe (docs/pretraining.md),
sent to the torchrun process as SLURM sends it to the job step, reaches the workers; they finish the step, write
checkpoint.pth and exit, and the same command resumes from it."""

import os
import re
import signal
import subprocess
import sys

from utils.checkpoint import load_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _documented_recipe() -> tuple[str, list[str]]:
    """(signal name, torchrun options) of the sbatch example in docs/pretraining.md."""
    with open(os.path.join(REPO, "docs", "pretraining.md"), encoding="utf-8") as f:
        text = f.read()
    recipe = re.search(r"#SBATCH --signal=(?:B:)?(\w+)@\d+.*?\n\s*srun torchrun ([^\n]*)", text, re.S)
    assert recipe, "docs/pretraining.md has no sbatch example with --signal and srun torchrun"
    options = [option for option in recipe.group(2).split() if option.startswith("--signals")]
    return recipe.group(1).removeprefix("SIG"), options


def _interrupt(run_dir, name: str, options: list[str]):
    """3 epochs x 4 steps of 8; rank 0 signals torchrun during step 6 and waits until the signal reaches it."""
    command = [*TORCHRUN, *options, os.path.join(HERE, "tiny_run.py"), str(run_dir)]
    done = subprocess.run(command + ["--signal-launcher-at-forward", "6", "--launcher-signal", name], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=120)
    return command, done


def test_the_documented_slurm_signal_sent_to_torchrun_checkpoints_and_the_same_command_resumes(tmp_path):
    name, options = _documented_recipe()
    command, interrupted = _interrupt(tmp_path, name, options)
    signum = getattr(signal, f"SIG{name}")
    assert interrupted.returncode != 0
    # both workers stop after the step in which the signal came, with the documented line and exit code
    assert interrupted.stderr.count(f"stopped by signal {signum} after epoch 2 step 2 (step 6 in total)") == 2
    assert "Unable to shutdown" not in interrupted.stderr  # they exited by themselves: none was SIGKILLed after 30 s
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert (state["epoch"], state["epoch_step"], state["step"]) == (1, 2, 6)

    resumed = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in (tmp_path / "train.log").read_text()
    assert load_checkpoint(tmp_path / "checkpoint.pth")["step"] == 12


def test_sigusr1_reaches_the_workers_when_torchrun_is_told_to_handle_it(tmp_path):
    """torchrun's default --signals-to-handle lacks SIGUSR1 (whose default action kills torchrun before any worker
    could write a checkpoint); the docs give the option for clusters that send SIGUSR1."""
    _, interrupted = _interrupt(tmp_path, "USR1", ["--signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"])
    assert interrupted.stderr.count("stopped by signal 10 after epoch 2 step 2") == 2, interrupted.stderr[-3000:]
    assert load_checkpoint(tmp_path / "checkpoint.pth")["step"] == 6
    assert "Unable to shutdown" not in interrupted.stderr  # the workers exited by themselves, none was SIGKILLed
