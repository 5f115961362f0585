"""Checkpoints: atomic writes survive crashes, RNG state round-trips, unsafe/corrupt files are refused."""

import os
import pickle
import random

import numpy as np
import pytest
import torch

from utils import checkpoint as ckpt
from utils.errors import CheckpointError


def _state(value: float) -> dict:
    return {"epoch": 1, "step": 10, "model": {"w": torch.full((3,), value)}, "config": {"seed": 0}}


def test_round_trip_and_version(tmp_path):
    path = str(tmp_path / "checkpoint.pth")
    ckpt.save_checkpoint(_state(1.0), path)
    loaded = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], torch.ones(3)) and loaded["avsa_version"]
    assert os.listdir(tmp_path) == ["checkpoint.pth"]  # no temporary file left behind


def test_crash_in_the_middle_of_a_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoint.pth")
    ckpt.save_checkpoint(_state(1.0), path)
    real_save = torch.save

    def crash_after_partial_write(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(100)  # a half-written file...
        raise KeyboardInterrupt  # ...and the process is interrupted

    monkeypatch.setattr(torch, "save", crash_after_partial_write)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(_state(2.0), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(ckpt.load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["checkpoint.pth"]


def test_disk_full_is_a_clear_error_and_previous_is_intact(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoint.pth")
    ckpt.save_checkpoint(_state(1.0), path)

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"x" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device; the previous checkpoint"):
        ckpt.save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert torch.equal(ckpt.load_checkpoint(path)["model"]["w"], torch.ones(3))


def test_rng_state_round_trips():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = ckpt.capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.restore_rng_state(state)
    assert random.random() == expected[0] and np.random.rand() == expected[1]
    assert torch.equal(torch.rand(2), expected[2])


def test_rng_state_survives_save_and_safe_load(tmp_path):
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    path = str(tmp_path / "c.pth")
    ckpt.save_checkpoint({"rng": ckpt.capture_rng_state()}, path)
    expected = (random.random(), np.random.rand(), torch.rand(3))
    ckpt.restore_rng_state(ckpt.load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(3), expected[2])


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_is_refused(tmp_path):
    path = str(tmp_path / "evil.pth")
    torch.save({"avsa_version": "0", "model": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refusing to load .* could run code"):
        ckpt.load_checkpoint(path)


@pytest.mark.parametrize("content,match", [
    (b"", "corrupt or truncated"),
    (b"not a zip file at all" * 10, "corrupt"),
])
def test_corrupt_files_are_refused(tmp_path, content, match):
    path = tmp_path / "c.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        ckpt.load_checkpoint(str(path))


def test_truncated_checkpoint_is_refused(tmp_path):
    path = str(tmp_path / "c.pth")
    ckpt.save_checkpoint(_state(1.0), path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError, match="corrupt"):
        ckpt.load_checkpoint(path)


def test_foreign_and_missing_files(tmp_path):
    path = str(tmp_path / "foreign.pth")
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not an avsa checkpoint"):
        ckpt.load_checkpoint(path)
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match="not an avsa checkpoint"):
        ckpt.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load_checkpoint(str(tmp_path / "missing.pth"))


def test_strict_state_loading_names_the_mismatch():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match="missing 1 keys"):
        ckpt.load_state_strict(model, {"weight": torch.zeros(2, 2)}, "model", "x.pth")
    with pytest.raises(CheckpointError, match="size mismatch"):
        ckpt.load_state_strict(model, {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, "model", "x.pth")
    assert pickle  # (pickle is used by the refused-object test through torch.save)
