"""Schema of an eval config: the ``benchmark`` section (read by ``evaluation/`` and the eval-*.py scripts) and the
composed ``EVAL_SCHEMA`` (run-level keys, ``optimizer``, ``dataset``, ``benchmark``).

``benchmark.task`` (avc-bin | avsa-bin | action | segmentation) selects the task's keys. The model comes from the
pre-training config named next to the eval config (docs/configs.md describes the section, docs/evaluation.md the
benchmarks).
"""

from collections.abc import Iterable

from datasets import SCHEMA as DATASET_SCHEMA
from engine.schema import OPTIMIZER, PRETRAIN_SCHEMA, RUN_KEYS
from utils.config import REQUIRED, Field, Schema, Section, read_config, validate_config

TASKS = ("avc-bin", "avsa-bin", "action", "segmentation")

_FEATURE_DRAWS = {
    "feature_draws": Field(int, 0, min=0,
                           help="0: frozen features computed on the fly every epoch (the original). N > 0: the "
                                "frozen part's output for N epochs of training draws computed once "
                                "(evaluation/features.py); each optimizer epoch is then one pass over all N draws"),
    "feature_dtype": Field(str, "float32", choices=["float32", "float16", "bfloat16"],
                           help="storage of the cached features (float16 halves segmentation's feature maps)"),
}

_PAIR = {
    "use_transf": Field(bool, False, help="replace the video features by g_v2a's audio prediction from them "
                                          "(needs a pre-training with translation networks)"),
    "head": Section({
        "hidden_dim": Field(int, 512, min=1),
        "dropout": Field(float, 0.5, min=0.0, max=1.0),
        "normalize": Field(bool, False, help="standardise the classifier's input (BatchNorm without affine "
                                             "parameters, as linear probes do); the original had none"),
    }),
    **_FEATURE_DRAWS,
}

def _check_task_data(cfg: dict) -> str | None:
    """What a task needs of the eval config's dataset."""
    task, data = cfg["benchmark"]["task"] if "benchmark" in cfg else None, cfg.get("dataset", {})
    if task == "avsa-bin" and data.get("misalign", {}).get("probability", 1.0) <= 0:
        return "dataset.misalign.probability: AVSA-Bin needs misaligned samples (> 0)"
    if task == "segmentation" and data.get("segmentation") is False:
        return "dataset.segmentation: must be true (the label maps are the targets)"
    return None


BENCHMARK = Section({
    "name": Field(str, REQUIRED, help="eval run directory: <pretrain run dir>/eval-<name>/fold-<NN>"),
    "task": Field(str, REQUIRED, choices=list(TASKS)),
    "scratch": Field(bool, False, help="evaluate randomly initialised encoders (nothing is loaded)"),
    "test_seed": Field(int, 0, min=0, help="seed of the fixed test set (viewpoints, rotations, negative pairs)"),
    "allow_input_mismatch": Field(bool, False,
                                  help="accept dataset input keys (clip lengths, crop size, audio recipe, rotation "
                                       "order, video placement) that this config sets to other values than the "
                                       "pre-training config; false: such a key is an error (evaluation/runner.py)"),
}, tag="task", variants={
    "avc-bin": _PAIR,
    "avsa-bin": _PAIR,
    "action": {
        "train_encoders": Field(bool, True, help="full fine-tuning, as the original; false trains the classifier only"),
        "head": Section({"dropout": Field(float, 0.5, min=0.0, max=1.0)}),
    },
    "segmentation": {
        "use_audio": Field(bool, False, help="concatenate the crop's audio feature to the FPN's top level"),
        "use_context": Field(bool, False, help="concatenate the translation networks' context (g_v2a, and g_a2v "
                                               "with use_audio) to the FPN's top level"),
        "train_encoders": Field(bool, False, help="true: the End-to-end row (encoders fine-tuned, train mode)"),
        **_FEATURE_DRAWS,
        "head": Section({
            "fpn_dim": Field(int, 256, min=1),
            "segm_dim": Field(int, 128, min=32, help="GroupNorm(32, segm_dim): a multiple of 32"),
            "normalize": Field(bool, False, help="standardise each pyramid level (BatchNorm without affine "
                                                 "parameters) before the FPN; the original had none"),
        }, check=lambda head: ("segm_dim: must be a multiple of 32 (GroupNorm with 32 groups)"
                               if head["segm_dim"] % 32 else None)),
    },
}, config_check=_check_task_data, optional=True)

EVAL_SCHEMA = Schema(RUN_KEYS, optimizer=OPTIMIZER, dataset=DATASET_SCHEMA, benchmark=BENCHMARK)


def load_any_config(path: str, overrides: Iterable[str] = (), required: Iterable[str] = ()) -> dict:
    """`utils.config.load_config` of a config of either kind, read once: validated against `EVAL_SCHEMA` when it has a
    ``benchmark`` section, `PRETRAIN_SCHEMA` otherwise (tools/check_config.py, tools/check_dataset.py,
    tools/compute_audio_stats.py, ...)."""
    raw, origins = read_config(path, overrides)
    schema = EVAL_SCHEMA if "benchmark" in raw else PRETRAIN_SCHEMA
    return validate_config(raw, origins, path, required, schema=schema)
