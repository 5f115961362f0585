"""Malformed configs against the real schemas (issue #10): every one is ONE line on stderr, exit code 2, no traceback,
through the real entry points (main-video-ssl.py, eval-*.py, tools/check_config.py, tools/check_dataset.py).

Each case is a small YAML file that inherits a shipped config (``base:``) and breaks one thing. Most cases run
the script's ``main`` in-process through ``utils.cli.run_main`` (what ``python script.py`` does after the imports);
the cases marked SUBPROCESS also run as real processes, all started at once, to prove the exit code and the single
line of an actual interpreter.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from datasets.audio_stats import write_stats
from datasets.viewpoints import max_viewpoints_for_separation
from engine.schema import PRETRAIN_SCHEMA
from utils.cli import run_main
from utils.config import load_config
from tests.datasets.media_fixtures import write_lists, write_segment
from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = {"main": "main-video-ssl.py", "check_config": "tools/check_config.py",
           "check_dataset": "tools/check_dataset.py", "eval-avsa": "eval-avsa.py", "eval-avc": "eval-avc.py",
           "eval-action": "eval-action-recg.py", "eval-segm": "eval-audiovisual-segm.py"}
PAPER_AVSA = "@REPO/configs/main/avsa/Cur-Loc4-TransfD2.yaml"

# (id, script, YAML of @CFG (None: no file), argv, expected fragment of the message). Tokens: @REPO the repository,
# @CFG the case's file, @TMP a fresh folder, @HMDB a 3-class HMDB51 layout, @EMPTY an empty folder, @YT360 a one-segment
# YT-360 layout.
CASES = [
    # -- typos in real keys: did-you-mean
    ("typo-top-section", "main", "base: @REPO/configs/demo/avsa.yaml\noptimzer: {lr: 0.1}\n", ["@CFG"],
     "@CFG: optimzer: unknown key (did you mean 'optimizer'?)"),
    ("typo-dataset-key", "main", "base: @REPO/configs/demo/avsa.yaml\ndataset: {viewpoint: {num: 2}}\n", ["@CFG"],
     "@CFG: dataset.viewpoint: unknown key (did you mean 'viewpoints'?)"),
    ("typo-loss-key", "check_config", f"base: {PAPER_AVSA}\nloss: {{temprature: 0.1}}\n", ["@CFG"],
     "@CFG: loss.temprature: unknown key (did you mean 'temperature'?)"),
    ("typo-nested-key", "check_config", f"base: {PAPER_AVSA}\nmodel: {{video: {{dept: 18}}}}\n", ["@CFG"],
     "@CFG: model.video.dept: unknown key (did you mean 'depth'?)"),
    ("typo-choice", "check_config", f"base: {PAPER_AVSA}\nloss: {{negatives: papr}}\n", ["@CFG"],
     "@CFG: loss.negatives: 'papr' is not one of ['paper', 'reference'] (did you mean 'paper'?)"),
    ("typo-translation-kind", "main", "base: @REPO/configs/demo/avsa.yaml\n",
     ["@CFG", "--set", "loss.translation.kind=transfomer"],
     "--set: loss.translation.kind: 'transfomer' is not one of ['none', 'transformer', 'mlp'] "
     "(did you mean 'transformer'?)"),
    ("typo-eval-key", "eval-avsa", "base: @REPO/configs/benchmark/avsa/avsa-transf-4crop.yaml\n"
     "benchmark: {use_trans: true}\n", ["@CFG", PAPER_AVSA],
     "@CFG: benchmark.use_trans: unknown key (did you mean 'use_transf'?)"),
    ("key-of-another-variant", "check_config", "base: @REPO/configs/benchmark/hmdb/hmdb-8at16.yaml\n"
     "dataset: {viewpoints: {num: 4}}\n", ["@CFG"], "@CFG: dataset.viewpoints: unknown key"),
    # -- wrong types
    ("string-for-int", "main", "base: @REPO/configs/demo/avsa.yaml\ndataset: {batch_size: '32'}\n", ["@CFG"],
     "@CFG: dataset.batch_size: must be an integer, got str '32'"),
    ("word-for-number", "main", "base: @REPO/configs/demo/avsa.yaml\n", ["@CFG", "--set", "optimizer.lr=fast"],
     "--set: optimizer.lr: must be a number, got str 'fast'"),
    ("scalar-for-list", "check_config", f"base: {PAPER_AVSA}\ndataset: {{viewpoints: {{elevation_deg: 30}}}}\n",
     ["@CFG"], "@CFG: dataset.viewpoints.elevation_deg: must be a list, got int 30"),
    ("string-for-bool", "check_config", f"base: {PAPER_AVSA}\nresume: 'no'\n", ["@CFG"],
     "@CFG: resume: must be true/false, got str 'no'"),
    ("scalar-for-section", "check_config", f"base: {PAPER_AVSA}\ndataset: {{video: 112}}\n", ["@CFG"],
     "@CFG: dataset.video: must be a mapping, got int 112"),
    ("float-for-int", "check_config", f"base: {PAPER_AVSA}\nseed: 1.5\n", ["@CFG"],
     "@CFG: seed: must be an integer, got float 1.5"),
    # -- negative / zero / out-of-range sizes
    ("negative-batch", "main", "base: @REPO/configs/demo/avsa.yaml\ndataset: {batch_size: -8}\n", ["@CFG"],
     "@CFG: dataset.batch_size: -8 is below the minimum 1"),
    ("negative-crop", "check_dataset", "base: @REPO/configs/demo/avsa.yaml\n",
     ["@CFG", "--set", "dataset.video.crop_size=-32"], "--set: dataset.video.crop_size: -32 is below the minimum 8"),
    ("negative-temperature", "check_config", f"base: {PAPER_AVSA}\nloss: {{temperature: -0.07}}\n", ["@CFG"],
     "@CFG: loss.temperature: -0.07 is below the minimum 1e-06"),
    ("zero-viewpoints", "check_config", f"base: {PAPER_AVSA}\ndataset: {{viewpoints: {{num: 0}}}}\n", ["@CFG"],
     "@CFG: dataset.viewpoints.num: 0 is below the minimum 1"),
    ("negative-workers", "check_config", f"base: {PAPER_AVSA}\nnum_workers: -1\n", ["@CFG"],
     "@CFG: num_workers: -1 is below the minimum 0"),
    ("fov-above-180", "check_config", f"base: {PAPER_AVSA}\ndataset: {{viewpoints: {{hfov_deg: [25, 200]}}}}\n",
     ["@CFG"], "@CFG: dataset.viewpoints.hfov_deg[1]: 200.0 is above the maximum 179.0"),
    ("reversed-elevations", "check_config",
     f"base: {PAPER_AVSA}\ndataset: {{viewpoints: {{elevation_deg: [30, -30]}}}}\n", ["@CFG"],
     "@CFG: dataset.viewpoints.elevation_deg: lower bound 30.0 above upper bound -30.0"),
    ("misalign-angle", "eval-avsa", "base: @REPO/configs/demo/benchmark/avsa.yaml\n"
     "dataset: {misalign: {min_angle_deg: 170}}\n", ["@CFG", "@REPO/configs/demo/avsa.yaml"],
     "@CFG: dataset.misalign.min_angle_deg: 170.0 is above the maximum 150.0"),
    # -- more viewpoints than the sampler can separate (3 directions pairwise >= 150° do not exist: at most 120°)
    ("K-three-at-150", "main", "base: @REPO/configs/demo/avsa.yaml\n"
     "dataset: {viewpoints: {num: 3, min_separation_deg: 150, elevation_deg: [-30, 30]}}\n", ["@CFG"],
     "@CFG: dataset.viewpoints.num: 3 viewpoints cannot be 150° apart within elevations [-30.0, 30.0]; "
     "at most 2 fit"),
    ("K-eight-at-90", "check_config", f"base: {PAPER_AVSA}\n"
     "dataset: {viewpoints: {num: 8, min_separation_deg: 90}}\n", ["@CFG"],
     "@CFG: dataset.viewpoints.num: 8 viewpoints cannot be 90° apart within elevations [-30.0, 30.0]; "
     f"at most {max_viewpoints_for_separation(90.0, (-30.0, 30.0))} fit"),
    # -- constraints between keys
    ("audio-shorter-than-video", "check_config", f"base: {PAPER_AVSA}\ndataset: {{audio: {{clip_duration: 0.25}}}}\n",
     ["@CFG"], "@CFG: dataset.audio: clip_duration 0.25 s is shorter than video.clip_duration 0.5 s"),
    ("widths-differ", "check_config", f"base: {PAPER_AVSA}\nmodel: {{audio: {{width: 32}}}}\n", ["@CFG"],
     "@CFG: model.audio: width 32 must equal video.width 64"),
    ("channels-against-intensity", "check_config", f"base: {PAPER_AVSA}\ndataset: {{audio: {{intensity: true}}}}\n",
     ["@CFG", "--set", "model.audio.in_channels=4"], "--set: model.audio.in_channels: 4, but dataset.audio.intensity: "
     "true gives 7 audio channels per crop (4 log-mels + 3 intensity-vector); leave model.audio.in_channels unset"),
    ("channels-without-dataset", "check_config", "model: {name: x}\n", ["@CFG"],
     "@CFG: model.audio.in_channels: null takes the audio channels of the YT-360 dataset section, which this config "
     "lacks; set it"),
    ("intensity-eval-of-log-mel-model", "eval-avsa", "base: @REPO/configs/benchmark/avsa/avsa-notransf-4crop.yaml\n"
     "dataset: {audio: {intensity: true}}\n", ["@CFG", PAPER_AVSA],
     "@CFG: dataset.audio.intensity: true gives 7 audio channels per crop (4 log-mels + 3 intensity-vector), but "
     "model.audio.in_channels is 4 in the pre-training config @REPO/configs/main/avsa/Cur-Loc4-TransfD2.yaml"),
    ("unsupported-depth", "check_config", f"base: {PAPER_AVSA}\nmodel: {{video: {{depth: 34}}}}\n", ["@CFG"],
     "@CFG: model.video.depth: 34 is not one of [10, 18]"),
    ("segm-dim-groupnorm", "eval-segm", "base: @REPO/configs/demo/benchmark/segmentation.yaml\n"
     "benchmark: {head: {segm_dim: 48}}\n", ["@CFG", "@REPO/configs/demo/avsa.yaml"],
     "@CFG: benchmark.head.segm_dim: must be a multiple of 32"),
    ("milestones-decreasing", "check_config", f"base: {PAPER_AVSA}\n"
     "optimizer: {schedule: {name: multistep, milestones: [8, 4]}}\n", ["@CFG"],
     "@CFG: optimizer.schedule.milestones: must be increasing"),
    ("resize-below-crop", "eval-action", "base: @REPO/configs/benchmark/ucf/ucf-8at16.yaml\ndataset: {resize: 100}\n",
     ["@CFG", PAPER_AVSA], "dataset.resize: 100 is smaller than video.crop_size 112"),
    # -- missing files
    ("missing-stats", "check_dataset", "base: @REPO/configs/demo/avsa.yaml\n"
     "dataset: {root: @YT360, audio: {stats: @TMP/mel-stats.npz}}\n", ["@CFG"],
     "dataset.audio.stats: @TMP/mel-stats.npz not found; compute it with: python tools/compute_audio_stats.py @CFG"),
    # the paper config's statistics, named relative to dataset.root; the command carries the --set that moved it
    ("missing-paper-stats", "main", f"base: {PAPER_AVSA}\n", ["@CFG", "--set", "dataset.root=@YT360"],
     "dataset.audio.stats: @YT360/audio-stats-24000hz-512fft-240hop-128mels.npz not found; compute it with: "
     "python tools/compute_audio_stats.py @CFG --set dataset.root=@YT360"),
    # an evaluation inherits the pre-training's statistics: the pre-training config makes them, at the eval's root
    ("missing-inherited-stats", "eval-avsa", "base: @REPO/configs/benchmark/avsa/avsa-notransf-1crop.yaml\n",
     ["@CFG", PAPER_AVSA, "--output", "@TMP/eval", "--set", "dataset.root=@YT360", "--set", "benchmark.scratch=true",
      "--set", "num_workers=0", "--set", "log2tb=false"],
     "dataset.audio.stats: @YT360/audio-stats-24000hz-512fft-240hop-128mels.npz not found; compute it with: "
     "python tools/compute_audio_stats.py @REPO/configs/main/avsa/Cur-Loc4-TransfD2.yaml --set dataset.root=@YT360"),
    ("missing-original-stats", "eval-avc", "base: @REPO/configs/benchmark/avc/avc-notransf-1crop.yaml\n",
     ["@CFG", "@REPO/configs/main/avsa/Cur-Loc4-TransfD2-reference.yaml", "--output", "@TMP/eval", "--set",
      "dataset.root=@YT360", "--set", "benchmark.scratch=true", "--set", "num_workers=0", "--set", "log2tb=false"],
     "dataset.audio.stats: @YT360/MelSpectDB-24khz-257fft-128mels-norm-stats.npz not found: this is the released "
     "model's statistics file; copy MelSpectDB-24khz-257fft-128mels-norm-stats.npz from the authors' repository"),
    ("stats-of-another-recipe", "check_dataset", "base: @REPO/configs/demo/avsa.yaml\n"
     "dataset: {root: @YT360, audio: {stats: demo-stats.npz, parity: true}}\n", ["@CFG"],
     "dataset.audio.stats: @YT360/demo-stats.npz holds the statistics of another audio recipe: parity false "
     "(config: true); name another file, or recompute it with: python tools/compute_audio_stats.py @CFG"),
    ("missing-base", "main", "base: ../no-such-common.yaml\nseed: 1\n", ["@CFG"],
     "@CFG: base: config file not found"),
    ("missing-config", "main", None, ["@TMP/no-such-config.yaml"],
     "@TMP/no-such-config.yaml: <file>: config file not found"),
    ("missing-split-list", "main", "base: @REPO/configs/demo/avsa.yaml\n",
     ["@CFG", "--set", "dataset.root=@EMPTY", "--set", "num_workers=0"],
     "dataset.train_list: split list not found: @EMPTY/train.txt"),
    ("missing-test-list", "check_dataset", "base: @REPO/configs/demo/avsa.yaml\n",
     ["@CFG", "--split", "test", "--set", "dataset.test_list=@TMP/ids.txt"],
     "dataset.test_list: split list not found: @TMP/ids.txt"),
    ("missing-action-root", "check_dataset", "base: @REPO/configs/demo/benchmark/ucf.yaml\n",
     ["@CFG", "--set", "dataset.root=@TMP/UCF-101"], "dataset.root: folder not found: @TMP/UCF-101"),
    # -- incompatible eval / pre-training pairs and scripts
    ("transf-eval-on-avc", "eval-avsa", "base: @REPO/configs/benchmark/avsa/avsa-transf-4crop.yaml\n",
     ["@CFG", "@REPO/configs/main/avsa/InstDisc.yaml"],
     "@REPO/configs/main/avsa/InstDisc.yaml: loss.translation: this benchmark uses the pre-trained translation "
     "networks (use_transf / use_context), but CrossInstDisc was pre-trained without them"),
    ("context-segm-on-avc", "eval-segm", "base: @REPO/configs/demo/benchmark/segmentation.yaml\n"
     "benchmark: {use_context: true}\n", ["@CFG", "@REPO/configs/demo/avc.yaml"],
     "configs/demo/avc.yaml: loss.translation: this benchmark uses the pre-trained translation networks"),
    ("hmdb-num-classes", "check_dataset", "base: @REPO/configs/benchmark/hmdb/hmdb-8at16.yaml\n",
     ["@CFG", "--set", "dataset.root=@HMDB"],
     "dataset.num_classes: 51 in the config, but the hmdb51 class list under @HMDB has 3 classes"),
    ("hmdb-num-classes-eval", "eval-action", "base: @REPO/configs/benchmark/hmdb/hmdb-8at16.yaml\n",
     ["@CFG", "@REPO/configs/demo/avsa.yaml", "--output", "@TMP/eval", "--set", "dataset.root=@HMDB",
      "--set", "benchmark.scratch=true", "--set", "num_workers=0", "--set", "log2tb=false",
      "--set", "benchmark.allow_input_mismatch=true"],  # 8 frames of 112 px on the demo's 4 frames of 32 px
     "dataset.num_classes: 51 in the config, but the hmdb51 class list under @HMDB has 3 classes"),
    ("eval-config-as-pretraining", "main", None, ["@REPO/configs/demo/benchmark/avsa.yaml"],
     "configs/demo/benchmark/avsa.yaml: model: required section is missing"),
    ("pretraining-config-as-eval", "eval-avsa", None,
     ["@REPO/configs/demo/avsa.yaml", "@REPO/configs/demo/avsa.yaml"],
     "configs/demo/avsa.yaml: benchmark: required section is missing"),
    ("wrong-script-for-task", "eval-avc", None,
     ["@REPO/configs/demo/benchmark/avsa.yaml", "@REPO/configs/demo/avsa.yaml"],
     "benchmark.task: this script runs avc-bin benchmarks, the config is 'avsa-bin'"),
    ("avts-moments", "main", "base: @REPO/configs/main/avsa/AVTS.yaml\ndataset: {temporal_clips: 3}\n"
     "loss: {moments: 2}\n", ["@CFG"], "@CFG: loss.moments: 2 must equal dataset.temporal_clips (3): the moments are "
     "the dataset's temporal clips; leave loss.moments unset"),
    ("avts-one-moment", "check_config", "base: @REPO/configs/main/avsa/AVTS.yaml\n",
     ["@CFG", "--set", "dataset.temporal_clips=1"],
     "--set: dataset.temporal_clips: 1, but AVTS (loss.name avts) needs at least 2 moments per sample"),
    # -- evaluation inputs that differ from the pre-training's (inherited unless set; set differently: an error)
    ("input-mismatch-set", "eval-avsa", "base: @REPO/configs/benchmark/avsa/avsa-transf-4crop.yaml\n",
     ["@CFG", "@REPO/configs/main/avsa/Cur-Loc4-TransfD2-reference.yaml", "--set", "dataset.rotation_order=correct"],
     '--set: dataset.rotation_order: "correct", but the model was pre-trained with "reference" '
     "(@REPO/configs/main/avsa/Cur-Loc4-TransfD2-reference.yaml); use the pre-training's value"),
    ("input-mismatch-in-file", "eval-action", "base: @REPO/configs/benchmark/ucf/ucf-8at16.yaml\n",
     ["@CFG", "@REPO/configs/demo/avsa.yaml"],
     "@REPO/configs/benchmark/action.yaml: dataset.video.clip_duration: 0.5, but the model was pre-trained with 0.25 "
     "(@REPO/configs/demo/avsa.yaml)"),
    # -- syntax
    ("invalid-yaml", "check_config", "dataset: {batch_size: 4\n", ["@CFG"], "@CFG: <yaml line 2>: invalid YAML"),
    ("override-without-value", "main", "base: @REPO/configs/demo/avsa.yaml\n", ["@CFG", "--set", "dataset.batch_size"],
     "--set: dataset.batch_size: expected dotted.key=value"),
    ("override-into-a-value", "check_config", f"base: {PAPER_AVSA}\n", ["@CFG", "--set", "seed.value=1"],
     "--set: seed: is a value, not a section"),
]
# also run as real processes (started together): every entry point, and errors raised before and after start_run
SUBPROCESS = {"typo-dataset-key", "K-eight-at-90", "missing-split-list", "missing-stats", "transf-eval-on-avc",
              "hmdb-num-classes-eval", "segm-dim-groupnorm", "wrong-script-for-task", "missing-inherited-stats"}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability-configs")
    hmdb = root / "hmdb51" / "testTrainMulti_7030_splits"
    hmdb.mkdir(parents=True)
    for name in ("brush_hair", "cartwheel", "wave"):  # the official split-file layout, 3 classes instead of 51
        (hmdb / f"{name}_test_split1.txt").write_text(f"{name}_a.avi 1\n{name}_b.avi 2\n")
    (root / "empty").mkdir()
    yt360 = str(root / "yt360")  # one segment, and the demo recipe's statistics under another name
    write_segment(yt360, "aaaaaaaaaaa-0", seconds=1.5, size=(64, 32))
    write_lists(yt360, train=["aaaaaaaaaaa"], test=["aaaaaaaaaaa"])
    demo_audio = load_config(os.path.join(REPO, "configs/demo/avsa.yaml"), schema=PRETRAIN_SCHEMA)["dataset"]["audio"]
    write_stats(os.path.join(yt360, "demo-stats.npz"), np.zeros(40), np.ones(40), demo_audio)
    return {"@HMDB": str(root / "hmdb51"), "@EMPTY": str(root / "empty"), "@YT360": yt360}


def _case(case, places, tmp_path):
    name, script, text, argv, expected = case
    tokens = {**places, "@REPO": REPO, "@TMP": str(tmp_path), "@CFG": str(tmp_path / f"{name}.yaml")}

    def fill(value):
        for token, path in tokens.items():
            value = value.replace(token, path)
        return value

    if text is not None:
        (tmp_path / f"{name}.yaml").write_text(fill(text))
    argv = [fill(a) for a in argv]
    if script == "main" and "--output" not in argv:
        argv += ["--output", str(tmp_path / "run")]
    return os.path.join(REPO, SCRIPTS[script]), argv, fill(expected)


def _module(path):
    return load_script(path)


def _assert_one_line(code, stderr, expected):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


def test_at_least_thirty_cases_with_unique_names():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == set(SCRIPTS)  # every entry point is exercised
    assert SUBPROCESS <= {c[0] for c in CASES} and {c[1] for c in CASES if c[0] in SUBPROCESS} == set(SCRIPTS)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_config_is_one_line_and_exit_code_2(case, places, tmp_path, capsys):
    path, argv, expected = _case(case, places, tmp_path)
    with pytest.raises(SystemExit) as info:
        run_main(_module(path).main, argv)
    _assert_one_line(info.value.code, capsys.readouterr().err, expected)


@pytest.fixture(scope="module")
def processes(places, tmp_path_factory):
    """All SUBPROCESS cases started together (one interpreter each), then waited for."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = {}
    for case in CASES:
        if case[0] in SUBPROCESS:
            path, argv, expected = _case(case, places, tmp_path_factory.mktemp(case[0]))
            started[case[0]] = (subprocess.Popen([sys.executable, path, *argv], cwd=REPO, env=env, text=True,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE), expected)
    results = {}
    for name, (process, expected) in started.items():
        _, stderr = process.communicate(timeout=300)
        results[name] = (process.returncode, stderr, expected)
    return results


@pytest.mark.parametrize("name", sorted(SUBPROCESS))
def test_real_process_prints_one_line_and_exits_2(name, processes):
    _assert_one_line(*processes[name])
