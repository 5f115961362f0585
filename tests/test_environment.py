"""The pinned dependency lists of pyproject.toml and environment.yml agree, and the install is what they pin."""

import os
import tomllib
from importlib import metadata

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject_pins() -> dict[str, str]:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    pins = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(p.split("==") for p in pins)


def _environment_pins() -> dict[str, str]:
    with open(os.path.join(REPO, "environment.yml")) as f:
        env = yaml.safe_load(f)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(p.split("==") for p in pip)


def test_pyproject_and_environment_pin_the_same_versions():
    assert _pyproject_pins() == _environment_pins()


def test_every_dependency_is_pinned_exactly_and_torch_stack_matches_the_gpu_machines():
    pins = _pyproject_pins()
    assert pins["torch"] == "2.11.0" and pins["torchvision"] == "0.26.0" and pins["torchaudio"] == "2.11.0"
    for name in ("av", "librosa", "numpy", "pyyaml", "tensorboard", "scikit-learn", "tqdm"):
        assert name in pins


def test_installed_versions_are_the_pinned_ones():
    for name, version in _pyproject_pins().items():
        installed = metadata.version(name).split("+")[0]
        assert installed == version, f"{name}: installed {installed}, pinned {version}"
