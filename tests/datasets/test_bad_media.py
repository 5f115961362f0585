"""Bad files during training: an epoch over a dataset with 10 % bad files completes, logs each bad file once (across
DataLoader workers and epochs), counts the failures in every batch, and the monitor stops only above the limit."""

import logging
import os

import pytest
import torch
from torch.utils.data import DataLoader

from datasets import build_dataset
from engine.bad_samples import BadSampleMonitor
from tests.datasets.media_fixtures import write_lists, write_segment, yt360_config
from utils.errors import DataError

GOOD = [f"good{n:07d}" for n in range(18)]
BAD = ["good0000003", "good0000012"]  # positions 3 and 12 of the sorted test order: their successors are good


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tenpercent"))
    ids = GOOD + ["good0000018", "good0000019"]
    for video_id in ids:
        write_segment(root, f"{video_id}-0", seconds=1.1, size=(32, 16))
    open(os.path.join(root, "video", f"{BAD[0]}-0.mp4"), "wb").close()  # zero bytes
    write_segment(root, f"{BAD[1]}-0", seconds=1.1, size=(32, 16), channels=2)  # stereo
    write_lists(root, test=ids)
    return root


def test_epochs_with_bad_files_complete_and_count_them(corpus, tmp_path):
    cfg = yt360_config(corpus, **{"viewpoints.num": 2, "video.crop_size": 16, "audio.n_mels": 32, "batch_size": 4})
    dataset = build_dataset(cfg, "test", seed=0)
    assert len(dataset) == 20
    log_file = tmp_path / "bad.log"
    handler = logging.FileHandler(log_file)  # forked workers inherit it and append to the same file
    logger = logging.getLogger("avsa.datasets")
    logger.addHandler(handler)
    try:
        loader = DataLoader(dataset, batch_size=4, num_workers=2, shuffle=False)
        for epoch, limit in enumerate((0.2, 0.05)):
            dataset.set_epoch(epoch)
            monitor = BadSampleMonitor(max_bad_fraction=limit, min_samples=1000)
            indices = []
            for batch in loader:
                assert batch["video"].shape == (4, 2, 3, 8, 16, 16)
                assert torch.isfinite(batch["audio"]).all() and batch["video"].abs().sum(dim=(1, 2, 3, 4, 5)).min() > 0
                monitor.update(batch)
                indices += batch["index"].tolist()
            # The bad samples were replaced by the next ones of the epoch order: never zeros, never a crash.
            assert indices == [i + 1 if i in (3, 12) else i for i in range(20)]
            assert (monitor.failed, monitor.attempted) == (2, 22)
            if limit == 0.2:
                assert monitor.end_epoch() == {"failed": 2, "attempted": 22, "fraction": 2 / 22}
            else:
                with pytest.raises(DataError, match=r"2 of 22 samples failed \(9.1 %\), above max_bad_fraction 0.05"):
                    monitor.end_epoch()
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2  # each bad file once, over two epochs and two workers
    assert any(f"{BAD[0]}-0.mp4: cannot open" in line for line in lines)
    assert any(f"{BAD[1]}-0.m4a: 2 audio channels" in line for line in lines)


def test_monitor_stops_mid_epoch_and_a_dataset_of_bad_files_stops_at_once(corpus, tmp_path):
    monitor = BadSampleMonitor(max_bad_fraction=0.1, min_samples=10)
    monitor.update({"failures": torch.tensor([0, 0, 0, 0])})
    monitor.update({"failures": torch.tensor([1, 2])})
    assert not monitor.over_limit()  # 3 of 9 attempted: too few to judge mid-epoch
    assert monitor.over_limit(mid_epoch=False)
    monitor.update({"failures": torch.tensor([0])})
    assert monitor.over_limit()
    assert str(monitor.error()).startswith("3 of 10 samples failed (30.0 %), above max_bad_fraction 0.1")
    # a rank below the limit stops too when another is above it (the vote), and says so
    assert str(BadSampleMonitor(max_bad_fraction=0.5).error()).startswith("another process saw too many bad samples")
    root = str(tmp_path)
    ids = [f"broken{n:05d}" for n in range(3)]
    os.makedirs(os.path.join(root, "video"))
    for video_id in ids:
        open(os.path.join(root, "video", f"{video_id}-0.mp4"), "wb").close()
    write_lists(root, test=ids)
    dataset = build_dataset(yt360_config(root), "test", seed=0)
    with pytest.raises(DataError, match="3 consecutive samples failed"):
        dataset[0]
