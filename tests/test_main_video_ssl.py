"""The paper's pre-training configs (configs/main/avsa/) build the paper's networks and train one step."""

import glob
import os
import subprocess
import sys

import pytest
import torch

from criterions import build_criterion
from engine import PretextTask, fit, start_run
from engine.schema import PRETRAIN_SCHEMA
from models import build_model
from utils.config import load_config, read_config
from tests.files import folder_files
from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "main", "avsa", "[A-Z]*.yaml")))
NAMES = [os.path.basename(path)[:-5] for path in CONFIGS]

# Parameter counts of the released code (from its checkpoint's tensor shapes): av_wrapper(R2Plus1D-18,
# Conv2D-10) = 15,379,136 + 4,735,104; Video2AudioSeq (two depth-2 transformers, four heads) = 12,872,192;
# InstDisc's ContrastiveLoss (two 512 -> 128 projections) = 131,328.
ENCODERS = 20_114_240
CRITERION = {"transformer": 12_872_192, "none": 131_328}


def _load(name):
    return load_config(os.path.join(REPO, "configs", "main", "avsa", f"{name}.yaml"),
                       required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)


def _shapes(dataset_cfg):
    """(K, 3, T, H, W) and (K, 4, Ta, F) of one sample under this dataset section."""
    video, audio = dataset_cfg["video"], dataset_cfg["audio"]
    views = dataset_cfg["viewpoints"]["num"] * dataset_cfg["temporal_clips"]
    frames = round(video["clip_duration"] * video["fps"])
    return ((views, 3, frames, video["crop_size"], video["crop_size"]),
            (views, 4, round(audio["clip_duration"] * audio["rate"] / audio["hop"]), audio["n_mels"]))


