"""A tiny encoder + AVSA criterion learns to align 8 synthetic samples: 100 % AVSA-Acc on them in a few hundred
CPU steps. Each viewpoint k of sample b carries a random code; its video clip shows the code through one fixed
spatial pattern and its audio through another (plus a weaker mix of all viewpoints' codes: every source is audible
everywhere), so the correct viewpoint is only identifiable by matching the two modalities."""

import pytest
import torch

from criterions import AVSA
from models import build_model

SAMPLES, VIEWS, CODE = 8, 3, 6


def _synthetic_batch(generator):
    codes = torch.randn(SAMPLES, VIEWS, CODE, generator=generator)
    video_patterns = torch.randn(CODE, 3, 2, 8, 8, generator=generator)
    audio_patterns = torch.randn(CODE, 4, 8, 8, generator=generator)
    video = torch.einsum("bkc,cithw->bkithw", codes, video_patterns)
    heard = codes + 0.5 * codes.mean(dim=1, keepdim=True)
    audio = torch.einsum("bkc,cift->bkift", heard, audio_patterns)
    return video, audio


@pytest.fixture
def one_thread():
    # tiny convolutions: thread hand-offs cost more than they save on a shared 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_model_overfits_avsa(one_thread):
    torch.manual_seed(0)
    video, audio = _synthetic_batch(torch.Generator().manual_seed(0))
    model = build_model({"name": "tiny", "model_dir": "", "init_from": None,
                         "video": {"arch": "r2plus1d", "depth": 10, "width": 4},
                         "audio": {"arch": "conv2d", "depth": 10, "width": 4, "in_channels": 4}})
    criterion = AVSA(model.out_dim, proj_dim=16, negatives="paper",
                     translation={"kind": "transformer", "depth": 1, "expansion": 2, "dropout": 0.0})
    optimizer = torch.optim.Adam([*model.parameters(), *criterion.parameters()], lr=3e-3)

    def step(train: bool):
        model.train(train)
        with torch.set_grad_enabled(train):
            video_emb, audio_emb = model(video.flatten(0, 1), audio.flatten(0, 1))
            return criterion(video_emb.view(SAMPLES, VIEWS, -1), audio_emb.view(SAMPLES, VIEWS, -1))

    first_loss = step(False)[0].item()
    accuracy = {}
    for iteration in range(300):
        loss, _ = step(True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if iteration % 20 == 19:
            eval_loss, metrics = step(False)
            accuracy = {k: v.item() for k, v in metrics.items() if "Acc" in k}
            if all(v == 100.0 for v in accuracy.values()):
                break
    assert eval_loss.item() < first_loss / 2
    assert accuracy == {"AVC-Acc/V2A": 100.0, "AVSA-Acc/V2A": 100.0, "AVC-Acc/A2V": 100.0, "AVSA-Acc/A2V": 100.0}
