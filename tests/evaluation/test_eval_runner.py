"""Run directories and the fold summary of evaluation.runner."""

import pytest

from evaluation.pretrained import Pretrained
from evaluation.runner import default_run_dir
from utils.runs import summarise_folds


def _cfg(name, scratch, **dataset):
    return {"benchmark": {"name": name, "scratch": scratch}, "dataset": dataset}


def test_run_directories_follow_spec_and_keep_scratch_apart():
    pretrained = Pretrained(None, None, None, None, "ckpt/Cur")
    assert default_run_dir(pretrained, _cfg("avsa-transf-4crop-yt360", False)) == \
        "ckpt/Cur/eval-avsa-transf-4crop-yt360/fold-01"
    assert default_run_dir(pretrained, _cfg("ucf101-8at16", False, fold=3)) == "ckpt/Cur/eval-ucf101-8at16/fold-03"
    assert default_run_dir(pretrained, _cfg("ucf101-8at16", True, fold=3)) == \
        "ckpt/Cur/eval-ucf101-8at16-scratch/fold-03"
    assert default_run_dir(pretrained, _cfg("ucf101-8at16-scratch", True)) == \
        "ckpt/Cur/eval-ucf101-8at16-scratch/fold-01"


def test_fold_summary_is_the_mean_with_per_fold_values():
    runs = [{"benchmark": "b", "task": "action", "fold": f, "metrics": {"Clip@1": c, "Video@1": v},
             "pretrained": {}, "config_sha256": str(f)} for f, c, v in [(1, 50.0, 60.0), (2, 40.0, 45.0),
                                                                       (3, 30.0, 51.0)]]
    summary = summarise_folds(runs)
    assert summary["metrics"] == pytest.approx({"Clip@1": 40.0, "Video@1": 52.0})
    assert summary["folds"] == [1, 2, 3] and summary["per_fold"]["2"] == {"Clip@1": 40.0, "Video@1": 45.0}


def test_a_pretrained_checkpoint_is_hashed_once_per_process(tmp_path, monkeypatch):
    """Every fold of an evaluation loads the same pre-trained checkpoint: its sha256 (results.json, the resume check)
    is the file's, and its bytes are hashed the first time only."""
    import hashlib

    from engine.schema import PRETRAIN_SCHEMA
    from evaluation.pretrained import load_pretrained
    from models import build_model
    from utils.checkpoint import save_checkpoint
    from utils.config import validate_config

    cfg = validate_config({"model": {"name": "tiny", "model_dir": str(tmp_path), "video": {"depth": 10, "width": 2},
                                     "audio": {"width": 2, "in_channels": 4}}}, {}, "<test>", schema=PRETRAIN_SCHEMA)
    path = str(tmp_path / "tiny" / "checkpoint.pth")
    save_checkpoint({"model": build_model(cfg["model"]).state_dict(), "config": cfg}, path)
    with open(path, "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    digests = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *data: digests.append(1) or real_sha256(*data))
    shas = [load_pretrained(cfg, "<test>").sha256 for _ in range(3)]
    assert shas == [expected] * 3 and len(digests) == 1
