#!/usr/bin/env python
"""Cut downloaded full-length 360° videos into the YT-360 layout listed in segments.txt, in parallel and resumably.

    python tools/prepare_yt360.py downloads/ data/yt360 --segments segments.txt [--height 480] [--keyframe-interval 0.5]
                                  [--audio-rate 24000] [--no-fast-decode] [--workers N]
    python tools/prepare_yt360.py my-videos/ data/mine --test-fraction 0.2      # your own files, no segments.txt

SOURCE holds one file per YouTube id, ``{ID}.mp4`` (or .mkv, .webm, .mov), with the equirectangular video and the
first-order ambisonic audio. Without --segments every such file (ID: 11 characters of letters, digits, '-', '_') is
cut into consecutive segments from 0 s and the list is written to OUTPUT/segments.txt; --test-fraction also writes
the split lists OUTPUT/train.txt and test.txt (a seeded random fraction of the ids for testing; existing lists are
kept). For every line ``{ID} t1,t2,...`` of segments.txt and every start time T this writes

    OUTPUT/video/{ID}-{T}.mp4   H.264, width = 2·height, a keyframe every --keyframe-interval s (fast random access),
                                x264 tune=fastdecode (decoding 8 frames at 640×320: 25 → 13–16 ms; files ≈ 1.6× larger)
    OUTPUT/audio/{ID}-{T}.m4a   the FOA channels in stored order at --audio-rate (default 24 kHz, the training rate, so
                                that loading needs no resampling: 1 s decodes in 3.4–4.0 ms instead of 6.2–7.4 ms at
                                48 kHz; 0 keeps the native rate), decoded and re-encoded as AAC channel by channel at
                                128 kb/s each, never remixed (the original let FFmpeg remix them to its "4.0" layout);
                                the direction of the sound moves by < 1° (docs/data.md)

plus OUTPUT/manifest.json (per segment: duration, resolution, frame rate, channels, rate, size and SHA-256 of both
files) and OUTPUT/problems.txt (one line per file or segment that could not be used: missing source, no audio stream,
not 4 channels, not equirectangular (spherical metadata naming another projection, e.g. cubemap, or frames that are
not 2:1), too short, unreadable, or ending early). Every segment written is checked: a video or audio
shorter than --segment-seconds by more than one frame / 0.1 s (a source whose streams end early, e.g. an interrupted
download whose container still announces the full length) is removed and reported with its lengths. One bad file
never stops the run.

--workers processes (default: every core this process may use) cut segments in parallel; this process alone writes
manifest.json and problems.txt, atomically, every minute and at the end. An interrupted run continues where it
stopped: segments the manifest lists with files of the listed sizes are kept without opening their source again;
other existing files are checked and kept; the rest is cut. Progress: a bar on a terminal (done/total, segments/s,
time left), a plain line every 30 s otherwise, then a summary. Exit code 0 when there was no problem, 1 otherwise
(also for an unreadable segments.txt, reported in one line).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import multiprocessing
import os
import random
import signal
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
from av.sidedata.sidedata import Type as SideDataType  # noqa: E402
from av.video.reformatter import VideoReformatter  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets.yt360 import AUDIO_TOLERANCE_S, YOUTUBE_ID  # noqa: E402
from utils.cli import available_cores, run_main  # noqa: E402
from utils.errors import DataError  # noqa: E402
from utils.files import file_sha256, write_json, write_text  # noqa: E402
from utils.media import open_media, probe_media, read_audio  # noqa: E402

EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")
# FFmpeg's native AAC encoder at 128 kb/s a channel (its ceiling at 24 kHz is 144 kb/s, which moves the FOA direction
# as much). Intensity stereo and perceptual noise substitution are off: they rebuild a channel of a pair from the
# other or from noise, which can only move the direction (docs/data.md measures both settings).
AUDIO_BIT_RATE = 128_000
AAC_OPTIONS = {"aac_is": "0", "aac_pns": "0"}
# FFmpeg's AVSphericalProjection codes (libavutil/spherical.h). FFmpeg reads a file's spherical-video metadata (the
# MP4 'sv3d' box, Matroska's Projection element) into side data that starts with this code; projections it cannot
# represent (meshes) leave none. The 'tiled' form is an equirectangular frame that covers only part of the sphere.
SPHERICAL_PROJECTIONS = ("equirectangular", "cubemap", "tiled equirectangular (part of the sphere)",
                         "half equirectangular (180°)", "rectilinear", "fisheye", "parametric immersive")
SAVE_INTERVAL_S = 60.0  # manifest.json and problems.txt are rewritten at most this often during a run
PROGRESS_INTERVAL_S = 30.0  # plain progress lines when the output is not a terminal
PRINTED_PROBLEMS = 20  # problem lines repeated on the console (all of them are in problems.txt)


@dataclasses.dataclass(frozen=True)
class CutSettings:
    seconds: float
    height: int
    keyframe_interval: float
    crf: int
    audio_rate: int = 24000  # 0: the source's own
    fast_decode: bool = True
    threads: int = 0  # codec threads of one process (0: FFmpeg's choice)


def read_segments(path: str) -> list[tuple[str, list[int]]]:
    """segments.txt: ``{ID} t1,t2,...`` per line → [(id, [t1, t2, ...])]."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the segment list ({getattr(err, 'strerror', None) or err})") from None
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not YOUTUBE_ID.match(parts[0]):
            raise DataError(f"{path}:{number}: expected '<11-character id> t1,t2,...'")
        try:
            out.append((parts[0], [int(t) for t in parts[1].split(",") if t]))
        except ValueError:
            raise DataError(f"{path}:{number}: start times must be integers (seconds)") from None
    return out


