"""The synthetic dataset: layouts the loaders expect, determinism, and ground truth that agrees with the media.

The tiny preset is generated once per module (about a second). Directions are checked with formulas written here,
independently of the generator: pixel (row, col) of an equirectangular frame has its centre at azimuth
π·(1 − 2(col + ½)/W), elevation (π/2)·(1 − 2(row + ½)/H) (azimuth positive LEFT, elevation UP).
"""

import json
import math
import os
import re
import shutil

import av
import numpy as np
import pytest
import torch
from PIL import Image

from datasets.synthetic import (ACTION_CLASSES, PRESETS, SOURCE_CLASSES, generate, plan_yt360, render_action_clip,
                                synthesize_foa)
from tests.conftest import shared_path
from utils.ambisonics import foa_power_map
from utils.errors import DataError
from utils.media import probe_media, read_audio, read_video

TINY = PRESETS["tiny"]

# The original's segmentation class list: the (134-class) panoptic index of each of the 32 training labels, in
# label order.
FILTERED_CLASS_INDEX = [0, 2, 4, 8, 3, 6, 62, 56, 60, 55, 59, 25, 5, 7, 58, 66,
                        120, 132, 117, 119, 130, 123, 126, 101, 125, 124, 106, 127, 131, 104, 103, 116]


def training_labels(things: np.ndarray, stuff: np.ndarray) -> np.ndarray:
    """The original's label recipe: things value, else 80 + stuff value; 134 → 255; then position in the 32-class
    list."""
    combined = np.where(things == 80, 80 + stuff.astype(np.int64), things.astype(np.int64))
    lookup = np.full(256, 255, dtype=np.int64)
    lookup[FILTERED_CLASS_INDEX] = np.arange(32)
    return lookup[np.where(combined == 134, 255, combined)]


def pixel_of(azimuth_deg: float, elevation_deg: float, width: int, height: int) -> tuple[int, int]:
    col = int(math.floor((1 - math.radians(azimuth_deg) / math.pi) / 2 * width)) % width
    row = min(int(math.floor((1 - math.radians(elevation_deg) / (math.pi / 2)) / 2 * height)), height - 1)
    return row, col


def great_circle_deg(az1, el1, az2, el2) -> float:
    a1, e1, a2, e2 = map(math.radians, (az1, el1, az2, el2))
    cosine = math.sin(e1) * math.sin(e2) + math.cos(e1) * math.cos(e2) * math.cos(a1 - a2)
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def track_at(segment: dict, obj: dict, t: float) -> tuple[float, float]:
    """Track interpolated at time t (azimuth unwrapped across ±180° first)."""
    azimuth = np.degrees(np.unwrap(np.radians(obj["azimuth_deg"])))
    az = float(np.interp(t, segment["times"], azimuth))
    return (az + 180) % 360 - 180, float(np.interp(t, segment["times"], obj["elevation_deg"]))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("synthetic"))
    summary = generate(path, "tiny", seed=0, workers=1, log=lambda _: None)
    assert summary["skipped"] == 0 and summary["written"] > 0
    return path


