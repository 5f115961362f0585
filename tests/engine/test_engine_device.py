"""A machine without a usable GPU: ``device: cuda`` is one line saying why (exit code 2), ``auto`` says in one
warning line that it runs on the CPU. No GPU is needed: torch.cuda's answers are simulated."""

import importlib.util
import os

import pytest
import torch

from utils.cli import run_main
from utils.distributed import cuda_problem, select_device
from utils.errors import ConfigError

_spec = importlib.util.spec_from_file_location("tiny_run", os.path.join(os.path.dirname(__file__), "tiny_run.py"))
tiny_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_run)

OLD_DRIVER = ("The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by "
              "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx")


@pytest.fixture
def old_driver(monkeypatch):
    """torch.cuda as on a machine whose driver is too old for this torch: not available, and init says why."""
    def init():
        raise RuntimeError(OLD_DRIVER)

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", init)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_the_reason_is_the_drivers_first_sentence(old_driver, monkeypatch):
    assert cuda_problem() == (f"The NVIDIA driver on your system is too old (found version 11040); torch "
                              f"{torch.__version__} is built for CUDA {torch.version.cuda}")
    assert select_device("cpu") == (torch.device("cpu"), None)  # never asks the driver
    device, warning = select_device("auto")
    assert device == torch.device("cpu")
    assert warning.startswith("no usable GPU (The NVIDIA driver on your system is too old (found version 11040); ")
    assert warning.endswith("); running on the CPU, ~100x slower")
    with pytest.raises(ConfigError, match=r"^<config>: device: cuda, but there is no usable GPU: The NVIDIA driver "
                                          r"on your system is too old \(found version 11040\);"):
        select_device("cuda")
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    assert cuda_problem() == f"this torch ({torch.__version__}) is built without CUDA"


def test_a_visible_device_list_that_hides_every_gpu_is_named(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", lambda: None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_problem().startswith("no CUDA device is visible (CUDA_VISIBLE_DEVICES='');")


def test_device_cuda_without_a_gpu_is_one_line_and_exit_code_2(old_driver, tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        run_main(tiny_run.main, [str(run_dir), "--set", "device=cuda"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: <config>: device: cuda, but there is no usable GPU: The NVIDIA driver on your "
                          "system is too old (found version 11040);")
    assert not run_dir.exists()


def test_device_auto_without_a_gpu_trains_on_the_cpu_and_says_so_once(old_driver, tmp_path):
    run_main_code = None
    try:
        run_main(tiny_run.main, [str(tmp_path), "--set", "device=auto", "--set", "optimizer.epochs=1"])
    except SystemExit as done:
        run_main_code = done.code
    assert run_main_code == 0
    log = (tmp_path / "train.log").read_text().splitlines()
    warnings = [line for line in log if "no usable GPU" in line]
    assert len(warnings) == 1 and warnings[0].endswith("; running on the CPU, ~100x slower")
    assert "device cpu" in log[0]
