"""The one batch iterator (engine.data.DeviceBatches) and its progress lines, timed by a fake clock: data wait, clips/s,
the ETA of the epoch and of the run, peak memory, the count of replaced samples."""

import logging
import sys
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import Dataset

import utils.logs
from engine.bad_samples import BadSampleMonitor
from engine.data import DeviceBatches, make_loader
from utils.logs import LOGGER_NAME, Progress, ProgressStyle, RunClock, duration


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowData(Dataset):
    """Reading a sample takes 1 s of the fake clock; every 4th sample replaced one unreadable sample."""

    def __init__(self, clock: FakeClock, size: int = 8):
        self.clock, self.size = clock, size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        self.clock.now += 1.0
        return {"x": torch.full((3,), float(index)), "failures": torch.tensor(int(index % 4 == 0))}


@pytest.fixture
def log_lines():
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS reports the peak resident set in bytes")
def test_batches_timed_by_the_step_with_epoch_and_run_eta(log_lines, monkeypatch):
    clock = FakeClock()  # the process's peak resident set: 3 GiB (Linux reports KiB)
    monkeypatch.setattr(utils.logs.resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=3 * 2**20))
    cfg = {"seed": 0, "num_workers": 0, "limit_steps": 0}
    loader = make_loader(SlowData(clock), 4, cfg, train=False)  # 2 batches of 4, read in this process
    run_clock = RunClock(total_steps=6, done_steps=2, clock=clock)  # resumed after 2 of 3 epochs × 2 steps
    monitor = BadSampleMonitor()
    stream = DeviceBatches(loader, torch.device("cpu"), desc="train 2", style=ProgressStyle(print_freq=1),
                           epoch=1, monitor=monitor, world_size=2, run_clock=run_clock, clock=clock)
    seen = []
    for batch in stream:
        assert stream.wait_s == 4.0 and stream.samples == 4  # 4 samples of 1 s each, waited for
        seen.append(batch["x"][:, 0].tolist())
        clock.now += 12.0  # the step itself
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert (monitor.failed, monitor.delivered) == (2, 8)  # samples 0 and 4 each replaced one
    totals = stream.progress.totals
    assert (totals.steps, totals.samples, totals.time_s, totals.wait_s) == (2, 16, 32.0, 8.0)
    # each step: 16 s, 4 of them waiting; 4 samples × 2 processes / 16 s. After step 1: the epoch's other step
    # 16 s; the run: 16 s per step so far × the 3 steps left. After step 2: the epoch is done, 2 run steps left.
    assert log_lines == [
        "train 2 [1/2] elapsed 0:16, ETA 0:16, run ETA 0:48 | 0.5 clips/s, data wait 25.0 %, peak 3.00 GiB",
        "train 2 [2/2] elapsed 0:32, ETA 0:00, run ETA 0:32 | 0.5 clips/s, data wait 25.0 %, peak 3.00 GiB"]


def test_progress_lines_cover_the_steps_since_the_previous_line(log_lines, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(utils.logs.torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**30)
    progress = Progress(10, "test 1", ProgressStyle(print_freq=4), device=torch.device("cuda", 0), clock=clock)
    for step in range(10):
        clock.now += 2.0 if step < 4 else 5.0
        progress.set(loss=1.0 / (step + 1))
        progress.step(samples=10, wait_s=1.0 if step < 4 else 0.5, time_s=2.0 if step < 4 else 5.0)
    assert log_lines == [  # lines after steps 1, 4, 8 and the last
        "test 1 [1/10] elapsed 0:02, ETA 0:18 | 5.0 clips/s, data wait 50.0 %, peak 3.00 GiB | loss=1",
        "test 1 [4/10] elapsed 0:08, ETA 0:12 | 5.0 clips/s, data wait 50.0 %, peak 3.00 GiB | loss=0.25",
        "test 1 [8/10] elapsed 0:28, ETA 0:07 | 2.0 clips/s, data wait 10.0 %, peak 3.00 GiB | loss=0.125",
        "test 1 [10/10] elapsed 0:38, ETA 0:00 | 2.0 clips/s, data wait 10.0 %, peak 3.00 GiB | loss=0.1"]


def test_durations_and_a_run_clock_before_its_first_step():
    assert [duration(s) for s in (0, 59.4, 61, 3600, 3661, 90061)] == \
        ["0:00", "0:59", "1:01", "1:00:00", "1:01:01", "25:01:01"]
    assert RunClock(10, 0, clock=FakeClock()).eta_s() is None
