"""The log-mel statistics (``dataset.audio.stats``): computed per mel band as an independent librosa computation gives
them, written with their recipe by tools/compute_audio_stats.py where the config names them, written by the synthetic
data generator where the demo configs name them, and named by every paper config."""

import glob
import os
from types import SimpleNamespace

import librosa
import numpy as np
import pytest

import datasets.audio_stats as audio_stats
from datasets import build_dataset
from datasets.audio_stats import ORIGINAL_STATS, RECIPE, compute_stats, stats_file_name, stats_path, stats_recipe
from evaluation.schema import load_any_config
from tests.datasets.media_fixtures import plane_wave_foa, write_lists, write_segment, yt360_config
from tests.scripts import load_script
from utils.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDS = ["aaaaaaaaaaa", "bbbbbbbbbbb"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("stats") / "yt360")
    for number, video_id in enumerate(IDS):
        write_segment(path, f"{video_id}-0", seconds=1.0, size=(64, 32), direction=(40.0 + 90 * number, 10.0))
    write_lists(path, train=IDS, test=IDS[:1])
    return path


@pytest.mark.parametrize("parity", [False, True])
def test_per_band_mean_and_std_equal_an_independent_librosa_computation(root, parity, monkeypatch):
    # Every file holds exactly one 0.5-s crop (4, 12000): the crops are the files, whatever the random start.
    signals = {os.path.join(root, "audio", f"{video_id}-0.m4a"): plane_wave_foa(0.5, 30.0 * n, 20.0 - 15 * n, seed=n)
               for n, video_id in enumerate(IDS)}
    monkeypatch.setattr(audio_stats, "probe_media", lambda path: SimpleNamespace(duration=0.5))
    monkeypatch.setattr(audio_stats, "read_audio", lambda path, start, duration, rate, fmt, return_padding:
                        (__import__("torch").from_numpy(signals[path]), 0))
    cfg = yt360_config(root, **{"audio.clip_duration": 0.5, "audio.n_mels": 40, "audio.parity": parity})
    mean, std = compute_stats(cfg, crops_per_file=3)
    rows = []
    for foa in signals.values():
        for channel in foa:  # the original's per-channel recipe (magnitude + reflect) or true dB (power + zeros)
            mel = librosa.feature.melspectrogram(y=channel, sr=24000, n_fft=512, hop_length=240, n_mels=40,
                                                 power=1.0 if parity else 2.0,
                                                 pad_mode="reflect" if parity else "constant")
            rows.append(librosa.power_to_db(mel[:, :50], ref=1.0, amin=1e-10, top_db=100.0).T)  # (50 frames, 40)
    values = np.concatenate(rows).astype(np.float64)  # every frame of every channel of every crop
    assert mean.shape == std.shape == (40,)
    np.testing.assert_allclose(mean, values.mean(0), atol=2e-3)
    np.testing.assert_allclose(std, values.std(0), atol=2e-3)
    assert float(std.min()) > 1.0  # the bands vary: a std of zero would make the check above meaningless


def test_command_line_writes_the_configs_file_with_its_recipe(root, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"dataset:\n  root: {root}\n  audio: {{clip_duration: 0.5, n_mels: 32, stats: s.npz}}\n")
    tool = load_script(os.path.join(REPO, "tools", "compute_audio_stats.py"))
    assert tool.main([str(config), "--set", "dataset.audio.parity=true", "--crops-per-file", "2"]) == 0
    path = os.path.join(root, "s.npz")  # relative to dataset.root
    assert path in capsys.readouterr().out
    assert stats_recipe(path) == {"rate": 24000, "n_fft": 512, "hop": 240, "n_mels": 32, "parity": True}
    with np.load(path) as data:
        assert data["mean"].shape == data["std"].shape == (32,) and -100 < float(data["mean"].mean()) < 0
    # the file serves the config it was made for, and no other recipe
    cfg = load_any_config(str(config), ["dataset.audio.parity=true"])["dataset"]
    assert build_dataset(cfg, "train", seed=0).audio_features.stats[0].shape == (32,)
    with pytest.raises(ConfigError, match=r"holds the statistics of another audio recipe: parity true \(config: "
                                          r"false\); name another file, or recompute it with: python "
                                          r"tools/compute_audio_stats.py CONFIG"):
        build_dataset(load_any_config(str(config))["dataset"], "train", seed=0)
    with pytest.raises(ConfigError, match=r"holds 32 mel bands, dataset.audio.n_mels is 40"):
        data = load_any_config(str(config), ["dataset.audio.n_mels=40"])["dataset"]
        build_dataset(data, "train", seed=0)
    with pytest.raises(ConfigError, match=r"^dataset.audio.stats: null; name the file to write, e.g. "
                                          r"audio-stats-24000hz-512fft-240hop-32mels.npz"):
        tool.main([str(config), "--set", "dataset.audio.stats=null"])
    with pytest.raises(ConfigError, match="released model's statistics file"):
        tool.main([str(config), "--set", f"dataset.audio.stats={ORIGINAL_STATS}"])


def _demo_yt360_configs() -> list[str]:
    configs = [os.path.join(REPO, "configs/demo", name) for name in ("avc.yaml", "avsa.yaml")]
    return configs + sorted(glob.glob(os.path.join(REPO, "configs/demo/benchmark/*.yaml"))
                            + glob.glob(os.path.join(REPO, "configs/demo/suite/*.yaml")))


def test_synthetic_data_holds_the_statistics_the_demo_configs_name(tmp_path_factory):
    from datasets.synthetic import generate

    root = str(tmp_path_factory.mktemp("synthetic"))
    generate(root, "tiny", seed=0, workers=1, log=lambda _: None)
    named = set()
    for config in _demo_yt360_configs():
        data = load_any_config(config, [f"dataset.root={root}/yt360"])["dataset"]
        if data["name"] != "yt360":
            continue
        assert data["audio"]["stats"] == stats_file_name(data["audio"]), config
        named.add(stats_path(data))
        audio = build_dataset(data, "test", seed=0)[0]["audio"]  # normalised log-mels, raw intensity channels
        assert audio.shape[1] == 7 and abs(float(audio[:, :4].mean())) < 1.5 and float(audio[:, 4:].abs().max()) <= 1.01
    assert len(named) == 1
    assert stats_recipe(named.pop()) == {key: data["audio"][key] for key in RECIPE}


def test_every_paper_pre_training_config_names_the_statistics_of_its_recipe():
    configs = sorted(glob.glob(os.path.join(REPO, "configs/main/avsa/*.yaml")))
    assert len(configs) >= 8
    for config in configs:
        if os.path.basename(config) == "common.yaml":
            continue
        audio = load_any_config(config)["dataset"]["audio"]
        if config.endswith("-reference.yaml"):  # the released model: the original's file and recipe
            assert audio["stats"] == ORIGINAL_STATS and audio["parity"] is True, config
        else:
            assert audio["stats"] == stats_file_name(audio) == "audio-stats-24000hz-512fft-240hop-128mels.npz", config
