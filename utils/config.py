"""YAML configs: inheritance (``base:``), command-line overrides (``--set dotted.key=value``) and validation.

    cfg = load_config("configs/main/avsa/Cur-Loc4-TransfD2.yaml", ["dataset.batch_size=8"], schema=PRETRAIN_SCHEMA)

The caller passes the ``Schema`` of the config it reads, composed of the sections that the modules reading them
define as plain values (``engine.schema.PRETRAIN_SCHEMA``, ``evaluation.schema.EVAL_SCHEMA``). Validation fills in
defaults and derived keys: the result is the resolved config written as ``config.yaml``. Every problem is a
one-line ``ConfigError`` ``<file>: <dotted.key>: <what is wrong>``, naming the file (or ``--set``) that set the key.
Users' guide: docs/configs.md.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from utils.errors import ConfigError
from utils.files import write_text

__all__ = ["REQUIRED", "Field", "Section", "Schema", "load_config", "read_config", "validate_config", "save_config",
           "parse_override"]

REQUIRED = object()  # sentinel default: the key must be present


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` (no dot) as a float, as YAML 1.2 and every researcher expect."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (SafeLoader subclass)


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true/false", str: "a string", list: "a list",
               dict: "a mapping"}


class Field:
    """One config value.

    type: int, float, bool, str, list or dict. ``item`` validates list elements; ``length`` fixes a list's
    length; ``min``/``max`` bound numbers (and list elements through ``item``); ``choices`` lists the allowed
    values; ``nullable`` admits ``null``; ``exists`` requires a path that exists on disk.
    """

    def __init__(self, type: type, default: Any = REQUIRED, *, choices: Iterable | None = None,
                 min: float | None = None, max: float | None = None, item: "Field | Section | None" = None,
                 length: int | None = None, nullable: bool = False, exists: bool = False, help: str = ""):
        self.type = type
        self.default = default
        self.choices = list(choices) if choices is not None else None
        self.min, self.max = min, max
        self.item, self.length = item, length
        self.nullable, self.exists = nullable, exists
        self.help = help

    def validate(self, value: Any, where: str, origin: Callable[[str], str]) -> Any:
        def fail(msg: str):
            raise ConfigError(f"{origin(where)}: {where}: {msg}")

        if value is None:
            if self.nullable:
                return None
            fail(f"must be {_TYPE_NAMES[self.type]}, got null")
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is int and isinstance(value, bool) or not isinstance(value, self.type):
            fail(f"must be {_TYPE_NAMES[self.type]}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            fail(f"{value!r} is not one of {self.choices}{extra}")
        if self.type in (int, float):
            if self.min is not None and value < self.min:
                fail(f"{value} is below the minimum {self.min}")
            if self.max is not None and value > self.max:
                fail(f"{value} is above the maximum {self.max}")
        if self.type is list:
            if self.length is not None and len(value) != self.length:
                fail(f"must have {self.length} elements, got {len(value)}")
            if self.item is not None:
                value = [self.item.validate(v, f"{where}[{i}]", origin) for i, v in enumerate(value)]
        if self.exists and not os.path.exists(value):
            fail(f"file or directory not found: {value}")
        return value

    def default_value(self, where: str, origin: Callable[[str], str]) -> Any:
        if self.default is REQUIRED:
            raise ConfigError(f"{origin(where)}: {where}: required key is missing")
        return copy.deepcopy(self.default)


Check = Callable[[dict], "str | None"]


class Section:
    """A mapping of named fields / sub-sections.

    ``tag`` + ``variants``: the value of the tag field (e.g. ``name``) selects extra fields, so that a loss
    section named ``avsa`` accepts ``negatives`` while one named ``avc`` does not.
    ``check(section_dict) -> str | None`` runs after the fields validate, for constraints between keys; a
    returned string is the error (it may start with ``key: `` to name the offending sub-key).
    ``config_check(config_dict) -> str | None``: the same on the whole config, run when the section is a top-level
    section of a `Schema`, for keys of this section that depend on other sections (``"section.key: ..."``).
    ``required``: the whole section must be present. Otherwise an absent section gets its defaults, or stays absent
    when ``optional`` is set (or, at the top level, when it has required keys: each script names the sections it
    needs in ``load_config(required=...)``).
    """

    def __init__(self, fields: Mapping[str, "Field | Section"], *, tag: str | None = None,
                 variants: Mapping[str, Mapping[str, "Field | Section"]] | None = None,
                 check: Check | None = None, config_check: Check | None = None, required: bool = False,
                 optional: bool = False, help: str = ""):
        self.fields = dict(fields)
        self.tag, self.variants = tag, dict(variants or {})
        self.check, self.config_check = check, config_check
        self.required, self.optional, self.help = required, optional, help
        if tag is not None and not isinstance(self.fields.get(tag), Field):
            raise ValueError(f"tag {tag!r} must be one of the section's fields")
        if tag is not None and self.variants and self.fields[tag].choices is None:  # the variants are the choices
            self.fields[tag] = copy.copy(self.fields[tag])
            self.fields[tag].choices = list(self.variants)

    def fields_for(self, value: Mapping) -> dict:
        fields = dict(self.fields)
        if self.tag is not None:
            fields.update(self.variants.get(value.get(self.tag, self.fields[self.tag].default), {}))
        return fields

    def validate(self, value: Any, where: str, origin: Callable[[str], str]) -> dict:
        prefix = f"{where}." if where else ""
        if not isinstance(value, Mapping):
            raise ConfigError(f"{origin(where)}: {where or '<top level>'}: must be a mapping, "
                              f"got {type(value).__name__} {value!r}")
        fields = self.fields_for(value)
        for key in value:
            if key not in fields:
                hint = difflib.get_close_matches(str(key), list(fields), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(f"{origin(prefix + str(key))}: {prefix}{key}: unknown key{extra}")
        out = {}
        # The tag first, so that an unknown variant is reported before its (then unknown) keys.
        order = sorted(fields, key=lambda k: k != self.tag)
        for key in order:
            spec = fields[key]
            if key in value:
                out[key] = spec.validate(value[key], prefix + key, origin)
            elif isinstance(spec, Section):
                if spec.required:
                    raise ConfigError(f"{origin(prefix + key)}: {prefix}{key}: required section is missing")
                if not spec.optional:
                    try:
                        out[key] = spec.validate({}, prefix + key, origin)
                    except ConfigError:
                        if where:  # nested: a section with required keys must be given
                            raise
                        # top level: a section this config does not use (e.g. `loss` in an eval config) stays
                        # absent; scripts name the sections they need in load_config(required=...).
            else:
                out[key] = spec.default_value(prefix + key, origin)
        if self.check is not None:
            problem = self.check(out)
            if problem:
                sub, sep, msg = problem.partition(": ")
                named = bool(sep) and sub.split(".")[0] in out  # "key: …" or "key.sub.key: …" of this section
                key = f"{prefix}{sub}" if named else where or "<top level>"
                msg = msg if named else problem
                raise ConfigError(f"{origin(key)}: {key}: {msg}")
        return {k: out[k] for k in fields if k in out}

    def default_value(self, where: str, origin: Callable[[str], str]) -> dict:
        return self.validate({}, where, origin)


class Schema(Section):
    """The schema of a whole config file, composed by the code that reads the file::

        Schema(RUN_KEYS, optimizer=OPTIMIZER, dataset=DATASET_SCHEMA, model=MODEL_SCHEMA)

    ``keys``: mappings of top-level fields (and sections); ``sections``: top-level sections by name. A name given
    twice is an error. After everything validates, the ``config_check`` of each top-level section runs on the whole
    config (sections it lacks are absent from the dict), in order: it completes keys derived from other sections
    (writing them into the dict) and returns an error ``"section.key: message"`` or None.
    """

    def __init__(self, *keys: Mapping[str, Field | Section], **sections: Section):
        fields: dict[str, Field | Section] = {}
        for part in (*keys, sections):
            for name, spec in part.items():
                if name in fields:
                    raise ValueError(f"config key {name!r} given twice")
                fields[name] = spec
        super().__init__(fields, check=self._config_checks)

    def _config_checks(self, cfg: dict) -> str | None:
        for spec in self.fields.values():
            problem = spec.config_check(cfg) if isinstance(spec, Section) and spec.config_check else None
            if problem:
                return problem
        return None


# ------------------------------------------------------------------------------------------ loading
def _provenance(value: Any, dotted: str, source: str) -> dict[str, str]:
    """Map every dotted key inside ``value`` (and ``dotted`` itself) to the file that set it."""
    out = {dotted: source} if dotted else {}
    if isinstance(value, Mapping):
        for key, sub in value.items():
            out.update(_provenance(sub, f"{dotted}.{key}" if dotted else str(key), source))
    return out


def _merge(base: dict, base_origins: dict, new: Mapping, new_origins: Mapping, prefix: str = "") -> dict:
    """Deep-merge ``new`` into ``base`` (mappings merge, the rest is replaced), updating ``base_origins``."""
    out = dict(base)
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], base_origins, value, new_origins, dotted + ".")
            # the section is now last touched by the new file: a check between its keys (e.g. audio shorter than
            # video) most likely fails because of the key that file just set
            if dotted in new_origins:
                base_origins[dotted] = new_origins[dotted]
        else:
            out[key] = copy.deepcopy(value)
            for old in [k for k in base_origins if k == dotted or k.startswith(dotted + ".")]:
                del base_origins[old]
            base_origins.update({k: v for k, v in new_origins.items()
                                 if k == dotted or k.startswith(dotted + ".")})
    return out


def _read_file(path: str, chain: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Load one YAML file and its bases. Returns (merged dict, {dotted key: file that set it})."""
    real = os.path.realpath(path)
    if real in chain:
        raise ConfigError(f"{path}: base: inheritance cycle through {os.path.basename(path)}")
    if not os.path.isfile(path):
        if chain:
            raise ConfigError(f"{chain[-1]}: base: config file not found: {path}")
        raise ConfigError(f"{path}: <file>: config file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml_load(f.read())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: <yaml {line}>: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: <top level>: must be a mapping of keys, got {type(data).__name__}")
    bases = data.pop("base", None)
    if isinstance(bases, str):
        bases = [bases]
    if bases is not None and not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        raise ConfigError(f"{path}: base: must be a path or a list of paths")
    merged: dict = {}
    origins: dict[str, str] = {}
    for base in bases or []:
        base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
        base_data, base_origins = _read_file(base_path, chain + (real,))
        merged = _merge(merged, origins, base_data, base_origins)
    merged = _merge(merged, origins, data, _provenance(data, "", path))
    return merged, origins


