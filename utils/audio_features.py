"""Log-mel spectrograms of FOA crops, all crops and channels in one call, and `AudioFeatures`, a crop's audio input.

foa (..., C, S) → (..., C, frames, n_mels), e.g. (B, K, 4, 24000) → (B, K, 4, 100, 128) at 24 kHz, n_fft 512, hop 240,
128 mels, 1-s crops; Slaney mel filterbank. ``parity=True`` reproduces the original's librosa log-mel (magnitude,
reflect padding, half-scale dB) for its checkpoint and statistics file; ``parity=False`` is a power mel in true dB.
Standardised per mel band as (dB − mean) / (std + 1e-5). ``intensity=True`` (not in the paper) appends the active
intensity vector (Y, Z, X) per mel band, which carries the front/back and left/right signs that per-channel log-mels
lose. Details: docs/data.md ("The audio input").
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram

from utils.errors import DataError

__all__ = ["AudioFeatures", "FOA_CHANNELS", "INTENSITY_CHANNELS", "LogMel", "load_mel_stats", "log_mel"]

_AMIN = 1e-10
_TOP_DB = 100.0
_STD_EPS = 1e-5
_IV_FLOOR = 1e-6  # of the crop's largest band energy: silent bands give ≈ 0 instead of the direction of noise
FOA_CHANNELS = 4  # one log-mel per FOA channel W, Y, Z, X
INTENSITY_CHANNELS = 3  # Y, Z, X of the intensity vector, with ``intensity``


@functools.lru_cache(maxsize=8)
def _load_stats_cached(path: str, mtime_ns: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with np.load(path) as data:
            mean, std = data["mean"], data["std"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a mel statistics file with keys mean, std ({err})") from None
    if mean.ndim != 1 or mean.shape != std.shape:
        raise DataError(f"{path}: mean and std must be two vectors of the same length, got {mean.shape}, {std.shape}")
    return torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))


def load_mel_stats(path) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-band (mean, std), float32 (n_mels,), from an .npz with keys ``mean`` and ``std``."""
    try:
        mtime_ns = os.stat(path).st_mtime_ns  # a rewritten file is read again
    except OSError:
        mtime_ns = None
    mean, std = _load_stats_cached(str(path), mtime_ns)
    return mean.clone(), std.clone()


class LogMel(nn.Module):
    """(..., C, S) waveforms → (..., C, frames, n_mels) log-mel, optionally normalised. Move it with ``.to(device)``.

    stats: None (no normalisation), a path to an .npz (`load_mel_stats`) or a (mean, std) pair of (n_mels,) tensors.
    """

    def __init__(self, rate: int = 24000, n_fft: int = 512, hop: int = 240, n_mels: int = 128, frames: int = 100,
                 stats=None, parity: bool = False, intensity: bool = False):
        super().__init__()
        self.frames, self.intensity = frames, intensity
        self.mel = MelSpectrogram(sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                  power=1.0 if parity else 2.0, center=True,
                                  pad_mode="reflect" if parity else "constant", mel_scale="slaney", norm="slaney")
        if isinstance(stats, (str, bytes)) or hasattr(stats, "__fspath__"):
            stats = load_mel_stats(stats)
        if stats is not None:
            mean, std = (torch.as_tensor(s, dtype=torch.float32) for s in stats)
            if mean.shape != (n_mels,) or std.shape != (n_mels,):
                raise ValueError(f"mel stats must have shape ({n_mels},), got {tuple(mean.shape)}, {tuple(std.shape)}")
            self.register_buffer("mean", mean)
            self.register_buffer("scale", 1.0 / (std + _STD_EPS))
        else:
            self.mean = self.scale = None

    def forward(self, foa: torch.Tensor) -> torch.Tensor:
        # torchaudio's MelSpectrogram, written out so that only the kept frames go through the filterbank and the
        # power is re² + im² (complex abs() is ~4× slower on CPU): every crop and channel in one STFT.
        stft = self.mel.spectrogram
        spectrum = torch.stft(foa.reshape(-1, foa.shape[-1]), stft.n_fft, stft.hop_length, stft.win_length,
                              stft.window, center=stft.center, pad_mode=stft.pad_mode, return_complex=True)
        if spectrum.shape[-1] < self.frames:
            raise ValueError(f"{foa.shape[-1]} samples give {spectrum.shape[-1]} frames, fewer than {self.frames}")
        spectrum = spectrum[..., : self.frames].transpose(-1, -2)  # (crops·channels, frames, bins)
        squared = spectrum.real.square() + spectrum.imag.square()
        power = squared.sqrt() if stft.power == 1.0 else squared  # parity: magnitude
        mel = (power @ self.mel.mel_scale.fb).reshape(*foa.shape[:-1], self.frames, -1)  # (..., C, frames, n_mels)
        db = 10.0 * torch.log10(mel.clamp(min=_AMIN))
        db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - _TOP_DB)  # per channel, as librosa's top_db
        if self.mean is not None:
            db = (db - self.mean) * self.scale
        if not self.intensity:
            return db
        if foa.shape[-2] != 4:
            raise ValueError(f"intensity vectors need the 4 FOA channels (W, Y, Z, X), got {foa.shape[-2]} channels")
        spectrum = spectrum.reshape(*foa.shape[:-1], *spectrum.shape[-2:])  # (..., 4, frames, bins)
        squared = squared.reshape(spectrum.shape)
        fb = self.mel.mel_scale.fb
        omni = spectrum[..., 0:1, :, :]
        # Active intensity Re(W*·C) for C = Y, Z, X per mel band, over the band's energy density (|W|² + |Y|² + |Z|² +
        # |X|²) / 2: a plane wave from (az, el) gives its unit direction (sin az·cos el, sin el, cos az·cos el) in
        # every band it occupies; mixtures give the energy-weighted mean, shorter than 1.
        flux = (omni.real * spectrum[..., 1:, :, :].real + omni.imag * spectrum[..., 1:, :, :].imag) @ fb
        energy = (squared.sum(dim=-3, keepdim=True) / 2) @ fb
        floor = energy.amax(dim=(-2, -1), keepdim=True) * _IV_FLOOR + _AMIN
        return torch.cat([db, flux / (energy + floor)], dim=-3)


