#!/usr/bin/env python
"""Throughput of a dataset's sample pipeline, per core and with W DataLoader workers, with per-stage milliseconds,
next to a straightforward implementation; and (``--stages``) the stage benchmark of the 4-view paper setting.

    python tools/bench_data.py [CONFIG] [--media gop250|prepared|config] [--workers W] [--samples N]
                               [--repeats R] [--set KEY=VALUE ...] [--json PATH]
    python tools/bench_data.py --stages [--video V.mp4 --audio A.m4a] [--samples 20] [--json PATH]

The stages are the dataset's own, reported to its stage timer (`datasets.base.ClipDataset.timer`). Method and
results: docs/performance.md ("Data pipeline, whole samples", "Media pipeline stages").
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from datasets import SCHEMA as DATASET_SCHEMA  # noqa: E402
from datasets import build_dataset  # noqa: E402
from datasets.audio_stats import ensure_stats  # noqa: E402
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD, draw_clip_augmentation  # noqa: E402
from datasets.viewpoints import sample_viewpoints  # noqa: E402
from evaluation.schema import load_any_config  # noqa: E402
from tools.prepare.cut import cut_audio, cut_video  # noqa: E402
from utils.ambisonics import rotate_foa  # noqa: E402
from utils.audio_features import log_mel  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import Schema, validate_config  # noqa: E402
from utils.files import write_json  # noqa: E402
from utils.media import open_media, probe_media, read_audio  # noqa: E402
from utils.seeding import seed_worker  # noqa: E402
from utils.spherical import equirect_to_perspective  # noqa: E402

VIEWS, FRAMES, FPS, CROP, AUDIO_RATE = 4, 8, 16, (112, 112), 24000
AUDIO_SECONDS = 1.0
STAGES = ("decode video", "decode audio", "crops", "rotation", "log-mel", "video transforms")
TRANSFORM_STAGES = ("crops", "rotation", "log-mel", "video transforms")


def write_test_media(folder: str, seconds: float = 10.0, height: int = 320) -> tuple[str, str]:
    """2·height × height (default 640×320) H.264 at 30 fps (keyframe every 250 frames, moving smooth pattern) and
    4-channel AAC at 48 kHz."""
    video_path, audio_path = os.path.join(folder, "bench.mp4"), os.path.join(folder, "bench.m4a")
    y, x = np.mgrid[0:height, 0:2 * height].astype(np.float32)
    with av.open(video_path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 2 * height, height, "yuv420p"
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


class StageTimer:
    """The dataset's stage timer (`datasets.base.ClipDataset.timer`): seconds per stage, summed over calls, of
    ``clock`` (default: this process's CPU time)."""

    def __init__(self, clock=time.process_time):
        self.clock, self.totals = clock, {}

    @contextmanager
    def __call__(self, stage: str):
        start = self.clock()
        try:
            yield
        finally:
            self.totals[stage] = self.totals.get(stage, 0.0) + self.clock() - start


@contextmanager
def timing(dataset, timer: StageTimer):
    """Report ``dataset``'s stages to ``timer`` inside the block."""
    dataset.timer = timer
    try:
        yield timer
    finally:
        dataset.timer = None


def paper_log_mels(foa: torch.Tensor) -> torch.Tensor:
    """The paper's log-mels (24 kHz, 512-point FFT, hop 240, 128 mels, 1-s crops, the original's magnitude scale)."""
    return log_mel(foa, parity=True)


def transform_straightforward(frames, foa, generator, views_per_sample=VIEWS, crop=CROP, log_mels=paper_log_mels):
    """Per-view, per-frame crops and transforms and per-channel log-mel (the original's loop structure).
    frames (T, H, W, 3) uint8, foa (4, S); log_mels: (C, S) → (C, frames, n_mels) (default: the paper's)."""
    num_frames = frames.shape[0]
    timings = {}
    start = time.perf_counter()
    views = sample_viewpoints(views_per_sample, generator, min_separation_deg=30, aspect_jitter=True)
    equirect = frames.permute(0, 3, 1, 2)
    crops = [[equirect_to_perspective(equirect[t:t + 1], views.azimuth[k:k + 1], views.elevation[k:k + 1],
                                      views.hfov[k:k + 1], views.vfov[k:k + 1], crop)[0] for t in range(num_frames)]
             for k in range(views_per_sample)]
    timings["crops"] = time.perf_counter() - start
    start = time.perf_counter()
    rotated = [rotate_foa(foa, views.azimuth[k], views.elevation[k]) for k in range(views_per_sample)]
    timings["rotation"] = time.perf_counter() - start
    start = time.perf_counter()
    draws = draw_clip_augmentation(generator, views_per_sample)
    mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    names = ("brightness", "contrast", "saturation", "hue")
    video = []
    for k in range(views_per_sample):
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
    audio = [torch.stack([log_mels(channel[None])[0] for channel in rotated[k]])
             for k in range(views_per_sample)]
    timings["log-mel"] = time.perf_counter() - start
    assert video[0].shape == (3, num_frames, *crop) and audio[0].shape[0] == 4
    return timings


# The 4-view paper setting of the stage benchmark as a dataset section: 8 frames at 16 fps, 112×112 crops, 1 s of 24 kHz
# FOA, the original's log-mel; four views at least 30° apart; the train split's augmentation.
STAGE_DATASET = {"name": "yt360", "sampling": "clip", "video": {"clip_duration": FRAMES / FPS, "fps": FPS,
                                                                "crop_size": CROP[0]},
                 "audio": {"clip_duration": AUDIO_SECONDS, "rate": AUDIO_RATE, "parity": True},
                 "viewpoints": {"num": VIEWS, "min_separation_deg": 30.0}}


def stage_dataset(folder: str, video: str, audio: str):
    """The train split of a YT-360 dataset of `STAGE_DATASET` whose segments are all the (``video``, ``audio``) pair."""
    root = link_media(os.path.join(folder, "stages"), video, audio)
    section = {**STAGE_DATASET, "root": root, "cache_dir": os.path.join(root, ".cache")}
    cfg = validate_config({"dataset": section}, {}, "tools/bench_data.py --stages", required=("dataset",),
                          schema=Schema(dataset=DATASET_SCHEMA))
    return build_dataset(cfg["dataset"], "train", seed=0)


def bench(dataset, samples: int, seed: int = 0) -> dict:
    """Mean wall-clock ms per sample of each stage: the dataset's pipeline (its stage timer; the draws count to
    "crops", as the straightforward pipeline draws its viewpoints there) and the straightforward one on the same
    decoded windows."""
    generator = torch.Generator().manual_seed(seed)
    totals = {impl: dict.fromkeys(STAGES, 0.0) for impl in ("batched", "straightforward")}
    for index in range(samples + 1):  # the first sample warms caches (filterbanks, codecs) and is not counted
        position = index % len(dataset)
        with timing(dataset, StageTimer(time.perf_counter)) as timer:
            raw = dataset.decode(position)
            with timer("crops"):
                draws = dataset.draw(raw, dataset.generator(position, "transform"))
            dataset.apply_one(raw, draws)
        plain = transform_straightforward(raw["frames"][0], raw["foa"][0], generator)
        plain.update({stage: timer.totals[stage] for stage in ("decode video", "decode audio")})
        if index > 0:
            for impl, timings in (("batched", timer.totals), ("straightforward", plain)):
                for stage in STAGES:
                    totals[impl][stage] += timings[stage] * 1000 / samples
    return totals


# ------------------------------------------------------------------------------------------ dataset benchmark
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo",
                              "avsa.yaml")
