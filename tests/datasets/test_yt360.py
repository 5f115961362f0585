"""YT-360: paper shapes, fixed test samples, audio and video agreeing on where a source is (also after a joint flip
and a misalignment), AVTS moments and the centred video window, segmentation labels, index cache, epoch order,
segments shorter than manifest.json lists."""

import json
import math
import os

import numpy as np
import pytest
import torch

import datasets.yt360 as yt360
from datasets import build_dataset
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from tests.conftest import shared_path
from tests.datasets.media_fixtures import (equirect_directions, plane_wave_foa, write_audio, write_label_maps,
                                           write_lists, write_segment, yt360_config)
from utils.audio_features import AudioFeatures
from utils.errors import ConfigError, DataError
from utils.media import probe_media

SOURCE = (60.0, 15.0)  # azimuth, elevation (degrees) of the disk and the plane wave
IDS = ["a-b_c-d_e-f", "-oytwMeyR74", "zzzzzzzzzzz"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three ids (the first with two segments) of a disk + plane wave at SOURCE, with label maps."""
    root = str(tmp_path_factory.mktemp("yt360"))
    names = [f"{IDS[0]}-0", f"{IDS[0]}-30", f"{IDS[1]}-12", f"{IDS[2]}-7"]
    for name in names:
        write_segment(root, name, direction=SOURCE)
        # Label maps: person (COCO 0) where azimuth > 0, sky (stuff 40 → class 120) elsewhere.
        az, _ = equirect_directions(64, 32)
        write_label_maps(os.path.join(root, "segmentation", name), np.where(az > 0, 0, 80), np.full((32, 64), 40), 6)
    write_lists(root, train=IDS[:2], test=IDS[1:])
    return root


def _identity_log_mel(monkeypatch):
    """Let the sample's `audio` be the rotated FOA waveform (N, 4, S) so that directions can be measured."""
    monkeypatch.setattr(AudioFeatures, "features", lambda self, foa: foa)


def _unnormalise(video):
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1, 1)
    return video * std + mean  # [0, 1]


def test_paper_shapes_and_fixed_test_samples(corpus):
    cfg = yt360_config(corpus, **{"viewpoints.num": 4, "segmentation": True, "misalign.probability": 0.5})
    sample = build_dataset(cfg, "test", seed=3)[1]
    assert sample["video"].shape == (4, 3, 8, 112, 112) and sample["video"].dtype == torch.float32
    assert sample["audio"].shape == (4, 4, 100, 128) and sample["audio"].dtype == torch.float32
    assert sample["position"].shape == (4, 3) and sample["position"].dtype == torch.float32
    assert sample["segmentation"].shape == (4, 112, 112) and sample["segmentation"].dtype == torch.int64
    assert set(sample["segmentation"].unique().tolist()) <= {0, 16}  # person, sky
    assert sample["misaligned"].dtype == torch.bool and sample["rotation"].shape == (3, 3)
    assert sample["index"] == 1 and sample["failures"] == 0
    # Same seed: identical in a new dataset, in another epoch, and when read in another order.
    again = build_dataset(cfg, "test", seed=3)
    again.set_epoch(5)
    again[0]
    for key, value in again[1].items():
        assert torch.equal(value, sample[key]), key
    other_seed = build_dataset(cfg, "test", seed=4)[1]
    assert not torch.equal(other_seed["position"], sample["position"])
    train = build_dataset(cfg, "train", seed=3)
    first = train[0]["position"]
    train.set_epoch(1)
    assert not torch.equal(train[0]["position"], first)  # training draws change every epoch


def _screen_direction(video, hfov):
    """Centroid of the bright disk in normalised screen coordinates (x right, y down, in [-1, 1]) per view."""
    brightness = _unnormalise(video).mean(dim=(1, 2))  # (K, h, w)
    h, w = brightness.shape[-2:]
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) * 2 / h - 1, (torch.arange(w) + 0.5) * 2 / w - 1, indexing="ij")
    out = []
    for view in brightness:
        mask = view > (view.max() + view.min()) / 2
        visible = bool(mask.any()) and view.max() - view.min() > 0.3 and not (mask[0].any() or mask[-1].any() or
                                                                                mask[:, 0].any() or mask[:, -1].any())
        out.append((float(xs[mask].mean()), float(ys[mask].mean())) if visible else None)
    return out


