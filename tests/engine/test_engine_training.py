"""The training loop in-process on a toy task: it learns, tests in eval mode, checkpoints and snapshots, and
stops cleanly on a signal, a NaN loss, a full disk or too many bad samples."""

import importlib.util
import os
import signal

import pytest
import torch
from torch import nn

from engine import PretextTask, RunInterrupted, TrainingDiverged, fit, start_run
from utils.checkpoint import load_checkpoint
from tests import events
from utils.errors import CheckpointError, DataError

_spec = importlib.util.spec_from_file_location("tiny_run", os.path.join(os.path.dirname(__file__), "tiny_run.py"))
tiny_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_run)


def _fit(run_dir, task=None, train=None, **cfg_values):
    run = start_run(tiny_run.config(**cfg_values), str(run_dir), quiet=True)
    try:
        return fit(run, task or tiny_run.ToyTask(), train or tiny_run.ToyData(32), tiny_run.ToyData(16, seed=1),
                   batch_size=8)
    finally:
        run.close()


def _scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(run_dir, "tensorboard"))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_learns_logs_and_keeps_snapshots(tmp_path):
    results = _fit(tmp_path, log2tb=True, snapshot_epochs=[1])
    assert results["test"]["acc"] > 80.0                    # two separable classes: well above chance (50 %)
    latest, snapshot = load_checkpoint(tmp_path / "checkpoint.pth"), load_checkpoint(tmp_path / "checkpoint-ep1.pth")
    assert (latest["epoch"], latest["epoch_step"], latest["step"]) == (3, 0, 12)
    assert (snapshot["epoch"], snapshot["step"]) == (1, 4)  # the weights after 1 epoch
    assert set(latest) >= {"model", "criterion", "optimizer", "scheduler", "scaler", "config", "rng", "meters"}
    assert latest["environment"]["versions"]["torch"] == torch.__version__  # provenance, loaded with weights_only
    assert not torch.equal(latest["criterion"]["weight"], snapshot["criterion"]["weight"])
    scalars = _scalars(tmp_path)
    for tag in ("train/loss", "train/acc", "train/lr", "train/clips_per_s", "train/data_wait_fraction",
                "train-epoch/loss", "test/loss", "test/acc", "train-epoch/bad_samples"):
        assert tag in scalars, tag
    assert len(scalars["train/loss"]) == 12 and scalars["train/lr"][0] == pytest.approx(0.05)
    assert 0.0 <= min(scalars["train/data_wait_fraction"]) <= max(scalars["train/data_wait_fraction"]) <= 1.0
    assert scalars["test/acc"][-1] == pytest.approx(results["test"]["acc"])
    hparams, metrics = events.hparams(tmp_path)  # the run's settings beside its final metrics, to compare runs
    assert hparams["optimizer.lr"] == pytest.approx(0.05) and hparams["optimizer.name"] == "adam"
    assert hparams["snapshot_epochs"] == "[1]" and hparams["log2tb"] == "true" and hparams["grad_clip"] == "null"
    assert metrics == ["train-epoch/loss", "train-epoch/acc", "test/loss", "test/acc"]
    assert os.path.exists(tmp_path / "config.yaml") and os.path.getsize(tmp_path / "train.log") > 0


class _ModeRecorder(nn.Module):
    """Stand-in model + criterion that record whether they were in training mode when called."""

    def __init__(self, log):
        super().__init__()
        self.log, self.linear = log, nn.Linear(2, 3)

    def forward(self, *inputs):
        self.log.append(self.training)
        if len(inputs) == 2:  # model(video, audio) -> embeddings (N, 3)
            return self.linear(inputs[0].flatten(1)), self.linear(inputs[1].flatten(1))
        video_emb, audio_emb, _ = inputs
        return (video_emb - audio_emb).pow(2).mean(), {}