@pytest.fixture(scope="module")
def tracks(root):
    with open(os.path.join(root, "yt360", "tracks.json")) as f:
        return json.load(f)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_yt360_layout_and_split_lists(root, tracks):
    base = os.path.join(root, "yt360")
    train, test = read_lines(os.path.join(base, "train.txt")), read_lines(os.path.join(base, "test.txt"))
    assert train and test and not set(train) & set(test)
    assert all(len(i) == 11 and re.fullmatch(r"[A-Za-z0-9_-]{11}", i) for i in train + test)
    assert any("-" in i for i in train + test) and any("_" in i for i in train + test)
    # The original's parsing: id = first 11 characters, T = integer after the LAST '-'.
    on_disk = {}
    for name in os.listdir(os.path.join(base, "video")):
        stem, ext = os.path.splitext(name)
        assert ext == ".mp4"
        on_disk.setdefault(stem[:11], []).append(int(stem.rsplit("-", 1)[1]))
        assert os.path.exists(os.path.join(base, "audio", stem + ".m4a"))
        maps = sorted(os.listdir(os.path.join(base, "segmentation", stem)))
        count = round(TINY.segment_seconds * TINY.segmentation_fps)
        expected = [f"{kind}-{n:04d}.png" for kind in ("things", "stuff") for n in range(count)]
        assert maps == sorted(expected)
    assert not [n for n in os.listdir(base) if n.endswith(".partial")]
    segments = {line.split(" ")[0]: [int(t) for t in line.split(" ")[1].split(",")]
                for line in read_lines(os.path.join(base, "segments.txt"))}
    assert {k: sorted(v) for k, v in on_disk.items()} == segments
    assert set(train) | set(test) < set(segments)  # some ids are in neither list, like the real set
    assert max(len(segments[i]) for i in train) >= 2  # `sampling: video` and `clip` differ
    assert sum(len(segments[i]) for i in train) == TINY.train_segments
    assert set(tracks) == {f"{i}-{t}" for i, ts in segments.items() for t in ts}
    for key, segment in tracks.items():
        expected = "train" if key[:11] in train else "test" if key[:11] in test else "unlisted"
        assert segment["split"] == expected and 1 <= len(segment["objects"]) <= 3
        classes = [o["class"] for o in segment["objects"]]
        assert len(set(classes)) == len(classes)


def test_yt360_streams(root, tracks):
    key = next(iter(tracks))
    video = probe_media(os.path.join(root, "yt360", "video", f"{key}.mp4"))
    assert video.video.codec == "h264" and video.audio is None
    assert (video.video.width, video.video.height) == TINY.equirect_size and video.video.width == 2 * video.video.height
    assert video.video.fps == TINY.video_fps and video.video.num_frames == TINY.segment_seconds * TINY.video_fps
    audio = probe_media(os.path.join(root, "yt360", "audio", f"{key}.m4a"))
    assert audio.video is None and audio.audio.codec == "aac"
    assert (audio.audio.rate, audio.audio.channels) == (TINY.audio_rate, 4)


def test_aac_keeps_ambix_channels_in_order(root, tracks):
    """Decode with plain PyAV (no layout conversion) and compare each channel with what was encoded."""
    for index, (key, segment) in enumerate(tracks.items()):
        encoded = synthesize_foa(plan_yt360(TINY, 0)[index], TINY.segment_seconds, TINY.audio_rate, seed=0)
        with av.open(os.path.join(root, "yt360", "audio", f"{key}.m4a")) as container:
            decoded = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
        decoded = decoded[:, :encoded.shape[1]]
        assert decoded.shape == encoded.shape
        energy_in, energy_out = (encoded ** 2).sum(1), (decoded ** 2).sum(1)
        np.testing.assert_allclose(energy_out, energy_in, rtol=0.06)
        error = np.sqrt(((decoded - encoded) ** 2).sum(1) / energy_in)
        assert error.max() < 0.1, (key, error)  # sample-aligned, no remix (a swap would give errors near 1)


def test_power_map_peaks_at_the_sounding_object(root, tracks):
    """Single-source scenes: the decoded 1-s window's FOA power map (and, independently, the mean intensity vector
    W·(X, Y, Z)) points within 5° of the recorded direction at the window centre."""
    checked = 0
    for key, segment in tracks.items():
        if len(segment["objects"]) != 1:
            continue
        for start in (0.0, TINY.segment_seconds - 1.0):
            foa = read_audio(os.path.join(root, "yt360", "audio", f"{key}.m4a"), start, 1.0, TINY.audio_rate)
            power = foa_power_map(foa.double(), 180, 360)
            row, col = divmod(int(power.argmax()), 360)
            peak = (180 * (1 - 2 * (col + 0.5) / 360), 90 * (1 - 2 * (row + 0.5) / 180))
            truth = track_at(segment, segment["objects"][0], start + 0.5)
            assert great_circle_deg(*peak, *truth) < 5, (key, start, peak, truth)
            w, y, z, x = foa.double()
            intensity = torch.stack([(w * x).mean(), (w * y).mean(), (w * z).mean()])
            direction = (math.degrees(math.atan2(intensity[1], intensity[0])),
                         math.degrees(math.asin(intensity[2] / intensity.norm())))
            assert great_circle_deg(*direction, *truth) < 5, (key, start, direction, truth)
            checked += 1
    assert checked >= 2