def _audio_screen_direction(foa, hfov):
    """Intensity direction of the rotated FOA (N, 4, S) projected on the view's screen (x right, y down)."""
    w, y, z, x = foa.unbind(1)
    intensity = torch.stack([(w * x).mean(-1), (w * y).mean(-1), (w * z).mean(-1)], dim=1)  # (N, 3) X, Y, Z
    scale = math.tan(hfov / 2)
    return intensity, torch.stack([-intensity[:, 1] / intensity[:, 0] / scale,
                                   -intensity[:, 2] / intensity[:, 0] / scale], dim=1)


@pytest.mark.parametrize("mode", ["none", "yaw", "3d"])
def test_audio_and_video_agree_on_the_source_direction(corpus, monkeypatch, mode):
    """The disk seen in each crop and the plane wave in that crop's rotated FOA point the same way (correct rotation
    order, joint flip on); with misalignment, the audio direction is the video direction rotated by ``rotation``."""
    _identity_log_mel(monkeypatch)
    cfg = yt360_config(corpus, **{"viewpoints.num": 8, "viewpoints.hfov_deg": [90.0, 90.0],
                                  "viewpoints.elevation_deg": [-20.0, 20.0], "viewpoints.aspect_jitter": False,
                                  "video.crop_size": 40,
                                  "color_jitter": False, "misalign.probability": 0.0 if mode == "none" else 1.0,
                                  "misalign.mode": "yaw" if mode == "none" else mode, "misalign.min_angle_deg": 40.0})
    dataset = build_dataset(cfg, "train", seed=0)
    hfov = math.radians(90)
    checked, signs = 0, set()
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[index]
            intensity, audio_xy = _audio_screen_direction(sample["audio"], hfov)
            rotation = sample.get("rotation", torch.eye(3))
            if mode != "none":
                angle = math.acos(max(-1.0, min(1.0, (float(rotation.trace()) - 1) / 2)))
                assert sample["misaligned"] and angle >= math.radians(40) - 1e-4
                assert torch.allclose(rotation @ rotation.T, torch.eye(3), atol=1e-5)
            for view, video_xy in enumerate(_screen_direction(sample["video"], hfov)):
                if video_xy is None:
                    continue
                az, el = (float(v) for v in sample["position"][view, :2])
                signs.add(az > 0)
                if mode == "none":
                    assert audio_xy[view].tolist() == pytest.approx(video_xy, abs=0.08)
                else:  # audio direction (view frame) = V · R · Vᵀ · video direction (view frame)
                    ray = torch.tensor([1.0, -video_xy[0] * math.tan(hfov / 2), -video_xy[1] * math.tan(hfov / 2)])
                    view_rotation = _view_rotation(az, el)
                    expected = view_rotation @ rotation @ view_rotation.T @ (ray / ray.norm())
                    measured = intensity[view] / intensity[view].norm()
                    assert float(expected @ measured) > math.cos(math.radians(5))
                checked += 1
    assert checked >= 4 and signs == {True, False}  # crops of the mirrored scene (azimuth −60°) were checked too


