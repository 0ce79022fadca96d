"""Save and load every fewlabel model: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` names the registered type and holds what rebuilds it (constructor parameters, fitted
attributes such as ``classes_``); ``model.safetensors`` holds the weights. Loading only ever looks the
type up among fewlabel's registered classes and reads tensors: nothing is unpickled, no code named by the
file is imported.

A type takes part by being decorated with :func:`register` and either being an ``nn.Module`` with a
``config()`` method returning its constructor's keyword arguments, or implementing
``get_state() -> (config, tensors)`` and ``from_state(config, tensors)`` (a classmethod).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sklearn.exceptions import NotFittedError

from fewlabel.checks import path_like
from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError
from fewlabel.registry import REGISTRY as _REGISTRY, register  # noqa: F401 (register: re-exported)

FORMAT = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _state_of(obj) -> tuple[dict, dict[str, torch.Tensor]]:
    if type(obj).__name__ in _REGISTRY and hasattr(obj, "get_state"):  # a fewlabel class, not any get_state
        try:
            return obj.get_state()
        except NotFittedError:
            raise InputError(f"{type(obj).__name__} is not fitted: call fit before fewlabel.save") from None
    if isinstance(obj, torch.nn.Module) and hasattr(obj, "config"):
        return obj.config(), dict(obj.state_dict())
    raise InputError(f"fewlabel cannot save a {type(obj).__name__}: not a fewlabel model or estimator")


def _rebuild(cls: type, config: dict, tensors: dict[str, torch.Tensor], path: Path):
    if not isinstance(config, dict):
        raise CorruptFileError(f"{path / CONFIG_NAME}: 'config' must be an object, got {type(config).__name__}")
    if hasattr(cls, "from_state"):
        return cls.from_state(config, tensors)
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
    path_like("path", path)
    path = Path(path)
    if path.exists() and not (path.is_dir() and (path / CONFIG_NAME).exists()):
        if path.is_file() or any(path.iterdir()):
            raise InputError(f"{path} exists and is not a fewlabel model folder; refusing to overwrite it")
    if type(obj).__name__ not in _REGISTRY:
        raise InputError(f"fewlabel cannot save a {type(obj).__name__}: not a fewlabel model or estimator")
    config, tensors = _state_of(obj)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    header = {"fewlabel_format": FORMAT, "type": type(obj).__name__, "saved_by": saved_by(), "config": config}
    text = json.dumps(header, indent=2, allow_nan=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as e:
        raise InputError(f"cannot save a model to {path}: {e.strerror or e}") from None
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
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot save a model to {path}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def saved_by() -> dict:
    """The versions a model was saved with, and when (``fewlabel info`` shows them)."""
    import platform
    import time

    import numpy

    from fewlabel import __version__

    return {"fewlabel": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def read_header(path) -> dict:
    """The ``config.json`` of a saved model as it is (type, versions, configuration), without building the model."""
    path_like("path", path)
    path = Path(path)
    if not (path / CONFIG_NAME).is_file():
        load(path)  # says what is wrong with the folder
    try:
        return json.loads((path / CONFIG_NAME).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError) as e:
        raise CorruptFileError(f"{path / CONFIG_NAME} is not valid JSON ({e})") from None


def _check_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Weights that are NaN or infinite (a training that diverged, a damaged file) would make every answer NaN."""
    for name, t in tensors.items():
        if t.is_floating_point() and t.numel() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise CorruptFileError(f"{path / WEIGHTS_NAME}: {bad} value(s) of {name!r} are NaN or infinite; the model's "
                                   "training diverged or the file is damaged, and it would answer NaN")


