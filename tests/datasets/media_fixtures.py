"""Tiny media written by the dataset tests: 2:1 H.264 equirect videos with a bright disk at a known direction,
4-channel AAC FOA of a plane wave from the same direction, label PNGs, MPEG-4 AVI action clips, and broken files."""

from __future__ import annotations

import math
import os
from fractions import Fraction

import av
import numpy as np
import torch
from PIL import Image

from utils.ambisonics import encode_foa


def equirect_directions(width: int, height: int):
    """Azimuth, elevation (H, W) of pixel centres (project convention: column 0 = +180°, left positive)."""
    x = (np.arange(width) + 0.5) / width
    y = (np.arange(height) + 0.5) / height
    return np.meshgrid(math.pi * (1 - 2 * x), math.pi / 2 * (1 - 2 * y))


def disk_frame(width: int, height: int, azimuth_deg: float, elevation_deg: float, radius_deg: float = 10.0):
    """Dark frame (H, W, 3) uint8 with a white spherical disk centred on (azimuth, elevation)."""
    az, el = equirect_directions(width, height)
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    cos_angle = np.sin(el) * math.sin(e) + np.cos(el) * math.cos(e) * np.cos(az - a)
    inside = cos_angle > math.cos(math.radians(radius_deg))
    frame = np.full((height, width, 3), 20, np.uint8)
    frame[inside] = 235
    return frame


# Tags written as this ASCII placeholder and replaced in the file by CP1252 bytes of the same length (`patch_tags`):
# the Latin-1/CP1252 tags of many real AVIs (HMDB51), which are not valid UTF-8 (first byte 0xd3).
TAG_PLACEHOLDER = b"avsa-tag-000"
CP1252_TAG = "Óscar Pérez ".encode("cp1252")


def set_placeholder_tags(container, stream) -> None:
    """Container and stream title/comment tags holding `TAG_PLACEHOLDER` (call before writing any packet)."""
    for tags in (container.metadata, stream.metadata):
        tags["title"] = tags["comment"] = TAG_PLACEHOLDER.decode()


def patch_tags(path: str) -> str:
    """Replace every `TAG_PLACEHOLDER` in the file by `CP1252_TAG` (same length: offsets stay valid)."""
    data = open(path, "rb").read()
    assert data.count(TAG_PLACEHOLDER) >= 2, "the container did not store the tags"
    open(path, "wb").write(data.replace(TAG_PLACEHOLDER, CP1252_TAG))
    return path


def write_video(path: str, frames, fps: float = 16, codec: str = "libx264", times=None, tags: bool = False) -> str:
    """frames: (T, H, W, 3) uint8 (or a list). ``times``: presentation times (s) for variable frame rate.
    ``tags``: title/comment tags in CP1252, not UTF-8 (see `patch_tags`)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = "avi" if codec == "mpeg4" else "mp4"
    with av.open(path, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=int(fps))
        if tags:
            set_placeholder_tags(container, stream)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "12", "g": "4", "bf": "0", "preset": "ultrafast"}
        if times is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for n, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[n] * 1000)), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return patch_tags(path) if tags else path


def write_audio(path: str, signal: np.ndarray, rate: int = 24000, fmt: str = "mp4", tags: bool = False) -> str:
    """signal: (C, S) float in [-1, 1] → AAC (C = 1, 2, 4 or 6 channels), channels in stored order.
    ``tags``: title/comment tags in CP1252, not UTF-8 (see `patch_tags`)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    layout = {1: "mono", 2: "stereo", 4: "4.0", 6: "5.1"}[signal.shape[0]]
    with av.open(path, "w", format=fmt) as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        if tags:
            set_placeholder_tags(container, stream)
        stream.bit_rate = 64_000 * signal.shape[0]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal, dtype=np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return patch_tags(path) if tags else path


def plane_wave_foa(seconds: float, azimuth_deg: float, elevation_deg: float, rate: int = 24000,
                   envelope=None, seed: int = 0) -> np.ndarray:
    """(4, S) ambiX FOA of band-limited noise from (azimuth, elevation); ``envelope(t)`` scales it over time."""
    num = int(round(seconds * rate))
    noise = torch.from_numpy(np.random.default_rng(seed).standard_normal(num).astype(np.float32))
    noise = torch.nn.functional.avg_pool1d(noise[None, None], 3, 1, 1)[0, 0]  # tame the highest frequencies
    noise = 0.25 * noise / noise.std()
    if envelope is not None:
        noise = noise * torch.from_numpy(envelope(np.arange(num) / rate).astype(np.float32))
    foa = encode_foa(noise, torch.tensor(math.radians(azimuth_deg)), torch.tensor(math.radians(elevation_deg)))
    return foa.numpy()