@pytest.mark.parametrize("min_angle_deg", [0.0, 30.0])
def test_avsa_bin_misalignment_draws_and_labels(corpus, min_angle_deg):
    """min_angle_deg 0 is the original's AVSA-Bin protocol: with probability 0.5 a yaw uniform over [−π, π], and
    every drawn rotation labelled misaligned, a yaw of ~0° included; 30° draws the yaw from ±[30°, 180°]."""
    cfg = yt360_config(corpus, **{"misalign.probability": 0.5, "misalign.mode": "yaw",
                                  "misalign.min_angle_deg": min_angle_deg})
    dataset = build_dataset(cfg, "test", seed=0)
    generator = torch.Generator().manual_seed(0)
    draws = [dataset._misalign(generator) for _ in range(3000)]
    labels = torch.stack([label for _, label, _ in draws])
    assert abs(float(labels.float().mean()) - 0.5) < 0.03
    yaw = torch.stack([angles[2] for angles, label, _ in draws if label])
    for angles, label, rotation in draws:
        if not label:
            assert torch.equal(angles, torch.zeros(3)) and torch.equal(rotation, torch.eye(3))
        else:  # a rotation about the vertical by the drawn yaw: trace 1 + 2·cos(yaw), Z kept
            assert float(rotation.trace()) == pytest.approx(1 + 2 * math.cos(float(angles[2])), abs=1e-5)
            torch.testing.assert_close(rotation[:, 2], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6, rtol=0)
    low = math.radians(min_angle_deg)
    assert float(yaw.abs().min()) >= low and float(yaw.abs().max()) <= math.pi
    # |yaw| uniform on [low, π], either sign: 6 equal bins of |yaw| hold about 1/6 of the draws each
    counts = torch.histc(yaw.abs(), bins=6, min=low, max=math.pi)
    assert ((counts / len(yaw) - 1 / 6).abs() < 0.04).all(), counts
    assert abs(float((yaw > 0).float().mean()) - 0.5) < 0.05
    near_zero = int((yaw.abs() < math.radians(5)).sum())  # labelled misaligned although barely rotated
    assert (near_zero > 0) == (min_angle_deg == 0.0)


def test_intensity_channels_point_at_the_source_seen_in_each_crop(corpus):
    """``audio.intensity``: channels 4-6 of each crop's audio (Y, Z, X of the intensity vector, after the rotation
    toward the view and the joint flip) point where the crop shows the disk."""
    cfg = yt360_config(corpus, **{"viewpoints.num": 8, "viewpoints.hfov_deg": [90.0, 90.0],
                                  "viewpoints.elevation_deg": [-20.0, 20.0], "viewpoints.aspect_jitter": False,
                                  "video.crop_size": 40, "color_jitter": False, "audio.intensity": True})
    dataset = build_dataset(cfg, "train", seed=0)
    checked, scale = 0, math.tan(math.radians(90) / 2)
    for epoch in range(2):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[index]
            assert sample["audio"].shape[1] == 7
            with_stats = sample["audio"][:, 4:].mean(dim=(2, 3))  # (K, 3): Y, Z, X
            for view, video_xy in enumerate(_screen_direction(sample["video"], math.radians(90))):
                if video_xy is None:
                    continue
                y, z, x = with_stats[view].tolist()
                assert x > 0.3  # in front of the view: a sign error would put it behind
                assert [-y / x / scale, -z / x / scale] == pytest.approx(video_xy, abs=0.08)
                checked += 1
    assert checked >= 4


def _view_rotation(azimuth, elevation):
    """R_y(el)·R_z(−az): the rotation bringing (az, el) to the front with zero roll (independent re-derivation)."""
    ca, sa, ce, se = math.cos(-azimuth), math.sin(-azimuth), math.cos(elevation), math.sin(elevation)
    about_z = torch.tensor([[ca, -sa, 0.0], [sa, ca, 0.0], [0.0, 0.0, 1.0]])
    about_y = torch.tensor([[ce, 0.0, se], [0.0, 1.0, 0.0], [-se, 0.0, ce]])
    return about_y @ about_z


def test_temporal_clips_and_centred_video_window(tmp_path, monkeypatch):
    """AVTS: M moments from different parts of the segment. The frame brightness and the audio amplitude both encode
    time, so the video window time and the audio window centre can be read back from the sample."""
    _identity_log_mel(monkeypatch)
    seconds, fps = 4.0, 16
    frames = [np.full((32, 64, 3), int(20 + 200 * (n / fps) / seconds), np.uint8) for n in range(int(seconds * fps))]
    envelope = lambda t: 0.2 + 0.8 * t / seconds  # noqa: E731
    write_segment(str(tmp_path), f"{IDS[0]}-0", seconds=seconds, size=(64, 32), frames=frames,
                  foa=plane_wave_foa(seconds, 0.0, 0.0, envelope=envelope))
    write_lists(str(tmp_path), train=IDS[:1], test=IDS[:1])
    cfg = yt360_config(str(tmp_path), **{"viewpoints.num": 2, "temporal_clips": 2, "video.crop_size": 16})
    dataset = build_dataset(cfg, "test", seed=0)
    reference_rms = float(np.sqrt(np.mean(plane_wave_foa(seconds, 0.0, 0.0)[0] ** 2)))
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["video"].shape == (4, 3, 8, 16, 16) and sample["position"].shape == (4, 3)
        times = sample["position"][:, 2]
        assert times[0] == times[1] and times[2] == times[3]  # moment-major: K views per moment
        assert 0.5 <= times[0] <= 1.5 and 2.5 <= times[2] <= 3.5  # one window per half, audio window inside
        for view in range(4):
            middle = float(times[view])
            grey = float(_unnormalise(sample["video"][view]).mean()) * 255
            expected = np.mean([20 + 200 * (math.floor(middle * fps - 4 + n + 1e-6) / fps) / seconds
                                for n in range(8)])
            assert grey == pytest.approx(expected, abs=4.0)
            rms = float(sample["audio"][view, 0].pow(2).mean().sqrt())
            assert rms / reference_rms == pytest.approx(envelope(middle), rel=0.05)  # audio centred on the video


