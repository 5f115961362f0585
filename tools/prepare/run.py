"""The parallel run: sources checked and segments cut by a pool of worker processes (their tasks are module-level
functions here, so the pool can reach them), progress, the resume from an earlier manifest.json, and the parent's
atomic writes of manifest.json and problems.txt in the order of segments.txt."""

from __future__ import annotations

import dataclasses
import datetime
import json
import multiprocessing
import os
import signal
import sys
import time

import torch
from tqdm import tqdm

from tools.prepare.cut import CutSettings, cut_segment
from tools.prepare.source import EXTENSIONS, check_source
from utils.cli import available_cores
from utils.errors import DataError
from utils.files import write_json, write_text

SAVE_INTERVAL_S = 60.0  # manifest.json and problems.txt are rewritten at most this often during a run
PROGRESS_INTERVAL_S = 30.0  # plain progress lines when the output is not a terminal


# ---------------------------------------------------------------------------------------------- worker tasks
def _source_task(task: tuple[str, str]):
    """(source folder, id) → (source path, duration, audio rate), or the problem line."""
    source_dir, video_id = task
    source = next((os.path.join(source_dir, video_id + ext) for ext in EXTENSIONS
                   if os.path.isfile(os.path.join(source_dir, video_id + ext))), None)
    if source is None:
        return f"{os.path.join(source_dir, video_id)}.*: no source file for id {video_id}"
    try:
        info = check_source(source)
    except DataError as err:
        return " ".join(str(err).split())
    return source, info.duration, info.audio.rate


def _segment_task(task: tuple):
    """(key, cut_segment's arguments) → (key, manifest entry or None, written, problem line or None)."""
    key, arguments = task
    try:
        entry, wrote = cut_segment(*arguments)
    except DataError as err:
        return key, None, False, str(err)
    return key, entry, wrote, None


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it saves the manifest and stops us


# ---------------------------------------------------------------------------------------------- the parent
class Progress:
    """done/total, rate and time left: a tqdm bar on a terminal, a plain line every PROGRESS_INTERVAL_S otherwise."""

    def __init__(self, total: int, unit: str, enabled: bool = True):
        self.total, self.unit, self.done, self.enabled = total, unit, 0, enabled and total > 0
        self.started = self.printed = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
            return
        now = time.perf_counter()
        if self.enabled and (now - self.printed >= PROGRESS_INTERVAL_S or self.done == self.total):
            self.printed = now
            rate = self.done / max(now - self.started, 1e-9)
            print(f"{self.done}/{self.total} {self.unit}s, {rate:.2f} {self.unit}s/s, "
                  f"{clock((self.total - self.done) / rate)} left", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


@dataclasses.dataclass
class Preparation:
    """What one run did; only the parent process changes it. ``order``: (id, start) → position in segments.txt."""
    output: str
    order: dict
    entries: dict = dataclasses.field(default_factory=dict)  # (id, start) → manifest entry
    problems: dict = dataclasses.field(default_factory=dict)  # (source position, segment position or -1) → line
    written: int = 0
    kept: int = 0
    seconds: float = 0.0
    workers: int = 1
    saved: float = dataclasses.field(default_factory=time.perf_counter)

    def save(self) -> None:
        """manifest.json and problems.txt in segments.txt order (the same for any number of workers), atomically."""
        write_json(os.path.join(self.output, "manifest.json"),
                   [self.entries[key] for key in sorted(self.entries, key=self.order.__getitem__)], indent=1)
        write_text(os.path.join(self.output, "problems.txt"),
                   "".join(f"{self.problems[key]}\n" for key in sorted(self.problems)))
        self.saved = time.perf_counter()


def _unchanged_entries(output: str) -> dict:
    """Entries of an existing manifest.json whose two files are there with the listed sizes: done, kept as they are
    (an unreadable manifest, or entries written before sizes were recorded, are checked again)."""
    try:
        with open(os.path.join(output, "manifest.json"), encoding="utf-8") as f:
            entries = json.load(f)
        unchanged = {}
        for entry in entries:
            sizes = entry.get("bytes") or {}
            if all(os.path.isfile(os.path.join(output, entry[kind]))
                   and os.path.getsize(os.path.join(output, entry[kind])) == sizes.get(kind)
                   for kind in ("video", "audio")):
                unchanged[(entry["id"], entry["start"])] = entry
        return unchanged
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def prepare(source_dir: str, output: str, segments: list[tuple[str, list[int]]], settings: CutSettings,
            workers: int = 1, progress: bool = True) -> Preparation:
    """Cut every listed segment with ``workers`` processes (1: in this one); what it writes: docs/data.md."""
    started = time.perf_counter()
    if not os.path.isdir(source_dir):
        raise DataError(f"{source_dir}: source folder not found")
    for folder in ("video", "audio"):
        try:
            os.makedirs(os.path.join(output, folder), exist_ok=True)
        except OSError as err:
            raise DataError(f"{os.path.join(output, folder)}: cannot create ({err.strerror or err})") from None
    order = {}
    for i, (video_id, starts) in enumerate(segments):
        for j, start in enumerate(starts):
            order.setdefault((video_id, start), (i, j))
    run = Preparation(output, order)
    done = _unchanged_entries(output)
    pending = []  # (source position, id, [(segment position, start)]) of the sources with something left to cut
    for i, (video_id, starts) in enumerate(segments):
        todo = [(j, start) for j, start in enumerate(starts)  # a segment listed twice is cut once
                if (video_id, start) not in done and order[(video_id, start)] == (i, j)]
        run.entries.update({(video_id, s): done[(video_id, s)] for s in starts if (video_id, s) in done})
        if todo:
            pending.append((i, video_id, todo))
    run.kept = len(run.entries)
    workers = max(1, min(workers, sum(len(todo) for *_, todo in pending)))
    threads = 0 if workers == 1 else max(1, available_cores() // workers)
    settings, run.workers = dataclasses.replace(settings, threads=threads), workers
    pool = (multiprocessing.get_context("fork").Pool(workers, _init_worker, (threads,)) if workers > 1 else None)
    imap, imap_unordered = (pool.imap, pool.imap_unordered) if pool else (map, map)
    try:
        bar = Progress(len(pending), "source", progress)
        tasks = []
        for (i, video_id, todo), result in zip(pending, imap(_source_task, [(source_dir, p[1]) for p in pending])):
            bar.update()
            if isinstance(result, str):
                run.problems[(i, -1)] = result
                continue
            source, duration, rate = result
            for j, start in todo:
                if start + settings.seconds > duration + 0.05:
                    run.problems[(i, j)] = (f"{source}: too short ({duration:.1f} s) for segment {video_id}-{start} "
                                            f"[{start}, {start + settings.seconds:g}) s")
                else:
                    tasks.append(((i, j), (source, output, video_id, start, settings, rate)))
        bar.close()
        bar = Progress(len(tasks), "segment", progress)
        for key, entry, wrote, problem in imap_unordered(_segment_task, tasks):
            if problem is not None:
                run.problems[key] = problem
            else:
                run.entries[(entry["id"], entry["start"])] = entry
                run.written += wrote
                run.kept += not wrote
            if time.perf_counter() - run.saved >= SAVE_INTERVAL_S:
                run.save()
            bar.update()
        bar.close()
    finally:  # also when interrupted: what is done stays listed
        if pool is not None:
            pool.terminate()
            pool.join()
        run.seconds = time.perf_counter() - started
        run.save()
    return run