def test_segmentation_labels_objects_and_background(root, tracks):
    width, height = TINY.equirect_size
    by_name = {c.name: c for c in SOURCE_CLASSES}
    for key, segment in tracks.items():
        for n in range(round(TINY.segment_seconds * TINY.segmentation_fps)):
            directory = os.path.join(root, "yt360", "segmentation", key)
            things_img = Image.open(os.path.join(directory, f"things-{n:04d}.png"))
            assert things_img.mode == "L"
            things = np.asarray(things_img)
            stuff = np.asarray(Image.open(os.path.join(directory, f"stuff-{n:04d}.png")))
            assert things.shape == (height, width)
            labels = training_labels(things, stuff)
            t = n / TINY.segmentation_fps
            for obj in segment["objects"]:
                row, col = pixel_of(*track_at(segment, obj, t), width, height)
                assert things[row, col] == by_name[obj["class"]].coco_index == obj["coco_index"]
                assert stuff[row, col] == 0
                assert labels[row, col] == FILTERED_CLASS_INDEX.index(obj["coco_index"])  # person/car/... = 0..3
            # Pixels outside objects are stuff; every one maps to a training class except the void nadir.
            assert set(np.unique(things)) <= {80} | {o["coco_index"] for o in segment["objects"]}
            assert (stuff[things != 80] == 0).all() and (stuff[things == 80] > 0).all()
            elevation = 90 * (1 - 2 * (np.arange(height) + 0.5) / height)
            void = np.broadcast_to((elevation < -72)[:, None], labels.shape)
            assert (labels[void] == 255).all() and (labels[~void] != 255).all()
            assert set(np.unique(labels[things == 80])) & {0, 1, 2, 3} == set()


def test_filtered_class_list_matches_reference_assets():
    path = shared_path("reference-assets", "segm-meta", "segmentation-filtered-class-idx.txt")
    assert [int(float(v)) for v in read_lines(path)] == FILTERED_CLASS_INDEX
    names = read_lines(os.path.join(os.path.dirname(path), "segmentation-classes.txt"))
    assert [names[c.coco_index] for c in SOURCE_CLASSES] == [c.name for c in SOURCE_CLASSES]


def test_video_shows_object_colour_at_its_direction(root, tracks):
    width, height = TINY.equirect_size
    colours = {c.name: np.array(c.colour) for c in SOURCE_CLASSES}
    for key, segment in list(tracks.items())[:4]:
        frames = read_video(os.path.join(root, "yt360", "video", f"{key}.mp4"), 0.0, TINY.segment_seconds,
                            TINY.video_fps).numpy().astype(int)
        for n in (0, len(frames) // 2, len(frames) - 1):
            for obj in segment["objects"]:
                row, col = pixel_of(*track_at(segment, obj, n / TINY.video_fps), width, height)
                seen = frames[n, row, col]
                assert np.abs(seen - colours[obj["class"]]).max() < 45, (key, n, obj["class"], seen)
                # and no other class's colour
                others = [c for name, c in colours.items() if name != obj["class"]]
                assert min(np.abs(seen - c).max() for c in others) > 60


def test_same_seed_same_bytes_other_seed_differs(root, tmp_path):
    again = str(tmp_path / "again")
    generate(again, "tiny", seed=0, workers=2, log=lambda _: None)  # other worker count: same files
    files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), again) for d, _, fs in os.walk(again) for f in fs)
    for name in files:
        with open(os.path.join(root, name), "rb") as a, open(os.path.join(again, name), "rb") as b:
            assert a.read() == b.read(), name
    other = plan_yt360(TINY, seed=1)
    first = plan_yt360(TINY, seed=0)
    assert [s.key for s in other] != [s.key for s in first]
    assert [o.azimuth for s in other for o in s.objects] != [o.azimuth for s in first for o in s.objects]


