"""tools/bench_train.py on the demo config (7 audio channels: 4 log-mels + 3 intensity-vector channels) at toy size:
it runs, and its FLOP count of the audio encoder equals the hand count for the demo's (7, 50, 40) audio input."""

import json
import os

import numpy as np
import pytest

from datasets.audio_stats import make_stats
from engine.schema import PRETRAIN_SCHEMA
from tests.datasets.media_fixtures import equirect_directions, write_lists, write_segment
from tests.scripts import REPO, load_script
from utils.config import load_config

IDS = ["aaaaaaaaaaa", "bbbbbbbbbbb"]


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-train") / "yt360"
    az, _ = equirect_directions(64, 32)
    frame = np.stack([128 + 100 * np.sin(2 * az)] * 3, axis=-1).astype(np.uint8)
    for video_id in IDS:
        write_segment(str(root), f"{video_id}-0", seconds=1.0, size=(64, 32), frames=[frame] * 16)
    write_lists(str(root), train=IDS, test=IDS)
    demo = load_config(os.path.join(REPO, "configs", "demo", "avsa.yaml"), [f"dataset.root={root}"],
                       schema=PRETRAIN_SCHEMA)
    make_stats(demo["dataset"], crops_per_file=1)  # the demo's normalisation statistics for these files
    return str(root)


def _conv_flops(in_channels, out_channels, kernel, size_in, stride, padding):
    """2 × MACs of a square-kernel Conv2d and its output size."""
    size_out = tuple((n + 2 * padding - kernel) // stride + 1 for n in size_in)
    return 2 * in_channels * out_channels * kernel * kernel * size_out[0] * size_out[1], size_out


def _audio_encoder_flops(channels, size, width):
    """The audio CNN of models/audio.py by hand: conv1 7×7 stride 2, then blocks of two 3×3 convs (first strided)."""
    total, size = _conv_flops(channels, width, 7, size, 2, 3)
    for cin, cout, stride in ((width, width, 1), (width, 2 * width, 2), (2 * width, 4 * width, 2),
                              (4 * width, 8 * width, 1)):
        first, size = _conv_flops(cin, cout, 3, size, stride, 1)
        second, size = _conv_flops(cout, cout, 3, size, 1, 1)
        total += first + second
    return total


def test_demo_config_with_intensity_channels(media_root, tmp_path):
    out = str(tmp_path / "bench.json")
    assert load_script("tools/bench_train.py").main([
        os.path.join(REPO, "configs", "demo", "avsa.yaml"), "--set", f"dataset.root={media_root}",
        "--set", f"dataset.cache_dir={tmp_path / 'cache'}", "--set", "dataset.decode_cache_mb=0",
        "--set", "dataset.decode_cache_dir=null",
        "--set", "model.video.width=4", "--set", "model.audio.width=4",
        "--variants", "fp32", "--batch-size", "2", "--workers", "0", "--steps", "1", "--warmup", "0",
        "--device", "cpu", "--threads", "1", "--json", out]) == 0
    with open(out) as f:
        result = json.load(f)["results"][0]
    flops = result["flops_per_crop_forward"]
    # demo audio: 0.5 s at 24 kHz, hop 240 -> 50 frames, 40 mels, 4 log-mels + 3 intensity channels
    assert flops["audio encoder"] == _audio_encoder_flops(7, (50, 40), 4)
    assert flops["model"] == flops["video encoder"] + flops["audio encoder"]
    assert result["crops_per_step"] == 2 * 4  # batch 2 x 4 viewpoints
    assert len(result["losses"]) == 1 and np.isfinite(result["losses"][0])
