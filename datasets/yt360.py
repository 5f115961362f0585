"""YT-360: 10-s segments of 360° YouTube videos with first-order ambisonics, K viewpoints per sample.

Files under ``root``: ``video/{ID}-{T}.mp4`` (equirectangular), ``audio/{ID}-{T}.m4a`` (4-channel FOA),
``segmentation/{ID}-{T}/`` (4-fps label maps), ``train.txt`` / ``test.txt`` and an optional ``manifest.json``. A
sample is `read` (M time windows decoded once) then `transform` = `draw` (every random choice) + `apply` (misalignment,
K perspective crops, FOA rotated toward each, joint flip, colour and volume jitter, normalisation, log-mel; batched
over the views). With ``augment_on: gpu`` the workers stop after `draw` and `device_transform` runs `apply` on the
collated batch. Layout, sample keys and shapes: docs/data.md ("The sample pipeline").
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from datasets import augment
from datasets.audio_stats import audio_features
from datasets.base import ClipDataset
from datasets.index import cached_index
from datasets.viewpoints import sample_viewpoints
from utils.ambisonics import (foa_rotation_matrix, mirror_rotation, random_rotation_angles, rotate_foa,
                              rotate_foa_angles)
from utils.errors import ConfigError, DataError
from utils.media import DecodeCache, probe_media
from utils.spherical import equirect_to_perspective

__all__ = ["YT360", "SEGMENTATION_CLASSES", "SEGMENTATION_GROUPS", "read_split_list", "parse_segment_name",
           "segmentation_labels"]

SEGMENT_NAME = re.compile(r"^(?P<id>[A-Za-z0-9_-]{11})-(?P<start>\d+)$")
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")

# Segment length in the original layout; only used to tell "mis-cut" from "slightly different" stream lengths.
MAX_DURATION_MISMATCH_S = 0.5
# An audio file may be this much shorter than requested (tools/prepare_yt360.py) or than manifest.json lists (a video:
# one frame).
AUDIO_TOLERANCE_S = 0.1
SEGMENTATION_FPS = 4  # label maps per second of segment

# The 32 training classes of the segmentation benchmark: (name, index in the 134-class list of
# segmentation-classes.txt). Label p is the p-th entry; every other class is ignored (255).
SEGMENTATION_CLASSES = (
    ("person", 0), ("car", 2), ("airplane", 4), ("boat", 8), ("motorcycle", 3), ("train", 6), ("tv", 62),
    ("chair", 56), ("dining table", 60), ("cake", 55), ("bed", 59), ("umbrella", 25), ("bus", 5), ("truck", 7),
    ("potted plant", 58), ("keyboard", 66), ("sky", 120), ("wall", 132), ("tree", 117), ("ceiling", 119),
    ("building", 130), ("floor", 123), ("grass", 126), ("road", 101), ("mountain", 125), ("pavement", 124),
    ("snow", 106), ("dirt", 127), ("rock", 131), ("sea", 104), ("sand", 103), ("window", 116),
)
# The 16 thing and the 16 stuff classes (label indices), for the per-group mIoU of the segmentation results.
SEGMENTATION_GROUPS = {"things": [p for p, (_, index) in enumerate(SEGMENTATION_CLASSES) if index < 80],
                       "stuff": [p for p, (_, index) in enumerate(SEGMENTATION_CLASSES) if index >= 80]}
IGNORE_LABEL = 255
_NOT_A_THING = 80  # things map value for "stuff here"; the stuff value is then added to it
_LABEL_TABLE = torch.full((512,), IGNORE_LABEL, dtype=torch.uint8)
_LABEL_TABLE[torch.tensor([index for _, index in SEGMENTATION_CLASSES])] = torch.arange(len(SEGMENTATION_CLASSES),
                                                                                        dtype=torch.uint8)


# ------------------------------------------------------------------------------------------ index
def read_split_list(path: str) -> list[str]:
    """YouTube ids of a split list (one per line; blank lines and ``#`` comments ignored)."""
    ids = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.split("#")[0].strip()
            if not text:
                continue
            if not YOUTUBE_ID.match(text):
                raise DataError(f"{path}:{number}: {text!r} is not an 11-character YouTube id")
            ids.append(text)
    return ids


def parse_segment_name(filename: str) -> tuple[str, int] | None:
    """``"ab-cd_efghi-42.mp4"`` → ``("ab-cd_efghi", 42)``; None for a name that does not follow the layout."""
    match = SEGMENT_NAME.match(os.path.splitext(os.path.basename(filename))[0])
    return (match["id"], int(match["start"])) if match else None


def _scan(root: str, ids: list[str]) -> dict:
    """Segments of the listed ids: [id, start, video file, audio file or None], sorted by (id, start)."""
    def names(folder, extension):
        path = os.path.join(root, folder)
        return sorted(n for n in os.listdir(path) if n.endswith(extension)) if os.path.isdir(path) else []

    wanted = set(ids)
    audio = {parse_segment_name(n): n for n in names("audio", ".m4a")}
    segments, unparsed, seen = [], [], set()
    for name in names("video", ".mp4"):
        key = parse_segment_name(name)
        if key is None:
            unparsed.append(f"video/{name}")
        elif key[0] in wanted:
            segments.append([key[0], key[1], name, audio.get(key)])
            seen.add(key)
    orphans = [f"audio/{n}" for k, n in audio.items() if k is not None and k[0] in wanted and k not in seen]
    segments.sort(key=lambda s: (s[0], s[1]))
    found = {s[0] for s in segments}
    segments, shorter = _check_against_manifest(root, segments)
    return {"segments": segments, "unparsed": unparsed, "audio_without_video": sorted(orphans),
            "ids_without_files": sorted(wanted - found), "shorter_than_listed": shorter}


def _check_against_manifest(root: str, segments: list) -> tuple[list, list[str]]:
    """(segments to use, one line per segment skipped) after comparing the files of the segments that
    ``root/manifest.json`` (tools/prepare_yt360.py) lists with what it says. A file of the listed size is the one
    prepared and is not opened; any other is probed (stream metadata, no decoding) and the segment skipped when it
    cannot be opened or is shorter than the listed duration by more than one frame (video) / 0.1 s (audio)."""
    path = os.path.join(root, "manifest.json")
    if not os.path.isfile(path):
        return segments, []
    try:
        with open(path, encoding="utf-8") as f:
            listed = {(entry["id"], int(entry["start"])): entry for entry in json.load(f)}
    except (OSError, ValueError, TypeError, KeyError) as err:
        return segments, [f"{path}: unreadable ({err}); segment lengths not checked"]
    kept, skipped = [], []
    for segment in segments:
        entry = listed.get((segment[0], segment[1]))
        problem = _shorter_than_listed(root, segment, entry) if entry and segment[3] is not None else None
        if problem is None:
            kept.append(segment)
        else:
            skipped.append(problem)
    return kept, skipped


def _shorter_than_listed(root: str, segment: list, entry: dict) -> str | None:
    sizes = entry.get("bytes") or {}
    for kind, name, tolerance in (("video", segment[2], 1.0 / (entry.get("fps") or 1.0)),
                                  ("audio", segment[3], AUDIO_TOLERANCE_S)):
        path = os.path.join(root, kind, name)
        if os.path.getsize(path) == sizes.get(kind):
            continue
        try:
            seconds = probe_media(path).duration or 0.0
        except DataError as err:
            return f"{err}; skipped"
        if seconds < entry["duration"] - tolerance - 1e-3:
            return (f"{path}: lasts {seconds:.2f} s, manifest.json lists {entry['duration']:.2f} s (cut short or "
                    "replaced after preparation); skipped")
    return None


# ------------------------------------------------------------------------------------------ label maps
def segmentation_labels(things: torch.Tensor, stuff: torch.Tensor) -> torch.Tensor:
    """Training labels (0..31, 255 = ignore) from a things map (COCO 0..79, 80 = not a thing) and a stuff map
    (0..53, 54 = void) of equal shape: combined = things, or 80 + stuff where things is 80."""
    combined = torch.where(things == _NOT_A_THING, _NOT_A_THING + stuff.long(), things.long())
    return _LABEL_TABLE[combined.clamp(max=len(_LABEL_TABLE) - 1)]


def _read_label_png(path: str) -> torch.Tensor:
    """Class indices of a grayscale or RGB label PNG (channel 0 holds the index), (H, W) uint8."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: segmentation map missing")
    try:
        with Image.open(path) as image:
            if image.mode == "P":
                raise DataError(f"{path}: palette PNG; label maps store the class index in channel 0")
            array = np.asarray(image.convert("RGB"))[..., 0]
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{path}: unreadable segmentation map ({err})") from None
    return torch.from_numpy(array.copy())


# ------------------------------------------------------------------------------------------ dataset
class YT360(ClipDataset):
    def __init__(self, cfg: dict, split: str, seed: int, *, config: str = "CONFIG", overrides: Sequence[str] = ()):
        self.cfg, self.root = cfg, cfg["root"]
        self.split_cfg = cfg[split]
        list_path = cfg[f"{split}_list"] or os.path.join(self.root, f"{split}.txt")
        if not os.path.isfile(list_path):
            raise ConfigError(f"dataset.{split}_list: split list not found: {list_path}")
        cache_dir = cfg["cache_dir"] or os.path.join(self.root, ".cache")
        self.index = cached_index(
            os.path.join(cache_dir, f"yt360-{split}.json"),
            [os.path.join(self.root, "video"), os.path.join(self.root, "audio"), list_path,
             os.path.join(self.root, "manifest.json")],
            lambda: _scan(self.root, read_split_list(list_path)),
            extra={"list": os.path.abspath(list_path)})
        self.segments = self.index["segments"]
        if not self.segments:
            raise DataError(f"{self.root}: none of the ids in {list_path} has a video/{{ID}}-{{T}}.mp4 file")
        video_ids = sorted({s[0] for s in self.segments})
        self.video_segments = [[] for _ in video_ids]  # segments (items) of each video
        position = {vid: i for i, vid in enumerate(video_ids)}
        for item, segment in enumerate(self.segments):
            self.video_segments[position[segment[0]]].append(item)
        clips = self.split_cfg["clips_per_video"]
        if cfg["sampling"] == "video":  # as the original: clips_per_video × int(#segments / #videos)
            num_units, repeats = len(video_ids), clips * (len(self.segments) // len(video_ids))
        else:
            num_units, repeats = len(self.segments), clips
        super().__init__(split=split, seed=seed, num_units=num_units, repeats=repeats, train=split == "train",
                         num_items=len(self.segments))
        if cfg["decode_cache_mb"] > 0:
            self.decode_cache = DecodeCache(cfg["decode_cache_mb"], cfg["decode_cache_dir"])
        self.augment = self.split_cfg["augment"]
        views = cfg["viewpoints"]
        hfov = views["test_hfov_deg"] if split != "train" and views["test_hfov_deg"] is not None else views["hfov_deg"]
        self.viewpoint_args = {"min_separation_deg": views["min_separation_deg"],
                               "elevation_deg": tuple(views["elevation_deg"]), "hfov_deg": tuple(hfov),
                               "aspect_jitter": views["aspect_jitter"] and self.augment}
        # a missing statistics file's error names config + overrides
        self.audio_features = audio_features(cfg, config, overrides)
        self._durations: dict[int, float] = {}  # usable seconds of the items probed so far (bad ones: never)

    # ---------------------------------------------------------------------------------------------- decode
    def describe_items(self) -> str:
        return f"segments of {len(self.video_segments)} videos"

    def index_notes(self) -> list[str]:
        missing = self.index["ids_without_files"]
        return [f"{len(missing)} listed ids have no video file (e.g. {', '.join(missing[:3])})"] if missing else []

    def index_problems(self) -> list[str]:
        return ([f"{os.path.join(self.root, name)}: name is not {{ID}}-{{T}}.mp4 with an 11-character id"
                 for name in self.index["unparsed"]]
                + [f"{os.path.join(self.root, name)}: no matching video file"
                   for name in self.index["audio_without_video"]]
                + self.index["shorter_than_listed"])

    def item_path(self, item: int) -> str:
        return os.path.join(self.root, "video", self.segments[item][2])

    def audio_path(self, item: int) -> str:
        """The audio file of item ``item`` (a segment without one fails `_probe` first)."""
        return os.path.join(self.root, "audio", self.segments[item][3])

    def media_files(self, item: int) -> list[tuple[str, str]]:
        return [("video", self.item_path(item)), ("audio", self.audio_path(item))]

    def locate(self, index: int) -> int:
        unit = self.unit(index)
        if self.cfg["sampling"] == "clip":
            return unit
        choices = self.video_segments[unit]
        pick = torch.randint(len(choices), (1,), generator=self.generator(index, "locate"))
        return choices[int(pick)]

    def _usable_duration(self, item: int) -> float:
        """Seconds where both streams exist, after checking what the pipeline relies on (once per file and
        process: opening both containers costs ~2 ms a sample)."""
        if item not in self._durations:
            with self.stage("probe"):
                self._durations[item] = self._probe(item)
        return self._durations[item]

    def _probe(self, item: int) -> float:
        video_id, start, video_name, audio_name = self.segments[item]
        video_path = self.item_path(item)
        if audio_name is None:
            raise DataError(f"{video_path}: no audio file audio/{video_id}-{start}.m4a")
        audio_path = self.audio_path(item)
        video, audio = probe_media(video_path), probe_media(audio_path)
        if video.video is None:
            raise DataError(f"{video_path}: no video stream")
        if video.video.width != 2 * video.video.height:
            raise DataError(f"{video_path}: frames are {video.video.width}×{video.video.height}, not 2:1 "
                            "equirectangular")
        if audio.audio is None:
            raise DataError(f"{audio_path}: no audio stream")
        if audio.audio.channels != 4:
            raise DataError(f"{audio_path}: {audio.audio.channels} audio channels, first-order ambisonics has 4")
        if video.duration is None or audio.duration is None:
            raise DataError(f"{video_path if video.duration is None else audio_path}: duration unknown")
        if abs(video.duration - audio.duration) > MAX_DURATION_MISMATCH_S:
            raise DataError(f"{audio_path}: audio lasts {audio.duration:.2f} s but the video {video.duration:.2f} s "
                            "(mis-cut segment?)")
        return min(video.duration, audio.duration)

    def read(self, item: int, index: int) -> dict:
        """frames (M, T, H, W, 3) uint8, foa (M, 4, S) float32, video_start (M,) s, labels (M, Hs, Ws) uint8."""
        generator = self.generator(index, "decode")
        video_cfg, audio_cfg = self.cfg["video"], self.cfg["audio"]
        moments = self.cfg["temporal_clips"]
        length = self._usable_duration(item)
        window = audio_cfg["clip_duration"]
        part = length / moments
        if part < window:
            raise DataError(f"{self.item_path(item)}: {length:.2f} s long, shorter than {moments} × the "
                            f"{window:g}-s clip window")
        # One window per equal part of the segment: AVTS moments never overlap (the original drew per chunk too).
        audio_start = (torch.arange(moments) + torch.rand(moments, generator=generator) * (1 - window / part)) * part
        slack = window - video_cfg["clip_duration"]
        if self.cfg["video_placement"] == "centred":
            video_start = audio_start + slack / 2
        else:  # the original: anywhere inside the audio window
            video_start = audio_start + torch.rand(moments, generator=generator) * slack
        video_path = self.item_path(item)
        audio_path = self.audio_path(item)
        frames = torch.stack([self.read_video(video_path, float(s), video_cfg["clip_duration"], video_cfg["fps"])
                              for s in video_start])
        foa = torch.stack([self.read_audio(audio_path, float(s), window, audio_cfg["rate"], audio_cfg["format"])
                           for s in audio_start])
        raw = {"frames": frames, "foa": foa, "video_start": video_start, "item": item}
        if self.cfg["segmentation"]:
            with self.stage("label maps"):
                raw["labels"] = torch.stack([self._label_map(item, float(s)) for s in video_start])
        return raw

    def _label_map(self, item: int, video_start: float) -> torch.Tensor:
        """The 4-fps label map at or just before the end of the video window, searching back to the window's start
        only: never a map from outside the window, and index 0 is a valid map (the original code skipped it)."""
        video_id, start = self.segments[item][:2]
        folder = os.path.join(self.root, "segmentation", f"{video_id}-{start}")
        end = video_start + self.cfg["video"]["clip_duration"]
        last, first = math.floor(end * SEGMENTATION_FPS + 1e-6), math.ceil(video_start * SEGMENTATION_FPS - 1e-6)
        for n in range(last, min(first, last) - 1, -1):
            things = os.path.join(folder, f"things-{n:04d}.png")
            if os.path.isfile(things):
                return segmentation_labels(_read_label_png(things),
                                           _read_label_png(os.path.join(folder, f"stuff-{n:04d}.png")))
        raise DataError(f"{folder}: no segmentation map for [{video_start:.2f}, {end:.2f}) s "
                        f"(looked for things-{first:04d}.png … things-{last:04d}.png)")

    # ---------------------------------------------------------------------------------------------- transform
    def transform(self, raw: dict, generator: torch.Generator) -> dict:
        """raw (see `read`) → the sample dict of the module docstring. Every random draw comes from ``generator``.

        ``augment_on: cpu``: the whole sample. ``augment_on: gpu``: only the draws are made here; the sample carries
        ``raw`` (``frames``, ``foa``, ``labels`` as `read` gives them) and ``draws`` (see `draw`), and
        `device_transform` finishes the collated batch on its device. Both run `apply`, so they give the same
        sample for the same draws."""
        draws = self.draw(raw, generator)
        sample = {key: draws.pop(key) for key in ("position", "misaligned", "rotation") if key in draws}
        if self.cfg["augment_on"] == "gpu":
            return {**sample, "raw": {key: raw[key] for key in _HEAVY if key in raw}, "draws": draws}
        return {**sample, **self.apply_one(raw, draws)}

    def apply_one(self, raw: dict, draws: dict) -> dict:
        """`apply` for one sample: raw (see `read`) and draws (see `draw`) without a batch dimension → ``video``,
        ``audio`` (and ``segmentation``) of the sample."""
        one = self.apply({key: raw[key][None] for key in _HEAVY if key in raw},
                         {key: value[None] for key, value in draws.items()})
        return {key: value[0] for key, value in one.items()}

    def device_transform(self, batch: dict) -> dict:
        """Finish a collated ``augment_on: gpu`` batch on its device (every stage one call for the whole batch);
        batches of finished samples pass through unchanged."""
        if "raw" not in batch:
            return batch
        batch = dict(batch)
        batch.update(self.apply(batch.pop("raw"), batch.pop("draws")))
        return batch

    def draw(self, raw: dict, generator: torch.Generator) -> dict:
        """Every random choice of one sample, in the order the CPU pipeline has always made them, plus the small
        results that follow from them alone. (M·K,) viewpoint angles ``azimuth`` (before any flip), ``elevation``,
        ``hfov``, ``vfov``; ``misalign_angles`` (3,) = FOA rotation (azimuth, elevation, yaw), zeros when aligned,
        with ``misaligned`` () and ``rotation`` (3, 3); ``flip`` (); colour/volume factors (M·K,) of
        `augment.draw_clip_augmentation`; ``position`` (M·K, 3)."""
        moments, num_views = raw["frames"].shape[0], self.cfg["viewpoints"]["num"]
        draws = {}
        if self.cfg["misalign"]["probability"] > 0:
            draws["misalign_angles"], draws["misaligned"], draws["rotation"] = self._misalign(generator)
        views = [sample_viewpoints(num_views, generator, **self.viewpoint_args) for _ in range(moments)]
        for name in ("azimuth", "elevation", "hfov", "vfov"):
            draws[name] = torch.cat([getattr(v, name) for v in views])
        azimuth, flip = draws["azimuth"], torch.tensor(False)
        if self.augment:
            draws.update(augment.draw_clip_augmentation(generator, moments * num_views))
            # One flip for the whole sample: the scene is mirrored, so its K views stay one rigid scene.
            flip = draws.pop("flip")[0] & self.cfg["joint_flip"]
            if flip:
                azimuth = -azimuth
                if "rotation" in draws:  # the misalignment as seen in the mirrored scene
                    draws["rotation"] = mirror_rotation(draws["rotation"])
        draws["flip"] = flip
        clip_time = raw["video_start"] + self.cfg["video"]["clip_duration"] / 2
        draws["position"] = torch.stack([azimuth, draws["elevation"], clip_time.repeat_interleave(num_views)],
                                        dim=1).float()
        return draws

    def apply(self, raw: dict, draws: dict) -> dict:
        """The sample tensors of a batch from its raw data and draws (any device; one call per stage).

        raw: ``frames`` (B, M, T, H, W, 3) uint8, ``foa`` (B, M, 4, S), optional ``labels`` (B, M, Hs, Ws);
        draws: `draw`'s tensors with a leading B. Returns ``video`` (B, M·K, 3, T, h, w), ``audio``
        (B, M·K, C, frames, n_mels) (`AudioFeatures`: C = 4, or 7 with intensity channels), ``segmentation``
        (B, M·K, h, w) int64 with labels. Each stage runs in `stage` (timed when a benchmark sets ``timer``)."""
        frames, foa = raw["frames"], raw["foa"]
        batch, moments = frames.shape[:2]
        num_views = self.cfg["viewpoints"]["num"]
        clips_per_sample = moments * num_views
        device = frames.device
        size = (self.cfg["video"]["crop_size"],) * 2
        draws = {key: value.to(device, non_blocking=True) for key, value in draws.items()}
        views = [draws[name].reshape(batch, moments, num_views) for name in ("azimuth", "elevation", "hfov", "vfov")]
        azimuth, elevation = draws["azimuth"].flatten(), draws["elevation"].flatten()
        labels = None
        with self.stage("crops"):
            crops = equirect_to_perspective(frames.permute(0, 1, 2, 5, 3, 4), *views, size)  # (B, M, K·T, 3, h, w)
            if "labels" in raw:  # same grid as the video, nearest sampling: labels are never blended
                labels = equirect_to_perspective(raw["labels"][:, :, None, None], *views, size,
                                                 mode="nearest").flatten(0, 2)[:, 0]  # (N, h, w), N = B·M·K
        with self.stage("rotation"):
            if "misalign_angles" in draws:  # AVSA-Bin: the raw FOA, before the views (identity when aligned)
                foa = rotate_foa_angles(foa, draws["misalign_angles"][:, None, :])  # (B, 1, 3): every moment alike
            foa = rotate_foa(foa.repeat_interleave(num_views, dim=1).flatten(0, 1), azimuth, elevation,
                             self.cfg["rotation_order"])  # (N, 4, S)
        with self.stage("video transforms"):
            clips = augment.views_to_clips(crops.flatten(0, 2), batch * clips_per_sample)  # (N, 3, T, h, w)
            flip = draws["flip"].repeat_interleave(clips_per_sample)  # (N,)
            clips, foa, _ = augment.apply_joint_flip(clips, foa, azimuth, flip)
            if labels is not None:
                labels = torch.where(flip[:, None, None], labels.flip(-1), labels)
            if self.augment:
                params = {key: draws[key].flatten(0, 1) for key in _JITTER_KEYS}
                if self.cfg["color_jitter"]:
                    clips = augment.apply_color_jitter(clips, params)
                if self.cfg["volume_jitter"]:
                    foa = augment.apply_volume(foa, params["gain"])
            video = augment.normalize_video(clips)
        with self.stage("log-mel"):
            out = {"video": video, "audio": self.audio_features.features(foa)}
        if labels is not None:
            out["segmentation"] = labels.long()
        return {key: value.reshape(batch, clips_per_sample, *value.shape[1:]) for key, value in out.items()}

    def _misalign(self, generator: torch.Generator):
        """AVSA-Bin: with probability p the raw FOA (M, 4, S) is rotated by at least ``min_angle_deg``,
        the same rotation for every moment and view. Returns (angles (3,) for `apply`: zeros when aligned,
        misaligned () bool, rotation (3, 3))."""
        cfg = self.cfg["misalign"]
        angles = random_rotation_angles(generator, cfg["mode"], math.radians(cfg["min_angle_deg"]))
        if float(torch.rand(1, generator=generator)) >= cfg["probability"]:
            return torch.zeros(3), torch.tensor(False), torch.eye(3)
        return angles, torch.tensor(True), foa_rotation_matrix(angles)


_JITTER_KEYS = ("brightness", "contrast", "saturation", "hue", "jitter_order", "gain")
_HEAVY = ("frames", "foa", "labels")  # what `apply` reads of a raw sample