MEDIA_IDS = tuple(f"bench{letter * 6}" for letter in "ABCDEFGH")


def write_media_root(folder: str, kind: str, seconds: float = 10.0, height: int = 320) -> str:
    """A YT-360 root of eight segments (the same generated pair under eight ids; file contents do not change
    the speed): ``gop250`` as generated, ``prepared`` re-encoded by tools/prepare_yt360.py at the same size.
    Default: 10-s segments of 640×320; ``seconds`` and ``height`` make smaller files (tests, dry runs)."""
    root = os.path.join(folder, kind)
    if os.path.isfile(os.path.join(root, "train.txt")):
        return root
    video, audio = write_test_media(folder, seconds, height) if not os.path.isfile(
        os.path.join(folder, "bench.mp4")) else (os.path.join(folder, "bench.mp4"), os.path.join(folder, "bench.m4a"))
    if kind == "prepared":
        cut_video(video, os.path.join(folder, "prepared.mp4"), 0.0, seconds, height, 0.5, 20)  # prepare_yt360's
        cut_audio(audio, os.path.join(folder, "prepared.m4a"), 0.0, seconds, 24000)  # defaults: fastdecode, 24 kHz
        video, audio = os.path.join(folder, "prepared.mp4"), os.path.join(folder, "prepared.m4a")
    return link_media(root, video, audio)