def test_segmentation_labels_follow_the_32_class_table():
    things = torch.tensor([[0, 2, 1, 80, 80, 80, 80]])
    stuff = torch.tensor([[0, 0, 0, 40, 54, 23, 36]])
    # person → 0, car → 1, bicycle (not trained) → 255, sky (80 + 40 = 120) → 16, void (80 + 54 = 134) → 255,
    # sand (80 + 23 = 103) → 30, window (80 + 36 = 116) → 31
    assert yt360.segmentation_labels(things, stuff)[0].tolist() == [0, 1, 255, 16, 255, 30, 31]


def test_segmentation_crops_match_the_video_grid(tmp_path):
    """Labels and video are cropped on one grid: bright (left half, person) pixels carry label 0 (also flipped)."""
    size = (64, 32)
    az, _ = equirect_directions(*size)
    frame = np.where((az > 0)[..., None], 235, 20).astype(np.uint8).repeat(3, axis=2)
    write_segment(str(tmp_path), f"{IDS[0]}-0", size=size, frames=[frame] * 24)
    az_labels, _ = equirect_directions(32, 16)  # label maps at another resolution than the video
    write_label_maps(os.path.join(str(tmp_path), "segmentation", f"{IDS[0]}-0"),
                     np.where(az_labels > 0, 0, 80), np.full((16, 32), 40), 6)
    write_lists(str(tmp_path), train=IDS[:1], test=IDS[:1])
    cfg = yt360_config(str(tmp_path), **{"viewpoints.num": 4, "segmentation": True, "color_jitter": False,
                                         "video.crop_size": 32})
    for split in ("train", "test"):
        dataset = build_dataset(cfg, split, seed=1)
        for epoch in range(3):
            dataset.set_epoch(epoch)
            sample = dataset[0]
            bright = _unnormalise(sample["video"]).mean(dim=(1, 2)) > 0.5
            labels = sample["segmentation"]
            assert set(labels.unique().tolist()) <= {0, 16}
            assert float((bright == (labels == 0)).float().mean()) > 0.95


def test_missing_label_map_in_the_window_is_an_error(tmp_path):
    write_segment(str(tmp_path), f"{IDS[0]}-0")
    write_lists(str(tmp_path), train=IDS[:1], test=IDS[:1])
    cfg = yt360_config(str(tmp_path), **{"segmentation": True})
    dataset = build_dataset(cfg, "test", seed=0)
    with pytest.raises(DataError, match="no segmentation map"):
        dataset.decode(0)


def test_index_cache_is_rebuilt_when_files_or_lists_change(tmp_path, monkeypatch):
    root = str(tmp_path)
    write_segment(root, f"{IDS[0]}-0")
    write_lists(root, train=IDS[:2], test=IDS[2:])
    cfg = yt360_config(root)
    assert build_dataset(cfg, "train", 0).num_items == 1
    assert os.path.exists(os.path.join(root, ".cache", "yt360-train.json"))
    scans = []
    real_scan = yt360._scan
    monkeypatch.setattr(yt360, "_scan", lambda *a: scans.append(1) or real_scan(*a))
    assert build_dataset(cfg, "train", 0).num_items == 1 and scans == []  # unchanged: read from the cache
    write_segment(root, f"{IDS[1]}-5")  # a new file
    assert build_dataset(cfg, "train", 0).num_items == 2 and len(scans) == 1
    write_lists(root, train=IDS[1:2], test=IDS[2:])  # an edited list
    dataset = build_dataset(cfg, "train", 0)
    assert dataset.num_items == 1 and dataset.segments[0][0] == IDS[1] and len(scans) == 2