def test_every_config_named_by_the_issue_exists():
    assert {"InstDisc", "AVTS", "AVC-Loc4-TransfD2", "AVTS-Loc4-TransfD2", "Cur-Loc4-TransfD2",
            "NoCur-Loc4-TransfD2", "Cur-Loc4-MLP"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_paper_config_builds_the_paper_networks(name):
    cfg = _load(name)
    assert cfg["optimizer"]["name"] == "adam" and cfg["optimizer"]["lr"] == 1e-4
    assert cfg["optimizer"]["weight_decay"] == 1e-5 and cfg["loss"]["temperature"] == 0.07
    (views, _, frames, size, _), (_, _, mel_frames, mels) = _shapes(cfg["dataset"])
    assert (frames, size, mel_frames, mels) == (8, 112, 100, 128)
    assert views * cfg["dataset"]["batch_size"] == 112  # every config sees 112 crops per batch
    model = build_model(cfg["model"], load_init=False)
    criterion = build_criterion(cfg["loss"], feature_dim=model.out_dim)
    assert model.out_dim == 512 and sum(p.numel() for p in model.parameters()) == ENCODERS
    kind = cfg["loss"]["translation"]["kind"]
    if kind in CRITERION:
        assert sum(p.numel() for p in criterion.parameters()) == CRITERION[kind]
    if cfg["loss"]["name"] == "avsa":
        assert cfg["loss"]["negatives"] == ("reference" if name.endswith("-reference") else "paper")
    assert (cfg["model"]["init_from"] is not None) == name.startswith("Cur-")
    assert cfg["optimizer"]["epochs"] == (50 if name.startswith("Cur-") else 100)


class _Fixed(torch.utils.data.Dataset):
    def __init__(self, video_shape, audio_shape):
        self.video_shape, self.audio_shape = video_shape, audio_shape

    def __len__(self):
        return 2

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return {"video": torch.randn(self.video_shape, generator=generator),
                "audio": torch.randn(self.audio_shape, generator=generator),
                "position": torch.zeros(self.video_shape[0], 3)}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_paper_config_trains_one_step_with_batch_2_on_cpu(name, tmp_path):
    cfg = _load(name)
    cfg.update(num_workers=0, log2tb=False)
    cfg["dataset"]["batch_size"] = 2
    cfg["optimizer"]["epochs"] = 1
    run = start_run(cfg, str(tmp_path), quiet=True)
    try:
        model = build_model(cfg["model"], load_init=False)  # no phase-1 file here: random encoders
        task = PretextTask(model, build_criterion(cfg["loss"], feature_dim=model.out_dim))
        before = {k: v.clone() for k, v in task.state_dict().items()}
        results = fit(run, task, _Fixed(*_shapes(cfg["dataset"])), batch_size=2)
    finally:
        run.close()
    assert torch.isfinite(torch.tensor(results["train"]["loss"]))
    changed = [k for k, v in task.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("model.video_model.") for k in changed)
    assert any(k.startswith("model.audio_model.") for k in changed)
    assert any(k.startswith("criterion.") for k in changed)


# ------------------------------------------------------------------------------ the script end to end (tiny data)
def _script():
    return load_script("main-video-ssl.py")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from datasets.synthetic import generate

    root = str(tmp_path_factory.mktemp("ssl"))
    generate(root, "tiny", 0, workers=1, log=lambda *a: None)
    return os.path.join(root, "yt360")


def _tiny(data, *extra):
    return ["--quiet", "--set", f"dataset.root={data}", "--set", "num_workers=0", "--set", "log2tb=false",
            "--set", "model.video.width=4", "--set", "model.audio.width=4", "--set", "optimizer.epochs=1", *extra]


def _parameters(state):
    return {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def test_curriculum_loads_phase1_encoders_only_and_resuming_never_needs_them(tiny_data, tmp_path):
    from utils.checkpoint import load_checkpoint

    main = _script().main
    phase1, phase2 = tmp_path / "phase1", tmp_path / "phase2"
    assert main([os.path.join(REPO, "configs/demo/avc.yaml"), "--output", str(phase1),
                 *_tiny(tiny_data, "--set", "snapshot_epochs=[1]", "--set", "dataset.batch_size=4")]) == 0
    phase1_state = load_checkpoint(phase1 / "checkpoint-ep1.pth")

    # phase 2 with lr 0: its encoders must be exactly phase 1's (BatchNorm statistics aside, they keep moving)
    args = [os.path.join(REPO, "configs/demo/avsa.yaml"), "--output", str(phase2),
            *_tiny(tiny_data, "--set", f"model.init_from={phase1 / 'checkpoint-ep1.pth'}", "--set", "optimizer.lr=0",
                   "--set", "dataset.batch_size=4")]
    assert main(args) == 0
    state = load_checkpoint(phase2 / "checkpoint.pth")
    for key, value in _parameters(phase1_state["model"]).items():
        assert torch.equal(state["model"][key], value), key
    # the criterion is phase 2's own (translation networks + 4 heads), nothing of phase 1's projections
    assert any(key.startswith("v2a_transformer.") for key in state["criterion"])
    assert not set(state["criterion"]) & set(phase1_state["criterion"])

    # phase 2 resumes for a second epoch without the phase-1 file (the original needed it forever)
    for name in os.listdir(phase1):
        if name.endswith(".pth"):
            os.remove(phase1 / name)
    assert main(args + ["--set", "optimizer.epochs=2"]) == 0
    assert load_checkpoint(phase2 / "checkpoint.pth")["epoch"] == 2


def _events(run_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(run_dir, "tensorboard"))
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


def test_debug_is_a_few_steps_in_its_own_directory_and_leaves_the_real_run_alone(tiny_data, tmp_path):
    from utils.checkpoint import load_checkpoint

    main = _script().main
    real = tmp_path / "run"
    # 16 train and 12 test samples: the real run has 4 train and 3 test steps of 4
    args = [os.path.join(REPO, "configs/demo/avc.yaml"), "--output", str(real),
            *_tiny(tiny_data, "--set", "dataset.batch_size=4", "--set", "dataset.train.clips_per_video=4",
                   "--set", "dataset.test.clips_per_video=4", "--set", "log2tb=true", "--set", "print_freq=1")]
    assert main(args) == 0
    before = folder_files(real, with_mtime=True)
    assert load_checkpoint(real / "checkpoint.pth")["step"] == 4
    # the demo config leaves model.audio.in_channels to its dataset: config.yaml and the checkpoint hold the 7
    saved = read_config(str(real / "config.yaml"))[0]
    assert "in_channels" not in read_config(args[0])[0]["model"]["audio"]
    assert saved["model"]["audio"]["in_channels"] == 7 == load_checkpoint(real / "checkpoint.pth")["config"]["model"][
        "audio"]["in_channels"]

    assert main(args + ["--debug"]) == 0
    assert folder_files(real, with_mtime=True) == before  # not one byte, not one timestamp of the real run changed
    debug = tmp_path / "run-debug"
    state = load_checkpoint(debug / "checkpoint.pth")
    assert (state["epoch"], state["step"]) == (1, 2) and state["config"]["limit_steps"] == 2
    assert _events(debug, "train/loss") == [1, 2]
    log = (debug / "train.log").read_text()
    assert "train 1 [2/2]" in log and "test 1 [2/2]" in log and "[3/" not in log
    assert (debug / "debug-batch.png").stat().st_size > 0
    # a second smoke run starts from scratch again (it never resumes, never extends the real run)
    assert main(args + ["--debug", "--set", "optimizer.epochs=3"]) == 0
    assert load_checkpoint(debug / "checkpoint.pth")["step"] == 2 and folder_files(real, with_mtime=True) == before


@pytest.mark.parametrize("problem", ["dataset.root=/nonexistent/yt360", "model.init_from=/nonexistent/phase1.pth"])
def test_a_failed_start_leaves_no_run_directory(tiny_data, tmp_path, capsys, problem):
    from utils.cli import run_main

    out = tmp_path / "new-run"
    with pytest.raises(SystemExit) as info:
        run_main(_script().main, [os.path.join(REPO, "configs/demo/avc.yaml"), "--output", str(out),
                                  *_tiny(tiny_data, "--set", problem)])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and "/nonexistent/" in err
    assert not out.exists()


def test_the_script_runs_from_any_directory_without_path_setup(tmp_path):
    """Python puts the script's own directory (the repository root) first on sys.path, so the script needs no
    sys.path insertion: it starts from another working directory, with no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, os.path.join(REPO, "main-video-ssl.py"), "no-such.yaml"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no-such.yaml: <file>: config file not found"
