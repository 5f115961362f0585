"""tools/bench_data.py on a tiny YT-360 folder: per-core and loader figures for both placements of the
augmentation, stages that add up to no more than the measured total, the straightforward pipeline alongside."""

import json
import os

import numpy as np
import pytest

from tests.datasets.media_fixtures import equirect_directions, write_lists, write_segment
from tests.scripts import load_script

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench_data.py")
IDS = ["aaaaaaaaaaa", "bbbbbbbbbbb"]


def _tool():
    return load_script(TOOL)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    az, _ = equirect_directions(64, 32)
    frame = np.stack([128 + 100 * np.sin(2 * az)] * 3, axis=-1).astype(np.uint8)
    for video_id in IDS:
        write_segment(str(root / "yt360"), f"{video_id}-0", seconds=1.0, size=(64, 32), frames=[frame] * 16)
    write_lists(str(root / "yt360"), train=IDS, test=IDS)
    path = root / "bench.yaml"
    path.write_text(f"num_workers: 0\ndataset:\n  name: yt360\n  root: {root / 'yt360'}\n  batch_size: 2\n"
                    "  sampling: clip\n  video: {clip_duration: 0.25, fps: 16, crop_size: 16}\n"
                    "  audio: {clip_duration: 0.5, n_mels: 16}\n  viewpoints: {num: 2}\n")
    return str(path)


@pytest.mark.parametrize("augment_on", ["cpu", "gpu"])
def test_config_benchmark(config, tmp_path, capsys, augment_on):
    out = str(tmp_path / "bench.json")
    assert _tool().main([config, "--set", f"dataset.augment_on={augment_on}", "--samples", "3", "--repeats", "1",
                         "--workers", "1", "--worker-samples", "4", "--batch-size", "2", "--json", out]) == 0
    with open(out) as f:
        results = json.load(f)
    core = results["per_core"]
    assert results["crops_per_sample"] == 2 and results["augment_on"] == augment_on
    stages = core["stages_ms"]
    assert {"decode video", "decode audio"} <= set(stages)
    assert ("crops" in stages) == (augment_on == "cpu")  # gpu: the workers only decode
    assert 0 < sum(stages.values()) <= 1000 * core["cpu_s"] * 1.05
    assert ("straightforward_cpu_s" in core) == (augment_on == "cpu")
    assert results["loader"]["samples"] >= 4 and results["loader"]["samples_per_s"] > 0
    assert ("device_transform_cpu_ms_per_sample" in results["loader"]) == (augment_on == "gpu")
    assert "samples/s" in capsys.readouterr().out


def test_stage_benchmark_times_the_datasets_stages(tmp_path):
    tool = _tool()
    video, audio = tool.write_test_media(str(tmp_path), seconds=2.0, height=64)
    out = str(tmp_path / "stages.json")
    assert tool.main(["--stages", "--video", video, "--audio", audio, "--samples", "1", "--json", out]) == 0
    with open(out) as f:
        results = json.load(f)
    for impl in ("batched", "straightforward"):
        stages = results["ms_per_sample"][impl]
        assert set(stages) == set(tool.STAGES) and all(ms > 0 for ms in stages.values()), (impl, stages)
        assert results["transforms_total_ms"][impl] == pytest.approx(sum(stages[s] for s in tool.TRANSFORM_STAGES))
    # the same decoded windows for both
    assert results["ms_per_sample"]["batched"]["decode video"] == results["ms_per_sample"]["straightforward"][
        "decode video"]
