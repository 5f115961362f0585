"""UCF101 / HMDB51: official split files, labels, clip and dense video modes (25 evenly spaced clips), the test
resize + centre crop geometry, AVI (MPEG-4, no audio) decoding, and num_classes checked against the class list."""

import os

import numpy as np
import pytest
import torch

from datasets import SCHEMA, build_dataset
from datasets.action import draw_resized_crop
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from tests.datasets.media_fixtures import write_video
from utils.errors import ConfigError

FPS, SECONDS, SIZE = 25, 2.0, (80, 60)  # AVI clips: 2 s at 25 fps, 80×60 like the synthetic set
CLASSES = ["Archery", "Basketball", "Diving"]


def _clock_frames(level_from=20, level_to=220):
    """Brightness grows linearly with time; a dark left third and a bright right third mark the geometry."""
    frames = []
    for n in range(int(SECONDS * FPS)):
        frame = np.full((SIZE[1], SIZE[0], 3), int(level_from + (level_to - level_from) * n / (SECONDS * FPS)),
                        np.uint8)
        frames.append(frame)
    return frames


def _config(root, name, **overrides):
    raw = {"name": name, "root": root, **overrides}
    return SCHEMA.validate(raw, "dataset", lambda _: "test")


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ucf101"))
    lists = os.path.join(root, "ucfTrainTestlist")
    os.makedirs(lists)
    with open(os.path.join(lists, "classInd.txt"), "w") as f:
        f.write("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    train, test = [], []
    for label, name in enumerate(CLASSES):
        for group in (1, 8):
            rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
            write_video(os.path.join(root, "data", rel), _clock_frames(), FPS, codec="mpeg4")
            (test if group == 1 else train).append((rel, label))
    with open(os.path.join(lists, "trainlist01.txt"), "w") as f:
        f.write("".join(f"{rel} {label + 1}\n" for rel, label in train))
    with open(os.path.join(lists, "testlist01.txt"), "w") as f:
        f.write("".join(f"{rel}\n" for rel, _ in test))
    return root


def _grey(video):
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1, 1)
    return (video * std + mean).mean(dim=(1, 2, 3, 4)) * 255  # per clip


def test_ucf_labels_clip_and_dense_modes(ucf):
    train = build_dataset(_config(ucf, "ucf101", num_classes=3, train={"clips_per_video": 2}), "train", seed=0)
    assert train.classes == CLASSES and len(train) == 6 and train.num_items == 3
    assert sorted(train[i]["label"].item() for i in range(3)) == [0, 1, 2]
    sample = train[0]
    assert sample["video"].shape == (1, 3, 8, 112, 112) and sample["label"].dtype == torch.int64
    dense_cfg = _config(ucf, "ucf101", test={"mode": "video", "clips_per_video": 25})
    dense = build_dataset(dense_cfg, "test", seed=0)
    assert len(dense) == 3
    sample = dense[1]
    assert sample["video"].shape == (25, 3, 8, 112, 112) and sample["label"] == 1
    # 25 clips evenly spaced from 0 to the last full clip: the mean level of clip c is the level at its middle.
    starts = np.linspace(0, SECONDS - 0.5, 25)
    expected = [20 + 200 * (np.mean([np.floor((s + n / 16) * FPS + 1e-6) for n in range(8)])) / (SECONDS * FPS)
                for s in np.round(starts * 16) / 16]
    assert _grey(sample["video"]).tolist() == pytest.approx(expected, abs=4.0)
    again = build_dataset(_config(ucf, "ucf101"), "test", seed=0)
    assert torch.equal(again[2]["video"], build_dataset(_config(ucf, "ucf101"), "test", seed=0)[2]["video"])


def test_test_transform_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    """A horizontal ramp: after resizing 80×60 → 170×128 and cropping 112, output column j shows input column
    (j + 29 + 0.5)·80/170 − 0.5."""
    root = str(tmp_path)
    ramp = np.tile(np.linspace(0, 255, SIZE[0]).astype(np.uint8)[None, :, None], (SIZE[1], 1, 3))
    lists = os.path.join(root, "ucfTrainTestlist")
    os.makedirs(lists)
    open(os.path.join(lists, "classInd.txt"), "w").write("1 Ramp\n")
    open(os.path.join(lists, "testlist01.txt"), "w").write("Ramp/v_Ramp_g01_c01.avi\n")
    write_video(os.path.join(root, "data", "Ramp", "v_Ramp_g01_c01.avi"), [ramp] * 20, FPS, codec="mpeg4")
    video = build_dataset(_config(root, "ucf101"), "test", seed=0)[0]["video"]
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1, 1)
    columns = ((video[0] * std + mean) * 255).mean(dim=(0, 1, 2))
    source = (np.arange(112) + 29 + 0.5) * SIZE[0] / 170 - 0.5
    assert columns.numpy() == pytest.approx(source * 255 / (SIZE[0] - 1), abs=6.0)


def test_hmdb_split_roles_and_sorted_classes(tmp_path):
    root = str(tmp_path)
    lists = os.path.join(root, "testTrainMulti_7030_splits")
    os.makedirs(lists)
    for name in ("wave", "clap"):
        lines = []
        for n, role in enumerate((1, 1, 2, 0)):
            video = f"{name}_{n}.avi"
            lines.append(f"{video} {role}\n")
            write_video(os.path.join(root, "videos", name, video), _clock_frames()[:15], FPS, codec="mpeg4")
        open(os.path.join(lists, f"{name}_test_split1.txt"), "w").write("".join(lines))
    train = build_dataset(_config(root, "hmdb51"), "train", seed=0)
    test = build_dataset(_config(root, "hmdb51"), "test", seed=0)
    assert train.classes == ["clap", "wave"]
    assert sorted(os.path.basename(v) for v in train.videos) == ["clap_0.avi", "clap_1.avi", "wave_0.avi", "wave_1.avi"]
    assert sorted(zip(test.videos, test.labels)) == [("videos/clap/clap_2.avi", 0), ("videos/wave/wave_2.avi", 1)]
    sample = train[0]  # AVI (MPEG-4) without audio
    assert sample["video"].shape == (1, 3, 8, 112, 112)
    with pytest.raises(ConfigError, match=r"dataset.num_classes: 51 in the config, but the hmdb51 class list .* has 2"):
        build_dataset(_config(root, "hmdb51", num_classes=51), "test", seed=0)


def test_resized_crop_boxes():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        top, left, h, w = draw_resized_crop(generator, 60, 80, (0.08, 1.0))
        assert 0 <= top <= 60 - h and 0 <= left <= 80 - w
        assert 0.08 * 4800 * 0.8 <= h * w <= 4800 and 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    # Fallback: the central box with aspect 4/3 (13 wide), left = (100 − 13) // 2.
    assert draw_resized_crop(generator, 10, 100, (1.0, 1.0)) == (0, 43, 10, 13)