def link_media(root: str, video: str, audio: str) -> str:
    """A YT-360 root whose eight segments (both splits) are links to the same (video, audio) pair."""
    for sub in ("video", "audio"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for video_id in MEDIA_IDS:
        os.symlink(os.path.abspath(video), os.path.join(root, "video", f"{video_id}-0.mp4"))
        os.symlink(os.path.abspath(audio), os.path.join(root, "audio", f"{video_id}-0.m4a"))
    for split in ("train", "test"):
        with open(os.path.join(root, f"{split}.txt"), "w") as f:
            f.write("".join(f"{i}\n" for i in MEDIA_IDS))
    return root


def read_video_straightforward(path, start, duration, fps):
    """Decode every frame from the keyframe before ``start`` and convert each to RGB (the original's decoding)."""
    times = start + np.arange(int(round(duration * fps))) / fps
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
        decoded = []
        for frame in container.decode(stream):
            decoded.append((frame.time, frame.to_ndarray(format="rgb24")))
            if frame.time > times[-1]:
                break
    return torch.from_numpy(np.stack([[image for t, image in decoded if t <= target + 5e-7][-1]
                                      for target in times]))


def per_core(dataset, samples: int, repeats: int, straightforward: bool) -> dict:
    """CPU and wall seconds per sample of ``dataset[i]`` (and of the straightforward pipeline on the same windows),
    per-stage ms; medians over ``repeats``."""
    cfg = dataset.cfg
    views, crop = cfg["viewpoints"]["num"], (cfg["video"]["crop_size"],) * 2
    audio = cfg["audio"]
    dataset[0]  # warm-up: index, filterbanks, codecs
    runs = []
    for repeat in range(repeats):
        dataset.set_epoch(repeat + 1)
        with timing(dataset, StageTimer()) as timer:
            cpu, wall = time.process_time(), time.perf_counter()
            for index in range(samples):
                dataset[index % len(dataset)]
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        run = {"cpu_s": cpu / samples, "wall_s": wall / samples,
               "stages_ms": {k: 1000 * v / samples for k, v in timer.totals.items()}}
        if straightforward:
            generator = torch.Generator().manual_seed(repeat)
            plain_cpu = plain_wall = 0.0
            for index in range(samples):
                item = dataset.locate(index % len(dataset))
                video_path, audio_path = dataset.item_path(item), dataset.audio_path(item)
                start_cpu, start_wall = time.process_time(), time.perf_counter()
                length = min(probe_media(video_path).duration, probe_media(audio_path).duration)
                audio_start = float(torch.rand(1, generator=generator)) * (length - audio["clip_duration"])
                video_start = audio_start + (audio["clip_duration"] - cfg["video"]["clip_duration"]) / 2
                frames = read_video_straightforward(video_path, video_start, cfg["video"]["clip_duration"],
                                                    cfg["video"]["fps"])
                foa = read_audio(audio_path, audio_start, audio["clip_duration"], audio["rate"])
                transform_straightforward(frames, foa, generator, views, crop, dataset.audio_features.log_mels)
                plain_cpu += time.process_time() - start_cpu
                plain_wall += time.perf_counter() - start_wall
            run.update(straightforward_cpu_s=plain_cpu / samples, straightforward_wall_s=plain_wall / samples)
        runs.append(run)
    result = {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "stages_ms"}
    # Stages of the median repeat, so that they add up to its total (medians of parts would not).
    result["stages_ms"] = sorted(runs, key=lambda r: r["cpu_s"])[len(runs) // 2]["stages_ms"]
    result["repeats"] = runs
    return result


def with_workers(dataset, workers: int, batch_size: int, samples: int) -> dict:
    """Wall-clock samples/s of a DataLoader with ``workers`` processes, first batch excluded; with augment_on: gpu
    also the CPU seconds of the batched device transform per sample."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, worker_init_fn=seed_worker,
                        persistent_workers=True)
    finish = dataset.device_transform if dataset.cfg["augment_on"] == "gpu" else None
    count, finish_s, start = 0, 0.0, None
    while count < samples:  # epochs until enough samples (the same samples again: the cost is the same)
        for batch in loader:
            if start is None:  # the first batch pays for starting the workers
                start = time.perf_counter()
                continue
            count += len(batch["index"])
            if finish is not None:
                begin = time.process_time()
                finish(batch)
                finish_s += time.process_time() - begin
            if count >= samples:
                break
    elapsed = time.perf_counter() - start
    result = {"workers": workers, "batch_size": batch_size, "samples": count,
              "samples_per_s": count / elapsed if count else 0.0}
    if finish is not None:
        result["device_transform_cpu_ms_per_sample"] = 1000 * finish_s / max(count, 1)
    return result


def bench_config(args) -> dict:
    overrides = list(args.overrides)
    folder = args.media_dir or tempfile.mkdtemp(prefix="avsa-bench-")
    if args.media != "config":
        os.makedirs(folder, exist_ok=True)
        overrides.append(f"dataset.root={write_media_root(folder, args.media)}")
        overrides.append(f"dataset.cache_dir={os.path.join(folder, args.media, '.cache')}")
    cfg = load_any_config(args.config, overrides, required=("dataset",))
    if args.media != "config":  # generated media: their normalisation is part of the pipeline measured
        ensure_stats(cfg["dataset"])
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    crops = cfg["dataset"]["viewpoints"]["num"] * cfg["dataset"]["temporal_clips"]
    torch.set_num_threads(1)
    core = per_core(dataset, args.samples, args.repeats, args.straightforward and cfg["dataset"]["augment_on"] == "cpu"
                    and cfg["dataset"]["temporal_clips"] == 1 and not cfg["dataset"]["segmentation"])
    workers = args.workers if args.workers is not None else cfg["num_workers"]
    loader = with_workers(dataset, workers, args.batch_size or min(cfg["dataset"]["batch_size"], 8),
                          args.worker_samples or 4 * args.samples) if workers > 0 else None
    return {"config": args.config, "overrides": overrides, "media": args.media, "crops_per_sample": crops,
            "augment_on": cfg["dataset"]["augment_on"], "per_core": core, "loader": loader}


def print_config_results(results: dict) -> None:
    core, crops = results["per_core"], results["crops_per_sample"]
    print(f"{results['config']} ({results['media']} media, augment_on {results['augment_on']}, {crops} crops/sample)")
    rows = [("ours", core["cpu_s"], core["wall_s"])]
    if "straightforward_cpu_s" in core:
        rows.append(("straightforward", core["straightforward_cpu_s"], core["straightforward_wall_s"]))
    print(f"  per core (1 thread; CPU time)   {'samples/s':>10}{'crops/s':>9}{'ms/sample':>11}{'wall ms':>9}")
    for name, cpu, wall in rows:
        print(f"  {name:<31}{1 / cpu:>10.1f}{crops / cpu:>9.1f}{1000 * cpu:>11.1f}{1000 * wall:>9.1f}")
    median_run = sorted(core["repeats"], key=lambda r: r["cpu_s"])[len(core["repeats"]) // 2]
    print("  stages of the median repeat (CPU ms per sample): "
          + ", ".join(f"{k} {v:.1f}" for k, v in core["stages_ms"].items())
          + f", other {1000 * median_run['cpu_s'] - sum(core['stages_ms'].values()):.1f}")
    loader = results["loader"]
    if loader:
        line = (f"  {loader['workers']} workers (wall clock, batch {loader['batch_size']}): "
                f"{loader['samples_per_s']:.1f} samples/s, {crops * loader['samples_per_s']:.1f} crops/s")
        if "device_transform_cpu_ms_per_sample" in loader:
            line += f"; batched device transform on CPU {loader['device_transform_cpu_ms_per_sample']:.1f} ms/sample"
        print(line)
    print(f"  load average before/after: {results['load_before']} / {results['load_after']}")


def stage_benchmark(args) -> dict:
    """The stage benchmark of the four-view transforms on one generated (or given) file pair."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        video, audio = (args.video, args.audio) if args.video and args.audio else write_test_media(folder)
        totals = bench(stage_dataset(folder, video, audio), args.samples)
    print(f"ms per {VIEWS}-view sample ({FRAMES} frames at {FPS} fps, {CROP[0]}×{CROP[1]} crops, 1 s of 24 kHz FOA), "
          f"1 thread, mean of {args.samples}")
    print(f"{'stage':<18}{'batched':>10}{'straightforward':>18}")
    for stage in STAGES:
        print(f"{stage:<18}{totals['batched'][stage]:>10.1f}{totals['straightforward'][stage]:>18.1f}")
    transform_total = {impl: sum(totals[impl][s] for s in TRANSFORM_STAGES) for impl in totals}
    print(f"{'transforms total':<18}{transform_total['batched']:>10.1f}{transform_total['straightforward']:>18.1f}"
          f"   (crops + rotation + log-mel + video transforms; target ≤ 20 ms batched)")
    return {"setting": {"views": VIEWS, "frames": FRAMES, "fps": FPS, "crop": list(CROP), "audio_rate": AUDIO_RATE,
                        "threads": 1, "samples": args.samples,
                        "video": args.video or "generated 640x320 h264 gop 250",
                        "audio": args.audio or "generated 4ch aac 48 kHz"},
            "ms_per_sample": totals, "transforms_total_ms": transform_total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="config with a dataset section "
                        "(default: %(default)s)")
    add_overrides(parser, "a config value, e.g. dataset.augment_on=gpu")
    parser.add_argument("--media", choices=["config", "gop250", "prepared"], default="config",
                        help="the config's dataset root, or generated 640x320 files (see above)")
    parser.add_argument("--media-dir", help="where generated media go (reused when present; default: a temp dir)")
    parser.add_argument("--samples", type=int, default=20, help="samples per repeat (per core)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, help="DataLoader workers (default: the config's num_workers; 0: skip)")
    parser.add_argument("--worker-samples", type=int, help="samples through the loader (default 4 × --samples)")
    parser.add_argument("--batch-size", type=int, help="loader batch (default: min(config batch, 8))")
    parser.add_argument("--no-straightforward", dest="straightforward", action="store_false",
                        help="skip the straightforward pipeline")
    parser.add_argument("--stages", action="store_true", help="the stage benchmark of the transforms instead")
    parser.add_argument("--video", help="--stages: equirectangular mp4 (default: generated 640×320 H.264)")
    parser.add_argument("--audio", help="--stages: 4-channel FOA file (default: generated AAC 48 kHz)")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    load_before = [round(x, 2) for x in os.getloadavg()]
    if args.stages:
        results = stage_benchmark(args)
    else:
        results = bench_config(args)
    results.update(load_before=load_before, load_after=[round(x, 2) for x in os.getloadavg()],
                   machine={"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "torch": torch.__version__})
    if not args.stages:
        print_config_results(results)
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    run_main(main)
