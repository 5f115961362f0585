#!/usr/bin/env python
"""How far the audio encoding of tools/prepare_yt360.py moves the direction of FOA sound.

    python tools/measure_spatial_cues.py [FILE ...] [--format ambix|fuma] [--synthetic 14] [--rate 24000]
                                         [--bit-rate 128000] [--aac-option aac_is=1 ...] [--figure directions.png]

Every FILE (4-channel FOA) and ``--synthetic N`` plane waves of white noise go through the preparation's own
`cut_audio` and are decoded again; the active intensity vector before and after is compared per time-frequency bin
and broadband, one markdown table row per input. What it measures, and the results: docs/data.md, "Spatial cues
through the audio encoding". Exit code 0; an unreadable file is a one-line error (exit 1).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tools.prepare.cut import AAC_OPTIONS, AUDIO_BIT_RATE, cut_audio  # noqa: E402
from utils.ambisonics import ACN_X, ACN_Y, ACN_Z, encode_foa  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.media import probe_media, read_audio  # noqa: E402

N_FFT, HOP = 512, 240  # the STFT of the log-mel features at 24 kHz: errors at the resolution the model sees
SYNTHETIC_SECONDS = 2.0


def intensity(foa: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> tuple[torch.Tensor, torch.Tensor]:
    """ambiX FOA (4, S) → active intensity Re(W*·(X, Y, Z)) (3, bins, frames) and energy density
    (|W|² + |X|² + |Y|² + |Z|²) / 2 (bins, frames) of each STFT bin. A plane wave gives its direction in every bin."""
    spectrum = torch.stft(foa.double(), n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                          return_complex=True)
    flux = (spectrum[0].conj() * spectrum[[ACN_X, ACN_Y, ACN_Z]]).real
    return flux, spectrum.abs().square().sum(0) / 2


def _angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Degrees between vectors (3, ...) a and b; 90° where b vanished."""
    angle = torch.rad2deg(torch.atan2(torch.linalg.cross(a, b, dim=0).norm(dim=0), (a * b).sum(0)))
    return torch.where(b.norm(dim=0) > 0, angle, torch.full_like(angle, 90.0))


def weighted_quantile(values: torch.Tensor, weights: torch.Tensor, q: float) -> float:
    """The smallest value with at least a fraction ``q`` of the total weight at or below it."""
    order = torch.argsort(values)
    cumulative = torch.cumsum(weights[order], 0)
    return float(values[order][torch.searchsorted(cumulative, q * cumulative[-1]).clamp(max=len(values) - 1)])


