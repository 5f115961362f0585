"""Checkpoints: one dict per file, written atomically, loaded safely.

Layout (torchvision-references style)::

    {"avsa_version": str, "epoch": int, "step": int, "config": dict,
     "model": state_dict, "criterion": state_dict | None, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "rng": {"python": ..., "numpy": ..., "torch": ..., "cuda": [...]}, **extra}

File names (``checkpoint.pth``, ``checkpoint-ep{E}.pth``): utils/runs.py. Writes go to a temporary file in
the same directory, are fsync'ed, then ``os.replace``'d over the target, so a crash (or a full disk) at any
moment leaves the previous file intact. Every load uses ``torch.load(..., weights_only=True)``: a file that
needs arbitrary code to unpickle is refused, never executed.
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from utils import __version__
from utils.errors import CheckpointError

# ------------------------------------------------------------------------------------------ RNG state
def capture_rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) generator states, in weights_only-loadable types."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [py_version, torch.tensor(py_state, dtype=torch.int64), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping) -> None:
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(int(v) for v in py_state.tolist()), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------ save / load
def save_checkpoint(state: Mapping[str, Any], path: str) -> None:
    """Write ``state`` to ``path`` atomically. On failure the previous file is intact and a
    ``CheckpointError`` says why (e.g. the disk is full)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    prefix = f".{os.path.basename(path)}.tmp"
    # A writer SIGKILLed mid-write (pre-emption) leaves its temporary file behind; one process writes a given path,
    # so any other temporary file of this target is such a leftover: remove it before it adds up to a full disk.
    for name in os.listdir(directory):
        if name.startswith(prefix):
            _remove_quietly(os.path.join(directory, name))
    tmp = os.path.join(directory, f"{prefix}{os.getpid()}")
    payload = {"avsa_version": __version__, **state}
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except OSError as err:
        _remove_quietly(tmp)
        raise CheckpointError(f"could not write checkpoint {path}: {err.strerror or err}; "
                              f"the previous checkpoint (if any) is intact") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def load_checkpoint(path: str, map_location: str | torch.device = "cpu", *, require_avsa: bool = True,
                    mmap: bool = False) -> dict:
    """Load a checkpoint safely (``weights_only=True``). Raises ``CheckpointError`` with a clear message for a
    missing, corrupt, unsafe or foreign file. ``mmap``: map the tensors instead of reading them (cheap when only
    the small entries, e.g. ``config``, are needed)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unpickling failed"
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CheckpointError(
                f"refusing to load {path}: it contains pickled Python objects that could run code "
                f"(safe loader said: {first[:200]})") from None
        raise CheckpointError(f"checkpoint {path} is corrupt: {first[:200]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {first[:200]}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not an avsa checkpoint (it holds a {type(state).__name__}, not a dict)")
    if require_avsa and "avsa_version" not in state:
        raise CheckpointError(f"{path} is not an avsa checkpoint (no 'avsa_version' entry); "
                              f"convert the authors' release with tools/convert_reference_checkpoint.py")
    return state


def load_state_strict(module: torch.nn.Module, state_dict: Mapping, what: str, path: str) -> None:
    """``module.load_state_dict(strict=True)`` with a one-line error listing the first mismatches."""
    try:
        result = module.load_state_dict(state_dict, strict=False)
    except RuntimeError as err:  # shape mismatches
        detail = [line.strip() for line in str(err).splitlines() if "size mismatch" in line][:1]
        raise CheckpointError(f"{path}: {what} does not match the model built from the config: "
                              f"{detail[0] if detail else str(err).splitlines()[0]}") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} keys (e.g. {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} keys (e.g. {result.unexpected_keys[0]})")
    if problems:
        raise CheckpointError(f"{path}: {what} does not match the model built from the config: "
                              + "; ".join(problems))


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
