"""Config loading: inheritance, overrides, validation errors (one line, naming file and dotted key)."""

import os
import subprocess
import sys
import textwrap

import pytest

from engine.schema import OPTIMIZER, RUN_KEYS
from utils import config as config_mod
from utils.config import Field, Schema, Section, load_config, parse_override
from utils.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def toy_section(existing: str) -> Section:
    return Section({
        "name": Field(str, "a", choices=["a", "b"]),
        "batch_size": Field(int, 8, min=1),
        "lr": Field(float, 0.1, min=0.0),
        "dims": Field(list, [1, 2], item=Field(int, min=1), length=2),
        "stats": Field(str, existing, exists=True),
        "need": Field(str, "ok"),
        "sub": Section({"depth": Field(int, 2, min=1, max=12), "flag": Field(bool, False)}),
    }, tag="name", variants={"a": {}, "b": {"extra": Field(int, 0)}},
        check=lambda s: "batch_size: must be even" if s["batch_size"] % 2 else None)


@pytest.fixture
def toy(tmp_path) -> Schema:
    """A toy section plus the real run-level keys and optimizer section."""
    existing = tmp_path / "exists.txt"
    existing.write_text("x")
    return Schema(RUN_KEYS, optimizer=OPTIMIZER, toy=toy_section(str(existing)))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_defaults_inheritance_and_overrides(tmp_path, toy):
    write(tmp_path, "base/base.yaml", """
        seed: 3
        toy: {batch_size: 4, sub: {depth: 3, flag: true}}
    """)
    child = write(tmp_path, "child.yaml", """
        base: base/base.yaml
        toy:
          lr: 1e-4            # YAML 1.1 would read this as a string
          sub: {depth: 5}
    """)
    cfg = load_config(child, ["toy.batch_size=16", "toy.dims=[3, 4]", "seed=7"], schema=toy)
    assert cfg["toy"]["sub"] == {"depth": 5, "flag": True}  # deep merge keeps the base's flag
    assert cfg["toy"]["lr"] == pytest.approx(1e-4) and isinstance(cfg["toy"]["lr"], float)
    assert cfg["toy"]["batch_size"] == 16 and cfg["toy"]["dims"] == [3, 4]
    assert cfg["seed"] == 7 and cfg["resume"] is True  # default from the engine schema
    assert cfg["optimizer"]["schedule"]["name"] == "constant"


def test_list_of_bases_merge_left_to_right(tmp_path, toy):
    write(tmp_path, "a.yaml", "toy: {batch_size: 2, lr: 0.5}\n")
    write(tmp_path, "b.yaml", "toy: {batch_size: 6}\n")
    child = write(tmp_path, "c.yaml", "base: [a.yaml, b.yaml]\n")
    cfg = load_config(child, schema=toy)
    assert cfg["toy"]["batch_size"] == 6 and cfg["toy"]["lr"] == 0.5


def test_parse_override_values_are_yaml():
    assert parse_override("a.b=8") == ("a.b", 8)
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a=null") == ("a", None)
    assert parse_override("a=hello") == ("a", "hello")
    assert parse_override("a=1e-3") == ("a", 1e-3)
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        parse_override("a.b")


MALFORMED = [
    # (file text, overrides, expected message fragment)
    ("toy: {batchsize: 4}\n", [], "toy.batchsize: unknown key (did you mean 'batch_size'?)"),
    ("toy: {batch_size: four}\n", [], "toy.batch_size: must be an integer, got str 'four'"),
    ("toy: {batch_size: -2}\n", [], "toy.batch_size: -2 is below the minimum 1"),
    ("toy: {batch_size: 3}\n", [], "toy.batch_size: must be even"),
    ("toy: {name: c}\n", [], "toy.name: 'c' is not one of ['a', 'b']"),
    ("toy: {dims: [1, 2, 3]}\n", [], "toy.dims: must have 2 elements, got 3"),
    ("toy: {dims: [1, 0]}\n", [], "toy.dims[1]: 0 is below the minimum 1"),
    ("toy: {stats: /no/such/file.npz}\n", [], "toy.stats: file or directory not found: /no/such/file.npz"),
    ("toy: {need: null}\n", [], "toy.need: must be a string, got null"),
    ("toy: {sub: {depth: 13}}\n", [], "toy.sub.depth: 13 is above the maximum 12"),
    ("toy: {sub: {flag: 1}}\n", [], "toy.sub.flag: must be true/false, got int 1"),
    ("toy: {extra: 1}\n", [], "toy.extra: unknown key"),  # only variant 'b' has it
    ("toy: [1, 2]\n", [], "toy: must be a mapping"),
    ("tyo: {}\n", [], "tyo: unknown key (did you mean 'toy'?)"),
    ("seed: 1.5\n", [], "seed: must be an integer, got float 1.5"),
    ("precision: fp8\n", [], "precision: 'fp8' is not one of"),
    ("toy: {lr: 0.1}\n", ["toy.lr=fast"], "--set: toy.lr: must be a number, got str 'fast'"),
    ("optimizer: {schedule: {name: multistep, milestones: [8, 4]}}\n", [],
     "optimizer.schedule.milestones: must be increasing"),
    ("toy: {batch_size: 4\n", [], "invalid YAML"),
    ("base: missing.yaml\n", [], "base: config file not found"),
    ("- 1\n- 2\n", [], "<top level>: must be a mapping"),
]


