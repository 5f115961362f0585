"""`generate`: every job of a synthetic root (one output group each, run in a pool of worker processes), the split
lists, the ground-truth tracks, the log-mel statistics and the parameters file."""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import torch

from datasets import SCHEMA
from datasets.audio_stats import make_stats, stats_path
from datasets.synthetic.action import ActionClip, action_split_files, plan_actions, render_action_clip
from datasets.synthetic.encode import write_foa, write_label_maps, write_text, write_video
from datasets.synthetic.render import render_equirect
from datasets.synthetic.scene import (PRESETS, SOURCE_CLASSES, STREAM_HMDB, STREAM_UCF, Preset, Segment,
                                      object_directions, plan_yt360)
from datasets.synthetic.sound import synthesize_foa
from utils.config import Schema, read_config, validate_config
from utils.errors import DataError
from utils.seeding import make_generator

DEFAULT_ROOT = "data/synthetic"
# A demo pre-training config: its dataset.audio recipe and stats name are those of the statistics written here.
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs",
                           "demo", "avsa.yaml")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class _SegmentJob:
    root: str
    segment: Segment
    preset: Preset
    seed: int
    reverb: bool

    def outputs(self) -> list[str]:
        base = os.path.join(self.root, "yt360")
        return [os.path.join(base, "segmentation", self.segment.key),
                os.path.join(base, "audio", f"{self.segment.key}.m4a"),
                os.path.join(base, "video", f"{self.segment.key}.mp4")]

    def run(self) -> None:
        """Write the outputs that do not exist yet (those that exist are complete)."""
        preset, segment = self.preset, self.segment
        segmentation_dir, audio_path, video_path = self.outputs()
        width, height = preset.equirect_size
        duration = preset.segment_seconds
        if not os.path.exists(audio_path):
            write_foa(audio_path, synthesize_foa(segment, duration, preset.audio_rate, self.seed, self.reverb),
                       preset.audio_rate)
        if os.path.exists(segmentation_dir) and os.path.exists(video_path):
            return
        frames, things, stuff = render_equirect(
            segment, np.arange(round(duration * preset.video_fps)) / preset.video_fps, width, height)
        if not os.path.exists(segmentation_dir):
            # Map n shows time n / segmentation_fps, as in the real set: every (video_fps / segmentation_fps)-th frame.
            step = preset.video_fps // preset.segmentation_fps
            write_label_maps(segmentation_dir, things[::step], stuff[::step])
        if not os.path.exists(video_path):
            write_video(video_path, frames, preset.video_fps, "h264")


@dataclass(frozen=True)
class _ActionJob:
    root: str
    clip: ActionClip
    preset: Preset
    seed: int

    def outputs(self) -> list[str]:
        return [os.path.join(self.root, self.clip.dataset, self.clip.relative_path)]

    def run(self) -> None:
        width, height = self.preset.action_size
        stream = STREAM_UCF if self.clip.dataset == "ucf101" else STREAM_HMDB
        rng = make_generator(self.seed, stream, self.clip.index, mode="numpy")
        frames = render_action_clip(self.clip.motion, rng, self.preset.action_frames, self.preset.action_fps, width,
                                    height)
        write_video(self.outputs()[0], frames, self.preset.action_fps, "mpeg4")


def _run_job(job) -> None:
    job.run()


def _init_worker() -> None:
    torch.set_num_threads(1)


