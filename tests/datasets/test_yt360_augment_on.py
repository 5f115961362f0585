"""augment_on: gpu — workers only decode and draw; the collated batch is finished by `YT360.device_transform`
(here on CPU tensors, as the engine does after moving the batch). For the same seed (hence the same draws) every
sample must equal the one the CPU pipeline makes, for plain, AVSA-Bin (misaligned) and segmentation samples."""

import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datasets import build_dataset
from engine.data import finish_on_device, make_loader
from tests.datasets.media_fixtures import (equirect_directions, write_label_maps, write_lists, write_segment,
                                           yt360_config)

IDS = ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd", "eeeeeeeeeee", "fffffffffff"]
SAMPLES = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six segments of different colour patterns (not left-right symmetric, so a wrong flip shows) whose plane
    waves come from different directions (so samples cannot be confused)."""
    root = str(tmp_path_factory.mktemp("yt360gpu"))
    az, el = equirect_directions(64, 32)
    for n, video_id in enumerate(IDS):
        name = f"{video_id}-0"
        frame = np.stack([128 + 100 * np.sin(2 * az + n), 128 + 100 * np.cos(3 * el - n),
                          np.full_like(az, 40.0 * n)], axis=-1).astype(np.uint8)
        write_segment(root, name, seconds=1.25, size=(64, 32), frames=[frame] * 20,
                      direction=(-150.0 + 55.0 * n, 20.0 - 8.0 * n))
        label_az, label_el = equirect_directions(32, 16)
        write_label_maps(os.path.join(root, "segmentation", name), np.where(label_az > 0.3 * n - 1, 0, 80),
                         np.where(label_el > 0, 40, 48), 5)
    write_lists(root, train=IDS, test=IDS)
    return root


def _config(root, augment_on, **extra):
    return yt360_config(root, **{"viewpoints.num": 2, "video.crop_size": 16, "video.clip_duration": 0.25,
                                 "audio.clip_duration": 0.5, "audio.n_mels": 16, "sampling": "clip",
                                 "augment_on": augment_on, **extra})


CASES = {
    "plain": {},
    "misaligned yaw": {"misalign.probability": 0.5},
    "misaligned 3d": {"misalign.probability": 0.5, "misalign.mode": "3d", "temporal_clips": 2,
                      "audio.clip_duration": 0.5},
    "segmentation": {"segmentation": True},
}


@pytest.mark.parametrize("case", list(CASES))
def test_gpu_path_equals_cpu_path_for_the_same_draws(corpus, case):
    cpu = build_dataset(_config(corpus, "cpu", **CASES[case]), "train", seed=3)
    gpu = build_dataset(_config(corpus, "gpu", **CASES[case]), "train", seed=3)
    cpu.set_epoch(1)
    gpu.set_epoch(1)
    expected = [cpu[i] for i in range(SAMPLES)]
    raw = [gpu[i] for i in range(SAMPLES)]
    assert "video" not in raw[0] and raw[0]["raw"]["frames"].dtype == torch.uint8  # workers only decode
    loader = DataLoader(gpu, batch_size=SAMPLES)
    batch = finish_on_device(next(iter(loader)), loader)  # one call per stage for the whole batch
    assert "raw" not in batch and "draws" not in batch
    for key in expected[0]:
        stacked = torch.stack([sample[key] for sample in expected])
        assert batch[key].shape == stacked.shape, key
        torch.testing.assert_close(batch[key], stacked, rtol=1e-5, atol=1e-4, msg=f"{case}: {key}")
    # The batch mixes what batching could confuse: flipped and unflipped samples, aligned and misaligned ones.
    flips = {bool(sample["draws"]["flip"]) for sample in raw}
    assert flips == {False, True}
    if "misalign.probability" in CASES[case]:
        assert {bool(sample["misaligned"]) for sample in expected} == {False, True}
        aligned = [s for s in expected if not s["misaligned"]]
        assert all(torch.equal(s["rotation"], torch.eye(3)) for s in aligned)
    if case == "segmentation":
        assert batch["segmentation"].dtype == torch.int64
        assert set(batch["segmentation"].unique().tolist()) <= {0, 16, 255}


def test_test_split_and_engine_loader(corpus):
    """No augmentation (test split) through the engine's loader: the same samples as the CPU pipeline."""
    run_cfg = {"seed": 0, "num_workers": 0}
    cpu = build_dataset(_config(corpus, "cpu"), "test", seed=0)
    gpu = build_dataset(_config(corpus, "gpu"), "test", seed=0)
    loaders = [make_loader(dataset, 3, run_cfg, train=False) for dataset in (cpu, gpu)]
    for expected, raw in zip(*loaders):
        batch = finish_on_device(raw, loaders[1])
        assert finish_on_device(expected, loaders[0]) is expected  # finished batches pass through
        for key in ("video", "audio", "position", "index"):
            torch.testing.assert_close(batch[key], expected[key], rtol=1e-5, atol=1e-4)


class _Recorder(torch.nn.Module):
    """A task that records the finished batches the engine hands it (train and test phases)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, batch):
        self.seen.append((self.training, tuple(batch["video"].shape), tuple(batch["audio"].shape)))
        return (batch["video"].mean() + batch["audio"].mean() - self.weight) ** 2, {}


def test_engine_fit_finishes_gpu_batches_on_the_device(corpus, tmp_path):
    """fit() with augment_on: gpu: both phases receive finished batches (here the device is the CPU)."""
    from engine import fit, start_run
    from engine.schema import PRETRAIN_SCHEMA

    cfg = PRETRAIN_SCHEMA.validate({"num_workers": 0, "log2tb": False, "device": "cpu",
                                  "optimizer": {"lr": 0.01, "epochs": 1}}, "", lambda key: "<test>")
    run = start_run(cfg, str(tmp_path), quiet=True)
    task = _Recorder()
    try:
        fit(run, task, build_dataset(_config(corpus, "gpu"), "train", seed=0),
            build_dataset(_config(corpus, "gpu"), "test", seed=0), batch_size=3)
    finally:
        run.close()
    assert {training for training, _, _ in task.seen} == {True, False}
    assert all(video == (3, 2, 3, 4, 16, 16) and audio[:3] == (3, 2, 4) for _, video, audio in task.seen)