class _Views(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return {"video": torch.ones(2, 2) * index, "audio": torch.zeros(2, 2), "position": torch.zeros(2, 3)}


def test_test_phase_puts_the_criterion_in_eval_mode_too(tmp_path):
    model_log, criterion_log = [], []
    task = PretextTask(_ModeRecorder(model_log), _ModeRecorder(criterion_log))
    run = start_run(tiny_run.config(**{"optimizer.epochs": 1}), str(tmp_path), quiet=True)
    try:
        fit(run, task, _Views(), _Views(), batch_size=2)
    finally:
        run.close()
    # 2 train steps then 2 test steps; the original left the criterion (dropout) in train mode
    assert model_log == criterion_log == [True, True, False, False]


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_exits(tmp_path):
    def terminate(n):
        if n == 6:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(RunInterrupted) as info:
        _fit(tmp_path, task=tiny_run.ToyTask(terminate))
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert "epoch 2 step 2" in str(info.value) and "resume" in str(info.value)
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert (state["epoch"], state["epoch_step"], state["step"]) == (1, 2, 6)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    class Diverging(tiny_run.ToyTask):
        def forward(self, batch):
            loss, metrics = super().forward(batch)
            return (loss * float("nan") if self.forwards == 7 else loss), metrics

    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, step 3 of the epoch \(step 7 in total\)"):
        _fit(tmp_path, task=Diverging(), checkpoint_every_steps=2)
    assert load_checkpoint(tmp_path / "checkpoint.pth")["step"] == 6


def test_disk_full_during_a_checkpoint_write_stops_with_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    import utils.checkpoint

    real_save, calls = torch.save, []

    def save_until_full(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(utils.checkpoint.torch, "save", save_until_full)
    with pytest.raises(CheckpointError) as info:
        _fit(tmp_path)
    message = str(info.value)
    assert "No space left on device" in message and "intact" in message and "\n" not in message
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert (state["epoch"], state["step"]) == (1, 4)
    assert [name for name in os.listdir(tmp_path) if ".tmp" in name] == []


def test_too_many_bad_samples_stop_the_epoch_and_a_few_are_counted(tmp_path):
    # every 4th of 32 delivered samples replaced one failed sample: 8 failed of 40 attempted = 20 %
    with pytest.raises(DataError, match=r"8 of 40 samples failed"):
        _fit(tmp_path / "many", train=tiny_run.ToyData(32, bad_every=4), max_bad_fraction=0.1)
    _fit(tmp_path / "few", train=tiny_run.ToyData(32, bad_every=4), max_bad_fraction=0.3, log2tb=True,
         **{"optimizer.epochs": 1})
    scalars = _scalars(tmp_path / "few")
    assert scalars["train-epoch/bad_samples"] == [8.0] and scalars["train-epoch/bad_fraction"] == [pytest.approx(0.2)]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_with_clipping_still_learns(tmp_path, precision):
    results = _fit(tmp_path, precision=precision, grad_clip=1.0, channels_last=True)
    assert results["test"]["acc"] > 80.0
    scaler = load_checkpoint(tmp_path / "checkpoint.pth")["scaler"]
    assert bool(scaler) == (precision == "fp16")  # the GradScaler (and its state) only for fp16


def test_test_every_skips_test_phases_but_always_tests_the_last_epoch(tmp_path):
    model_log, criterion_log = [], []
    task = PretextTask(_ModeRecorder(model_log), _ModeRecorder(criterion_log))
    run = start_run(tiny_run.config(**{"optimizer.epochs": 3, "test_every": 2}), str(tmp_path), quiet=True)
    try:
        results = fit(run, task, _Views(), _Views(), batch_size=2)
    finally:
        run.close()
    # epochs 1, 2, 3 train 2 steps each; only epoch 2 (every 2nd) and epoch 3 (the last) run the 2 test steps
    assert model_log == [True, True] + [True, True, False, False] + [True, True, False, False]
    assert "loss" in results["test"]