def intensities(before: torch.Tensor, after: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`intensity` of two ambiX FOA signals (4, S) of equal length: flux before, flux after (3, bins, frames) and the
    energy density before (bins, frames)."""
    flux_before, energy = intensity(before)
    return flux_before, intensity(after)[0], energy


def direction_errors(before: torch.Tensor, after: torch.Tensor) -> dict[str, float]:
    """Angular errors (degrees) between the intensity directions of two ambiX FOA signals (4, S) of equal length:
    energy-weighted median and 90th percentile over time-frequency bins, and broadband."""
    flux_before, flux_after, energy = intensities(before, after)
    used = flux_before.norm(dim=0) > 0
    angles, weights = _angles(flux_before, flux_after)[used], energy[used]
    return {"median": weighted_quantile(angles, weights, 0.5), "p90": weighted_quantile(angles, weights, 0.9),
            "broadband": float(_angles(flux_before.sum((1, 2)), flux_after.sum((1, 2))))}


def synthetic_directions(count: int) -> list[tuple[float, float]]:
    """``count`` (azimuth, elevation) in degrees, evenly spread over the sphere (a Fibonacci lattice turned by an
    irrational angle): none on an axis, where channels are 0 or equal and coding errors cancel."""
    out = []
    for n in range(count):
        z = 1 - (2 * n + 1) / count
        out.append(((math.degrees(n * math.pi * (3 - math.sqrt(5)) + 0.5) + 180) % 360 - 180,
                    math.degrees(math.asin(z))))
    return out


def noise_bursts(azimuth: float, elevation: float, rate: int, seed: int = 0) -> torch.Tensor:
    """ambiX FOA (4, S) of 0.3-s bursts of white noise every 0.5 s from (azimuth, elevation) degrees."""
    generator = torch.Generator().manual_seed(seed)
    samples = int(SYNTHETIC_SECONDS * rate)
    noise = 0.1 * torch.randn(samples, generator=generator)
    noise *= (torch.arange(samples) / rate % 0.5 < 0.3).float()
    return encode_foa(noise, torch.tensor(math.radians(azimuth)), torch.tensor(math.radians(elevation)))


def write_pcm(foa: torch.Tensor, rate: int, path: str) -> str:
    """(4, S) float → 32-bit float WAV, channels in the given order (a lossless source)."""
    with av.open(path, "w", format="wav") as output:
        stream = output.add_stream("pcm_f32le", rate=rate, layout="quad")
        frame = av.AudioFrame.from_ndarray(foa.numpy().astype(np.float32).T.reshape(1, -1).copy(), format="flt",
                                           layout="quad")
        frame.sample_rate, frame.pts = rate, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def prepared_pair(source: str, rate: int, audio_format: str, options: dict, bit_rate: int,
                  folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """ambiX FOA (4, S) of one file before and after the preparation's audio encoding (the whole file)."""
    seconds = math.floor((probe_media(source).duration or 0.0) * 10) / 10 - 0.1  # whole file, never past its end
    prepared = os.path.join(folder, "prepared.m4a")
    cut_audio(source, prepared, 0.0, seconds, rate, options, bit_rate)
    before, after = (read_audio(path, 0.0, seconds, rate, audio_format) for path in (source, prepared))
    return before, after


def direction_maps(before: torch.Tensor, after: torch.Tensor, floor_db: float = 60.0) -> dict[str, torch.Tensor]:
    """Per STFT bin (bins, frames): intensity azimuth (degrees, positive to the left) before and after, and the angle
    between the two directions; NaN in bins more than ``floor_db`` below the loudest (no direction to speak of)."""
    flux_before, flux_after, energy = intensities(before, after)
    quiet = energy < energy.max() * 10 ** (-floor_db / 10)

    def masked(values: torch.Tensor) -> torch.Tensor:
        return torch.where(quiet, torch.full_like(values, math.nan), values)

    return {"azimuth_before": masked(torch.rad2deg(torch.atan2(flux_before[1], flux_before[0]))),
            "azimuth_after": masked(torch.rad2deg(torch.atan2(flux_after[1], flux_after[0]))),
            "error": masked(_angles(flux_before, flux_after))}


def plot_directions(path: str, maps: dict[str, torch.Tensor], title: str, rate: int, hop: int = HOP) -> str:
    """Three panels over time and frequency: azimuth before, after, and the angle between the directions."""
    bins, frames = maps["error"].shape
    extent = (0, frames * hop / rate, 0, rate / 2000)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True, constrained_layout=True)
    panels = (("azimuth_before", "intensity azimuth, source (°)", "twilight", (-180, 180)),
              ("azimuth_after", "intensity azimuth, prepared (°)", "twilight", (-180, 180)),
              ("error", "angle between the two directions (°)", "magma", (0, 20)))
    for ax, (key, label, cmap, (low, high)) in zip(axes, panels):
        image = ax.imshow(maps[key].numpy(), origin="lower", aspect="auto", extent=extent, cmap=cmap, vmin=low,
                          vmax=high, interpolation="nearest")
        fig.colorbar(image, ax=ax, label=label)
        ax.set_ylabel("kHz")
    axes[-1].set_xlabel("s")
    fig.suptitle(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _plot_first(path: str, pair: tuple[torch.Tensor, torch.Tensor], name: str, errors: dict, rate: int,
                bit_rate: int) -> None:
    title = (f"{name} through AAC at {bit_rate // 1000} kb/s per channel: per-bin median {errors['median']:.2f}°, "
             f"90th percentile {errors['p90']:.2f}°")
    print(f"wrote {plot_directions(path, direction_maps(*pair), title, rate)}", file=sys.stderr)


def _row(name: str, errors: dict) -> str:
    return f"| {name} | {errors['median']:.2f}° | {errors['p90']:.2f}° | {errors['broadband']:.2f}° |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="FOA recordings (4 channels)")
    parser.add_argument("--format", default="ambix", choices=["ambix", "fuma"], help="channel convention of FILE")
    parser.add_argument("--synthetic", type=int, default=14, metavar="N",
                        help="plane waves from N directions (0: none)")
    parser.add_argument("--rate", type=int, default=24000, help="sample rate of the prepared audio")
    parser.add_argument("--bit-rate", type=int, default=AUDIO_BIT_RATE, help="AAC bit rate per channel")
    parser.add_argument("--aac-option", action="append", default=[], metavar="KEY=VALUE",
                        help="FFmpeg aac encoder option over the preparation's (e.g. aac_is=1, aac_pns=1, aac_ms=0)")
    parser.add_argument("--figure", metavar="PNG", help="draw the first input's directions before and after")
    args = parser.parse_args(argv)
    options = dict(AAC_OPTIONS)
    for item in args.aac_option:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--aac-option {item!r}: expected KEY=VALUE")
        options[key] = value
    print(f"AAC {args.bit_rate // 1000} kb/s per channel at {args.rate} Hz, options {options}\n")
    print("| input | TF median | TF 90th pct. | broadband |\n| --- | --- | --- | --- |")
    figure = args.figure
    with tempfile.TemporaryDirectory() as folder:
        for path in args.files:
            pair = prepared_pair(path, args.rate, args.format, options, args.bit_rate, folder)
            errors = direction_errors(*pair)
            print(_row(os.path.basename(path), errors), flush=True)
            if figure:
                _plot_first(figure, pair, os.path.basename(path), errors, args.rate, args.bit_rate)
                figure = None
        if args.synthetic > 0:
            results = []
            for n, (azimuth, elevation) in enumerate(synthetic_directions(args.synthetic)):
                source = write_pcm(noise_bursts(azimuth, elevation, args.rate, seed=n), args.rate,
                                   os.path.join(folder, "plane-wave.wav"))
                pair = prepared_pair(source, args.rate, "ambix", options, args.bit_rate, folder)
                results.append(direction_errors(*pair))
                if figure:
                    name = f"plane wave from {azimuth:.0f}°, {elevation:.0f}°"
                    _plot_first(figure, pair, name, results[-1], args.rate, args.bit_rate)
                    figure = None
            for label, pick in (("median", np.median), ("worst", np.max)):  # over the directions, per column
                print(_row(f"{args.synthetic} plane waves, {label} direction",
                           {key: pick([r[key] for r in results]) for key in results[0]}))
    return 0


if __name__ == "__main__":
    run_main(main)
