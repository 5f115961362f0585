"""The per-mel-band statistics that standardise the log-mel input (``dataset.audio.stats``): where the file is (relative
to ``dataset.root``), what it must hold (mean, std and the audio recipe, checked against the config), how it is
computed (one implementation, for tools/compute_audio_stats.py and the synthetic data generator), and
`audio_features`, a dataset section's audio input with its statistics. Details: docs/data.md ("The audio input").
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Sequence

import numpy as np
import torch

from utils.audio_features import AudioFeatures, load_mel_stats
from utils.errors import ConfigError, DataError
from utils.media import probe_media, read_audio

__all__ = ["COMMAND", "ORIGINAL_STATS", "RECIPE", "audio_features", "compute_stats", "load_stats", "ensure_stats",
           "make_stats", "require_stats", "stats_file_name", "stats_path", "stats_recipe", "write_stats"]

RECIPE = ("rate", "n_fft", "hop", "n_mels", "parity")  # the dataset.audio keys the statistics depend on
ORIGINAL_STATS = "MelSpectDB-24khz-257fft-128mels-norm-stats.npz"  # the released model's, from the authors' repository
COMMAND = "python tools/compute_audio_stats.py"


def stats_file_name(audio: dict) -> str:
    """The name the configs give the statistics of ``audio``'s recipe, e.g.
    ``audio-stats-24000hz-512fft-240hop-128mels.npz`` (``-parity`` appended for the original's magnitude scale)."""
    return (f"audio-stats-{audio['rate']}hz-{audio['n_fft']}fft-{audio['hop']}hop-{audio['n_mels']}mels"
            f"{'-parity' if audio['parity'] else ''}.npz")


def stats_path(dataset_cfg: dict) -> str | None:
    """The statistics file of a validated ``dataset`` section (relative paths are under ``root``); None: no
    normalisation."""
    stats = dataset_cfg["audio"]["stats"]
    return None if stats is None else os.path.join(dataset_cfg["root"], stats)


def stats_recipe(path: str) -> dict | None:
    """The recipe stored in a statistics file, or None for a file without one (the original's)."""
    with np.load(path) as data:
        if not all(key in data for key in RECIPE):
            return None
        return {key: bool(data[key]) if key == "parity" else int(data[key]) for key in RECIPE}


def _command(config: str, overrides: Sequence[str]) -> str:
    sets = [arg for text in overrides if text.startswith("dataset.") for arg in ("--set", text)]
    return shlex.join([*COMMAND.split(), config, *sets])


def require_stats(dataset_cfg: dict, config: str = "CONFIG", overrides: Sequence[str] = ()) -> None:
    """ConfigError, one line, when the statistics file the config names is missing, holds another recipe's
    statistics or has the wrong number of bands; the message names the command that makes it (``config`` and the
    ``dataset.*`` overrides are passed to it). Nothing to check without ``audio.stats`` or audio."""
    if dataset_cfg["name"] != "yt360":
        return
    path = stats_path(dataset_cfg)
    if path is None:
        return
    command = _command(config, overrides)
    if not os.path.isfile(path):
        if os.path.basename(path) == ORIGINAL_STATS:
            raise ConfigError(f"dataset.audio.stats: {path} not found: this is the released model's statistics file; "
                              f"copy {ORIGINAL_STATS} from the authors' repository (datasets/assets/) there")
        raise ConfigError(f"dataset.audio.stats: {path} not found; compute it with: {command}")
    audio = dataset_cfg["audio"]
    mean, _ = load_mel_stats(path)
    if mean.shape[0] != audio["n_mels"]:
        raise ConfigError(f"dataset.audio.stats: {path} holds {mean.shape[0]} mel bands, dataset.audio.n_mels is "
                          f"{audio['n_mels']}")
    recipe = stats_recipe(path)
    wanted = {key: audio[key] for key in RECIPE}
    if recipe is not None and recipe != wanted:
        differ = ", ".join(f"{key} {json.dumps(recipe[key])} (config: {json.dumps(wanted[key])})" for key in RECIPE
                           if recipe[key] != wanted[key])
        raise ConfigError(f"dataset.audio.stats: {path} holds the statistics of another audio recipe: {differ}; "
                          f"name another file, or recompute it with: {command}")


def load_stats(dataset_cfg: dict, config: str = "CONFIG",
               overrides: Sequence[str] = ()) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean, std) (n_mels,) of the config's statistics file after `require_stats`; None without one."""
    require_stats(dataset_cfg, config, overrides)
    path = stats_path(dataset_cfg)
    return None if path is None else load_mel_stats(path)


def audio_features(dataset_cfg: dict, config: str = "CONFIG", overrides: Sequence[str] = ()) -> AudioFeatures:
    """The audio input of a YT-360 ``dataset`` section, standardised with its statistics file (`load_stats`)."""
    return AudioFeatures.from_recipe(dataset_cfg["audio"], load_stats(dataset_cfg, config, overrides))


