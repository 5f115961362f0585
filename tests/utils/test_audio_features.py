"""Log-mel: parity with librosa as the original used it, batching, normalisation with the stats file."""

import librosa
import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from utils.audio_features import AudioFeatures, LogMel, load_mel_stats, log_mel

RATE = 24000


def _foa(shape=(4,), seed=0):
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(RATE) / RATE
    tones = torch.stack([torch.sin(2 * torch.pi * f * t) for f in (300.0, 1200.0, 4000.0, 9000.0)])
    noise = 0.05 * torch.randn(*shape, RATE, generator=generator)
    return (0.5 * tones.reshape((1,) * (len(shape) - 1) + (4, RATE)) + noise).float()


def _librosa_reference(channel: np.ndarray) -> np.ndarray:
    """The original's per-channel recipe, with reflect padding as librosa 0.7.2 did."""
    mel = librosa.feature.melspectrogram(y=channel, sr=RATE, n_fft=512, hop_length=240, power=1.0, pad_mode="reflect")
    return librosa.power_to_db(mel[:, :100], ref=1.0, amin=1e-10, top_db=100.0).T


def _assert_db_close(actual: np.ndarray, desired: np.ndarray, typical: float, worst: float = 2e-2) -> None:
    """All bins within ``worst`` dB and 99.9 % within ``typical``: both sides are float32 FFTs, whose rounding
    differs between CPUs and FFT libraries and grows in dB in the quietest bins (a few of 12,800 bins exceeded
    2e-3 dB on one machine). A wrong recipe (magnitude vs power, padding, filterbank) is off by whole dB."""
    difference = np.abs(actual - desired)
    assert difference.max() <= worst, difference.max()
    assert np.mean(difference <= typical) >= 0.999, np.mean(difference <= typical)


def test_parity_matches_librosa():
    foa = _foa()
    features = log_mel(foa, parity=True)
    assert features.shape == (4, 100, 128)
    for c in range(4):
        _assert_db_close(features[c].numpy(), _librosa_reference(foa[c].numpy()), typical=2e-3)


def test_top_db_floor_is_per_channel():
    foa = _foa()
    foa[1] = 0  # silent channel: all values at 10·log10(1e-10) = −100, not floored by the loud channels
    features = log_mel(foa, parity=True)
    assert torch.allclose(features[1], torch.full_like(features[1], -100.0))
    assert float(features[0].amin()) >= float(features[0].amax()) - 100.0 - 1e-4


def test_power_mode_matches_librosa_power_mel_with_zero_padding():
    foa = _foa()
    features = log_mel(foa, parity=False)
    for c in range(4):
        mel = librosa.feature.melspectrogram(y=foa[c].numpy(), sr=RATE, n_fft=512, hop_length=240, power=2.0,
                                             pad_mode="constant")
        reference = librosa.power_to_db(mel[:, :100], ref=1.0, amin=1e-10, top_db=100.0).T
        _assert_db_close(features[c].numpy(), reference, typical=5e-3)


def test_batched_over_crops_and_channels():
    foa = _foa(shape=(2, 3, 4), seed=1)
    features = log_mel(foa, parity=True)
    assert features.shape == (2, 3, 4, 100, 128)
    assert torch.allclose(features[1, 2, 3], log_mel(foa[1, 2, 3:4], parity=True)[0], atol=1e-4)


def test_normalisation_with_the_reference_stats_file():
    path = shared_path("reference-assets", "MelSpectDB-24khz-257fft-128mels-norm-stats.npz")
    mean, std = load_mel_stats(path)
    assert mean.shape == (128,) and std.shape == (128,) and -51 < float(mean.mean()) < -24
    foa = _foa()
    raw = log_mel(foa, parity=True)
    expected = (raw - mean) / (std + 1e-5)
    assert torch.allclose(log_mel(foa, parity=True, stats=path), expected, atol=1e-5)
    module = LogMel(stats=path, parity=True)
    assert torch.allclose(module(foa), expected, atol=1e-4)


def test_stats_round_trip(tmp_path):
    path = tmp_path / "stats.npz"
    np.savez(path, mean=np.full(128, -30.0, np.float32), std=np.full(128, 20.0, np.float32))
    foa = _foa()
    assert torch.allclose(LogMel(stats=path)(foa), (log_mel(foa) + 30.0) / (20.0 + 1e-5), atol=1e-4)


@pytest.mark.parametrize("intensity", [False, True])
def test_audio_features_of_a_recipe(intensity):
    """One crop's input as the dataset section describes it: 0.5 s at 24 kHz with hop 240 = 50 frames; 4 log-mels,
    7 channels with the intensity vector; the standardised log-mels are (dB − mean) / (std + 1e-5), the intensity
    channels are left as they are."""
    recipe = {"clip_duration": 0.5, "rate": 24000, "n_fft": 512, "hop": 240, "n_mels": 40, "parity": False,
              "intensity": intensity}
    stats = (torch.full((40,), -30.0), torch.full((40,), 20.0))
    features = AudioFeatures.from_recipe(recipe, stats)
    assert features.shape == ((7 if intensity else 4), 50, 40) and features.channels == features.shape[0]
    foa = 0.1 * torch.randn(2, 4, 12000, generator=torch.Generator().manual_seed(1))
    plain = features.log_mels(foa)
    assert plain.shape == (2, 4, 50, 40)
    out = features.features(foa)
    assert out.shape == (2, *features.shape)
    torch.testing.assert_close(out[:, :4], (plain + 30.0) / (20.0 + 1e-5), rtol=0, atol=1e-5)
    if intensity:  # unit-free directions: at most 1 in magnitude, never standardised
        assert out[:, 4:].norm(dim=1).max() <= 1.0 + 1e-4
