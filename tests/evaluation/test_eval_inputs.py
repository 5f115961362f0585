"""Evaluations see the inputs the model was pre-trained on: the eval dataset inherits the pre-training's input recipe
(`datasets.INPUT_KEYS`) unless it sets a key, and a key set to another value is an error unless forced. With the
released model's config, one test sample's audio equals the original's recipe computed independently (librosa and
scipy, as the original code did) with the original's statistics file."""

import argparse
import os
import shutil

import librosa
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from datasets import INPUT_KEYS, build_dataset
from evaluation.pretrained import load_pretrained
from evaluation.runner import eval_parser, load_configs
from evaluation.schema import EVAL_SCHEMA
from tests.conftest import shared_path
from tests.datasets.media_fixtures import write_lists, write_segment
from utils.config import load_config, read_config
from utils.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "configs/main/avsa/Cur-Loc4-TransfD2-reference.yaml")
PAPER = os.path.join(REPO, "configs/main/avsa/Cur-Loc4-TransfD2.yaml")
ORIGINAL_STATS = "MelSpectDB-24khz-257fft-128mels-norm-stats.npz"  # the released model's statistics file
YT360_BENCHMARKS = [os.path.join(REPO, "configs/benchmark", path) for path in (
    "avc/avc-notransf-1crop.yaml", "avc/avc-transf-4crop.yaml", "avsa/avsa-notransf-4crop.yaml",
    "avsa/avsa-transf-1crop.yaml", "segmentation/yt360-fpn-4crop-head-audio-ctx.yaml",
    "segmentation/yt360-fpn-4crop-e2e-vonly.yaml")]


def _resolve(config, pretrain, *overrides):
    return load_configs(argparse.Namespace(config=config, pretrain_config=pretrain, overrides=list(overrides)))


def _protocol(section: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a yt360 ``dataset`` section without its input keys: how samples are drawn and batched."""
    flat = {}
    for key, value in section.items():
        if isinstance(value, dict):
            flat.update(_protocol(value, f"{prefix}{key}."))
        elif f"{prefix}{key}" not in INPUT_KEYS["yt360"]:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("benchmark", YT360_BENCHMARKS, ids=os.path.basename)
def test_released_model_is_evaluated_on_the_original_recipe(benchmark):
    data = _resolve(benchmark, REFERENCE)[0]["dataset"]
    assert data["audio"]["parity"] is True and data["audio"]["stats"] == ORIGINAL_STATS
    assert data["rotation_order"] == "reference" and data["video_placement"] == "uniform"
    assert data["audio"]["n_mels"] == 128
    paper = _resolve(benchmark, PAPER)[0]["dataset"]
    # the benchmark's own protocol is kept: its viewpoints, batch, splits, sampling, as the config alone gives them
    alone = _protocol(load_config(benchmark, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)["dataset"])
    assert len(alone) > 20  # the flattening found the section
    assert _protocol(data) == alone and _protocol(paper) == alone
    assert paper["audio"]["stats"] == "audio-stats-24000hz-512fft-240hop-128mels.npz"
    assert paper["audio"]["parity"] is False
    assert paper["rotation_order"] == "correct" and paper["video_placement"] == "centred"


def test_the_pretrained_model_takes_its_audio_channels_from_the_pretraining_dataset():
    """The demo pre-training config leaves model.audio.in_channels to its dataset (4 log-mels + 3 intensity-vector
    channels): the evaluation builds the pre-trained model with the resolved 7, the paper's with 4."""
    demo = os.path.join(REPO, "configs/demo/avsa.yaml")
    assert "in_channels" not in read_config(demo)[0]["model"]["audio"]
    pretrain_cfg = _resolve(os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), demo)[1]
    assert pretrain_cfg["model"]["audio"]["in_channels"] == 7
    pretrained = load_pretrained(pretrain_cfg, demo, scratch=True)
    assert pretrained.model.audio_model.conv1[0].weight.shape[1] == 7
    assert _resolve(YT360_BENCHMARKS[0], PAPER)[1]["model"]["audio"]["in_channels"] == 4


def test_explicit_disagreement_is_an_error_unless_forced():
    benchmark = YT360_BENCHMARKS[0]
    with pytest.raises(ConfigError, match=r"^--set: dataset\.audio\.parity: false, but the model was pre-trained with "
                                          r"true \(.*Cur-Loc4-TransfD2-reference\.yaml\)"):
        _resolve(benchmark, REFERENCE, "dataset.audio.parity=false")
    forced = _resolve(benchmark, REFERENCE, "dataset.audio.parity=false", "benchmark.allow_input_mismatch=true")[0]
    assert forced["dataset"]["audio"]["parity"] is False and forced["dataset"]["rotation_order"] == "reference"
    # setting the pre-training's own value is no disagreement
    same = _resolve(benchmark, REFERENCE, "dataset.video_placement=uniform")[0]
    assert same["dataset"]["video_placement"] == "uniform"


