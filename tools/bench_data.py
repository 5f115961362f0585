#!/usr/bin/env python
"""Per-stage milliseconds per sample of the YT-360 data pipeline, on ONE core, for the 4-view paper setting
(K = 4 viewpoints, 8 frames at 16 fps, 112×112 crops, 1 s of 24 kHz FOA), batched vs a straightforward implementation.

    python tools/bench_data.py [--video V.mp4 --audio A.m4a] [--samples 20] [--json results/bench_data.json]

Without files it writes a 640×320 H.264 mp4 (keyframe interval 250) and a 4-channel 48 kHz AAC m4a of 10 s into a
temporary folder. Stages: decode video, decode audio, crops (viewpoints + gnomonic views), rotation (FOA toward each
view), log-mel, video transforms (to float, joint flip, colour jitter, normalisation). The straightforward column
loops over views and frames (crops, transforms) and channels (log-mel), as the original did.
A dataset config as the sample source (``tools/bench_data.py CONFIG``) plugs in at `bench` (a list of file pairs).
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402

from datasets.augment import (  # noqa: E402
    apply_color_jitter, apply_joint_flip, draw_clip_augmentation, normalize_video, views_to_clips,
)
from datasets.viewpoints import sample_viewpoints  # noqa: E402
from utils.ambisonics import rotate_foa  # noqa: E402
from utils.audio_features import log_mel  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.media import probe_media, read_audio, read_video  # noqa: E402
from utils.spherical import equirect_to_perspective  # noqa: E402

VIEWS, FRAMES, FPS, CROP, AUDIO_RATE = 4, 8, 16, (112, 112), 24000
VIDEO_SECONDS, AUDIO_SECONDS = FRAMES / FPS, 1.0
STAGES = ("decode video", "decode audio", "crops", "rotation", "log-mel", "video transforms")
TRANSFORM_STAGES = ("crops", "rotation", "log-mel", "video transforms")


def write_test_media(folder: str, seconds: float = 10.0) -> tuple[str, str]:
    """640×320 H.264 at 30 fps (keyframe every 250 frames, moving smooth pattern) and 4-channel AAC at 48 kHz."""
    video_path, audio_path = os.path.join(folder, "bench.mp4"), os.path.join(folder, "bench.m4a")
    y, x = np.mgrid[0:320, 0:640].astype(np.float32)
    with av.open(video_path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 320, "yuv420p"
        stream.codec_context.gop_size = 250
        stream.options = {"preset": "veryfast", "keyint_min": "250", "sc_threshold": "0"}
        for n in range(int(seconds * 30)):
            phase = n / 15
            image = np.stack([128 + 100 * np.sin(x / 40 + phase), 128 + 100 * np.sin(y / 25 - phase),
                              128 + 100 * np.sin((x + y) / 60 + 2 * phase)], axis=-1).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    rate, generator = 48000, np.random.default_rng(0)
    with av.open(audio_path, "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="4.0")
        block = stream.codec_context.frame_size or 1024
        for start in range(0, int(seconds * rate), block):
            chunk = (0.1 * generator.standard_normal((4, block))).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="4.0")
            frame.rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return video_path, audio_path


def transform_batched(frames, foa, generator):
    """The pipeline as the datasets use it: every stage one batched call. frames (T, H, W, 3) uint8, foa (4, S)."""
    timings = {}
    start = time.perf_counter()
    views = sample_viewpoints(VIEWS, generator, min_separation_deg=30, aspect_jitter=True)
    crops = equirect_to_perspective(frames.permute(0, 3, 1, 2), views.azimuth, views.elevation, views.hfov,
                                    views.vfov, CROP)
    timings["crops"] = time.perf_counter() - start
    start = time.perf_counter()
    rotated = rotate_foa(foa.expand(VIEWS, -1, -1), views.azimuth, views.elevation)
    timings["rotation"] = time.perf_counter() - start
    start = time.perf_counter()
    draws = draw_clip_augmentation(generator, VIEWS)
    clips, rotated, _ = apply_joint_flip(views_to_clips(crops, VIEWS), rotated, views.azimuth, draws["flip"])
    video = normalize_video(apply_color_jitter(clips, draws))
    timings["video transforms"] = time.perf_counter() - start
    start = time.perf_counter()
    audio = log_mel(rotated, parity=True)
    timings["log-mel"] = time.perf_counter() - start
    assert video.shape == (VIEWS, 3, FRAMES, *CROP) and audio.shape == (VIEWS, 4, 100, 128)
    return timings


def transform_straightforward(frames, foa, generator):
    """Per-view, per-frame crops and transforms and per-channel log-mel (the original's loop structure)."""
    timings = {}
    start = time.perf_counter()
    views = sample_viewpoints(VIEWS, generator, min_separation_deg=30, aspect_jitter=True)
    equirect = frames.permute(0, 3, 1, 2)
    crops = [[equirect_to_perspective(equirect[t:t + 1], views.azimuth[k:k + 1], views.elevation[k:k + 1],
                                      views.hfov[k:k + 1], views.vfov[k:k + 1], CROP)[0] for t in range(FRAMES)]
             for k in range(VIEWS)]
    timings["crops"] = time.perf_counter() - start
    start = time.perf_counter()
    rotated = [rotate_foa(foa, views.azimuth[k], views.elevation[k]) for k in range(VIEWS)]
    timings["rotation"] = time.perf_counter() - start
    start = time.perf_counter()
    draws = draw_clip_augmentation(generator, VIEWS)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    names = ("brightness", "contrast", "saturation", "hue")
    video = []
    for k in range(VIEWS):
        clip = []
        for frame in crops[k]:
            frame = frame.float() / 255
            if draws["flip"][k]:
                frame = frame.flip(-1)
            for op in draws["jitter_order"][k].tolist():
                frame = adjust[op](frame, float(draws[names[op]][k]))
            clip.append(TF.normalize(frame, mean, std))
        video.append(torch.stack(clip, dim=1))
    timings["video transforms"] = time.perf_counter() - start
    start = time.perf_counter()
    audio = [torch.stack([log_mel(channel[None], parity=True)[0] for channel in rotated[k]]) for k in range(VIEWS)]
    timings["log-mel"] = time.perf_counter() - start
    assert video[0].shape == (3, FRAMES, *CROP) and audio[0].shape == (4, 100, 128)
    return timings


def bench(pairs, samples: int, seed: int = 0) -> dict:
    """Mean ms per sample of each stage over ``samples`` random windows of the (video, audio) file ``pairs``."""
    generator = torch.Generator().manual_seed(seed)
    totals = {impl: dict.fromkeys(STAGES, 0.0) for impl in ("batched", "straightforward")}
    for index in range(samples + 1):  # the first sample warms caches (filterbanks, codecs) and is not counted
        video_path, audio_path = pairs[index % len(pairs)]
        duration = min(probe_media(video_path).duration, probe_media(audio_path).duration)
        audio_start = float(torch.rand(1, generator=generator)) * (duration - AUDIO_SECONDS)
        video_start = audio_start + float(torch.rand(1, generator=generator)) * (AUDIO_SECONDS - VIDEO_SECONDS)
        start = time.perf_counter()
        frames = read_video(video_path, video_start, VIDEO_SECONDS, FPS)
        decode_video = time.perf_counter() - start
        start = time.perf_counter()
        foa = read_audio(audio_path, audio_start, AUDIO_SECONDS, AUDIO_RATE)
        decode_audio = time.perf_counter() - start
        for impl, transform in (("batched", transform_batched), ("straightforward", transform_straightforward)):
            timings = transform(frames, foa, generator)
            timings.update({"decode video": decode_video, "decode audio": decode_audio})
            if index > 0:
                for stage in STAGES:
                    totals[impl][stage] += timings[stage] * 1000 / samples
    return totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", help="equirectangular mp4 (default: generated 640×320 H.264)")
    parser.add_argument("--audio", help="4-channel FOA file (default: generated AAC 48 kHz)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        video, audio = (args.video, args.audio) if args.video and args.audio else write_test_media(folder)
        totals = bench([(video, audio)], args.samples)
    print(f"ms per {VIEWS}-view sample ({FRAMES} frames at {FPS} fps, {CROP[0]}×{CROP[1]} crops, 1 s of 24 kHz FOA), "
          f"1 thread, mean of {args.samples}")
    print(f"{'stage':<18}{'batched':>10}{'straightforward':>18}")
    for stage in STAGES:
        print(f"{stage:<18}{totals['batched'][stage]:>10.1f}{totals['straightforward'][stage]:>18.1f}")
    transform_total = {impl: sum(totals[impl][s] for s in TRANSFORM_STAGES) for impl in totals}
    print(f"{'transforms total':<18}{transform_total['batched']:>10.1f}{transform_total['straightforward']:>18.1f}"
          f"   (crops + rotation + log-mel + video transforms; target ≤ 20 ms batched)")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"setting": {"views": VIEWS, "frames": FRAMES, "fps": FPS, "crop": list(CROP),
                                   "audio_rate": AUDIO_RATE, "threads": 1, "samples": args.samples,
                                   "video": args.video or "generated 640x320 h264 gop 250",
                                   "audio": args.audio or "generated 4ch aac 48 kHz"},
                       "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
                       "ms_per_sample": totals, "transforms_total_ms": transform_total}, f, indent=2)
    return 0


if __name__ == "__main__":
    run_main(main)
