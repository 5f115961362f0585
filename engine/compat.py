"""What a resumed run may change: a checkpoint continues only under the settings it was trained with.

Every config key changes the result of a run unless it is listed in ``RESULT_NEUTRAL`` below; a checkpoint
(pre-training or an evaluation's head) also records the run's ``inputs`` (the pre-trained checkpoint an evaluation
trains on, by sha256). Resuming with a different value of any other key, or other inputs, is refused with one line
naming the keys and both values (``ConfigError``, exit code 2): the optimizer and schedule state would otherwise
come from the checkpoint while ``config.yaml`` says something else. A listed key may change; the run logs it and
``config.yaml`` records the new value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.schema import PRETRAIN_SCHEMA
from utils.config import REQUIRED, Field, Section

# dotted key -> why it does not change the result of a run that resumes with another value
RESULT_NEUTRAL: dict[str, str] = {
    "resume": "whether to continue at all",
    "num_workers": "DataLoader processes only",
    "print_freq": "logging only",
    "log2tb": "logging only",
    "device": "where the same computation runs",
    "compile": "how the same computation runs",
    "channels_last": "how the same computation runs",
    "dist_timeout_s": "how long a dead rank is waited for",
    "max_bad_fraction": "when a run stops on bad media",
    "test_every": "which epochs are tested; training is unchanged",
    "checkpoint_every_steps": "when checkpoints are written",
    "snapshot_epochs": "which snapshots are kept",
    "optimizer.epochs": "where the run stops (not with a cosine schedule, whose rate depends on it)",
    "model.name": "the run's name",
    "model.model_dir": "where run directories go",
    "model.init_from": "read by a fresh run only; a resumed run restores its own checkpoint",
    "dataset.root": "where the same data is (e.g. copied to a node's local disk)",
    "dataset.cache_dir": "where the index cache goes",
    "dataset.decode_cache_mb": "a cache of decoded files",
    "dataset.decode_cache_dir": "a cache of decoded files",
    "benchmark.name": "the evaluation's name",
}


def flatten(cfg: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are values)."""
    flat = {}
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _neutral(key: str, cfg: Mapping) -> bool:
    if key == "optimizer.epochs":
        return cfg.get("optimizer", {}).get("schedule", {}).get("name") != "cosine"
    return key in RESULT_NEUTRAL


def schema_default(key: str, cfg: Mapping, schema: Section) -> Any:
    """``schema``'s default of dotted ``key`` in a config like ``cfg`` (``REQUIRED`` when it has none)."""
    node: Field | Section = schema
    value: Any = cfg
    for part in key.split("."):
        fields = node.fields_for(value) if isinstance(node, Section) and isinstance(value, Mapping) else {}
        if part not in fields:
            return REQUIRED
        node, value = fields[part], value.get(part)
    return node.default if isinstance(node, Field) else REQUIRED


def config_differences(old: Mapping, new: Mapping, schema: Section | None = None
                       ) -> tuple[list[tuple[str, Any, Any]], list[tuple[str, Any, Any]]]:
    """(result-changing, neutral) differences between two resolved configs, each as (dotted key, old, new).
    A key only ``new`` has (a checkpoint written before the key existed) differs unless ``new`` has its default in
    ``schema`` (the one ``new`` was validated against; default: a pre-training's), the behaviour before the key
    existed; otherwise a key present in one config only has the value ``"(absent)"`` on the other side."""
    schema = schema or PRETRAIN_SCHEMA
    flat_old, flat_new = flatten(old), flatten(new)
    changing, neutral = [], []
    for key in [*flat_new, *(k for k in flat_old if k not in flat_new)]:
        before, after = flat_old.get(key, "(absent)"), flat_new.get(key, "(absent)")
        if key not in flat_old and after == schema_default(key, new, schema):
            continue
        if before != after:
            (neutral if _neutral(key, new) and _neutral(key, old) else changing).append((key, before, after))
    return changing, neutral


def result_part(cfg: Mapping) -> dict[str, Any]:
    """The result-changing keys of a config, flattened: what identifies the numbers a run produces."""
    return {key: value for key, value in flatten(cfg).items() if not _neutral(key, cfg)}


def describe(value: Any) -> str:
    """A value as in YAML, shortened: ``null``, ``true``, ``[1, 2]``, a sha256 as its first 12 digits."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    return text if len(text) <= 80 else text[:77] + "..."


def format_changes(changes: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{key} {describe(before)} -> {describe(after)}" for key, before, after in changes)