def test_action_benchmarks_inherit_and_check_the_video_keys(tmp_path):
    pretrain = tmp_path / "pretrain.yaml"
    pretrain.write_text(f"base: {PAPER}\ndataset: {{video: {{clip_duration: 0.25, fps: 8, crop_size: 96}}}}\n")
    ucf = tmp_path / "ucf.yaml"  # the paper's UCF config without its video line: everything inherited
    ucf.write_text("benchmark: {name: u, task: action}\ndataset: {name: ucf101, root: data/ucf101, resize: 128}\n")
    assert _resolve(str(ucf), str(pretrain))[0]["dataset"]["video"] == {"clip_duration": 0.25, "fps": 8.0,
                                                                        "crop_size": 96}
    with pytest.raises(ConfigError, match=r"action\.yaml: dataset\.video\.clip_duration: 0\.5, but the model was "
                                          r"pre-trained with 0\.25"):
        _resolve(os.path.join(REPO, "configs/benchmark/ucf/ucf-8at16.yaml"), str(pretrain))


def test_pre_training_config_without_dataset_passes_nothing(tmp_path):
    model_only = tmp_path / "model.yaml"
    model_only.write_text("model: {name: m, video: {depth: 10, width: 4}, audio: {width: 4, in_channels: 4}}\n")
    data = _resolve(YT360_BENCHMARKS[0], str(model_only))[0]["dataset"]
    assert data["audio"]["stats"] is None and data["audio"]["parity"] is False and data["rotation_order"] == "correct"


@pytest.mark.parametrize("suite", ["paper", "demo"])
def test_every_evaluation_of_the_suites_resolves_with_its_pre_training(suite, monkeypatch):
    """Each eval job of `tools/reproduce_tables.py` resolves through the eval scripts' loader (no input mismatch), and
    every YT-360 evaluation normalises its log-mels with the statistics its model was pre-trained with."""
    from tools.tables.planner import build_plan
    from tools.tables.suites import SUITES

    monkeypatch.chdir(REPO)
    parser = eval_parser("", folds=True)  # the command line of the eval scripts with --folds, as the planner parses it
    evals = [job for job in build_plan(SUITES[suite]).jobs.values() if job.kind == "eval"]
    assert len(evals) >= 10
    for job in evals:
        eval_cfg, pretrain_cfg = load_configs(parser.parse_args(list(job.argv[1:])))
        data = eval_cfg["dataset"]
        if data["name"] == "yt360":
            assert data["audio"]["stats"] is not None, job.key
            assert data["audio"]["stats"] == pretrain_cfg["dataset"]["audio"]["stats"], job.key


# ------------------------------------------------------------------------------------------ one sample, independently
def _original_features(foa: np.ndarray, azimuth: float, elevation: float, mean, std) -> np.ndarray:
    """The original's audio of one crop: FOA rotated with R_z(−φ)·R_y(ν) (scipy single-axis rotations, channels
    X, Y, Z = 3, 1, 2), then per channel librosa's magnitude mel (reflect padding, 128 Slaney bands), the first 100
    frames, power_to_db(ref 1, amin 1e-10, top_db 100), standardised per band. (4, 100, 128)."""
    rotation = (Rotation.from_euler("z", -azimuth) * Rotation.from_euler("y", elevation)).as_matrix()
    xyz = rotation @ foa[[3, 1, 2]].astype(np.float64)
    rotated = np.stack([foa[0], xyz[1], xyz[2], xyz[0]]).astype(np.float32)
    out = []
    for channel in rotated:
        mel = librosa.feature.melspectrogram(y=channel, sr=24000, n_fft=512, hop_length=240, power=1.0,
                                             pad_mode="reflect")
        db = librosa.power_to_db(mel[:, :100], ref=1.0, amin=1e-10, top_db=100.0).T
        out.append((db - mean) / (std + 1e-5))
    return np.stack(out)


def test_a_test_sample_of_the_released_model_has_the_original_audio_features(tmp_path):
    stats = shared_path("reference-assets", ORIGINAL_STATS)
    root = str(tmp_path / "yt360")
    write_segment(root, "aaaaaaaaaaa-0", seconds=2.0, size=(128, 64), direction=(70.0, 25.0))
    write_lists(root, train=["aaaaaaaaaaa"], test=["aaaaaaaaaaa"])
    shutil.copy(stats, os.path.join(root, ORIGINAL_STATS))  # where the users put it: next to the data
    eval_cfg, _ = _resolve(os.path.join(REPO, "configs/benchmark/avc/avc-notransf-4crop.yaml"), REFERENCE,
                           f"dataset.root={root}", "num_workers=0")
    dataset = build_dataset(eval_cfg["dataset"], "test", seed=eval_cfg["benchmark"]["test_seed"])
    sample = dataset[0]
    raw = dataset.decode(0)  # the decoded FOA window of that sample, (1, 4, 24000)
    with np.load(stats) as data:
        mean, std = data["mean"].astype(np.float64), data["std"].astype(np.float64)
    audio = sample["audio"].numpy()
    assert audio.shape == (4, 4, 100, 128)
    elevations = sample["position"][:, 1]
    assert float(elevations.abs().max()) > 0.05  # off the horizon, where the two rotation orders differ
    for k in range(4):
        azimuth, elevation = (float(a) for a in sample["position"][k, :2])
        expected = _original_features(raw["foa"][0].numpy(), azimuth, elevation, mean, std)
        difference = np.abs(audio[k] - expected)  # measured 8e-6; the correct rotation order differs by > 0.07
        assert difference.max() < 2e-3, (k, difference.max())