def test_h264_is_encoded_until_two_encodes_agree(tmp_path, monkeypatch):
    """libx264 sometimes gives another stream for an encode right after other work in the process (9 of 550 demo
    files differed between two generations); `write_video` keeps encoding until two results agree."""
    from datasets.synthetic import encode
    outputs = iter([b"first, noisy", b"steady", b"steady", b"never reached"])
    calls = []

    def fake_encode(target, frames, fps, codec):
        calls.append(codec)
        with open(target, "wb") as f:
            f.write(next(outputs))

    monkeypatch.setattr(encode, "_encode_video", fake_encode)
    path = tmp_path / "v" / "clip.mp4"
    encode.write_video(str(path), np.zeros((2, 8, 16, 3), np.uint8), 16, "h264")
    assert path.read_bytes() == b"steady" and len(calls) == 3
    assert sorted(os.listdir(path.parent)) == ["clip.mp4"]  # no temporary file left
    calls.clear()
    encode.write_video(str(tmp_path / "a.avi"), np.zeros((2, 8, 16, 3), np.uint8), 16, "mpeg4")
    assert calls == ["mpeg4"]  # the MPEG-4 encoder is deterministic: encoded once


def test_rerun_skips_complete_files_and_rewrites_missing_ones(root, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    victim = os.path.join(copy, "yt360", "video", sorted(os.listdir(os.path.join(copy, "yt360", "video")))[0])
    with open(victim, "rb") as f:
        original = f.read()
    os.remove(victim)
    with open(victim + ".partial", "wb") as f:  # what an interrupted run leaves behind
        f.write(original[:100])
    summary = generate(copy, "tiny", seed=0, workers=1, log=lambda _: None)
    assert summary["written"] == 1 and summary["skipped"] > 0
    with open(victim, "rb") as f:
        assert f.read() == original
    assert not os.path.exists(victim + ".partial")
    with pytest.raises(DataError, match="seed"):
        generate(copy, "tiny", seed=1, workers=1, log=lambda _: None)


def test_action_layouts_and_folds(root):
    ucf = os.path.join(root, "ucf101")
    classes = [line.split(" ") for line in read_lines(os.path.join(ucf, "ucfTrainTestlist", "classInd.txt"))]
    assert [int(i) for i, _ in classes] == list(range(1, len(ACTION_CLASSES) + 1))
    names = [name for _, name in classes]
    everything = {os.path.relpath(os.path.join(d, f), os.path.join(ucf, "data"))
                  for d, _, fs in os.walk(os.path.join(ucf, "data")) for f in fs}
    test_sets = []
    for fold in (1, 2, 3):
        train = [line.split(" ") for line in read_lines(os.path.join(ucf, "ucfTrainTestlist", f"trainlist0{fold}.txt"))]
        test = read_lines(os.path.join(ucf, "ucfTrainTestlist", f"testlist0{fold}.txt"))
        assert {p for p, _ in train} | set(test) == everything and not {p for p, _ in train} & set(test)
        for path, label in train:
            directory, file = path.split("/")
            assert names[int(label) - 1] == directory and re.fullmatch(rf"v_{directory}_g\d\d_c\d\d\.avi", file)
        group = lambda p: p.split("_g")[1][:2]  # noqa: E731
        assert not {group(p) for p, _ in train} & {group(p) for p in test}  # folds hold out whole groups
        test_sets.append(set(test))
    assert len({frozenset(s) for s in test_sets}) == 3
    info = probe_media(os.path.join(ucf, "data", sorted(everything)[0]))
    assert info.audio is None and info.video.codec == "mpeg4"
    assert (info.video.width, info.video.height) == TINY.action_size and info.video.num_frames == TINY.action_frames

    hmdb = os.path.join(root, "hmdb51")
    hmdb_classes = read_lines(os.path.join(hmdb, "classes.txt"))
    assert sorted(hmdb_classes) == sorted(lower for _, lower in ACTION_CLASSES)
    roles = {}
    for name in hmdb_classes:
        videos = set(os.listdir(os.path.join(hmdb, "videos", name)))
        for fold in (1, 2, 3):
            lines = [line.split() for line in read_lines(os.path.join(hmdb, "ucfTrainTestlist",
                                                                      f"{name}_test_split{fold}.txt"))]
            assert {v for v, _ in lines} == videos
            assert {r for _, r in lines} == {"0", "1", "2"}
            roles[name, fold] = tuple(r for _, r in sorted(lines))
        assert len({roles[name, f] for f in (1, 2, 3)}) == 3


def foreground_mask(clip: np.ndarray) -> np.ndarray:
    """Pixels that differ from the temporal median (the static background)."""
    background = np.median(clip, axis=0)
    return np.abs(clip - background).sum(-1) > 40


@pytest.mark.parametrize("seed", [0, 1])
def test_action_class_is_the_motion(seed):
    motions = [lower for _, lower in ACTION_CLASSES]
    w, h = TINY.action_size

    def clip(name):
        rng = np.random.default_rng(seed)
        return render_action_clip(motions.index(name), rng, 24, 25, w, h).astype(float)

    def centroid_x(mask):
        return (mask * np.arange(w)).sum((1, 2)) / mask.sum((1, 2))

    left, right = foreground_mask(clip("move_left")), foreground_mask(clip("move_right"))
    assert centroid_x(left)[-1] < centroid_x(left)[0] - 0.25 * w
    assert centroid_x(right)[-1] > centroid_x(right)[0] + 0.25 * w
    area = foreground_mask(clip("expand")).sum((1, 2))
    assert area[-1] > 2 * area[0]
    bounce = foreground_mask(clip("bounce"))
    height = (bounce * np.arange(h)[:, None]).sum((1, 2)) / bounce.sum((1, 2))
    assert height.max() - height.min() > 0.2 * h
    # Same draws, other motion: identical colours and shape, so colour carries no class information.
    assert (clip("move_left")[0].reshape(-1, 3).mean(0) - clip("rotate")[0].reshape(-1, 3).mean(0)).max() < 30


def test_reverb_adds_delayed_reflections_and_keeps_the_direct_direction():
    segment = next(s for s in plan_yt360(TINY, 0) if len(s.objects) == 1)
    rate = TINY.audio_rate
    dry = synthesize_foa(segment, 1.0, rate, seed=0)
    wet = synthesize_foa(segment, 1.0, rate, seed=0, reverb=True)
    reflections = wet - dry  # the direct sound uses the same draws, and neither mix is rescaled at this level
    ratio = (reflections[0] ** 2).sum() / (dry[0] ** 2).sum()
    assert 0.02 < ratio < 1.0
    # Reflections are copies of the direct sound delayed by 4–40 ms.
    lags = np.arange(0, round(0.05 * rate))
    correlation = [np.dot(reflections[0, lag:], dry[0, :dry.shape[1] - lag]) for lag in lags]
    assert round(0.004 * rate) <= lags[int(np.argmax(np.abs(correlation)))] <= round(0.04 * rate)
    w, y, z, x = torch.from_numpy(wet).double()
    intensity = torch.stack([(w * x).mean(), (w * y).mean(), (w * z).mean()])
    direction = (math.degrees(math.atan2(intensity[1], intensity[0])),
                 math.degrees(math.asin(intensity[2] / intensity.norm())))
    obj = segment.objects[0]
    truth = (math.degrees(obj.azimuth + obj.azimuth_speed * 0.5), math.degrees(
        obj.elevation + obj.elevation_amplitude * math.sin(2 * math.pi * obj.elevation_frequency * 0.5
                                                            + obj.elevation_phase)))
    assert great_circle_deg(*direction, *truth) < 15  # reflections from random directions bias it only a little


def test_command_line_tool(root, capsys):
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "make_synthetic_data.py")
    spec = importlib.util.spec_from_file_location("make_synthetic_data_tool", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([root, "--preset", "tiny", "--workers", "1"]) == 0
    assert "0 items written" in capsys.readouterr().out
    with pytest.raises(DataError):
        tool.main([root, "--preset", "demo"])