def _tracks_json(segments: list[Segment], preset: Preset) -> str:
    """Ground truth, one segment per line: objects with class, colour, shape, sound and their direction track
    (degrees, project convention) at the video frame times."""
    times = np.arange(round(preset.segment_seconds * preset.video_fps)) / preset.video_fps
    width, height = preset.equirect_size
    lines = []
    for segment in segments:
        objects = []
        for obj in segment.objects:
            source = SOURCE_CLASSES[obj.class_index]
            azimuth, elevation = object_directions(obj, times)
            objects.append({
                "class": source.name, "coco_index": source.coco_index, "colour": list(source.colour),
                "shape": source.shape, "sound": source.sound, "radius_deg": round(math.degrees(obj.radius), 3),
                "azimuth_deg": [round(a, 3) for a in np.degrees(azimuth).tolist()],
                "elevation_deg": [round(e, 3) for e in np.degrees(elevation).tolist()]})
        background = segment.background
        entry = {
            "id": segment.video_id, "start": segment.start, "split": segment.split,
            "duration": preset.segment_seconds, "video_fps": preset.video_fps, "audio_rate": preset.audio_rate,
            "segmentation_fps": preset.segmentation_fps, "width": width, "height": height,
            "ground": background.ground,
            "landmarks": [{"kind": m.kind, "azimuth_deg": round(math.degrees(m.azimuth), 3)}
                          for m in background.landmarks],
            "times": [round(t, 6) for t in times.tolist()], "objects": objects}
        lines.append(f"{json.dumps(segment.key)}: {json.dumps(entry, separators=(',', ':'))}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _yt360_lists(segments: list[Segment]) -> dict[str, str]:
    by_id: dict[str, list[Segment]] = {}
    for segment in segments:
        by_id.setdefault(segment.video_id, []).append(segment)
    lists = {split: "".join(f"{vid}\n" for vid, segs in by_id.items() if segs[0].split == split)
             for split in ("train", "test")}
    return {"train.txt": lists["train"], "test.txt": lists["test"],
            "segments.txt": "".join(f"{vid} {','.join(str(s.start) for s in segs)}\n" for vid, segs in by_id.items())}


def _check_manifest(root: str, params: dict) -> None:
    path = os.path.join(root, "synthetic.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            existing = json.load(f)
        if existing.get("params") != params:
            raise DataError(f"{root}: holds synthetic data made with {existing.get('params')}, not {params}; "
                            "choose another root or delete it")


def _write_audio_stats(root: str, log) -> None:
    """The log-mel statistics file that the demo configs name (the audio recipe of `DEMO_CONFIG`), next to the YT-360
    data, computed as tools/compute_audio_stats.py does (`datasets.audio_stats.make_stats`); kept when present."""
    raw, origins = read_config(DEMO_CONFIG, [f"dataset.root={os.path.join(root, 'yt360')}"])
    data = validate_config({"dataset": raw["dataset"]}, origins, DEMO_CONFIG, schema=Schema(dataset=SCHEMA))["dataset"]
    if not os.path.isfile(stats_path(data)):
        log(f"synthetic data: log-mel statistics {stats_path(data)}")
        make_stats(data, log=log)


def generate(root: str = DEFAULT_ROOT, preset: str = "demo", seed: int = 0, workers: int | None = None,
             reverb: bool = False, log=print) -> dict:
    """Write the synthetic YT-360, UCF101 and HMDB51 sets under ``root`` (layout in the module docstring).

    Deterministic in (preset, seed, reverb) (libx264 needs help for that, see `write_video`); files that already
    exist are complete and are skipped, so a second run only re-checks. ``workers`` processes encode files in parallel
    (default: all cores; 1 = in this process).
    Returns counts: {"written", "skipped", "seconds"}.
    """
    if preset not in PRESETS:
        raise DataError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    config = PRESETS[preset]
    started = time.perf_counter()
    params = {"format_version": FORMAT_VERSION, "preset": preset, "seed": int(seed), "reverb": bool(reverb)}
    _check_manifest(root, params)
    os.makedirs(root, exist_ok=True)
    manifest = os.path.join(root, "synthetic.json")
    write_text(manifest, json.dumps({"params": params, "complete": False}, indent=1) + "\n")

    segments = plan_yt360(config, seed)
    jobs = [_SegmentJob(root, s, config, seed, reverb) for s in segments]
    texts = {os.path.join(root, "yt360", name): text for name, text in _yt360_lists(segments).items()}
    texts[os.path.join(root, "yt360", "tracks.json")] = _tracks_json(segments, config)
    for dataset in ("ucf101", "hmdb51"):
        clips = plan_actions(config, dataset)
        jobs += [_ActionJob(root, c, config, seed) for c in clips]
        texts.update({os.path.join(root, dataset, name): text
                      for name, text in action_split_files(config, dataset, clips).items()})

    pending = [job for job in jobs if not all(os.path.exists(p) for p in job.outputs())]
    workers = min(workers or os.cpu_count() or 1, max(1, len(pending)))
    if pending:
        log(f"synthetic data ({preset}, seed {seed}): writing {len(pending)} of {len(jobs)} items to {root} "
            f"with {workers} worker(s)")
    if workers == 1:
        for job in pending:
            job.run()
    else:
        # fork: workers inherit the imported modules (spawn would import torch again in each)
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_init_worker) as pool:
            list(pool.map(_run_job, pending, chunksize=4))
    for path, text in texts.items():
        write_text(path, text)
    _write_audio_stats(root, log)
    write_text(manifest, json.dumps({"params": params, "complete": True}, indent=1) + "\n")
    return {"written": len(pending), "skipped": len(jobs) - len(pending),
            "seconds": round(time.perf_counter() - started, 2)}