def test_epoch_order_of_video_and_clip_sampling(corpus):
    """The original's video sampling: #videos units × clips_per_video·int(#segments/#videos) permutations."""
    cfg = yt360_config(corpus, **{"train.clips_per_video": 2})
    dataset = build_dataset(cfg, "train", seed=0)  # 2 videos, 3 segments: int(3/2) = 1 → 2 permutations
    assert (dataset.num_units, dataset.repeats, len(dataset)) == (2, 2, 4)
    order = [dataset.unit(i) for i in range(len(dataset))]
    assert sorted(order[:2]) == [0, 1] and sorted(order[2:]) == [0, 1]
    clip = build_dataset(yt360_config(corpus, **{"sampling": "clip", "train.clips_per_video": 2}), "train", seed=0)
    assert (clip.num_units, clip.repeats, len(clip)) == (3, 2, 6)
    test = build_dataset(cfg, "test", seed=0)
    assert [test.unit(i) for i in range(len(test))] == [0, 1]
    # With video sampling a video's segments are all drawn over the indices / epochs.
    segments = set()
    for epoch in range(12):
        dataset.set_epoch(epoch)
        segments.update(dataset.locate(i) for i in range(len(dataset)))
    assert segments == {0, 1, 2}


def test_video_sampling_of_the_fixed_test_set(corpus, tmp_path):
    """The benchmarks' sampling (as the original's 360° evaluation loaders): one unit per video, repeated
    clips_per_video × int(#segments / #videos) times, each draw's segment chosen by the test seed alone."""
    listed = tmp_path / "test.txt"
    listed.write_text(f"{IDS[0]}\n{IDS[1]}\n")  # 2 videos, 3 segments: IDS[1] has one, IDS[0] two
    cfg = yt360_config(corpus, **{"test_list": str(listed), "cache_dir": str(tmp_path), "test.clips_per_video": 3})
    test = build_dataset(cfg, "test", seed=0)
    assert (test.num_units, test.repeats, len(test)) == (2, 3, 6)  # 3 × int(3 / 2) draws of each video
    assert [test.unit(i) for i in range(6)] == [0, 1] * 3
    assert [test.segments[item][0] for item in test.video_segments[0]] == [IDS[1]]  # ids sort: "-" < "a"
    picks = [test.locate(i) for i in range(6)]
    assert picks[0::2] == [0, 0, 0] and set(picks[1::2]) <= {1, 2}
    again = build_dataset(cfg, "test", seed=0)
    again.set_epoch(4)
    assert [again.locate(i) for i in range(6)] == picks
    other_seeds = {tuple(build_dataset(cfg, "test", seed=s).locate(i) for i in range(1, 6, 2)) for s in range(8)}
    assert len(other_seeds) > 1  # the segment is a random draw, fixed by the seed


def test_names_and_split_lists(tmp_path):
    assert yt360.parse_segment_name("a-b_c-d_e-f-42.mp4") == ("a-b_c-d_e-f", 42)
    assert yt360.parse_segment_name("-oytwMeyR74-7.m4a") == ("-oytwMeyR74", 7)
    assert yt360.parse_segment_name("short-7.mp4") is None
    path = tmp_path / "list.txt"
    path.write_text("abcdefghijk\n\n# comment\nbad id\n")
    with pytest.raises(DataError, match=r"list.txt:4: 'bad id' is not an 11-character YouTube id"):
        yt360.read_split_list(str(path))


