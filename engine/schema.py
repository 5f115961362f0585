"""Schemas of the run-level keys and the ``optimizer`` section (read by engine/*.py), and of a pre-training config
(``PRETRAIN_SCHEMA``: main-video-ssl.py and the tools that read its configs)."""

from criterions import LOSS_SCHEMA
from datasets import SCHEMA as DATASET_SCHEMA
from models import MODEL_SCHEMA
from utils.config import Field, Schema, Section

RUN_KEYS = {
    "seed": Field(int, 0, min=0, help="seeds Python, NumPy, torch and every DataLoader worker"),
    "resume": Field(bool, True, help="continue from <run_dir>/checkpoint.pth if it exists"),
    "num_workers": Field(int, 4, min=0, help="DataLoader workers per process"),
    "print_freq": Field(int, 50, min=1, help="log a progress line every N steps (non-interactive output)"),
    "log2tb": Field(bool, True, help="write TensorBoard scalars to <run_dir>/tensorboard"),
    "device": Field(str, "auto", choices=["auto", "cpu", "cuda"]),
    "precision": Field(str, "fp32", choices=["fp32", "bf16", "fp16"], help="autocast dtype (fp16 adds GradScaler)"),
    "channels_last": Field(bool, False, help="channels-last memory format for the encoders"),
    "compile": Field(bool, False, help="torch.compile the model"),
    "grad_clip": Field(float, None, nullable=True, min=0.0, help="clip the gradient norm to this value"),
    "max_bad_fraction": Field(float, 0.01, min=0.0, max=1.0,
                              help="stop when more than this fraction of samples in an epoch fail to decode"),
    "test_every": Field(int, 1, min=1, help="test phase after every N-th epoch (and always after the last)"),
    "snapshot_epochs": Field(list, [], item=Field(int, min=1), help="also keep checkpoint-ep{E}.pth at these epochs"),
    "checkpoint_every_steps": Field(int, 0, min=0, help="also checkpoint every N steps inside an epoch (0: off)"),
    "dist_timeout_s": Field(float, 1800.0, min=1.0,
                            help="collective timeout: if a rank dies, the others stop after this long instead of "
                                 "hanging"),
    "sync_batchnorm": Field(bool, False, help="synchronise BatchNorm statistics across ranks (DDP on CUDA only)"),
    "limit_steps": Field(int, 0, min=0, help="at most N steps per train and test phase (0: all; --debug: 2)"),
}


def _check_schedule(section: dict) -> str | None:
    if section["name"] == "multistep" and sorted(section["milestones"]) != section["milestones"]:
        return "milestones: must be increasing"
    return None


OPTIMIZER = Section({
    "name": Field(str, "adam", choices=["adam", "adamw", "sgd"]),
    "lr": Field(float, 1e-4, min=0.0),
    "weight_decay": Field(float, 0.0, min=0.0),
    "betas": Field(list, [0.9, 0.999], item=Field(float, min=0.0, max=1.0), length=2),
    "momentum": Field(float, 0.9, min=0.0, max=1.0, help="SGD only"),
    "nesterov": Field(bool, False, help="SGD only"),
    "epochs": Field(int, 1, min=1),
    "schedule": Section({
        "name": Field(str, "constant", choices=["constant", "multistep", "cosine"]),
        "milestones": Field(list, [], item=Field(int, min=1)),
        "gamma": Field(float, 0.1, min=0.0),
        "warmup_epochs": Field(float, 0.0, min=0.0),
        "min_lr": Field(float, 0.0, min=0.0, help="cosine floor"),
    }, check=_check_schedule),
})

PRETRAIN_SCHEMA = Schema(RUN_KEYS, optimizer=OPTIMIZER, dataset=DATASET_SCHEMA, model=MODEL_SCHEMA, loss=LOSS_SCHEMA)
