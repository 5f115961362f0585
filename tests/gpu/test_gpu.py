"""Checks that need a CUDA device (marker ``gpu``; tools/gpu_check.py runs them on a lent GPU). Without CUDA they
skip, unless ``AVSA_GPU_TESTS_ON_CPU=1`` (the GPU check's dry run): then they run on the CPU, with gloo instead of
NCCL and the ``aot_eager`` compiler instead of inductor (which takes minutes on a small CPU), and without fp16.

With ``AVSA_GPU_CHECK_RECORD=PATH`` each test appends the differences it measured to PATH (JSON lines), so the GPU
check reports them next to the pass/fail.

Tolerances (fp32 on both sides, TF32 off where two results are compared):
* GPU-finished ``augment_on: gpu`` batch vs the CPU pipeline, same draws: video (normalised pixels) within 2e-4 +
  1e-4 relative (one uint8 level is 0.017); log-mel within 0.05 dB + 1e-4 relative (cuFFT and the CPU FFT round
  differently, which shows most in bins near the -100 dB floor); positions and rotations within 1e-6; segmentation
  labels equal on at least 99 % of pixels (nearest sampling may round the other way at a pixel boundary).
* channels-last and compiled forward vs eager: loss within 1e-4 relative.
* one-process DDP step vs a plain step: loss and every parameter within 1e-5 relative (+ 1e-6).
* resumed vs uninterrupted run: the next steps' losses within 1e-6 (the same kernels on the same inputs).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from criterions import build_criterion
from datasets import build_dataset
from engine import PretextTask, fit, start_run
from engine.data import finish_on_device, to_device
from engine.loop import to_channels_last
from models import build_model
from tests.datasets.test_yt360_augment_on import CASES, SAMPLES, _config, corpus  # noqa: F401 (fixture)
from tests.engine.tiny_run import ToyData, ToyTask
from tests.engine.tiny_run import config as toy_config
from utils.checkpoint import load_checkpoint

pytestmark = pytest.mark.gpu

VIEWS, BATCH = 2, 8


@pytest.fixture
def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if os.environ.get("AVSA_GPU_TESTS_ON_CPU") == "1":
        return torch.device("cpu")
    pytest.skip("needs a CUDA device (tools/gpu_check.py; AVSA_GPU_TESTS_ON_CPU=1 runs it on the CPU)")


@pytest.fixture
def record(request):
    """record(**values): append the test's measured differences to $AVSA_GPU_CHECK_RECORD (when set)."""
    path = os.environ.get("AVSA_GPU_CHECK_RECORD")

    def write(**values):
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"test": request.node.name, **values}) + "\n")
    return write


def _exact_fp32():
    """cuDNN without TF32 or benchmark-picked algorithms, so two fp32 results can be compared closely."""
    return torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False)


def _run_config(**values) -> dict:
    """A validated config with a tiny pre-training task (width-4 encoders, depth-2 translation transformers)."""
    return toy_config(**{"model.name": "gpu-check", "model.video.depth": 10, "model.video.width": 4,
                         "model.audio.width": 4, "model.audio.in_channels": 4, "loss.name": "avsa",
                         "loss.translation.dropout": 0.0, **values})


def _task(cfg: dict) -> PretextTask:
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    return PretextTask(model, build_criterion(cfg["loss"], feature_dim=model.out_dim))


class _Views(Dataset):
    """Fixed finished samples (the same every epoch): K views of 2 frames of 16×16 video and 4×20×16 log-mels."""

    def __len__(self):
        return 3 * BATCH

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return {"video": torch.randn(VIEWS, 3, 2, 16, 16, generator=generator),
                "audio": torch.randn(VIEWS, 4, 20, 16, generator=generator),
                "position": torch.rand(VIEWS, 3, generator=generator)}


def _batch(device) -> dict:
    samples = [_Views()[i] for i in range(BATCH)]
    return to_device({key: torch.stack([s[key] for s in samples]) for key in samples[0]}, device)


class _LossRecorder(PretextTask):
    """The pre-training task, recording each training loss and the dtype of the video encoder's first convolution."""

    def __init__(self, task: PretextTask):
        super().__init__(task.model, task.criterion)
        self.losses, self.dtypes = [], set()
        self.model.video_model.conv1[0].register_forward_hook(lambda module, args, out: self.dtypes.add(out.dtype))

    def forward(self, batch):
        loss, metrics = super().forward(batch)
        self.losses.append(float(loss.detach()))
        return loss, metrics


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_steps_lower_the_loss(device, tmp_path, precision, record):
    """The engine's mixed precision (autocast; fp16 with GradScaler) trains: 4 epochs of 3 steps on fixed data."""
    if device.type == "cpu" and precision == "fp16":
        pytest.skip("fp16 convolutions have no fast CPU kernels (40 s here); the GPU check runs this")
    cfg = _run_config(device=device.type, precision=precision, **{"optimizer.lr": 1e-3, "optimizer.epochs": 4})
    task = _LossRecorder(_task(cfg))
    run = start_run(cfg, str(tmp_path), quiet=True)
    try:
        fit(run, task, _Views(), batch_size=BATCH)
    finally:
        run.close()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert task.dtypes == {dtype}  # autocast ran the convolutions in the low precision on this device
    losses = task.losses
    assert len(losses) == 12 and all(map(torch.isfinite, torch.tensor(losses)))
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    record(first_loss=first, last_loss=last)
    assert last < 0.9 * first, losses
    scaler = load_checkpoint(str(tmp_path / "checkpoint.pth"))["scaler"]
    assert ("scale" in scaler) == (precision == "fp16")  # GradScaler on for fp16 only


