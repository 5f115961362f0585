"""What every part shares: the sizes of the full check and of the dry run, the targets, the check's config, the
part's results file (`Partial`), device helpers and the training batches cached on the device."""

from __future__ import annotations

import gc
import os

import torch
from torch.utils.data import default_collate

from datasets import build_dataset
from engine.data import to_device
from engine.schema import PRETRAIN_SCHEMA
from tools.gpucheck import REPO
from utils.config import load_config
from utils.files import write_json

PAPER_CONFIG = "configs/main/avsa/NoCur-Loc4-TransfD2.yaml"
DEMO_CONFIG = "configs/demo/avsa.yaml"
MEDIA_KINDS = ("gop250", "prepared")
TARGETS = {"speedup": 2.5, "data_wait": 0.05, "precision": 0.01}

# Sizes of the full check and of the dry run (--quick).
FULL = {"config": PAPER_CONFIG, "overrides": [], "media_seconds": 10.0, "media_height": 320, "workers": 16,
        "train_warmup": 3, "train_steps": 20, "train_batches": 2, "loader_steps": 96, "capacity_steps": 48,
        "precision_steps": 200, "window": 20, "precision_batches": 4}
QUICK = {"config": DEMO_CONFIG,
         "overrides": ["dataset.batch_size=2", "dataset.video.crop_size=16", "model.video.width=4",
                       "model.audio.width=4", "dataset.decode_cache_mb=0"],
         "media_seconds": 2.0, "media_height": 64, "workers": 2, "train_warmup": 1, "train_steps": 2,
         "train_batches": 2, "loader_steps": 8, "capacity_steps": 4, "precision_steps": 10, "window": 5,
         "precision_batches": 2, "max_simulated_step_s": 0.02}


def settings_for(args) -> dict:
    """The sizes (``--quick``: the dry run's) with the command line's config, overrides and compile backend."""
    settings = dict(QUICK if args.quick else FULL)
    settings["config"] = args.config or settings["config"]
    settings["overrides"] = settings["overrides"] + list(args.overrides or [])
    settings["compile_backend"] = args.compile_backend or ("inductor" if args.device == "cuda" else "aot_eager")
    return settings


def load_run_config(settings: dict, root: str, clips_per_video: int = 1, workers: int = 0) -> dict:
    """The check's config: the chosen config with ``augment_on: gpu`` on a generated media root."""
    overrides = list(settings["overrides"]) + [
        f"num_workers={workers}", "dataset.augment_on=gpu", f"dataset.train.clips_per_video={clips_per_video}",
        f"dataset.root={root}", f"dataset.cache_dir={os.path.join(root, '.cache')}"]
    return load_config(os.path.join(REPO, settings["config"]), overrides, required=("dataset", "model", "loss"),
                       schema=PRETRAIN_SCHEMA)


class Partial:
    """The results of one part, rewritten to its JSON file after every step of the part."""

    def __init__(self, path: str, **fields):
        self.path, self.data = path, {"complete": False, **fields}
        self.save()

    def save(self, **fields) -> None:
        self.data.update(fields)
        write_json(self.path, self.data)


def sync(device: torch.device) -> None:
    """Wait for the work queued on a CUDA device (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_device_memory(device: torch.device) -> None:
    """Collect garbage and, on CUDA, release the cached blocks and reset the peak-memory count."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def cached_batches(cfg: dict, count: int, device: torch.device) -> list[dict]:
    """``count`` training batches made by the config's pipeline (decoded here, finished on ``device`` by
    ``device_transform``) and kept on the device: the same data for every variant, and no loading in the timings."""
    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    dataset.set_epoch(0)
    size = cfg["dataset"]["batch_size"]
    batches = []
    for b in range(count):
        batch = default_collate([dataset[(b * size + i) % len(dataset)] for i in range(size)])
        batches.append(dataset.device_transform(to_device(batch, device)))
    sync(device)
    return batches