def parse_override(text: str) -> tuple[str, Any]:
    """``"dataset.batch_size=8"`` -> ``("dataset.batch_size", 8)``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set: {text}: expected dotted.key=value")
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set: {key}: cannot parse value {raw!r} as YAML") from None
    return key, value


def _apply_override(cfg: dict, key: str, value: Any, origins: dict) -> None:
    parts = key.split(".")
    node = cfg
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"--set: {'.'.join(parts[:i + 1])}: is a value, not a section")
        node = child
    node[parts[-1]] = value
    for old in [k for k in origins if k == key or k.startswith(key + ".")]:
        del origins[old]
    origins.update(_provenance(value, key, "--set"))


def read_config(path: str, overrides: Iterable[str] = (), under: Mapping | None = None,
                under_source: str = "") -> tuple[dict, dict[str, str]]:
    """Read, merge and override a config WITHOUT validating it. Returns (raw dict, {dotted key: who set it}) where
    "who" is a file, ``--set`` or ``under_source``; keys no one set (left to their schema defaults) are absent.

    ``under``: values merged below the file and its bases, as if it were the first ``base:`` (the evaluation
    scripts put the pre-training's input recipe there, ``evaluation.runner``); attributed to ``under_source``.
    """
    raw, origins = _read_file(path)
    if under:
        below: dict[str, str] = {}
        merged = _merge({}, below, under, _provenance(under, "", under_source))
        raw = _merge(merged, below, raw, origins)
        origins = below
    for text in overrides:
        key, value = parse_override(text)
        _apply_override(raw, key, value, origins)
    return raw, origins


def validate_config(raw: dict, origins: Mapping[str, str], path: str, required: Iterable[str] = (), *,
                    schema: Section) -> dict:
    """Validate a `read_config` result against ``schema``. Returns the resolved dict (defaults and derived keys
    filled in); errors name the file (or ``--set``) that set the offending key, ``path`` otherwise."""
    def origin(dotted: str) -> str:
        while dotted:
            dotted = dotted.split("[")[0]
            if dotted in origins:
                return origins[dotted]
            dotted = dotted.rpartition(".")[0]
        return path

    for name in required:
        if name not in raw:
            raise ConfigError(f"{path}: {name}: required section is missing")
    return schema.validate(raw, "", origin)


def load_config(path: str, overrides: Iterable[str] = (), required: Iterable[str] = (), *, schema: Section) -> dict:
    """Read, merge, override and validate a config against ``schema`` (a `Schema`). Returns the resolved dict
    (defaults and derived keys filled in).

    ``required``: top-level sections this caller needs (e.g. ``("dataset", "model")``); another top-level section
    with required keys stays absent when the file does not have it.
    """
    return validate_config(*read_config(path, overrides), path, required, schema=schema)


def save_config(cfg: Mapping, run_dir: str) -> str:
    """Write the resolved config as ``<run_dir>/config.yaml`` (atomically) and return the path."""
    target = os.path.join(run_dir, "config.yaml")
    write_text(target, yaml.safe_dump(_plain(cfg), sort_keys=False, default_flow_style=None))
    return target


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