def spherical_projection(path: str) -> str | None:
    """The projection named by the video stream's spherical-video metadata, None when the file has none (FFmpeg
    attaches it to decoded frames, so this decodes the first frame)."""
    try:
        with open_media(path) as container:
            frame = next(container.decode(video=0), None)
    except av.FFmpegError as err:
        raise DataError(f"{path}: cannot decode the first video frame ({' '.join(str(err).split())})") from None
    mapping = None if frame is None else frame.side_data.get(SideDataType.SPHERICAL)
    if mapping is None:
        return None
    code = int.from_bytes(bytes(mapping)[:4], sys.byteorder, signed=True)
    return SPHERICAL_PROJECTIONS[code] if 0 <= code < len(SPHERICAL_PROJECTIONS) else f"projection code {code}"


def _aspect(width: int, height: int) -> str:
    """``"3:2"``; ``"≈ 3:1"`` when a ratio of small numbers is only close."""
    ratio = Fraction(width, height).limit_denominator(9)
    exact = ratio == Fraction(width, height)
    return f"{'' if exact else '≈ '}{ratio.numerator}:{ratio.denominator}"


def list_source_segments(source_dir: str, seconds: float) -> tuple[list[tuple[str, list[int]]], list[str]]:
    """Without a segments.txt: every ``{ID}.ext`` in ``source_dir`` (ID an 11-character id) cut into consecutive
    segments every ceil(``seconds``) s from 0 → (segments.txt's list, file names skipped because they are not ids).
    A file whose duration is unknown or shorter than one segment gets start 0, so the cut reports why."""
    if not os.path.isdir(source_dir):
        raise DataError(f"{source_dir}: source folder not found")
    step, found, skipped = math.ceil(seconds), {}, []
    for name in sorted(os.listdir(source_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in EXTENSIONS:
            continue
        if not YOUTUBE_ID.match(stem):
            skipped.append(name)
            continue
        if stem in found:  # the same id in two containers: the cut takes the first of EXTENSIONS, listed once
            continue
        try:
            duration = probe_media(os.path.join(source_dir, name)).duration or 0.0
        except DataError:
            duration = 0.0
        found[stem] = list(range(0, max(1, int((duration - seconds + 1e-6) // step) + 1) * step, step))
    if not found:
        raise DataError(f"{source_dir}: no {'/'.join(EXTENSIONS)} file named by an 11-character id "
                        f"(letters, digits, '-', '_')")
    return sorted(found.items()), skipped


def write_split_lists(output: str, ids: list[str], test_fraction: float, seed: int = 0) -> bool:
    """train.txt / test.txt under ``output``: a seeded random ``test_fraction`` of ``ids`` (at least one each) for
    testing, the rest for training. Existing lists are kept (False), so a resumed run keeps its split."""
    paths = [os.path.join(output, f"{split}.txt") for split in ("train", "test")]
    if any(os.path.exists(p) for p in paths):
        return False
    ids = sorted(set(ids))
    if len(ids) < 2:
        raise DataError(f"{output}: {len(ids)} id(s): a train/test split needs at least 2")
    shuffled = ids[:]
    random.Random(seed).shuffle(shuffled)
    test = set(shuffled[:min(len(ids) - 1, max(1, round(test_fraction * len(ids))))])
    os.makedirs(output, exist_ok=True)
    write_text(paths[0], "".join(f"{i}\n" for i in ids if i not in test))
    write_text(paths[1], "".join(f"{i}\n" for i in ids if i in test))
    return True


def _check_source(path: str):
    """MediaInfo of a usable source, or DataError naming what is wrong. The video must be equirectangular: a source
    whose spherical metadata names another projection is rejected, and so is one whose frames are not 2:1 (without
    metadata the frame shape is the only clue: cubemap layouts, YouTube's equi-angular cubemap (EAC) among them, are
    typically 3:2, top-bottom stereo 1:1)."""
    info = probe_media(path)
    if info.video is None:
        raise DataError(f"{path}: no video stream")
    if info.audio is None:
        raise DataError(f"{path}: no audio stream")
    if info.audio.channels != 4:
        raise DataError(f"{path}: {info.audio.channels} audio channels, first-order ambisonics has 4")
    projection = spherical_projection(path)
    if projection not in (None, "equirectangular"):
        raise DataError(f"{path}: the video's spherical metadata says {projection} projection "
                        f"({info.video.width}×{info.video.height}): needs an equirectangular source")
    if info.video.width != 2 * info.video.height:
        raise DataError(f"{path}: frames are {info.video.width}×{info.video.height} "
                        f"({_aspect(info.video.width, info.video.height)}), not 2:1: needs an equirectangular "
                        f"source (3:2 is typical of cubemap layouts such as YouTube's EAC, 1:1 of top-bottom stereo)")
    if info.duration is None:
        raise DataError(f"{path}: duration unknown")
    return info


def cut_video(source: str, target: str, start: float, seconds: float, height: int, keyframe_interval: float,
              crf: int, fast_decode: bool = True, threads: int = 0) -> None:
    """Re-encode [start, start + seconds) of ``source`` to H.264 (2·height × height), streaming frame by frame.
    ``fast_decode``: x264's ``tune=fastdecode`` (CAVLC instead of CABAC, no deblocking filter, no weighted
    prediction): cheaper to decode, larger at the same crf. ``threads``: decoder and encoder threads (0: FFmpeg's
    choice)."""
    with open_media(source) as container, av.open(target, "w", format="mp4") as output:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or 30
        encoder = output.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = 2 * height, height, "yuv420p"
        encoder.codec_context.thread_count = threads
        encoder.options = {"crf": str(crf), "g": str(max(1, round(float(rate) * keyframe_interval))),
                           "keyint_min": "1", "sc_threshold": "0", "bf": "0", "preset": "veryfast",
                           **({"tune": "fastdecode"} if fast_decode else {})}
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        written, scaler = 0, VideoReformatter()  # one scaling context for all frames (not one per frame)
        for frame in container.decode(stream):
            if frame.time is None or frame.time < start - 1e-6:
                continue
            if frame.time >= start + seconds - 1e-6:
                break
            image = scaler.reformat(frame, width=2 * height, height=height, format="yuv420p")
            image.pts, image.time_base = written, 1 / Fraction(rate)  # constant frame rate, from 0
            output.mux(encoder.encode(image))
            written += 1
        output.mux(encoder.encode(None))
    if not written:
        raise DataError(f"{source}: no video frames in [{start}, {start + seconds}) s")


def encode_aac(foa: np.ndarray, rate: int, target: str, options: dict | None = None,
               bit_rate: int = AUDIO_BIT_RATE) -> None:
    """(4, S) float FOA → 4-channel AAC in an MP4 container, ``bit_rate`` per channel, channels in the given order.
    ``options``: the encoder's private options (default `AAC_OPTIONS`)."""
    with av.open(target, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=rate, layout="4.0")
        stream.bit_rate = foa.shape[0] * bit_rate
        stream.options = dict(AAC_OPTIONS if options is None else options)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(foa, dtype=np.float32), format="fltp", layout="4.0")
        frame.sample_rate, frame.pts = rate, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def cut_audio(source: str, target: str, start: float, seconds: float, rate: int, options: dict | None = None,
              bit_rate: int = AUDIO_BIT_RATE) -> float:
    """The FOA of [start, start + seconds) at ``rate`` Hz, channels in stored order, as 4-channel AAC (`encode_aac`).
    Returns the seconds of the window that the source's audio covers (the rest is written as zeros)."""
    foa, padding = read_audio(source, start, seconds, rate, return_padding=True)
    encode_aac(foa.numpy(), rate, target, options, bit_rate)
    return (foa.shape[1] - padding) / rate


def cut_segment(source: str, output: str, video_id: str, start: int, settings: CutSettings,
                source_rate: int) -> tuple[dict, bool]:
    """Cut one segment, keeping its files that already exist (written under a temporary name, so complete), and
    check it: (manifest entry, whether anything was written). DataError when it cannot be cut or is shorter than
    requested; its files are then removed."""
    name = f"{video_id}-{start}"
    paths = {kind: os.path.join(output, kind, f"{name}.{ext}") for kind, ext in (("video", "mp4"), ("audio", "m4a"))}
    seconds, wrote, covered = settings.seconds, False, None
    try:
        if not os.path.exists(paths["video"]):
            cut_video(source, f"{paths['video']}.partial", start, seconds, settings.height,
                      settings.keyframe_interval, settings.crf, settings.fast_decode, settings.threads)
            os.replace(f"{paths['video']}.partial", paths["video"])
            wrote = True
        if not os.path.exists(paths["audio"]):
            covered = cut_audio(source, f"{paths['audio']}.partial", start, seconds,
                                settings.audio_rate or source_rate)
            os.replace(f"{paths['audio']}.partial", paths["audio"])
            wrote = True
        video, audio = probe_media(paths["video"]), probe_media(paths["audio"])
        if video.video is None or audio.audio is None:  # a damaged file from an earlier run
            raise DataError(f"{paths['video' if video.video is None else 'audio']}: no stream in the written file")
        video_seconds, audio_seconds = video.duration or 0.0, audio.duration or 0.0
        if covered is not None:  # zeros past the end of the source's audio do not count
            audio_seconds = min(audio_seconds, covered)
        frame = 1.0 / video.video.fps if video.video.fps else 0.0
        if video_seconds < seconds - frame - 1e-3 or audio_seconds < seconds - AUDIO_TOLERANCE_S:
            raise DataError(f"video {video_seconds:.2f} s, audio {audio_seconds:.2f} s: shorter than the requested "
                            f"{seconds:g} s (the source's streams end early: an interrupted download?); removed")
    except (DataError, av.FFmpegError, OSError) as err:
        for path in paths.values():
            for leftover in (path, f"{path}.partial"):
                if os.path.exists(leftover):
                    os.remove(leftover)
        reason = " ".join(str(err).split())
        reason = reason[len(source) + 2:] if reason.startswith(f"{source}: ") else reason
        raise DataError(f"{source}: segment {name}: {reason}") from None
    entry = {
        "id": video_id, "start": start, "video": f"video/{name}.mp4", "audio": f"audio/{name}.m4a",
        "duration": round(min(video.duration, audio.duration), 3),
        "width": video.video.width, "height": video.video.height, "fps": video.video.fps,
        "channels": audio.audio.channels, "rate": audio.audio.rate,
        "bytes": {kind: os.path.getsize(path) for kind, path in paths.items()},
        "sha256": {kind: file_sha256(path) for kind, path in paths.items()},
    }
    return entry, wrote


# ---------------------------------------------------------------------------------------------- worker tasks
def _source_task(task: tuple[str, str]):
    """(source folder, id) → (source path, duration, audio rate), or the problem line."""
    source_dir, video_id = task
    source = next((os.path.join(source_dir, video_id + ext) for ext in EXTENSIONS
                   if os.path.isfile(os.path.join(source_dir, video_id + ext))), None)
    if source is None:
        return f"{os.path.join(source_dir, video_id)}.*: no source file for id {video_id}"
    try:
        info = _check_source(source)
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
class _Progress:
    """done/total, rate and time left: a tqdm bar on a terminal, a plain line every PROGRESS_INTERVAL_S otherwise."""

    def __init__(self, total: int, unit: str, enabled: bool = True):
        self.total, self.unit, self.done, self.enabled = total, unit, 0, enabled and total > 0
        self.started = self.printed = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

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
                  f"{_clock((self.total - self.done) / rate)} left", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
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
    """Cut every listed segment with ``workers`` processes (1: in this one); see the module docstring."""
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
        bar = _Progress(len(pending), "source", progress)
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
        bar = _Progress(len(tasks), "segment", progress)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of full-length {ID}.mp4/.mkv/.webm/.mov files")
    parser.add_argument("output", help="dataset root to write (video/, audio/, manifest.json, problems.txt)")
    parser.add_argument("--segments", help="segments.txt: '{ID} t1,t2,...' per line (default: every {ID}.ext of "
                        "SOURCE cut into consecutive segments, the list written to OUTPUT/segments.txt)")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="also write OUTPUT/train.txt and test.txt: this fraction of the ids, drawn at random "
                        "(seed 0), for testing (kept when they exist)")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=480, help="output frame height (width = 2·height)")
    parser.add_argument("--keyframe-interval", type=float, default=0.5, help="seconds between keyframes")
    parser.add_argument("--crf", type=int, default=20, help="H.264 quality (lower = better, larger)")
    parser.add_argument("--audio-rate", type=int, default=24000,
                        help="FOA sample rate of the written audio (the training rate; 0: the source's own)")
    parser.add_argument("--no-fast-decode", dest="fast_decode", action="store_false",
                        help="encode without x264's tune=fastdecode (smaller files, slower to decode)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes cutting in parallel (default: every core this process may use)")
    args = parser.parse_args(argv)
    if args.height < 2 or args.height % 2:
        parser.error("--height must be a positive even number")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.test_fraction is not None and not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must be between 0 and 1")
    workers = args.workers or available_cores()
    settings = CutSettings(args.segment_seconds, args.height, args.keyframe_interval, args.crf, args.audio_rate,
                           args.fast_decode)
    if args.segments:
        segments = read_segments(args.segments)
    else:
        segments, skipped = list_source_segments(args.source, args.segment_seconds)
        os.makedirs(args.output, exist_ok=True)
        write_text(os.path.join(args.output, "segments.txt"),
                   "".join(f"{video_id} {','.join(map(str, starts))}\n" for video_id, starts in segments))
        print(f"{args.output}/segments.txt: {sum(len(s) for _, s in segments)} segments of {len(segments)} files"
              + (f"; skipped {len(skipped)} whose names are not 11-character ids: {', '.join(skipped[:5])}"
                 + (", ..." if len(skipped) > 5 else "") if skipped else ""))
    if args.test_fraction is not None:
        wrote = write_split_lists(args.output, [video_id for video_id, _ in segments], args.test_fraction)
        print(f"{args.output}/train.txt, test.txt: {'written' if wrote else 'kept (they exist)'}")
    run = prepare(args.source, args.output, segments, settings, workers)
    problems = [run.problems[key] for key in sorted(run.problems)]
    print(f"{args.output}: {run.written} segments written, {run.kept} already there (kept), {len(problems)} problems, "
          f"in {_clock(run.seconds)} ({run.written / max(run.seconds, 1e-9):.2f} segments/s, {run.workers} "
          f"worker(s)); manifest.json lists {len(run.entries)} segments"
          + (f"; see {os.path.join(args.output, 'problems.txt')}:" if problems else ""))
    for line in problems[:PRINTED_PROBLEMS]:
        print(f"  {line}")
    if len(problems) > PRINTED_PROBLEMS:
        print(f"  ... and {len(problems) - PRINTED_PROBLEMS} more")
    return 1 if problems else 0


if __name__ == "__main__":
    run_main(main)
