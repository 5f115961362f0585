"""A resumed run is what its config and checkpoint say: a result-changing setting that differs from the checkpoint's
is refused with one line (exit code 2) and nothing of the run directory changes; a result-neutral one (engine/compat.py)
passes, is logged with the step it changed at, and config.yaml records it; a failed start leaves no directory."""

import importlib.util
import os

import pytest
import yaml

from engine.compat import RESULT_NEUTRAL, config_differences
from engine.schema import PRETRAIN_SCHEMA
from tests.files import folder_files
from utils.checkpoint import load_checkpoint
from utils.cli import run_main

_spec = importlib.util.spec_from_file_location("tiny_run", os.path.join(os.path.dirname(__file__), "tiny_run.py"))
tiny_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_run)


def _main(run_dir, *overrides):
    """tiny_run.py as a script: 3 epochs x 4 steps; returns the exit code."""
    argv = [str(run_dir)] + [arg for text in overrides for arg in ("--set", text)]
    with pytest.raises(SystemExit) as info:
        run_main(tiny_run.main, argv)
    return info.value.code


def test_changed_learning_rate_is_refused_in_one_line_and_the_run_directory_is_untouched(tmp_path, capsys):
    assert _main(tmp_path, "optimizer.epochs=1") == 0
    before = folder_files(tmp_path)
    assert {"config.yaml", "train.log", "checkpoint.pth"} <= set(before)
    capsys.readouterr()

    assert _main(tmp_path, "optimizer.epochs=1", "optimizer.lr=0.1", "seed=3") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {tmp_path / 'checkpoint.pth'}: was trained with other settings")
    assert "optimizer.lr 0.05 -> 0.1" in err and "seed 0 -> 3" in err  # every differing key, both values
    assert "--output" in err and "--set resume=false" in err             # the two ways out
    assert folder_files(tmp_path) == before                                 # config.yaml, log, checkpoint: unchanged

    # the second way out: start over with the new rate (the checkpoint is replaced by the new run's)
    assert _main(tmp_path, "optimizer.epochs=1", "optimizer.lr=0.1", "resume=false") == 0
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert state["step"] == 4 and state["config"]["optimizer"]["lr"] == 0.1
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.1  # the rate the run trained with, not the old one


def test_neutral_changes_pass_are_logged_at_their_step_and_recorded_in_config_yaml(tmp_path):
    assert _main(tmp_path, "optimizer.epochs=2") == 0
    assert _main(tmp_path, "optimizer.epochs=3", "print_freq=2", "checkpoint_every_steps=5") == 0
    log = (tmp_path / "train.log").read_text()
    assert ("config changed since the checkpoint (epoch 3, step 0 of the epoch, 8 steps in total): "
            "print_freq 1 -> 2, checkpoint_every_steps 0 -> 5, optimizer.epochs 2 -> 3; the run is extended to 3 "
            "epochs; config.yaml records the new values") in log
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (saved["optimizer"]["epochs"], saved["print_freq"], saved["checkpoint_every_steps"]) == (3, 2, 5)
    state = load_checkpoint(tmp_path / "checkpoint.pth")
    assert state["step"] == 12 and state["config"]["optimizer"]["epochs"] == 3


def test_epochs_change_the_result_with_a_cosine_schedule(tmp_path, capsys):
    cosine = "optimizer.schedule.name=cosine"
    assert _main(tmp_path, "optimizer.epochs=1", cosine) == 0
    capsys.readouterr()
    assert _main(tmp_path, "optimizer.epochs=2", cosine) == 2
    assert "optimizer.epochs 1 -> 2" in capsys.readouterr().err


def test_every_key_changes_the_result_unless_listed():
    base = PRETRAIN_SCHEMA.validate({"optimizer": {"epochs": 2}}, "", lambda key: "<test>")
    changed = PRETRAIN_SCHEMA.validate({"optimizer": {"epochs": 3, "betas": [0.8, 0.999]}, "num_workers": 9,
                                      "grad_clip": 1.0, "precision": "bf16"}, "", lambda key: "<test>")
    changing, neutral = config_differences(base, changed)
    assert [k for k, _, _ in changing] == ["precision", "grad_clip", "optimizer.betas"]
    assert [k for k, _, _ in neutral] == ["num_workers", "optimizer.epochs"]
    # a key the checkpoint's config lacks (written before the key existed) changes nothing at its default only
    older = {k: v for k, v in base.items() if k != "limit_steps"}
    assert config_differences(older, base) == ([], [])
    assert config_differences(older, {**base, "limit_steps": 2})[0] == [("limit_steps", "(absent)", 2)]
    assert config_differences({**base, "gone_key": 1}, base)[0] == [("gone_key", 1, "(absent)")]
    assert "seed" not in RESULT_NEUTRAL and "dataset.batch_size" not in RESULT_NEUTRAL


def test_refused_resume_under_a_new_name_creates_nothing(tmp_path, capsys):
    """A start that fails creates no directory: here resuming a checkpoint copied from another run."""
    assert _main(tmp_path / "a", "optimizer.epochs=1") == 0
    os.makedirs(tmp_path / "b")
    os.link(tmp_path / "a" / "checkpoint.pth", tmp_path / "b" / "checkpoint.pth")
    capsys.readouterr()
    assert _main(tmp_path / "b", "optimizer.epochs=1", "grad_clip=1.0") == 2
    assert os.listdir(tmp_path / "b") == ["checkpoint.pth"]  # no log, no config.yaml, no tensorboard/
