"""Intensity-vector channels of `log_mel(intensity=True)`: the physics of a plane wave, the front/back and left/right
ambiguity of per-channel log-mels that they resolve, mixtures, silence, gain invariance and normalisation."""

import math

import numpy as np
import pytest
import torch

from utils.ambisonics import encode_foa
from utils.audio_features import LogMel, log_mel

RATE, MELS, FRAMES = 24000, 40, 50


def _noise(seed, samples=RATE // 2):
    return torch.randn(samples, generator=torch.Generator().manual_seed(seed))


def _plane_wave(azimuth_deg, elevation_deg, signal):
    return encode_foa(signal, torch.tensor(math.radians(azimuth_deg)), torch.tensor(math.radians(elevation_deg)))


def _features(foa, **kwargs):
    return log_mel(foa, RATE, n_mels=MELS, frames=FRAMES, intensity=True, **kwargs)


def _direction(azimuth_deg, elevation_deg):
    """(Y, Z, X) of the unit vector toward (azimuth, elevation): the order of the three channels."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return [math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)]


@pytest.mark.parametrize("azimuth, elevation", [(30.0, 10.0), (-120.0, -35.0), (180.0, 0.0), (75.0, 60.0)])
def test_a_plane_wave_gives_its_unit_direction_in_every_band(azimuth, elevation):
    foa = _plane_wave(azimuth, elevation, _noise(0))
    features = _features(foa)
    assert features.shape == (7, FRAMES, MELS)
    assert torch.equal(features[:4], log_mel(foa, RATE, n_mels=MELS, frames=FRAMES))  # log-mels unchanged
    inner = features[4:, 2:-2, 1:]  # away from the zero-padded edges and the DC band
    expected = torch.tensor(_direction(azimuth, elevation))[:, None, None].expand_as(inner)
    assert torch.allclose(inner, expected, atol=1e-4)


@pytest.mark.parametrize("mirror", [(30.0, 150.0), (30.0, -30.0), (30.0, -150.0)])
def test_log_mels_cannot_tell_mirrored_directions_apart_the_intensity_can(mirror):
    """Per-channel (magnitude) log-mels of a source at azimuth a equal those at −a, 180° − a and a − 180°: the
    channel gains differ only in sign. The paper's audio input therefore confuses front with back and left with
    right (AVSA's spatial task cannot be solved beyond that); the intensity channels carry the signs."""
    signal = _noise(1)
    first, second = (_features(_plane_wave(a, 10.0, signal)) for a in mirror)
    assert torch.allclose(first[:4], second[:4], atol=1e-3)  # dB
    signs = [torch.sign(torch.tensor(_direction(a, 10.0))) for a in mirror]
    differs = (first[4:, 2:-2, 1:] - second[4:, 2:-2, 1:]).abs().mean(dim=(1, 2)) > 0.5
    assert differs.tolist() == (signs[0] != signs[1]).tolist()


def test_sources_in_separate_bands_keep_their_own_directions():
    t = torch.arange(RATE // 2) / RATE
    low = _plane_wave(60.0, 0.0, torch.sin(2 * math.pi * 500 * t))
    high = _plane_wave(-100.0, 20.0, torch.sin(2 * math.pi * 6000 * t))
    features = _features(low + high)
    mel = features[:4].mean(dim=1)  # (4, mels) dB of the W, Y, Z, X channels
    peak_low, peak_high = (int(mel[0, : MELS // 2].argmax()), MELS // 2 + int(mel[0, MELS // 2:].argmax()))
    directions = features[4:, 5:-5].mean(dim=1)  # (3, mels)
    assert directions[:, peak_low].tolist() == pytest.approx(_direction(60.0, 0.0), abs=0.02)
    assert directions[:, peak_high].tolist() == pytest.approx(_direction(-100.0, 20.0), abs=0.02)


def test_a_mixture_in_one_band_gives_the_energy_weighted_mean_direction():
    foa = _plane_wave(0.0, 0.0, _noise(2)) + _plane_wave(90.0, 0.0, _noise(3))  # equal power, uncorrelated
    mean = _features(foa)[4:, 2:-2, 1:].mean(dim=(1, 2))
    assert mean.tolist() == pytest.approx([0.5, 0.0, 0.5], abs=0.03)  # shorter than a unit vector: two sources


def test_silence_gain_and_normalisation():
    assert torch.count_nonzero(_features(torch.zeros(4, RATE // 2))[4:]) == 0  # no NaN, no direction of nothing
    foa = _plane_wave(-45.0, 5.0, _noise(4))
    assert torch.allclose(_features(0.3 * foa)[4:], _features(foa)[4:], atol=1e-5)  # volume jitter keeps them
    mean, std = np.full(MELS, -30.0, np.float32), np.full(MELS, 20.0, np.float32)
    for normalised in (_features(foa, stats=(mean, std)),
                       LogMel(RATE, n_mels=MELS, frames=FRAMES, stats=(mean, std), intensity=True)(foa)):
        assert torch.allclose(normalised[:4], (_features(foa)[:4] + 30.0) / (20.0 + 1e-5), atol=1e-4)
        assert torch.allclose(normalised[4:], _features(foa)[4:], atol=1e-6)  # directions are not standardised
    batched = _features(torch.stack([foa, 0.5 * foa, foa.flip(-1)]))
    assert batched.shape == (3, 7, FRAMES, MELS)
    assert torch.allclose(batched[2], _features(foa.flip(-1)), atol=1e-5)
    with pytest.raises(ValueError, match="4 FOA channels"):
        _features(foa[:3])
