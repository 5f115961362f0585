"""The sound of a synthetic segment: each object's class sound as a moving plane wave in ambiX FOA, optionally with
early reflections."""

from __future__ import annotations

import math

import numpy as np
import torch

from datasets.synthetic.scene import SOURCE_CLASSES, STREAM_AUDIO, MovingObject, Segment, object_directions
from utils.ambisonics import encode_foa
from utils.seeding import make_generator


def _harmonic(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    vibrato = 2 * math.pi * p["vibrato_hz"]
    phase = 2 * math.pi * p["f0"] * (t - 0.01 * np.cos(vibrato * t) / vibrato)
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    return tone * (0.7 + 0.3 * np.sin(2 * math.pi * p["tremolo_hz"] * t))


def _chirp(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = p["period_s"]
    tau = np.mod(t, period)
    sweep = p["high_hz"] - p["low_hz"]
    phase = 2 * math.pi * (p["low_hz"] * tau + sweep * tau ** 2 / (2 * period))
    return np.sin(phase) * np.sqrt(np.sin(math.pi * tau / period))


def _noise_bursts(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rate = 1 / (t[1] - t[0])
    spectrum = np.fft.rfft(rng.standard_normal(len(t)))
    frequency = np.fft.rfftfreq(len(t), 1 / rate)
    spectrum[(frequency < p["low_hz"]) | (frequency > 2.5 * p["low_hz"])] = 0
    noise = np.fft.irfft(spectrum, len(t))
    position = np.mod(t, 1 / p["rate_hz"])
    gate = np.where(position < p["burst_s"], np.sin(math.pi * position / p["burst_s"]) ** 2, 0.0)
    return noise * gate


def _clicks(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tau = np.mod(t, 1 / p["rate_hz"])
    return np.exp(-tau / 0.004) * np.sin(2 * math.pi * p["resonance_hz"] * tau)


SOUNDS = {"harmonic": _harmonic, "chirp": _chirp, "noise_bursts": _noise_bursts, "clicks": _clicks}
_REFLECTIONS = 6
_MAX_REFLECTION_DELAY_S = 0.04


def _moving_plane_wave(signal: np.ndarray, obj: MovingObject, times: np.ndarray) -> np.ndarray:
    """FOA (4, S) of ``signal`` (S,) emitted by ``obj`` along its track at ``times`` (S,). The encoding gains are
    computed every 10 ms (the objects move less than 0.2° in that time) and interpolated linearly in between."""
    control = np.linspace(times[0], times[-1], max(2, math.ceil((times[-1] - times[0]) / 0.01) + 1))
    azimuth, elevation = object_directions(obj, control)
    gains = encode_foa(torch.ones(len(control), 1, dtype=torch.float64), torch.from_numpy(azimuth),
                       torch.from_numpy(elevation))[:, :, 0].numpy()  # (N, 4)
    return np.stack([np.interp(times, control, gain) for gain in gains.T]) * signal


def synthesize_foa(segment: Segment, duration: float, rate: int, seed: int, reverb: bool = False) -> np.ndarray:
    """The segment's sound field, ambiX FOA float32 (4, S), S = round(duration·rate): each object's class sound
    from its direction at every sample; with ``reverb``, plus a few early reflections of each from fixed random
    directions (delays up to 40 ms, decaying gains)."""
    rng = make_generator(seed, STREAM_AUDIO, segment.index, mode="numpy")
    samples = round(duration * rate)
    lead = round(_MAX_REFLECTION_DELAY_S * rate)  # sound emitted before t = 0 reaches the listener via reflections
    times = (np.arange(samples + lead) - lead) / rate
    foa = np.zeros((4, samples))
    for obj in segment.objects:
        sound = SOUNDS[SOURCE_CLASSES[obj.class_index].sound](obj.sound, times, rng)
        sound = obj.gain * sound / np.sqrt(np.mean(sound ** 2))
        foa += _moving_plane_wave(sound[lead:], obj, times[lead:])
        if reverb:
            delays = rng.integers(round(0.004 * rate), lead + 1, _REFLECTIONS)
            for delay in delays:
                azimuth = rng.uniform(-math.pi, math.pi)
                elevation = math.asin(rng.uniform(-1, 1))
                gain = 0.5 * math.exp(-delay / (0.025 * rate))
                delayed = gain * sound[lead - delay:lead - delay + samples]
                foa += encode_foa(torch.from_numpy(delayed), azimuth, elevation).numpy()
    peak = np.abs(foa).max()
    return (foa * min(1.0, 0.9 / peak) if peak > 0 else foa).astype(np.float32)