def _check_tensors(obj, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """The rebuilt object must hold exactly the file's tensors, with the same shapes."""
    _, expected = _state_of(obj)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    wrong = [f"{k}: {tuple(tensors[k].shape)} in the file, {tuple(expected[k].shape)} in the architecture"
             for k in sorted(set(expected) & set(tensors)) if tuple(expected[k].shape) != tuple(tensors[k].shape)]
    if missing or extra or wrong:
        parts = [f"{what} {names[:5]}{' ...' if len(names) > 5 else ''}"
                 for what, names in (("missing", missing), ("unexpected", extra), ("other shapes", wrong)) if names]
        raise CorruptFileError(f"{path}: the weights in {WEIGHTS_NAME} do not match the architecture in "
                               f"{CONFIG_NAME} ({'; '.join(parts)})")


def _dry_run(cls: type, config, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Rebuild on the meta device first: shapes only, nothing allocated, so that a config describing a
    network far larger than its weights is refused here instead of exhausting memory."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # "copying from a non-meta parameter ... is a no-op"
        try:
            _check_tensors(_rebuild(cls, config, tensors, path), tensors, path)
        except RuntimeError as e:
            if "state_dict" in str(e):  # load_state_dict found a size mismatch, a missing or extra tensor
                raise
        except CorruptFileError:
            raise
        except Exception:  # noqa: BLE001, S110
            # Some types compute with their tensors while rebuilding (which meta tensors cannot do):
            # the real rebuild below then decides, and _check_tensors checks its result.
            pass


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote. Missing, corrupt, truncated or foreign files give a clear error.

    Every failure is a fewlabel error naming the folder: DataNotFoundError when nothing is there,
    InputError for a file given instead of the folder, CorruptFileError for the rest (config.json not
    JSON, a file missing, a truncated or foreign safetensors file, an unknown type, a newer format,
    weights that do not match the architecture the config describes).
    """
    path_like("path", path)
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"no fewlabel model at {path}: the path does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is a file; a fewlabel model is the folder fewlabel.save wrote "
                         f"(with {CONFIG_NAME} and {WEIGHTS_NAME})")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            what = "is a folder, not a file" if (path / name).is_dir() else "is missing"
            raise CorruptFileError(f"{path} is not a fewlabel model folder: {name} {what} "
                                   f"(a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        header = json.loads((path / CONFIG_NAME).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CorruptFileError(f"{path / CONFIG_NAME} is not valid JSON ({e})") from None
    except OSError as e:
        raise CorruptFileError(f"cannot read {path / CONFIG_NAME}: {e}") from None
    if not isinstance(header, dict) or "type" not in header or "config" not in header:
        raise CorruptFileError(f"{path / CONFIG_NAME} is not a fewlabel config (no 'type' and 'config')")
    version = header.get("fewlabel_format", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CorruptFileError(f"{path / CONFIG_NAME}: fewlabel_format must be a format number, got {version!r}")
    if version > FORMAT:
        raise CorruptFileError(f"{path} was written by a newer fewlabel (model format {version}; this version "
                               f"reads format {FORMAT} and older): upgrade fewlabel to load it")
    kind = header["type"]
    if not isinstance(kind, str):
        raise CorruptFileError(f"{path / CONFIG_NAME}: 'type' must be a type name, got {kind!r}")
    cls = _REGISTRY.get(kind)
    if cls is None:
        _import_all()
        cls = _REGISTRY.get(kind)
    if cls is None:
        raise CorruptFileError(f"{path}: unknown model type {kind!r} (known: {sorted(_REGISTRY)})")
    try:
        tensors = load_file(str(path / WEIGHTS_NAME))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        raise CorruptFileError(f"{path / WEIGHTS_NAME} is not a readable safetensors file (truncated?): {e}") from None
    _check_finite(tensors, path)
    try:
        _dry_run(cls, header["config"], tensors, path)
        obj = _rebuild(cls, header["config"], tensors, path)
        _check_tensors(obj, tensors, path)
        return obj
    except CorruptFileError:
        raise
    except RuntimeError as e:
        if "state_dict" in str(e):  # load_state_dict inside an estimator's from_state
            raise CorruptFileError(f"{path}: the weights in {WEIGHTS_NAME} do not match the architecture in "
                                   f"{CONFIG_NAME}: {e}") from e
        raise CorruptFileError(f"{path}: {CONFIG_NAME} does not describe a valid {kind}: {type(e).__name__}: {e}") from e
    except KeyError as e:  # a tensor or a config entry that from_state needs is not there
        raise CorruptFileError(f"{path}: the weights in {WEIGHTS_NAME} do not match the architecture in "
                               f"{CONFIG_NAME}, or the config is incomplete: {e} is missing") from e
    except Exception as e:  # a config the constructors refuse, in whatever way: the folder is damaged
        raise CorruptFileError(f"{path}: {CONFIG_NAME} does not describe a valid {kind}: {type(e).__name__}: {e}") from e


def _import_all() -> None:
    """Import the modules that register savable types (load may be called before any of them)."""
    import fewlabel.estimators  # noqa: F401
    import fewlabel.nets  # noqa: F401