@functools.lru_cache(maxsize=8)
def _cached_log_mel(rate, n_fft, hop, n_mels, frames, parity, intensity, device) -> LogMel:
    return LogMel(rate, n_fft, hop, n_mels, frames, None, parity, intensity).to(device)


def log_mel(foa: torch.Tensor, rate: int = 24000, n_fft: int = 512, hop: int = 240, n_mels: int = 128,
            frames: int = 100, stats=None, parity: bool = False, intensity: bool = False) -> torch.Tensor:
    """Functional form of `LogMel` (filterbank cached per setting and device): (..., C, S) → (..., C, frames, n_mels),
    or (..., C + 3, frames, n_mels) with ``intensity``."""
    features = _cached_log_mel(rate, n_fft, hop, n_mels, frames, parity, intensity, foa.device)(foa)
    if stats is None:
        return features
    mean, std = load_mel_stats(stats) if not isinstance(stats, (tuple, list)) else stats
    mean, std = torch.as_tensor(mean).to(features), torch.as_tensor(std).to(features)
    channels = foa.shape[-2]
    return torch.cat([(features[..., :channels, :, :] - mean) / (std + _STD_EPS), features[..., channels:, :, :]],
                     dim=-3)


@dataclass(frozen=True, eq=False)
class AudioFeatures:
    """The audio input of one crop, the one place that knows its recipe: ``channels`` (4 log-mels, + 3 intensity-vector
    channels with ``intensity``), ``frames``, ``n_mels``, the statistics that standardise it, and the features
    themselves (``features(foa)``: (..., 4, S) → (..., channels, frames, n_mels)).

    ``from_recipe`` reads a ``dataset.audio``-like dict; ``datasets.audio_stats.audio_features`` adds a dataset's
    statistics file. stats: None (not standardised) or (mean, std) (n_mels,) tensors."""

    rate: int
    n_fft: int
    hop: int
    n_mels: int
    frames: int
    parity: bool = False
    intensity: bool = False
    stats: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def from_recipe(cls, audio: dict, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> "AudioFeatures":
        """From a dict with ``clip_duration`` (s), ``rate``, ``n_fft``, ``hop``, ``n_mels``, ``parity``, ``intensity``:
        frames = round(clip_duration · rate / hop)."""
        return cls(audio["rate"], audio["n_fft"], audio["hop"], audio["n_mels"],
                   int(round(audio["clip_duration"] * audio["rate"] / audio["hop"])), audio["parity"],
                   audio["intensity"], stats)

    @property
    def channels(self) -> int:
        return FOA_CHANNELS + (INTENSITY_CHANNELS if self.intensity else 0)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, frames, n_mels) of one crop's input."""
        return self.channels, self.frames, self.n_mels

    def features(self, foa: torch.Tensor) -> torch.Tensor:
        """(..., 4, S) FOA → the encoder's input (..., channels, frames, n_mels) (`log_mel`, any device)."""
        return log_mel(foa, self.rate, self.n_fft, self.hop, self.n_mels, self.frames, stats=self.stats,
                       parity=self.parity, intensity=self.intensity)

    def log_mels(self, foa: torch.Tensor) -> torch.Tensor:
        """(..., C, S) → (..., C, frames, n_mels): the recipe's log-mels alone, neither standardised nor with intensity
        channels (what the statistics are computed from)."""
        return log_mel(foa, self.rate, self.n_fft, self.hop, self.n_mels, self.frames, parity=self.parity)
