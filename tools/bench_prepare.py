#!/usr/bin/env python
"""Throughput of tools/prepare_yt360.py: segments per second with W worker processes, on generated sources.

    python tools/bench_prepare.py [--workers 1,2] [--sources 3] [--source-seconds 30] [--size 1920x960]
                                  [--height 480] [--folder DIR] [--json PATH]

Writes --sources full-length "downloads" (H.264 equirectangular video at 30 fps, a keyframe every 5 s, a pattern
turning around the sphere; 4-channel AAC at 48 kHz, interleaved) into --folder (kept: a later run reuses them), then
for each worker count cuts every 10-s segment of them from scratch with prepare_yt360's defaults (--height 480,
24 kHz FOA) and reports wall-clock segments/s and CPU seconds per segment (this process and its workers: what a
segment costs a dedicated core, whatever else runs on the machine), with the 1-minute load average before the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402

from tools.prepare.cut import CutSettings  # noqa: E402
from tools.prepare.run import prepare  # noqa: E402
from utils.cli import available_cores, run_main  # noqa: E402
from utils.files import write_json  # noqa: E402

FPS, AUDIO_RATE, SEGMENT_SECONDS = 30, 48000, 10


def write_source(path: str, seconds: float, width: int, height: int) -> str:
    """One download: video + 4-channel FOA noise, packets interleaved in time as in a downloaded file."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 40) * np.cos(y / 30), 128 + 100 * np.sin(y / 25),
                     128 + 100 * np.sin((x + y) / 60)], axis=-1).astype(np.uint8)
    generator = np.random.default_rng(0)
    block = AUDIO_RATE // FPS
    with av.open(f"{path}.partial", "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(5 * FPS), "crf": "23"}
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="4.0")
        for n in range(int(seconds * FPS)):
            image = np.roll(base, 4 * n, axis=1)  # the scene turns around the vertical axis
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            chunk = (0.1 * generator.standard_normal((4, block))).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="4.0")
            frame.sample_rate, frame.pts = AUDIO_RATE, n * block
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    os.replace(f"{path}.partial", path)
    return path


def _cpu_seconds() -> float:
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--source-seconds", type=int, default=30, help="length of each source (10-s segments)")
    parser.add_argument("--size", default="1920x960", help="source frame size WxH (2:1)")
    parser.add_argument("--height", type=int, default=480, help="prepared frame height")
    parser.add_argument("--folder", default=None, help="where sources and outputs go (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    workers = [int(w) for w in args.workers.split(",")]
    folder = args.folder or tempfile.mkdtemp(prefix="bench_prepare_")
    downloads = os.path.join(folder, f"sources-{width}x{height}-{args.source_seconds}s")
    os.makedirs(downloads, exist_ok=True)
    ids = [f"benchsrc{n:03d}" for n in range(args.sources)]
    started = time.perf_counter()
    for video_id in ids:
        path = os.path.join(downloads, f"{video_id}.mp4")
        if not os.path.exists(path):
            write_source(path, args.source_seconds, width, height)
    print(f"{args.sources} sources of {args.source_seconds} s at {width}×{height} in {downloads} "
          f"({time.perf_counter() - started:.0f} s)")
    starts = list(range(0, args.source_seconds - SEGMENT_SECONDS + 1, SEGMENT_SECONDS))
    segments = [(video_id, starts) for video_id in ids]
    settings = CutSettings(float(SEGMENT_SECONDS), args.height, 0.5, 20)
    results = []
    print("| workers | segments | wall s | segments/s | CPU s per segment | load before |\n" + "| --- " * 6 + "|")
    for count in workers:
        output = os.path.join(folder, f"prepared-{count}")
        shutil.rmtree(output, ignore_errors=True)
        load, cpu, wall = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
        run = prepare(downloads, output, segments, settings, workers=count, progress=False)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        result = {"workers": count, "segments": run.written, "problems": len(run.problems), "wall_s": round(wall, 2),
                  "segments_per_s": round(run.written / wall, 3),
                  "cpu_s_per_segment": round(cpu / max(run.written, 1), 3), "load_before": round(load, 2)}
        results.append(result)
        print(f"| {count} | {run.written} | {wall:.1f} | {result['segments_per_s']:.3f} | "
              f"{result['cpu_s_per_segment']:.2f} | {load:.2f} |", flush=True)
    if args.json:
        write_json(args.json, {"results": results, "sources": args.sources, "source_seconds": args.source_seconds,
                               "size": [width, height], "height": args.height,
                               "machine": {"cpu": platform.processor() or platform.machine(),
                                           "cores": available_cores()}})
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    run_main(main)
