"""Learning-rate schedules (per step) and optimizer construction, against hand-computed values."""

import math

import pytest
import torch

from engine.optim import build_optimizer, build_scheduler, lr_factor


def _opt(**schedule):
    return {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "momentum": 0.9,
            "nesterov": False, "epochs": 10,
            "schedule": {"name": "constant", "milestones": [], "gamma": 0.1, "warmup_epochs": 0.0, "min_lr": 0.0,
                         **schedule}}


def test_constant_with_warmup_ramps_linearly_then_stays():
    cfg = _opt(warmup_epochs=0.5)  # 10 steps/epoch -> 5 warm-up steps
    assert [lr_factor(s, 10, cfg) for s in range(7)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])


def test_multistep_drops_at_milestone_epochs():
    cfg = _opt(name="multistep", milestones=[2, 5], gamma=0.1)
    assert lr_factor(19, 10, cfg) == 1.0           # last step of epoch 2 (epochs 0-based: 1.9)
    assert lr_factor(20, 10, cfg) == pytest.approx(0.1)
    assert lr_factor(49, 10, cfg) == pytest.approx(0.1)
    assert lr_factor(50, 10, cfg) == pytest.approx(0.01)


def test_cosine_goes_from_base_to_floor_after_warmup():
    cfg = _opt(name="cosine", warmup_epochs=1.0, min_lr=1e-4)  # 10 epochs x 4 steps; 4 warm-up steps
    floor = 0.1
    assert lr_factor(3, 4, cfg) == pytest.approx(1.0)
    assert lr_factor(4, 4, cfg) == pytest.approx(1.0)
    halfway = 4 + 18  # 36 decay steps
    assert lr_factor(halfway, 4, cfg) == pytest.approx(floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_factor(40, 4, cfg) == pytest.approx(floor)


def test_scheduler_sets_the_learning_rate_each_step_and_optimizers_get_their_hyperparameters():
    param = torch.nn.Parameter(torch.zeros(2))
    cfg = _opt(name="multistep", milestones=[1], gamma=0.5)
    optimizer = build_optimizer(cfg, [param])
    scheduler = build_scheduler(cfg, optimizer, steps_per_epoch=2)
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4])
    sgd = build_optimizer({**cfg, "name": "sgd", "weight_decay": 1e-5, "nesterov": True}, [param])
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] and sgd.defaults["weight_decay"] == 1e-5
    assert isinstance(build_optimizer({**cfg, "name": "adamw"}, [param]), torch.optim.AdamW)