def test_paper_split_lists():
    train = yt360.read_split_list(shared_path("reference-assets", "yt360", "train.txt"))
    test = yt360.read_split_list(shared_path("reference-assets", "yt360", "test.txt"))
    assert (len(set(train)), len(set(test))) == (4506, 1000)
    assert not set(train) & set(test)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.viewpoints.num: 9 viewpoints cannot be 90° apart.*at most 4"):
        yt360_config(str(tmp_path), **{"viewpoints.num": 9, "viewpoints.min_separation_deg": 90.0})
    with pytest.raises(ConfigError, match="dataset.audio: clip_duration 0.25 s is shorter than video"):
        yt360_config(str(tmp_path), **{"audio.clip_duration": 0.25})
    with pytest.raises(ConfigError, match="dataset.train_list: split list not found"):
        build_dataset(yt360_config(str(tmp_path)), "train", 0)


def test_decode_cache_gives_the_same_samples_and_fills_before_workers_fork(corpus):
    from engine.data import make_loader

    cfg = yt360_config(corpus, **{"viewpoints.num": 2, "misalign.probability": 0.5})
    plain = build_dataset(cfg, "train", seed=3)
    cached = build_dataset({**cfg, "decode_cache_mb": 64.0}, "train", seed=3)
    assert plain.decode_cache is None and len(cached.decode_cache) == 0
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for index in range(len(plain)):
            expected, got = plain[index], cached[index]
            for key, value in expected.items():
                if key == "audio":  # a windowed read restarts the AAC decoder at the seek point, the cache decoded
                    # the whole stream: both are aligned with the source, they differ by codec noise (dB log-mel)
                    assert (got[key] - value).abs().mean() < 0.5, (epoch, index)
                else:
                    assert torch.equal(got[key], value), (epoch, index, key)
    assert len(cached.decode_cache) == 2 * 3  # video + audio of the 3 train segments, each decoded once
    fresh = build_dataset({**cfg, "decode_cache_mb": 64.0}, "train", seed=3)
    make_loader(fresh, 2, {"seed": 0, "num_workers": 1}, train=True)
    assert len(fresh.decode_cache) == 6     # the main process filled it: the forked worker inherits the frames


def test_segments_shorter_than_the_manifest_lists_are_skipped_and_reported(tmp_path, monkeypatch):
    root = str(tmp_path)
    ids = [f"segment{n:04d}" for n in range(5)]
    for video_id in ids:
        write_segment(root, f"{video_id}-0", seconds=1.5, size=(32, 16))

    def entry(video_id, sizes=True):  # as tools/prepare_yt360.py lists a 1.5-s segment
        paths = {kind: f"{kind}/{video_id}-0.{ext}" for kind, ext in (("video", "mp4"), ("audio", "m4a"))}
        return {"id": video_id, "start": 0, **paths, "duration": 1.5, "fps": 16.0, "channels": 4, "rate": 24000,
                **({"bytes": {k: os.path.getsize(os.path.join(root, p)) for k, p in paths.items()}} if sizes else {})}

    manifest = [entry(v) for v in ids[:3]] + [entry(ids[3], sizes=False)]  # ids[4] is not listed
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    write_segment(root, f"{ids[1]}-0", seconds=0.625, size=(32, 16))  # both files replaced by shorter ones
    write_audio(os.path.join(root, "audio", f"{ids[2]}-0.m4a"), plane_wave_foa(1.2, 0.0, 0.0))  # audio cut short
    write_lists(root, test=ids)
    probed = []
    monkeypatch.setattr(yt360, "probe_media", lambda path: probed.append(os.path.basename(path)) or probe_media(path))
    dataset = build_dataset(yt360_config(root), "test", seed=0)
    assert [s[0] for s in dataset.segments] == [ids[0], ids[3], ids[4]]
    assert dataset.index_problems() == [
        f"{root}/video/{ids[1]}-0.mp4: lasts 0.62 s, manifest.json lists 1.50 s (cut short or replaced after "
        "preparation); skipped",
        f"{root}/audio/{ids[2]}-0.m4a: lasts 1.20 s, manifest.json lists 1.50 s (cut short or replaced after "
        "preparation); skipped"]
    # Files of the listed size are not opened; the others are probed (metadata only), the unlisted segment is not.
    assert sorted(probed) == [f"{ids[1]}-0.mp4", f"{ids[2]}-0.m4a", f"{ids[3]}-0.m4a", f"{ids[3]}-0.mp4"]