def write_segment(root: str, name: str, *, seconds: float = 1.5, size=(128, 64), fps: float = 16,
                  direction=(60.0, 0.0), frames=None, foa=None, channels: int = 4) -> tuple[str, str]:
    """video/{name}.mp4 and audio/{name}.m4a of a disk and a plane wave at ``direction`` (degrees)."""
    if frames is None:
        frames = [disk_frame(*size, *direction)] * int(round(seconds * fps))
    video = write_video(os.path.join(root, "video", f"{name}.mp4"), frames, fps)
    if foa is None:
        foa = plane_wave_foa(seconds, *direction)
    if channels != 4:
        foa = np.resize(foa, (channels, foa.shape[1]))
    audio = write_audio(os.path.join(root, "audio", f"{name}.m4a"), foa)
    return video, audio


def write_label_maps(folder: str, things: np.ndarray, stuff: np.ndarray, count: int) -> None:
    """things-NNNN.png / stuff-NNNN.png, n < count, all the same maps (grayscale)."""
    os.makedirs(folder, exist_ok=True)
    for n in range(count):
        Image.fromarray(things.astype(np.uint8), mode="L").save(os.path.join(folder, f"things-{n:04d}.png"))
        Image.fromarray(stuff.astype(np.uint8), mode="L").save(os.path.join(folder, f"stuff-{n:04d}.png"))


def write_lists(root: str, train=(), test=()) -> None:
    for split, ids in (("train", train), ("test", test)):
        with open(os.path.join(root, f"{split}.txt"), "w") as f:
            f.write("".join(f"{i}\n" for i in ids))


def yt360_config(root: str, **overrides) -> dict:
    """A validated ``dataset`` section for ``root`` (overrides: dotted keys → values)."""
    from datasets import SCHEMA

    raw = {"name": "yt360", "root": root}
    for key, value in overrides.items():
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return SCHEMA.validate(raw, "dataset", lambda _: "test")


def write_bad_corpus(root: str, good: int = 3, segmentation: bool = True) -> tuple[list[str], dict[str, str]]:
    """A YT-360 folder mixing ``good`` good segments (one of them variable frame rate) with one broken segment per
    failure mode. Returns (good ids, {bad id: expected reason fragment}); every id has one segment ``{id}-0``."""
    label_size = (32, 16)
    az, _ = equirect_directions(*label_size)
    things, stuff = np.where(az > 0, 0, 80), np.full(label_size[::-1], 40)

    def segment(video_id, **kwargs):
        write_segment(root, f"{video_id}-0", **kwargs)
        if segmentation:
            write_label_maps(os.path.join(root, "segmentation", f"{video_id}-0"), things, stuff, 6)

    good_ids = [f"good{n:07d}" for n in range(good)]
    for video_id in good_ids[:-1]:
        segment(video_id)
    frame = disk_frame(128, 64, 60.0, 0.0)
    vfr_times = np.cumsum([0.0] + [0.04 if n % 2 else 0.09 for n in range(23)])  # 11 and 25 fps alternating
    segment(good_ids[-1], frames=[frame] * 24, seconds=1.5)
    write_video(os.path.join(root, "video", f"{good_ids[-1]}-0.mp4"), [frame] * 24, times=vfr_times)

    bad = {}
    segment("truncatedmp", seconds=1.5)
    path = os.path.join(root, "video", "truncatedmp-0.mp4")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) * 2 // 5])
    bad["truncatedmp"] = "truncatedmp-0.mp4: "
    segment("zerobyte000")
    open(os.path.join(root, "video", "zerobyte000-0.mp4"), "wb").close()
    bad["zerobyte000"] = "zerobyte000-0.mp4: cannot open"
    segment("wrongcontnr")
    Image.new("RGB", (8, 8)).save(os.path.join(root, "video", "wrongcontnr-0.mp4"), format="PNG")
    bad["wrongcontnr"] = "wrongcontnr-0.mp4: "
    segment("noaudio0000")
    os.remove(os.path.join(root, "audio", "noaudio0000-0.m4a"))
    bad["noaudio0000"] = "no audio file"
    segment("stereo00000", channels=2)
    bad["stereo00000"] = "2 audio channels"
    segment("sixchannels", channels=6)
    bad["sixchannels"] = "6 audio channels"
    segment("not2to10000", size=(64, 48))
    bad["not2to10000"] = "not 2:1"
    segment("shortaudio0")
    write_audio(os.path.join(root, "audio", "shortaudio0-0.m4a"), plane_wave_foa(0.4, 0.0, 0.0))
    bad["shortaudio0"] = "audio lasts"
    segment("shortvideo0", seconds=0.6)
    bad["shortvideo0"] = "shorter than 1 × the 1-s clip window"
    if segmentation:
        segment("nolabelmaps")
        for name in os.listdir(os.path.join(root, "segmentation", "nolabelmaps-0")):
            os.remove(os.path.join(root, "segmentation", "nolabelmaps-0", name))
        bad["nolabelmaps"] = "no segmentation map"
        segment("badlabelpng")
        for name in os.listdir(os.path.join(root, "segmentation", "badlabelpng-0")):
            open(os.path.join(root, "segmentation", "badlabelpng-0", name), "wb").write(b"\x89PNG broken")
        bad["badlabelpng"] = "unreadable segmentation map"
    write_lists(root, train=good_ids + sorted(bad), test=good_ids + sorted(bad))
    return good_ids, bad
