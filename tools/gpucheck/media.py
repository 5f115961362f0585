"""The media part: GOP-250 and prepared files with their log-mel statistics, generated for the other parts."""

from __future__ import annotations

import os
import time

from datasets.audio_stats import ensure_stats
from tools.bench_data import write_media_root
from tools.gpucheck.common import MEDIA_KINDS, Partial, load_run_config


def part_media(settings: dict, work: str, device, deadline: float, partial: Partial) -> None:
    """Write WORK/media/<kind> for each file kind, with its log-mel statistics."""
    os.makedirs(os.path.join(work, "media"), exist_ok=True)
    for kind in MEDIA_KINDS:
        start = time.perf_counter()
        root = write_media_root(os.path.join(work, "media"), kind, settings["media_seconds"],
                                settings["media_height"])
        ensure_stats(load_run_config(settings, root)["dataset"])  # their log-mel statistics, as a real dataset's
        partial.save(**{kind: {"root": root, "seconds": time.perf_counter() - start}})
    height = settings["media_height"]
    partial.save(size=[2 * height, height], segment_seconds=settings["media_seconds"])


def media_root(work: str, kind: str) -> str:
    """The media root of ``kind`` that the media part wrote; FileNotFoundError when it did not."""
    root = os.path.join(work, "media", kind)
    if not os.path.isfile(os.path.join(root, "train.txt")):
        raise FileNotFoundError(f"{root}: no generated media (the media part did not finish)")
    return root
