"""tools/gpu_check.py (over tools/gpucheck/): the dry run (``--device cpu --quick``) runs every part and writes a JSON
whose figures are consistent with each other and a Markdown section; a failing or hanging part is recorded without
stopping the others; the helpers (peak table, window comparison, deadlines, pytest parsing) against hand-worked
values."""

import json
import os
import sys
import time

import pytest
import torch

from tests.scripts import REPO, load_script
from tools.bench_train import build_variant, flops_per_crop
from tools.gpucheck.check import best_bf16_step, deadlines, evaluate_targets
from tools.gpucheck.common import QUICK, load_run_config
from tools.gpucheck.gpu_tests import parse_pytest
from tools.gpucheck.precision import window_comparison
from tools.gpucheck.process import run_until
from tools.gpucheck.render import render_markdown
from tools.gpucheck.train import bf16_peak_tflops

TOOL = os.path.join(REPO, "tools", "gpu_check.py")
GPU_TESTS = ["test_autocast_steps_lower_the_loss[bf16]", "test_autocast_steps_lower_the_loss[fp16]",
             "test_augment_on_gpu_on_the_device_equals_the_cpu_path[plain]",
             "test_augment_on_gpu_on_the_device_equals_the_cpu_path[misaligned 3d]",
             "test_augment_on_gpu_on_the_device_equals_the_cpu_path[segmentation]",
             "test_one_process_ddp_step_equals_a_plain_step", "test_checkpoint_resumes_to_the_same_next_step_loss",
             "test_channels_last_and_compile_give_the_eager_loss"]


@pytest.fixture(scope="module")
def tool():
    return load_script(TOOL)


