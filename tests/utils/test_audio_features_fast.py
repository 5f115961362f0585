"""log_mel's written-out spectrogram (power as re² + im², filterbank on the kept frames only) equals torchaudio's
MelSpectrogram followed by the same dB and floor steps, in both modes."""

import pytest
import torch
from torchaudio.transforms import MelSpectrogram

from utils.audio_features import log_mel


@pytest.mark.parametrize("parity", [False, True])
def test_log_mel_equals_torchaudio_mel_spectrogram(parity):
    generator = torch.Generator().manual_seed(0)
    foa = 0.2 * torch.randn(2, 4, 6000, generator=generator)
    foa[1, 2] *= 1e-4  # a quiet channel: the per-channel floor must be its own
    mel = MelSpectrogram(sample_rate=24000, n_fft=512, hop_length=240, n_mels=40, power=1.0 if parity else 2.0,
                         pad_mode="reflect" if parity else "constant", mel_scale="slaney", norm="slaney")
    spectrum = mel(foa)[..., :25]  # (2, 4, 40, 26) → first 25 frames
    db = 10 * torch.log10(spectrum.clamp(min=1e-10))
    expected = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - 100).transpose(-1, -2)
    torch.testing.assert_close(log_mel(foa, 24000, 512, 240, 40, 25, parity=parity), expected, rtol=0, atol=1e-4)