@pytest.mark.parametrize("case", ["plain", "misaligned 3d", "segmentation"])
def test_augment_on_gpu_on_the_device_equals_the_cpu_path(corpus, device, case, record):  # noqa: F811
    """`YT360.device_transform` on the device gives the samples of the CPU pipeline for the same draws."""
    cpu = build_dataset(_config(corpus, "cpu", **CASES[case]), "train", seed=3)
    gpu = build_dataset(_config(corpus, "gpu", **CASES[case]), "train", seed=3)
    cpu.set_epoch(1)
    gpu.set_epoch(1)
    expected = [cpu[i] for i in range(SAMPLES)]
    loader = DataLoader(gpu, batch_size=SAMPLES)
    batch = finish_on_device(to_device(next(iter(loader)), device), loader)
    assert batch["video"].device.type == device.type
    differences = {}
    for key in expected[0]:
        want, got = torch.stack([sample[key] for sample in expected]), batch[key].cpu()
        assert got.shape == want.shape, key
        if key == "segmentation":
            agree = (got == want).float().mean().item()
            differences["segmentation_agreement"] = agree
            assert agree >= 0.99, f"{case}: labels agree on {100 * agree:.2f} % of pixels"
            continue
        if got.is_floating_point():
            differences[key] = (got - want).abs().max().item()
        rtol, atol = {"video": (1e-4, 2e-4), "audio": (1e-4, 5e-2)}.get(key, (1e-6, 1e-6))
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol, msg=lambda m, key=key: f"{case}: {key}: {m}")
    record(max_abs_difference=differences)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_ddp_step_equals_a_plain_step(device, monkeypatch, record):
    """NCCL (gloo on CPU) process group of one rank: a collective, and one DDP-wrapped SGD step equal to the same
    step without DDP."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    dist.init_process_group(backend, rank=0, world_size=1, timeout=datetime.timedelta(seconds=60),
                            device_id=device if device.type == "cuda" else None)
    try:
        assert dist.get_backend() == backend
        values = torch.arange(4.0, device=device)
        dist.all_reduce(values)
        assert values.tolist() == [0.0, 1.0, 2.0, 3.0]
        task = _task(_run_config()).to(device)
        plain = copy.deepcopy(task)
        before = [p.detach().clone() for p in plain.parameters()]
        ddp = DistributedDataParallel(task, device_ids=[device.index] if device.type == "cuda" else None)
        batch = _batch(device)
        losses = []
        with _exact_fp32():
            for model in (ddp, plain):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                loss = model(batch)[0]
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        record(ddp_loss=losses[0], plain_loss=losses[1], backend=backend)
        assert losses[0] == pytest.approx(losses[1], rel=1e-5, abs=1e-6)
        for a, b in zip(task.parameters(), plain.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert any(not torch.equal(b, start) for b, start in zip(plain.parameters(), before))  # the step moved
    finally:
        dist.destroy_process_group()


class _ToyRecorder(ToyTask):
    def __init__(self):
        super().__init__()
        self.losses = []

    def forward(self, batch):
        loss, metrics = super().forward(batch)
        if self.training:
            self.losses.append(float(loss.detach()))
        return loss, metrics


def test_checkpoint_resumes_to_the_same_next_step_loss(device, tmp_path, record):
    """A run checkpointed on the device after epoch 1 and resumed gives the losses of the uninterrupted run
    (weights, Adam state, BatchNorm statistics and the device's dropout generator restored)."""
    def train(run_dir, epochs):
        cfg = toy_config(device=device.type, **{"optimizer.epochs": epochs})
        run = start_run(cfg, str(run_dir), quiet=True)
        task = _ToyRecorder()
        try:
            fit(run, task, ToyData(32), batch_size=8)
        finally:
            run.close()
        return task.losses

    straight = train(tmp_path / "straight", 2)
    first = train(tmp_path / "resumed", 1)
    state = load_checkpoint(str(tmp_path / "resumed" / "checkpoint.pth"))
    assert (state["epoch"], state["step"]) == (1, 4)
    if device.type == "cuda":
        assert len(state["rng"][0]["cuda"]) == torch.cuda.device_count()
    resumed = train(tmp_path / "resumed", 2)
    record(uninterrupted_epoch_2=straight[4:], resumed_epoch_2=resumed)
    assert len(straight) == 8 and first == straight[:4]
    torch.testing.assert_close(torch.tensor(resumed), torch.tensor(straight[4:]), rtol=0, atol=1e-6)


# Last: compiling takes longest, so a GPU check that runs out of time has the other results.
def test_channels_last_and_compile_give_the_eager_loss(device, record):
    """Forward of the same batch (fp32, training mode): eager vs channels-last vs channels-last + torch.compile."""
    task = _task(_run_config()).to(device)
    batch = _batch(device)
    backend = "inductor" if device.type == "cuda" else "aot_eager"
    with _exact_fp32(), torch.no_grad():
        eager = task(batch)[0]
        channels_last = copy.deepcopy(task)
        to_channels_last(channels_last)
        assert channels_last.model.video_model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
        cl_loss = channels_last(batch)[0]
        compiled_loss = torch.compile(channels_last, backend=backend)(batch)[0]
    record(eager=eager.item(), channels_last=cl_loss.item(), compiled=compiled_loss.item(), backend=backend)
    torch.testing.assert_close(cl_loss, eager, rtol=1e-4, atol=0)
    torch.testing.assert_close(compiled_loss, eager, rtol=1e-4, atol=0)
