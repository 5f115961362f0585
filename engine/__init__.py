"""The one training/evaluation loop shared by main-video-ssl.py and every eval-*.py script.

``start_run`` (engine/run.py) joins torchrun's group, picks the device, seeds and checks a resume; ``fit``
(engine/loop.py) trains a *task*, an ``nn.Module`` whose ``forward(batch) -> (loss, metrics)``, with AMP, DDP,
resume, checkpoints, pre-emption and TensorBoard; ``evaluate`` is the one test pass and ``Run.device_batches``
(engine/data.py) the one loop over a loader. docs/pretraining.md ("The engine in a script") shows the use.
"""

from engine.bad_samples import BadSampleMonitor
from engine.data import DeviceBatches, EpochBatchSampler, make_loader, start_epoch, to_device
from engine.loop import Means, Training, TrainingDiverged, autocast, evaluate, fit, prepare, train_one_epoch
from engine.optim import build_optimizer, build_scheduler, lr_factor
from engine.pretext import PretextTask
from engine.run import DEBUG_OVERRIDES, Run, start_run
from engine.signals import RunInterrupted
from engine.state import resumable

__all__ = ["DEBUG_OVERRIDES", "BadSampleMonitor", "DeviceBatches", "EpochBatchSampler", "Means", "PretextTask", "Run",
           "RunInterrupted", "Training", "TrainingDiverged", "autocast", "build_optimizer", "build_scheduler",
           "evaluate", "fit", "lr_factor", "make_loader", "prepare", "resumable", "start_epoch",
           "start_run", "to_device", "train_one_epoch"]
