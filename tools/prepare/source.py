"""The source side of the preparation: segments.txt, the segment list of a folder of your own files, the train/test
lists, and the checks that make a downloaded file usable (a video and a 4-channel audio stream, an equirectangular
projection by its spherical-video metadata or, without it, by its 2:1 frames)."""

from __future__ import annotations

import math
import os
import random
import sys
from fractions import Fraction

import av
from av.sidedata.sidedata import Type as SideDataType

from datasets.yt360 import YOUTUBE_ID
from utils.errors import DataError
from utils.files import write_text
from utils.media import MediaInfo, open_media, probe_media

EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")
# FFmpeg's AVSphericalProjection codes (libavutil/spherical.h). FFmpeg reads a file's spherical-video metadata (the
# MP4 'sv3d' box, Matroska's Projection element) into side data that starts with this code; projections it cannot
# represent (meshes) leave none. The 'tiled' form is an equirectangular frame that covers only part of the sphere.
SPHERICAL_PROJECTIONS = ("equirectangular", "cubemap", "tiled equirectangular (part of the sphere)",
                         "half equirectangular (180°)", "rectilinear", "fisheye", "parametric immersive")


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


def check_source(path: str) -> MediaInfo:
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

