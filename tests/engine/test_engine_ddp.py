"""DDP on CPU (gloo, 2 ranks under torchrun): every parameter — encoders, translation networks, heads — stays
identical across ranks, and the run matches one process on the same global batch (loss per step within 1e-4,
weights after 3 SGD steps)."""

import os
import subprocess
import sys
import time

import pytest
import torch

from utils.checkpoint import load_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(HERE, "ddp_run.py")


def _losses(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(run_dir, "tensorboard"))
    events.Reload()
    return [e.value for e in events.Scalars("train/loss")]


def test_two_rank_ddp_matches_one_process_on_the_global_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          SCRIPT, str(tmp_path / "ddp")], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "single")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]

    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    reference = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
    parts = {name.split(".")[1] for name in rank0 if name.startswith("criterion.")}
    assert {"v2a_transformer", "a2v_transformer", "video_head", "audio_head", "video_pred_head",
            "audio_pred_head"} <= parts
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), f"{name} differs across ranks"
        assert torch.allclose(rank0[name].float(), reference[name].float(), atol=1e-5, rtol=1e-4), name
    losses_ddp, losses_single = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert len(losses_ddp) == len(losses_single) == 3
    assert losses_ddp == pytest.approx(losses_single, abs=1e-4)
    assert losses_single[-1] < losses_single[0]  # the steps did something


@pytest.mark.slow
def test_a_dead_rank_stops_the_others_and_the_run_resumes_from_the_last_checkpoint(tmp_path):
    """Rank 1 is SIGKILLed during step 8; torchrun tears the group down (rank 0 would otherwise hit the
    collective timeout, 30 s here) and exits non-zero; rerunning the same command resumes from step 6."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               os.path.join(HERE, "tiny_run.py"), str(tmp_path), "--set", "checkpoint_every_steps=3",
               "--set", "dist_timeout_s=30"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    crashed = subprocess.run(command + ["--kill-at-forward", "8", "--kill-rank", "1"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=180)
    assert crashed.returncode != 0 and time.monotonic() - started < 120
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert (state["epoch"], state["epoch_step"], state["step"]) == (1, 2, 6)  # 3 epochs x 4 steps of 8 (4 per rank)
    resumed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(tmp_path / "checkpoint.pth")["step"] == 12
