"""Helper of test_engine_ddp.py (not a test module): a few AVSA steps with tiny real encoders, translation
networks and heads, under torchrun (2 ranks, gloo) or as one process on the same global batch.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/engine/ddp_run.py OUT_DIR
    python tests/engine/ddp_run.py OUT_DIR

BatchNorm: SyncBatchNorm needs CUDA, so the encoders' BatchNorm layers stay in eval mode here (running statistics
fixed); then per-rank and global-batch forward passes agree exactly. Dropout is 0 for the same reason.
"""

import os
import sys

import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from criterions import build_criterion  # noqa: E402
from engine import PretextTask, fit, start_run  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from models import build_model  # noqa: E402

VIEWS, GLOBAL_BATCH, SAMPLES = 2, 8, 24


class Views(Dataset):
    def __len__(self):
        return SAMPLES

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return {"video": torch.randn(VIEWS, 3, 2, 16, 16, generator=generator),
                "audio": torch.randn(VIEWS, 4, 20, 16, generator=generator),
                "position": torch.rand(VIEWS, 3, generator=generator)}


class FrozenBatchNormTask(PretextTask):
    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def main(out_dir: str) -> None:
    cfg = PRETRAIN_SCHEMA.validate({
        "num_workers": 0, "print_freq": 1, "log2tb": True,
        "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.0, "epochs": 1},
        "model": {"name": "ddp", "video": {"width": 4}, "audio": {"width": 4, "in_channels": 4}},
        "loss": {"name": "avsa", "translation": {"dropout": 0.0}},
    }, "", lambda key: "<test>")
    run = start_run(cfg, out_dir, quiet=True)
    try:
        model = build_model(cfg["model"])
        task = FrozenBatchNormTask(model, build_criterion(cfg["loss"], feature_dim=model.out_dim))
        fit(run, task, Views(), batch_size=GLOBAL_BATCH)
        torch.save({name: t.detach().clone() for name, t in task.state_dict().items()},
                   os.path.join(out_dir, f"rank{run.dist.rank}.pt"))
    finally:
        run.close()


if __name__ == "__main__":
    main(sys.argv[1])