# ------------------------------------------------------------------------------------------ computing
def _train_audio_files(dataset_cfg: dict) -> list[str]:
    """The audio files of the train split's segments (scanned, so that no index cache is written)."""
    from datasets.yt360 import _scan, read_split_list  # here: datasets.yt360 imports this module

    root = dataset_cfg["root"]
    list_path = dataset_cfg["train_list"] or os.path.join(root, "train.txt")
    if not os.path.isfile(list_path):
        raise ConfigError(f"dataset.train_list: split list not found: {list_path}")
    segments = _scan(root, read_split_list(list_path))["segments"]
    return [os.path.join(root, "audio", segment[3]) for segment in segments if segment[3]]


def compute_stats(dataset_cfg: dict, *, crops_per_file: int = 4, max_files: int = 0, seed: int = 0,
                  log: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (n_mels,) float32 of the log-mels of ``crops_per_file`` random crops of each train audio file
    (``max_files`` > 0: of that many files drawn at random), with the config's audio recipe and no normalisation.
    Unreadable files are skipped (and counted); none readable is a DataError."""
    audio = dataset_cfg["audio"]
    files = _train_audio_files(dataset_cfg)
    generator = torch.Generator().manual_seed(seed)
    if 0 < max_files < len(files):
        files = [files[i] for i in sorted(torch.randperm(len(files), generator=generator)[:max_files].tolist())]
    window = round(audio["clip_duration"] * audio["rate"])
    features = AudioFeatures.from_recipe(audio)
    total = total_sq = torch.zeros(audio["n_mels"], dtype=torch.float64)
    count, skipped = 0, []
    for path in files:
        try:
            duration = probe_media(path).duration
            if duration is None or duration < audio["clip_duration"]:
                raise DataError(f"{path}: shorter than one {audio['clip_duration']:g}-s crop (or duration unknown)")
            # the whole file once, (4, S); a container that overstates its duration gives zeros at the end: cut
            foa, padded = read_audio(path, 0.0, duration, audio["rate"], audio["format"], return_padding=True)
            foa = foa[:, : foa.shape[-1] - padded]
            if foa.shape[-1] < window:
                raise DataError(f"{path}: shorter than one {audio['clip_duration']:g}-s crop")
        except DataError as err:
            skipped.append(str(err))
            continue
        starts = (torch.rand(crops_per_file, generator=generator) * (foa.shape[-1] - window + 1)).long()
        crops = torch.stack([foa[:, s:s + window] for s in starts.tolist()])  # (crops, 4, window)
        mels = features.log_mels(crops).double().reshape(-1, audio["n_mels"])  # (crops·4·frames, n_mels)
        total, total_sq = total + mels.sum(0), total_sq + mels.square().sum(0)
        count += mels.shape[0]
    if count == 0:
        raise DataError(f"{dataset_cfg['root']}: none of the {len(files)} train audio files could be read"
                        + (f" (e.g. {skipped[0]})" if skipped else ""))
    if skipped:
        log(f"audio statistics: {len(skipped)} unreadable files skipped, e.g. {skipped[0]}")
    mean = total / count
    std = (total_sq / count - mean.square()).clamp(min=0).sqrt()
    return mean.float().numpy(), std.float().numpy()


def write_stats(path: str, mean: np.ndarray, std: np.ndarray, audio: dict) -> None:
    """Write ``mean``, ``std`` and ``audio``'s recipe to ``path`` atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, mean=mean.astype(np.float32), std=std.astype(np.float32),
                 **{key: np.asarray(audio[key]) for key in RECIPE})
    os.replace(tmp, path)


def make_stats(dataset_cfg: dict, *, crops_per_file: int = 4, max_files: int = 0, seed: int = 0,
               log: Callable[[str], None] = print) -> str:
    """Compute and write the statistics file the config names; returns its path."""
    path = stats_path(dataset_cfg)
    if dataset_cfg["name"] != "yt360":
        raise ConfigError(f"dataset.name: {dataset_cfg['name']} has no audio; audio statistics are for yt360")
    if path is None:
        raise ConfigError(f"dataset.audio.stats: null; name the file to write, e.g. "
                          f"{stats_file_name(dataset_cfg['audio'])} (relative to dataset.root)")
    if os.path.basename(path) == ORIGINAL_STATS:
        raise ConfigError(f"dataset.audio.stats: {ORIGINAL_STATS} is the released model's statistics file, from the "
                          "authors' repository; statistics computed here would not be the ones that model was "
                          "trained with (name another file to compute new ones)")
    mean, std = compute_stats(dataset_cfg, crops_per_file=crops_per_file, max_files=max_files, seed=seed, log=log)
    write_stats(path, mean, std, dataset_cfg["audio"])
    return path


def ensure_stats(dataset_cfg: dict, crops_per_file: int = 1) -> str | None:
    """`make_stats` unless the config's statistics file exists (or it names none): for media a tool generated
    itself (benchmarks, the GPU check), whose normalisation is part of the pipeline being measured."""
    path = stats_path(dataset_cfg) if dataset_cfg["name"] == "yt360" else None
    if path and not os.path.isfile(path):
        make_stats(dataset_cfg, crops_per_file=crops_per_file)
    return path
