"""Save and load every fewlabel model: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` names the registered type and holds what rebuilds it (constructor parameters, fitted
attributes such as ``classes_``); ``model.safetensors`` holds the weights. Loading only ever looks the
type up among fewlabel's registered classes and reads tensors: nothing is unpickled, no code named by the
file is imported.

A type takes part by being decorated with :func:`register` and either being an ``nn.Module`` with a
``config()`` method returning its constructor's keyword arguments, or implementing
``_get_state() -> (config, tensors)`` and ``_from_state(config, tensors)`` (a classmethod).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError
from fewlabel.registry import REGISTRY as _REGISTRY, register  # noqa: F401 (register: re-exported)

FORMAT = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _state_of(obj) -> tuple[dict, dict[str, torch.Tensor]]:
    if hasattr(obj, "_get_state"):
        return obj._get_state()
    if isinstance(obj, torch.nn.Module) and hasattr(obj, "config"):
        return obj.config(), dict(obj.state_dict())
    raise InputError(f"fewlabel cannot save a {type(obj).__name__}: not a fewlabel model or estimator")


def _rebuild(cls: type, config: dict, tensors: dict[str, torch.Tensor], path: Path):
    if hasattr(cls, "_from_state"):
        return cls._from_state(config, tensors)
    module = cls(**config)
    missing, unexpected = set(module.state_dict()) - set(tensors), set(tensors) - set(module.state_dict())
    if missing or unexpected:
        raise CorruptFileError(f"{path}: the weights do not match the architecture in {CONFIG_NAME} "
                               f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    try:
        module.load_state_dict(tensors)
    except RuntimeError as e:
        raise CorruptFileError(f"{path}: the weights do not match the architecture in {CONFIG_NAME}: {e}") from None
    module.eval()
    return module


def save(obj, path: str | os.PathLike) -> Path:
    """Save a fewlabel model or estimator to the folder ``path`` (created; replaced if it is one already).

    The folder is written beside its destination and moved into place when complete, so an
    interrupted save never leaves a half-written model behind.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and (path / CONFIG_NAME).exists()):
        if path.is_file() or any(path.iterdir()):
            raise InputError(f"{path} exists and is not a fewlabel model folder; refusing to overwrite it")
    if type(obj).__name__ not in _REGISTRY:
        raise InputError(f"fewlabel cannot save a {type(obj).__name__}: not a fewlabel model or estimator")
    config, tensors = _state_of(obj)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    header = {"fewlabel_format": FORMAT, "type": type(obj).__name__, "config": config}
    text = json.dumps(header, indent=2, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"fewlabel_type": type(obj).__name__})
        (tmp / CONFIG_NAME).write_text(text)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote. Missing, corrupt, truncated or foreign files give a clear error."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"no fewlabel model at {path}: the path does not exist")
    if not path.is_dir() or not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise CorruptFileError(f"{path} is not a fewlabel model folder: it needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        header = json.loads((path / CONFIG_NAME).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{path / CONFIG_NAME} is not valid JSON ({e})") from None
    if not isinstance(header, dict) or "type" not in header or "config" not in header:
        raise CorruptFileError(f"{path / CONFIG_NAME} is not a fewlabel config (no 'type' and 'config')")
    if header.get("fewlabel_format", 0) > FORMAT:
        raise CorruptFileError(f"{path} was written by a newer fewlabel (format {header['fewlabel_format']}); upgrade")
    cls = _REGISTRY.get(header["type"])
    if cls is None:
        _import_all()
        cls = _REGISTRY.get(header["type"])
    if cls is None:
        raise CorruptFileError(f"{path}: unknown model type {header['type']!r} (known: {sorted(_REGISTRY)})")
    try:
        tensors = load_file(str(path / WEIGHTS_NAME))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CorruptFileError(f"{path / WEIGHTS_NAME} is not a readable safetensors file (truncated?): {e}") from None
    try:
        return _rebuild(cls, header["config"], tensors, path)
    except (TypeError, KeyError) as e:
        raise CorruptFileError(f"{path / CONFIG_NAME} does not describe a valid {header['type']}: {e}") from None


def _import_all() -> None:
    """Import the modules that register savable types (load may be called before any of them)."""
    import fewlabel.estimators  # noqa: F401
    import fewlabel.nets  # noqa: F401