@pytest.mark.parametrize("text,overrides,expected", MALFORMED)
def test_malformed_configs_give_one_line_naming_file_and_key(tmp_path, toy, text, overrides, expected):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, schema=toy)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    source = "--set" if overrides else path
    assert message.startswith(source)


def test_error_names_the_base_file_that_set_the_key(tmp_path, toy):
    base = write(tmp_path, "base.yaml", "toy: {batch_size: 0}\n")
    child = write(tmp_path, "child.yaml", "base: base.yaml\ntoy: {lr: 0.2}\n")
    with pytest.raises(ConfigError) as info:
        load_config(child, schema=toy)
    assert str(info.value).startswith(base + ": toy.batch_size:")


def test_inheritance_cycle_is_reported(tmp_path, toy):
    write(tmp_path, "a.yaml", "base: b.yaml\n")
    b = write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="inheritance cycle"):
        load_config(b, schema=toy)


def test_save_config_writes_resolved_config(tmp_path, toy):
    path = write(tmp_path, "c.yaml", "toy: {batch_size: 4}\n")
    cfg = load_config(path, schema=toy)
    out = config_mod.save_config(cfg, str(tmp_path / "run"))
    assert load_config(out, schema=toy) == cfg


@pytest.mark.parametrize("text,expected", [
    ("precision: fp8\n", "precision: 'fp8' is not one of"),
    ("optimizr: {lr: 0.1}\n", "optimizr: unknown key (did you mean 'optimizer'?)"),
    ("optimizer: {lr: -1}\n", "optimizer.lr: -1.0 is below the minimum 0.0"),
])
def test_cli_prints_one_line_and_exits_2(tmp_path, text, expected):
    path = write(tmp_path, "bad.yaml", text)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "check_config.py"), path],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr


def test_absent_top_level_section_with_required_keys_stays_absent_unless_required(tmp_path):
    schema = Schema(RUN_KEYS, optimizer=OPTIMIZER, needs=Section({"path": Field(str)}))
    path = write(tmp_path, "c.yaml", "seed: 1\n")
    cfg = load_config(path, schema=schema)
    assert "needs" not in cfg and "optimizer" in cfg  # defaults-only sections are filled in
    with pytest.raises(ConfigError, match="needs: required section is missing"):
        load_config(path, required=["needs"], schema=schema)
    bad = write(tmp_path, "d.yaml", "needs: {}\n")
    with pytest.raises(ConfigError, match="needs.path: required key is missing"):
        load_config(bad, schema=schema)


def test_a_schema_holds_only_the_sections_it_is_composed_of(tmp_path, toy):
    path = write(tmp_path, "c.yaml", "toy: {batch_size: 4}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: toy: unknown key$"):
        load_config(path, schema=Schema(RUN_KEYS, optimizer=OPTIMIZER))
    with pytest.raises(ValueError, match="'seed' given twice"):
        Schema(RUN_KEYS, {"seed": Field(int, 1)})
    with pytest.raises(ValueError, match="'toy' given twice"):
        Schema({"toy": Field(int, 1)}, toy=toy.fields["toy"])


def _derive_width(cfg: dict) -> str | None:
    """A config check of the toy ``net`` section: ``net.width`` null is derived as twice ``toy.batch_size``."""
    if "net" not in cfg or "toy" not in cfg:
        return None
    net, derived = cfg["net"], 2 * cfg["toy"]["batch_size"]
    if net["width"] is None:
        net["width"] = derived
    elif net["width"] != derived:
        return f"net.width: {net['width']} differs from 2 x toy.batch_size ({derived})"
    return None


def test_config_checks_derive_keys_and_check_them_between_sections(tmp_path, toy):
    net = Section({"width": Field(int, None, nullable=True)}, config_check=_derive_width)
    schema = Schema(toy.fields, net=net)
    base = write(tmp_path, "base.yaml", "toy: {batch_size: 4}\n")
    assert load_config(base, schema=schema)["net"] == {"width": 8}
    assert load_config(base, ["toy.batch_size=6"], schema=schema)["net"] == {"width": 12}
    assert load_config(base, ["net.width=8"], schema=schema)["net"] == {"width": 8}
    child = write(tmp_path, "child.yaml", "base: base.yaml\nnet: {width: 10}\n")
    with pytest.raises(ConfigError) as info:  # named: the key, the file that set it, both values
        load_config(child, schema=schema)
    assert str(info.value) == f"{child}: net.width: 10 differs from 2 x toy.batch_size (8)"
    # the resolved config holds the derived value, so that reading it back agrees
    out = config_mod.save_config(load_config(base, schema=schema), str(tmp_path / "run"))
    assert load_config(out, schema=schema)["net"] == {"width": 8}
    # a schema without the section does not run its check
    assert "net" not in load_config(base, schema=toy)


def test_variants_are_the_tag_choices_without_changing_the_shared_field():
    name = Field(str, "a")
    section = Section({"name": name}, tag="name", variants={"a": {}, "b": {"extra": Field(int, 0)}})
    assert section.fields["name"].choices == ["a", "b"] and name.choices is None
    with pytest.raises(ConfigError, match=r"s\.name: 'c' is not one of \['a', 'b'\]"):
        section.validate({"name": "c"}, "s", lambda key: "f.yaml")
