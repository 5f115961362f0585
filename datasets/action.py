"""UCF101 and HMDB51 action recognition sets in their official layouts, video only.

``mode: clip``: one clip at a random time per sample (fixed for the test split), ``video`` (1, 3, T, H, W); ``mode:
video`` (dense evaluation): ``clips_per_video`` evenly spaced clips decoded in one pass, ``video`` (N, 3, T, H, W).
``label`` () int64. Train: random resized crop (one box for all frames) → flip → colour jitter; test: shorter side
resized to ``resize`` → centre crop; then ImageNet normalisation. Layouts and details: docs/data.md ("UCF101 and
HMDB51").
"""

from __future__ import annotations

import math
import os

import torch
import torchvision.transforms.v2.functional as TF

from datasets import augment
from datasets.base import ClipDataset
from datasets.index import cached_index
from utils.errors import ConfigError, DataError
from utils.media import DecodeCache, probe_media

__all__ = ["UCF101", "HMDB51", "draw_resized_crop"]

_ASPECT_RANGE = (3 / 4, 4 / 3)
_CROP_ATTEMPTS = 10


def draw_resized_crop(generator: torch.Generator, height: int, width: int, scale, ratio=_ASPECT_RANGE):
    """Box (top, left, h, w) of a random resized crop (torchvision semantics): area ~ U[scale]·H·W,
    aspect log-uniform in ``ratio``, 10 attempts, then the largest central box with an aspect inside ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    draws = torch.rand(_CROP_ATTEMPTS, 4, generator=generator)
    for target, aspect_draw, top_draw, left_draw in draws.tolist():
        target_area = area * (scale[0] + (scale[1] - scale[0]) * target)
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * aspect_draw)
        w, h = round(math.sqrt(target_area * aspect)), round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(top_draw * (height - h + 1)), int(left_draw * (width - w + 1)), h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class _ActionDataset(ClipDataset):
    """Shared by UCF101 and HMDB51; subclasses provide ``_build_index(root, fold, split) -> dict`` and
    ``_index_sources(root) -> list[str]``."""

    def __init__(self, cfg: dict, split: str, seed: int):
        self.cfg, self.root, self.split_cfg = cfg, cfg["root"], cfg[split]
        if not os.path.isdir(self.root):
            raise ConfigError(f"dataset.root: folder not found: {self.root}")
        cache_dir = cfg["cache_dir"] or os.path.join(self.root, ".cache")
        self.index = cached_index(os.path.join(cache_dir, f"{cfg['name']}-fold{cfg['fold']}-{split}.json"),
                                  self._index_sources(self.root),
                                  lambda: self._build_index(self.root, cfg["fold"], split),
                                  extra={"fold": cfg["fold"], "split": split})
        self.classes, self.videos, self.labels = self.index["classes"], self.index["videos"], self.index["labels"]
        if cfg["num_classes"] is not None and cfg["num_classes"] != len(self.classes):
            raise ConfigError(f"dataset.num_classes: {cfg['num_classes']} in the config, but the {cfg['name']} class "
                              f"list under {self.root} has {len(self.classes)} classes")
        if not self.videos:
            raise DataError(f"{self.root}: the {split} split of fold {cfg['fold']} lists no videos")
        self.dense = self.split_cfg["mode"] == "video"
        repeats = 1 if self.dense else self.split_cfg["clips_per_video"]
        super().__init__(split=split, seed=seed, num_units=len(self.videos), repeats=repeats, train=split == "train",
                         num_items=len(self.videos))
        if cfg["decode_cache_mb"] > 0:
            self.decode_cache = DecodeCache(cfg["decode_cache_mb"], cfg["decode_cache_dir"])

    def describe_items(self) -> str:
        return f"videos of {len(self.classes)} classes"

    def item_path(self, item: int) -> str:
        return os.path.join(self.root, self.videos[item])

    def locate(self, index: int) -> int:
        return self.unit(index)

    def read(self, item: int, index: int) -> dict:
        """frames (N, T, H, W, 3) uint8 (N = 1, or clips_per_video in dense mode), label () int64."""
        path = self.item_path(item)
        info = probe_media(path)
        if info.video is None:
            raise DataError(f"{path}: no video stream")
        video = self.cfg["video"]
        num_frames = int(round(video["clip_duration"] * video["fps"]))
        duration = info.duration
        if duration is None and info.video.num_frames and info.video.fps:
            duration = info.video.num_frames / info.video.fps
        latest = max((duration or 0.0) - video["clip_duration"], 0.0)  # unknown duration: clips from the start
        if self.dense:
            count = self.split_cfg["clips_per_video"]
            offsets = torch.linspace(0, latest * video["fps"], count).round().long()  # in frames at video["fps"]
            span = int(offsets[-1]) + num_frames
            whole = self.read_video(path, 0.0, span / video["fps"], video["fps"])  # one decoding pass for all clips
            frames = torch.stack([whole[o:o + num_frames] for o in offsets.tolist()])
        else:
            start = latest * float(torch.rand(1, generator=self.generator(index, "decode")))
            frames = self.read_video(path, start, video["clip_duration"], video["fps"])[None]
        return {"frames": frames, "label": torch.tensor(self.labels[item], dtype=torch.int64)}

    def transform(self, raw: dict, generator: torch.Generator) -> dict:
        """frames (N, T, H, W, 3) uint8 → ``video`` (N, 3, T, crop, crop) normalised; ``label`` passed through."""
        frames = raw["frames"]
        clips = frames.shape[0]
        images = frames.flatten(0, 1).permute(0, 3, 1, 2)  # (N·T, 3, H, W)
        crop = self.cfg["video"]["crop_size"]
        if self.split_cfg["augment"]:
            top, left, h, w = draw_resized_crop(generator, images.shape[-2], images.shape[-1], self.cfg["crop_scale"])
            images = TF.resized_crop(images, top, left, h, w, [crop, crop], antialias=True)
        else:
            images = TF.center_crop(TF.resize(images, [self.cfg["resize"]], antialias=True), [crop, crop])
        video = augment.views_to_clips(images, clips)  # (N, 3, T, crop, crop) in [0, 1]
        if self.split_cfg["augment"]:
            params = augment.draw_clip_augmentation(generator, clips)
            if self.cfg["flip"] and bool(params["flip"][0]):  # one flip for the sample, as one box
                video = video.flip(-1)
            if self.cfg["color_jitter"]:
                video = augment.apply_color_jitter(video, params)
        return {"video": augment.normalize_video(video), "label": raw["label"]}


def _lines(path: str) -> list[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as f:
        return [(number, line.split()) for number, line in enumerate(f, 1) if line.strip()]


class UCF101(_ActionDataset):
    LISTS = "ucfTrainTestlist"

    def _index_sources(self, root: str) -> list[str]:
        return [os.path.join(root, self.LISTS)]

    def _build_index(self, root: str, fold: int, split: str) -> dict:
        lists = os.path.join(root, self.LISTS)
        class_file = os.path.join(lists, "classInd.txt")
        split_file = os.path.join(lists, f"{'train' if split == 'train' else 'test'}list{fold:02d}.txt")
        for path in (class_file, split_file):
            if not os.path.isfile(path):
                raise ConfigError(f"dataset.root: {path} not found (official UCF101 layout expected: docs/data.md)")
        classes = [tokens[1] for _, tokens in _lines(class_file)]
        position = {name: i for i, name in enumerate(classes)}
        videos, labels = [], []
        for number, tokens in _lines(split_file):
            class_name = tokens[0].split("/")[0]
            if class_name not in position:
                raise DataError(f"{split_file}:{number}: class {class_name!r} is not in classInd.txt")
            videos.append(os.path.join("data", tokens[0]))
            labels.append(position[class_name])
        return {"classes": classes, "videos": videos, "labels": labels}


class HMDB51(_ActionDataset):
    LISTS = ("testTrainMulti_7030_splits", "ucfTrainTestlist")
    SPLIT_IDS = {"train": "1", "test": "2"}

    def _lists(self, root: str) -> str:
        for name in self.LISTS:
            if os.path.isdir(os.path.join(root, name)):
                return os.path.join(root, name)
        raise ConfigError(f"dataset.root: no {' or '.join(self.LISTS)} folder under {root} (official HMDB51 layout "
                          "expected: docs/data.md)")

    def _index_sources(self, root: str) -> list[str]:
        return [self._lists(root)]

    def _build_index(self, root: str, fold: int, split: str) -> dict:
        lists = self._lists(root)
        suffix = f"_test_split{fold}.txt"
        classes = sorted(name[:-len(suffix)] for name in os.listdir(lists) if name.endswith(suffix))
        videos, labels = [], []
        for label, class_name in enumerate(classes):
            split_file = os.path.join(lists, class_name + suffix)
            for number, tokens in _lines(split_file):
                if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
                    raise DataError(f"{split_file}:{number}: expected '<video>.avi 0|1|2'")
                if tokens[1] == self.SPLIT_IDS[split]:
                    videos.append(os.path.join("videos", class_name, tokens[0]))
                    labels.append(label)
        return {"classes": classes, "videos": videos, "labels": labels}
