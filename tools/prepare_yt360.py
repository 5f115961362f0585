#!/usr/bin/env python
"""Cut downloaded full-length 360° videos into the YT-360 layout (spec §2.1) listed in segments.txt.

    python tools/prepare_yt360.py downloads/ data/yt360 --segments segments.txt [--height 480] [--keyframe-interval 0.5]
                                  [--audio-rate 24000] [--no-fast-decode]

SOURCE holds one file per YouTube id, ``{ID}.mp4`` (or .mkv, .webm, .mov), with the equirectangular video and the
first-order ambisonic audio. For every line ``{ID} t1,t2,...`` of segments.txt and every start time T this writes

    OUTPUT/video/{ID}-{T}.mp4   H.264, width = 2·height, a keyframe every --keyframe-interval s (fast random access),
                                x264 tune=fastdecode (decoding 8 frames at 640×320: 25 → 13–16 ms; files ≈ 1.6× larger)
    OUTPUT/audio/{ID}-{T}.m4a   the FOA channels in stored order at --audio-rate (default 24 kHz, the training rate, so
                                that loading needs no resampling: 1 s decodes in 3.4–4.0 ms instead of 6.2–7.4 ms at
                                48 kHz; 0 keeps the native rate), decoded and re-encoded as AAC channel by channel,
                                never remixed (the original's FFmpeg "4.0" remix, §10.15)

plus OUTPUT/manifest.json (per segment: duration, resolution, frame rate, channels, rate, SHA-256 of both files) and
OUTPUT/problems.txt (one line per file or segment that could not be used: missing source, no audio stream, not 4
channels, not 2:1, too short, unreadable). One bad file never stops the run; files already written are kept, so an
interrupted run continues where it stopped. Exit code 0 when there was no problem, 1 otherwise.
"""

import argparse
import os
from fractions import Fraction
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402

from datasets.yt360 import YOUTUBE_ID  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.errors import DataError  # noqa: E402
from utils.files import file_sha256, write_json  # noqa: E402
from utils.media import probe_media, read_audio  # noqa: E402

EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")