@pytest.fixture(scope="module")
def dry_run(tool, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    # A generous budget: on a busy shared CPU a part may take several times its usual time; on a GPU the default
    # budget (450 s) applies.
    assert tool.main(["--device", "cpu", "--quick", "--out", str(out), "--budget-s", "900"]) == 0
    with open(out / "gpu_check.json") as f:
        report = json.load(f)
    return report, (out / "gpu_check.md").read_text(), out


def test_dry_run_every_part_finishes(dry_run):
    report, _, out = dry_run
    assert list(report["parts"]) == ["media", "tests", "train", "loader", "precision"]
    for name, part in report["parts"].items():
        assert part["status"] == "ok", (name, part.get("error"))
        assert part["results"] and part["seconds"] > 0
    assert report["mode"] == "quick" and report["machine"]["device_type"] == "cpu"
    assert "===== loader =====" in (out / "gpu_check.log").read_text()


def test_dry_run_tests_part(dry_run):
    tests = dry_run[0]["parts"]["tests"]["results"]
    assert list(tests["outcomes"]) == GPU_TESTS  # in file order: the slow compile test last
    # on the CPU every test runs except fp16 autocast (no fast fp16 CPU kernels)
    assert tests["outcomes"].pop("test_autocast_steps_lower_the_loss[fp16]") == "skipped"
    assert set(tests["outcomes"].values()) == {"passed"}
    measured = {m["test"]: m for m in tests["measured"]}
    assert measured["test_channels_last_and_compile_give_the_eager_loss"]["backend"] == "aot_eager"
    assert dry_run[0]["targets"]["tests"]["pass"]


def test_dry_run_train_part(dry_run):
    report = dry_run[0]
    train = report["parts"]["train"]["results"]
    variants = {v["variant"]: v for v in train["variants"]}
    assert list(variants) == ["fp32", "bf16-cl", "bf16-cl-compile"]
    assert train["batch_size"] == 2 and train["views"] == 4 and train["compile_backend"] == "aot_eager"
    assert train["peak_tflops"] is None and train["matmul_tflops"] > 0  # no data-sheet peak for a CPU
    for v in variants.values():
        assert v["crops_per_step"] == 2 * 4 and v["steps"] == 2 and len(v["losses"]) == 3
        assert v["crops_per_s"] == pytest.approx(8 / v["median_step_s"])
        assert v["tflops_per_s"] == pytest.approx(train["flops_per_step"] / v["median_step_s"] / 1e12)
        assert v["peak_memory_gib"] > 0
    # The same initial weights and batch: the first losses agree (bf16 to its precision)
    assert variants["bf16-cl"]["losses"][0] == pytest.approx(variants["fp32"]["losses"][0], rel=2e-2)
    # Counted FLOPs of a step: forward + backward of the encoders is at least 2 × their forward over the crops
    settings = dict(QUICK, compile_backend="aot_eager")
    cfg = load_run_config(settings, "unused")
    task = build_variant(cfg, "fp32", torch.device("cpu"))[0]
    forward = flops_per_crop(task.model, cfg, torch.device("cpu"))["model"]
    assert train["flops_per_step"] >= 2 * 8 * forward
    speedup = report["targets"]["speedup"]
    best = max((variants["bf16-cl"], variants["bf16-cl-compile"]), key=lambda v: v["crops_per_s"])
    assert speedup["value"] == pytest.approx(best["crops_per_s"] / variants["fp32"]["crops_per_s"])
    assert speedup["pass"] == (speedup["value"] >= 2.5)


def test_dry_run_loader_part(dry_run):
    report = dry_run[0]
    loader = report["parts"]["loader"]["results"]
    train = {v["variant"]: v for v in report["parts"]["train"]["results"]["variants"]}
    bf16_step = min(train["bf16-cl"]["median_step_s"], train["bf16-cl-compile"]["median_step_s"])
    assert loader["simulated_step_s"] == pytest.approx(min(bf16_step, 0.02))  # the dry run caps the sleep
    assert set(loader["media"]) == {"gop250", "prepared"}
    for kind, result in loader["media"].items():
        assert result["workers"] == 2 and result["timed_steps"] == 8 and result["capacity_steps"] == 4
        assert 0 <= result["data_wait_fraction"] <= 1 and result["capacity_samples_per_s"] > 0
        assert result["step_s"] >= loader["simulated_step_s"]  # each step sleeps that long at least
        target = report["targets"][f"data_wait_{kind}"]
        assert target["pass"] == (result["data_wait_fraction"] <= 0.05)


def test_dry_run_precision_part(dry_run):
    report = dry_run[0]
    precision = report["parts"]["precision"]["results"]
    losses = precision["losses"]
    assert precision["steps"] == 10 and len(losses["fp32"]) == len(losses["bf16"]) == 10
    assert losses["fp32"][0] == pytest.approx(losses["bf16"][0], rel=2e-2)  # same weights, same first batch
    assert len(precision["windows"]) == 2
    for window, start in zip(precision["windows"], (0, 5)):
        fp32, bf16 = sum(losses["fp32"][start:start + 5]) / 5, sum(losses["bf16"][start:start + 5]) / 5
        assert window["relative_difference"] == pytest.approx(abs(bf16 - fp32) / fp32)
    worst = max(w["relative_difference"] for w in precision["windows"])
    assert report["targets"]["precision"] == {"value": worst, "windows": 2, "target": 0.01, "pass": worst <= 0.01}


def test_dry_run_markdown(dry_run):
    report, markdown, _ = dry_run
    assert markdown.startswith("### GPU check dry run (CPU, toy sizes; not a GPU measurement): ")
    assert f"torch {report['machine']['torch']}" in markdown
    for row in ("| every test marked `gpu` passes | 7 passed, 1 skipped | **pass** |",
                "| bf16-cl-compile |", "| gop250 | 2 |", "| prepared | 2 |", "| 0–5 |", "| 5–10 |",
                "| `test_one_process_ddp_step_equals_a_plain_step` | passed |"):
        assert row in markdown, row
    assert "Parts: media ok" in markdown
    # every table row has as many cells as its header
    tables = [block.splitlines() for block in markdown.split("\n\n") if block.startswith("|")]
    assert len(tables) == 5
    for table in tables:
        assert len({row.count("|") for row in table}) == 1, table[0]


def test_failed_part_is_recorded_and_the_next_part_still_runs(tool, tmp_path):
    """Without the media part, train and precision fail (no generated files): both are recorded as failed with the
    reason, and the Markdown still renders."""
    out, work = tmp_path / "out", tmp_path / "work"
    assert tool.main(["--device", "cpu", "--quick", "--parts", "train,precision", "--out", str(out),
                      "--work", str(work), "--budget-s", "300"]) == 0
    report = json.loads((out / "gpu_check.json").read_text())
    for name in ("train", "precision"):
        assert report["parts"][name]["status"] == "failed"
        assert "no generated media" in report["parts"][name]["error"]
    assert report["targets"] == {}
    assert "| bf16 loss within 1 % of fp32 in every window | — | not measured |" in (out / "gpu_check.md").read_text()


def test_run_until_kills_a_command_at_its_deadline():
    started = time.time()
    code, output = run_until([sys.executable, "-c", "print('started', flush=True); import time; "
                              "time.sleep(60)"], time.time() + 2)
    assert code is None and "started" in output and time.time() - started < 20
    code, output = run_until([sys.executable, "-c", "import sys; print('done'); sys.exit(3)"], time.time() + 30)
    assert code == 3 and output.strip() == "done"


def test_bf16_peaks_from_device_names():
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.5  # H100 SXM5
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.5
    assert bf16_peak_tflops("NVIDIA H100 NVL") == 835.5
    assert bf16_peak_tflops("NVIDIA H200") == 989.5
    assert bf16_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert bf16_peak_tflops("NVIDIA GeForce RTX 4090") is None


def test_window_comparison_by_hand():
    rows = window_comparison([1.0, 3.0, 2.0, 2.0, 9.0], [1.0, 3.1, 2.0, 1.9, 1.0], 2)
    assert [r["steps"] for r in rows] == [[0, 2], [2, 4]]  # the incomplete last window is left out
    assert [r["fp32"] for r in rows] == [2.0, 2.0]
    assert [r["bf16"] for r in rows] == pytest.approx([2.05, 1.95])
    assert [r["relative_difference"] for r in rows] == pytest.approx([0.025, 0.025])


def test_deadlines_share_the_budget():
    ends = deadlines(100.0, 400.0, ["media", "train"])  # shares 0.07 and 0.32, rescaled to sum to 1
    assert ends["media"] == pytest.approx(100 + 400 * 0.07 / 0.39)
    assert ends["train"] == pytest.approx(500.0)


def test_parse_pytest_verbose_output():
    output = "\n".join([
        "tests/gpu/test_gpu.py::test_a[bf16] PASSED                      [ 25%]",
        "tests/gpu/test_gpu.py::test_b[misaligned 3d] FAILED             [ 50%]",
        "tests/gpu/test_gpu.py::test_c SKIPPED (needs a CUDA device)     [ 75%]",
        "tests/gpu/test_gpu.py::test_d ERROR                             [100%]",
        "FAILED tests/gpu/test_gpu.py::test_b[misaligned 3d] - AssertionError: video"])
    parsed = parse_pytest(output)
    assert parsed["outcomes"] == {"test_a[bf16]": "passed", "test_b[misaligned 3d]": "failed", "test_c": "skipped",
                                  "test_d": "error"}
    assert parsed["counts"] == {"passed": 1, "failed": 1, "skipped": 1, "error": 1}
    assert parsed["summary"] == ["FAILED tests/gpu/test_gpu.py::test_b[misaligned 3d] - AssertionError: video"]
    assert evaluate_targets({"tests": {"status": "ok", "results": parsed}})["tests"]["pass"] is False


def test_markdown_of_a_gpu_report_with_failures():
    """A CUDA report whose compiled variant ran out of memory and whose GOP-250 loader run crashed: the targets
    come from what was measured, and the failures show in their rows."""
    machine = {"device": "NVIDIA H100 80GB HBM3", "date": "2026-12-07", "torch": "2.11.0+cu130", "cuda": "13.0",
               "cudnn": 91000, "driver": "580.159.04", "gpu_memory_gib": 79.2, "tf32": {"cudnn": True, "matmul": False},
               "cpu_cores": 16, "shm_free_gib": 60.0, "commit": "abc1234", "device_type": "cuda"}
    variant = {"crops_per_step": 112, "first_step_s": 3.0, "peak_memory_gib": 30.0, "losses": [5.1, 4.9],
               "tflops_per_s": 100.0, "mfu": 0.1, "matmul_fraction": 0.12}
    train = {"batch_size": 28, "views": 4, "flops_per_step": 7.6e12, "peak_tflops": 989.5, "matmul_tflops": 790.0,
             "peak_source": "NVIDIA data sheet (dense bf16)", "compile_backend": "inductor", "batches_gib": 0.3,
             "variants": [{**variant, "variant": "fp32", "precision": "fp32", "crops_per_s": 400.0,
                           "median_step_s": 0.28},
                          {**variant, "variant": "bf16-cl", "precision": "bf16", "crops_per_s": 1100.0,
                           "median_step_s": 0.102},
                          {"variant": "bf16-cl-compile", "precision": "bf16", "error": "OutOfMemoryError: CUDA | out"}]}
    loader = {"simulated_step_s": 0.102, "step_source": "bf16-cl", "media": {
        "gop250": {"workers": 16, "error": "RuntimeError: DataLoader worker (pid 7) is killed by signal: Bus error"},
        "prepared": {"workers": 16, "data_wait_fraction": 0.02, "device_transform_ms": 9.0, "timed_steps": 96,
                     "capacity_samples_per_s": 900.0, "needed_samples_per_s": 274.5}}}
    parts = {"train": {"status": "timeout", "seconds": 150.0, "error": "killed at its deadline", "results": train},
             "loader": {"status": "ok", "seconds": 40.0, "results": loader}}
    targets = evaluate_targets(parts)
    assert targets["speedup"]["value"] == pytest.approx(2.75) and targets["speedup"]["variant"] == "bf16-cl"
    assert targets["speedup"]["pass"] and "data_wait_gop250" not in targets and targets["data_wait_prepared"]["pass"]
    assert best_bf16_step(parts["train"]) == (0.102, "bf16-cl")
    markdown = render_markdown({"mode": "full", "budget_s": 450.0, "elapsed_s": 400.0, "config": "paper.yaml",
                                "machine": machine, "parts": parts, "targets": targets})
    assert markdown.startswith("### GPU check: NVIDIA H100 80GB HBM3, 2026-12-07\n")
    for text in ("| bf16 + channels-last (+ compile) ≥ 2.5× fp32 eager crops/s | 2.75× (bf16-cl) | **pass** |",
                 "| data wait ≤ 5 %, gop250 files | — | not measured |",
                 "| data wait ≤ 5 %, prepared files | 2.0 % | **pass** |",
                 "| every test marked `gpu` passes | — | not measured |",
                 "| bf16-cl-compile | failed: OutOfMemoryError: CUDA / out |",
                 "| gop250 | 16 | failed: RuntimeError: DataLoader worker (pid 7) is killed by signal: Bus error |",
                 "| bf16-cl | 1100.0 | 2.75× | 102.0 |", "train timeout (150 s): killed at its deadline",
                 "CUDA 13.0, cuDNN 91000, driver 580.159.04", "commit abc1234"):
        assert text in markdown, text
