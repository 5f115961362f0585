"""utils/runs.py: the run layout (directory and file names), results.json and its freshness check."""

import hashlib
import os

from utils import runs


def test_pre_training_run_directories():
    model = {"model_dir": "checkpoints/AVSA", "name": "InstDisc"}
    assert runs.run_directory(model) == "checkpoints/AVSA/InstDisc"
    assert runs.run_directory(model, "elsewhere") == "elsewhere"
    assert runs.debug_directory("runs/x/") == "runs/x-debug"
    assert runs.seed_directory("runs/x", 3) == "runs/x-seed3"
    assert runs.latest_checkpoint("runs/x") == "runs/x/checkpoint.pth"
    assert runs.snapshot_name(50) == "checkpoint-ep50.pth"


def test_eval_directories_keep_scratch_and_other_checkpoints_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = "ckpt/Cur"
    assert runs.eval_run_directory(run, "ucf101-8at16", False, 2) == "ckpt/Cur/eval-ucf101-8at16/fold-02"
    assert runs.eval_run_directory(run, "ucf101-8at16", True) == "ckpt/Cur/eval-ucf101-8at16-scratch/fold-01"
    assert runs.eval_name("ucf101-8at16-scratch", True, run) == "ucf101-8at16-scratch"  # never "-scratch-scratch"
    # the run's own checkpoint.pth, however spelt, adds nothing; another file adds its name
    own = os.path.join(str(tmp_path), "ckpt", "Cur", "checkpoint.pth")
    assert runs.eval_name("avsa-4crop", False, run, own) == "avsa-4crop"
    assert runs.eval_name("avsa-4crop", False, run, "ckpt/Cur/checkpoint-ep50.pth") == "avsa-4crop-checkpoint-ep50"
    assert runs.eval_name("avsa-4crop", False, run, "/other/run/checkpoint.pth") == "avsa-4crop-checkpoint"
    fold = runs.eval_run_directory(run, "ucf101-8at16", False, 3)
    assert runs.summary_path(fold) == "ckpt/Cur/eval-ucf101-8at16/results.json"
    assert runs.summary_path(fold + "/") == runs.summary_path(fold)


def test_finished_run_directory_finds_the_one_fold_of_an_eval_directory(tmp_path):
    eval_dir = tmp_path / "eval-x"
    (eval_dir / "fold-01").mkdir(parents=True)
    assert runs.finished_run_directory(str(eval_dir)) is None  # started, never finished
    runs.write_results(runs.results_path(str(eval_dir / "fold-01")), {"metrics": {}})
    assert runs.finished_run_directory(str(eval_dir)) == str(eval_dir / "fold-01")
    assert runs.finished_run_directory(str(eval_dir / "fold-01")) == str(eval_dir / "fold-01")
    runs.write_results(runs.results_path(str(eval_dir / "fold-02")), {"metrics": {}})
    assert runs.finished_run_directory(str(eval_dir)) is None  # two folds: which one is meant is not clear


def test_results_round_trip_atomically(tmp_path):
    path = runs.results_path(str(tmp_path / "run"))
    assert runs.read_results(path) is None
    runs.write_results(path, {"metrics": {"Acc@1": 61.25}})
    assert runs.read_results(path) == {"metrics": {"Acc@1": 61.25}}
    assert os.listdir(tmp_path / "run") == ["results.json"]  # no temporary file left behind


def test_fold_summary_lists_each_folds_settings_hash():
    per_fold = [{"benchmark": "b", "task": "action", "fold": f, "metrics": {"Clip@1": c}, "pretrained": {"sha256": "s"},
                 "config_sha256": f"h{f}"} for f, c in [(1, 50.0), (2, 41.0)]]
    summary = runs.summarise_folds(per_fold)
    assert summary["metrics"] == {"Clip@1": 45.5} and summary["per_fold"] == {"1": {"Clip@1": 50.0},
                                                                            "2": {"Clip@1": 41.0}}
    assert summary["config_sha256"] == ["h1", "h2"] and summary["pretrained"] == {"sha256": "s"}


def test_stale_reason_compares_the_checkpoints_sha256_and_the_settings(tmp_path):
    checkpoint = tmp_path / "checkpoint.pth"
    checkpoint.write_bytes(b"weights A")
    sha = hashlib.sha256(b"weights A").hexdigest()
    path = str(tmp_path / "eval" / "results.json")
    assert runs.stale_reason(path, str(checkpoint), ["h1"]) == "no results yet"
    runs.write_results(path, {"pretrained": {"sha256": sha}, "config_sha256": "h1"})
    assert runs.stale_reason(path, str(checkpoint), ["h1"]) is None
    assert runs.stale_reason(path, str(checkpoint), ["h2"]) == "computed with other settings"
    assert runs.stale_reason(path, str(checkpoint), ["h1", "h1"]) == "computed with other settings"  # 2 folds: a list
    checkpoint.write_bytes(b"weights B")  # same size; a set modification time makes sure it is not a cache hit
    os.utime(checkpoint, ns=(1, 1))
    assert runs.stale_reason(path, str(checkpoint), ["h1"]).startswith("computed from another pre-trained checkpoint")
    assert runs.stale_reason(path, str(tmp_path / "missing.pth"), ["h1"]).startswith("computed from another")
    runs.write_results(path, {"pretrained": {"sha256": None}, "config_sha256": ["h1", "h2"]})
    assert runs.stale_reason(path, None, ["h1", "h2"]) is None  # scratch: no checkpoint to compare