def read_segments(path: str) -> list[tuple[str, list[int]]]:
    """segments.txt: ``{ID} t1,t2,...`` per line → [(id, [t1, t2, ...])]."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
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


def _check_source(path: str):
    """MediaInfo of a usable source, or DataError naming what is wrong."""
    info = probe_media(path)
    if info.video is None:
        raise DataError(f"{path}: no video stream")
    if info.audio is None:
        raise DataError(f"{path}: no audio stream")
    if info.audio.channels != 4:
        raise DataError(f"{path}: {info.audio.channels} audio channels, first-order ambisonics has 4")
    if info.video.width != 2 * info.video.height:
        raise DataError(f"{path}: frames are {info.video.width}×{info.video.height}, not 2:1 equirectangular")
    if info.duration is None:
        raise DataError(f"{path}: duration unknown")
    return info


def cut_video(source: str, target: str, start: float, seconds: float, height: int, keyframe_interval: float,
              crf: int, fast_decode: bool = True) -> None:
    """Re-encode [start, start + seconds) of ``source`` to H.264 (2·height × height), streaming frame by frame.
    ``fast_decode``: x264's ``tune=fastdecode`` (CAVLC instead of CABAC, no deblocking filter, no weighted
    prediction): cheaper to decode, larger at the same crf."""
    with av.open(source) as container, av.open(target, "w", format="mp4") as output:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or 30
        encoder = output.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = 2 * height, height, "yuv420p"
        encoder.options = {"crf": str(crf), "g": str(max(1, round(float(rate) * keyframe_interval))),
                           "keyint_min": "1", "sc_threshold": "0", "bf": "0", "preset": "veryfast",
                           **({"tune": "fastdecode"} if fast_decode else {})}
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        written = 0
        for frame in container.decode(stream):
            if frame.time is None or frame.time < start - 1e-6:
                continue
            if frame.time >= start + seconds - 1e-6:
                break
            image = frame.reformat(width=2 * height, height=height, format="yuv420p")
            image.pts, image.time_base = written, 1 / Fraction(rate)  # constant frame rate, from 0
            output.mux(encoder.encode(image))
            written += 1
        output.mux(encoder.encode(None))
    if not written:
        raise DataError(f"{source}: no video frames in [{start}, {start + seconds}) s")


def cut_audio(source: str, target: str, start: float, seconds: float, rate: int) -> None:
    """The FOA of [start, start + seconds) at ``rate`` Hz, channels in stored order, as 4-channel AAC."""
    foa = read_audio(source, start, seconds, rate).numpy()
    with av.open(target, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=rate, layout="4.0")
        stream.bit_rate = 4 * 128_000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(foa), format="fltp", layout="4.0")
        frame.sample_rate, frame.pts = rate, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def prepare(source_dir: str, output: str, segments: list[tuple[str, list[int]]], *, seconds: float, height: int,
            keyframe_interval: float, crf: int, audio_rate: int = 24000,
            fast_decode: bool = True) -> tuple[list[dict], list[str]]:
    """Cut every listed segment; returns (manifest entries, problems)."""
    for folder in ("video", "audio"):
        os.makedirs(os.path.join(output, folder), exist_ok=True)
    manifest, problems = [], []
    for video_id, starts in segments:
        source = next((os.path.join(source_dir, video_id + ext) for ext in EXTENSIONS
                       if os.path.isfile(os.path.join(source_dir, video_id + ext))), None)
        if source is None:
            problems.append(f"{os.path.join(source_dir, video_id)}.*: no source file for id {video_id}")
            continue
        try:
            info = _check_source(source)
        except DataError as err:
            problems.append(" ".join(str(err).split()))
            continue
        for start in starts:
            name = f"{video_id}-{start}"
            if start + seconds > info.duration + 0.05:
                problems.append(f"{source}: too short ({info.duration:.1f} s) for segment {name} "
                                f"[{start}, {start + seconds:g}) s")
                continue
            video_path = os.path.join(output, "video", f"{name}.mp4")
            audio_path = os.path.join(output, "audio", f"{name}.m4a")
            try:
                for path, cut in ((video_path, lambda p: cut_video(source, p, start, seconds, height,
                                                                   keyframe_interval, crf, fast_decode)),
                                  (audio_path, lambda p: cut_audio(source, p, start, seconds,
                                                                   audio_rate or info.audio.rate))):
                    if not os.path.exists(path):  # written under a temporary name: existing files are complete
                        cut(f"{path}.partial")
                        os.replace(f"{path}.partial", path)
                video_info, audio_info = probe_media(video_path), probe_media(audio_path)
            except (DataError, av.FFmpegError, OSError) as err:
                problems.append(f"{source}: segment {name}: {' '.join(str(err).split())}")
                continue
            manifest.append({
                "id": video_id, "start": start, "video": f"video/{name}.mp4", "audio": f"audio/{name}.m4a",
                "duration": round(min(video_info.duration, audio_info.duration), 3),
                "width": video_info.video.width, "height": video_info.video.height, "fps": video_info.video.fps,
                "channels": audio_info.audio.channels, "rate": audio_info.audio.rate,
                "sha256": {"video": file_sha256(video_path), "audio": file_sha256(audio_path)},
            })
    return manifest, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of full-length {ID}.mp4/.mkv/.webm/.mov files")
    parser.add_argument("output", help="dataset root to write (video/, audio/, manifest.json, problems.txt)")
    parser.add_argument("--segments", required=True, help="segments.txt: '{ID} t1,t2,...' per line")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=480, help="output frame height (width = 2·height)")
    parser.add_argument("--keyframe-interval", type=float, default=0.5, help="seconds between keyframes")
    parser.add_argument("--crf", type=int, default=20, help="H.264 quality (lower = better, larger)")
    parser.add_argument("--audio-rate", type=int, default=24000,
                        help="FOA sample rate of the written audio (the training rate; 0: the source's own)")
    parser.add_argument("--no-fast-decode", dest="fast_decode", action="store_false",
                        help="encode without x264's tune=fastdecode (smaller files, slower to decode)")
    args = parser.parse_args(argv)
    if args.height < 2 or args.height % 2:
        parser.error("--height must be a positive even number")
    manifest, problems = prepare(args.source, args.output, read_segments(args.segments),
                                 seconds=args.segment_seconds, height=args.height,
                                 keyframe_interval=args.keyframe_interval, crf=args.crf,
                                 audio_rate=args.audio_rate, fast_decode=args.fast_decode)
    write_json(os.path.join(args.output, "manifest.json"), manifest, indent=1)
    with open(os.path.join(args.output, "problems.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in problems))
    print(f"{len(manifest)} segments written to {args.output}; {len(problems)} problems"
          + (f" (see {os.path.join(args.output, 'problems.txt')}):" if problems else ""))
    for line in problems:
        print(f"  {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    run_main(main)
