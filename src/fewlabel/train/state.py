"""Nested state (model, optimizer, scheduler, history) to safetensors + JSON and back, without pickle.

``torch.save`` pickles, and unpickling a file someone hands you runs their code. Every file fewlabel
writes is instead a safetensors file: the tensors in its body, and the structure around them (optimizer
param groups, step counts, history) as JSON in its header metadata. Loading it can only ever produce
tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from fewlabel.errors import CorruptFileError, DataNotFoundError

_TENSOR, _DICT, _LIST, _TUPLE, _FLOAT = "__tensor__", "__dict__", "__list__", "__tuple__", "__float__"
# When this process started (as far as it can tell: when fewlabel was imported). A partial file not
# touched since then, left by a process that no longer runs, is what a killed write leaves behind.
_PROCESS_START = time.time()


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Replace every tensor in ``obj`` by a reference into ``tensors``; return a JSON-able structure."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        if key in tensors:
            raise ValueError(f"duplicate tensor key {key!r}")
        # safetensors refuses tensors that share storage; clone so every entry owns its memory.
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        items = []
        for i, (k, v) in enumerate(obj.items()):
            if not isinstance(k, (str, int)):
                raise TypeError(f"cannot store a dict key of type {type(k).__name__} at {prefix!r}")
            items.append([k, flatten_state(v, tensors, f"{prefix}.{i}")])
        return {_DICT: items}
    if isinstance(obj, (list, tuple)):
        tag = _LIST if isinstance(obj, list) else _TUPLE
        return {tag: [flatten_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, float) and not math.isfinite(obj):
        return {_FLOAT: repr(obj)}  # JSON has no nan/inf; keep them exactly
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a value of type {type(obj).__name__} at {prefix!r}")


def unflatten_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(obj, dict):
        if _TENSOR in obj:
            key = obj[_TENSOR]
            if key not in tensors:
                raise CorruptFileError(f"the file's structure refers to a tensor {key!r} it does not contain")
            return tensors[key]
        if _DICT in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj[_DICT]}
        if _LIST in obj:
            return [unflatten_state(v, tensors) for v in obj[_LIST]]
        if _TUPLE in obj:
            return tuple(unflatten_state(v, tensors) for v in obj[_TUPLE])
        if _FLOAT in obj:
            return float(obj[_FLOAT])
        raise CorruptFileError(f"unexpected entry in the file's structure: {sorted(obj)}")
    return obj


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` only once it is complete.

    The result is written to ``.NAME.PID.RANDOM.partial`` beside ``path`` first. A crash or an exception
    while writing leaves the previous file intact; an exception also removes the partial file. A kill -9
    cannot remove it: the next successful write of the same ``path`` does, removing the partial files of
    ``path`` that are stale (see :func:`remove_stale_partials`). The temporary file is created with
    ``open(..., "x")`` rather than ``mkstemp`` so the result gets the usual permissions (umask), not
    mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.partial"
    try:
        open(tmp, "x").close()
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    remove_stale_partials(path)


def _process_runs(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there; rely on the age test alone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, as another user
        return True
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the partial files killed writes of ``path`` left beside it; return those removed.

    Only files named as :func:`atomic_write` names the partial files of this very ``path``
    (``.NAME.PID.RANDOM.partial``) are candidates, and of those only the ones that are stale: written by
    another process that no longer runs, and not modified since this process started. A write in
    progress in another process is left alone.
    """
    path = Path(path)
    own = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[0-9a-f]{12}\.partial")
    removed = []
    for candidate in glob.glob(glob.escape(str(path.parent / f".{path.name}.")) + "*.partial"):
        found = own.fullmatch(os.path.basename(candidate))
        if found is None or int(found.group(1)) == os.getpid():
            continue
        try:
            if os.stat(candidate).st_mtime >= _PROCESS_START or _process_runs(int(found.group(1))):
                continue
            os.unlink(candidate)
            removed.append(Path(candidate))
        except OSError:  # gone already (another process cleaned it), or not ours to remove
            continue
    return removed


def write_json_atomic(path, obj) -> Path:
    """``obj`` as indented JSON at ``path``, written atomically (see :func:`atomic_write`)."""
    text = json.dumps(obj, indent=2) + "\n"
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)


def save_state_file(path: Path, kind: str, state: dict[str, Any]) -> None:
    """Write ``state`` (nested dicts with tensors) as one safetensors file, atomically."""
    tensors: dict[str, torch.Tensor] = {}
    structure = flatten_state(state, tensors, "s")
    meta = {"fewlabel": json.dumps({"kind": kind, "format": 1, "state": structure})}
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_state_file(path: Path, kind: str) -> dict[str, Any]:
    """Read a file written by :func:`save_state_file`; clear errors for missing, foreign or broken files."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no such file: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CorruptFileError(f"{path} is not a readable safetensors file (truncated or foreign?): {e}") from None
    if "fewlabel" not in meta:
        raise CorruptFileError(f"{path} is a safetensors file but not one fewlabel wrote (no 'fewlabel' metadata)")
    try:
        header = json.loads(meta["fewlabel"])
    except (json.JSONDecodeError, RecursionError) as e:
        raise CorruptFileError(f"{path}: the fewlabel metadata is not valid JSON ({e})") from None
    if not isinstance(header, dict) or "state" not in header:
        raise CorruptFileError(f"{path}: the fewlabel metadata is damaged (not an object with a 'state')")
    if header.get("kind") != kind:
        raise CorruptFileError(f"{path} holds a fewlabel {header.get('kind')!r}, not a {kind!r}")
    try:
        return unflatten_state(header["state"], tensors)
    except (TypeError, ValueError, RecursionError) as e:  # CorruptFileError is a ValueError: named already
        if isinstance(e, CorruptFileError):
            raise CorruptFileError(f"{path}: {e}") from None
        raise CorruptFileError(f"{path}: the structure in its fewlabel metadata is damaged "
                               f"({type(e).__name__}: {e})") from None
