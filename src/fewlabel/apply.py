"""Apply a saved model to new rows, batch by batch, and write its answers to a file (``fewlabel predict``).

What each kind of model answers, one row per input row (:func:`answers`):

* a classifier (``SemiSupervisedClassifier``): ``label``, ``confidence``, ``margin``, ``unfamiliar``, ``flagged``;
* one autoencoder per class (``ClassAutoencoderClassifier``): ``label``, ``probability``, ``unknown``;
* a clusterer (``ClusterModel``, ``DeepClustering``): ``cluster``, ``probability``;
* an outlier detector (``ReconstructionDetector``): ``score`` (``anomaly_score``) and ``outlier``;
* an encoder (the autoencoders, ``BYOL``): its codes.

:func:`predict_file` reads the rows with :func:`fewlabel.datasets.stream.open_rows` and writes each batch's
answers before reading the next, so memory stays flat in the number of rows; the output is written beside
its destination and moved into place when complete.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from fewlabel.errors import InputError

OUTPUT_FORMATS = (".csv", ".parquet", ".npy")


def kind_of(model) -> str:
    """'classifier', 'class_autoencoders', 'clusterer', 'detector' or 'encoder'."""
    name = type(model).__name__
    if name == "SemiSupervisedClassifier":
        return "classifier"
    if name == "ClassAutoencoderClassifier":
        return "class_autoencoders"
    if name in ("ClusterModel", "DeepClustering"):
        return "clusterer"
    if name == "ReconstructionDetector":
        return "detector"
    if callable(getattr(model, "transform", None)):
        return "encoder"
    raise InputError(f"fewlabel predict cannot apply a {name}")


def answers(model, X) -> dict:
    """The model's answers for the rows ``X``, as named columns (an encoder: ``{"codes": array}``)."""
    kind = kind_of(model)
    if kind == "classifier":
        return model.predict_details(X)
    if kind == "class_autoencoders":
        proba = model.predict_proba(X)
        out = {"label": model.predict(X), "probability": proba.max(axis=1)}
        if getattr(model, "thresholds_", None) is not None:
            out["unknown"] = model.is_unknown(X)
        return out
    if kind == "clusterer":
        proba = model.predict_proba(X) if hasattr(model, "predict_proba") else model.soft_assign(X)
        return {"cluster": proba.argmax(axis=1), "probability": proba.max(axis=1)}
    if kind == "detector":
        return {"score": model.anomaly_score(X), "outlier": model.predict(X) == -1}
    return {"codes": np.asarray(model.transform(X), np.float32)}


def expected_input(model) -> tuple[tuple | None, dict]:
    """(row shape the model takes, its training record) for the checks before any row is read."""
    record = getattr(model, "training_data_", None) or {}
    shape = getattr(model, "input_shape_", None)
    if shape is None and record.get("shape") is not None:
        shape = tuple(record["shape"])
    return (None if shape is None else tuple(int(d) for d in shape)), record


def reading_settings(model, size=None, color=None) -> dict:
    """How to read images for ``model``: the size and colour it was trained on (its record's ``read``, else
    its input shape); ``size`` / ``color`` given by the user win."""
    shape, record = expected_input(model)
    read = record.get("read") or {}
    if color is None and shape is not None and len(shape) in (2, 3):
        color = "L" if len(shape) == 2 or shape[-1] == 1 else ("RGB" if shape[-1] == 3 else None)
    if size is None and read.get("size") is not None:
        size = tuple(read["size"])
    return {"size": size, "color": color}


def check_rows(model, rows, model_path) -> None:
    """Refuse rows whose shape differs from what the model was trained on, naming both."""
    shape, _ = expected_input(model)
    if shape is None or tuple(rows.row_shape) == shape:
        return
    what = "images" if rows.kind == "images" else "rows"
    hint = " (give --size HxW to resize the images)" if rows.kind == "images" and len(shape) in (2, 3) else ""
    raise InputError(f"{rows.path} has {what} of shape {_shape(rows.row_shape)}, but the model in {model_path} was "
                     f"trained on rows of shape {_shape(shape)}{hint}")


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "()"


class _Writer:
    """One output file written batch by batch into a temporary file beside it, moved into place by ``close``."""

    def __init__(self, path: Path, name_column: str, n_rows: int):
        self.path, self.name_column, self.n_rows = path, name_column, n_rows
        self.fmt = path.suffix.lower()
        self.tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        self.done = 0
        self._csv = self._parquet = self._npy = None

    def write(self, names, columns: dict) -> None:
        if "codes" in columns:
            codes = columns["codes"].reshape(len(names), -1)
            if self.fmt == ".npy":
                if self._npy is None:
                    self._npy = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32,
                                                          shape=(self.n_rows, codes.shape[1]))
                self._npy[self.done:self.done + len(codes)] = codes
                self.done += len(codes)
                return
            columns = {f"code_{j}": codes[:, j] for j in range(codes.shape[1])}
        elif self.fmt == ".npy":
            raise InputError(f"{self.path}: a .npy file holds codes; this model's answers ({', '.join(columns)}) go "
                             "into a .csv or .parquet file")
        if self.fmt == ".csv":
            if self._csv is None:
                self._file = open(self.tmp, "w", newline="", encoding="utf-8")
                self._csv = csv.writer(self._file)
                self._csv.writerow([self.name_column, *columns])
            values = [_cells(v) for v in columns.values()]
            for i, name in enumerate(names):
                self._csv.writerow([name, *(v[i] for v in values)])
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({self.name_column: list(names),
                              **{k: (np.asarray(v).astype(str) if np.asarray(v).dtype.kind in "OU" else np.asarray(v))
                                 for k, v in columns.items()}})
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.tmp, table.schema)
            self._parquet.write_table(table)
        self.done += len(names)

    def close(self, ok: bool) -> None:
        if self._csv is not None:
            self._file.close()
        if self._parquet is not None:
            self._parquet.close()
        if self._npy is not None:
            self._npy.flush()
            del self._npy
        if ok and self.tmp.exists():
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def write_table(path, name_column: str, names, columns: dict) -> None:
    """Answers for named rows as one file (.csv or .parquet), written beside ``path`` and moved into place."""
    writer = _Writer(Path(path), name_column, len(names))
    ok = False
    try:
        writer.write(list(names), columns)
        ok = True
    finally:
        writer.close(ok)


def _cells(values) -> list:
    a = np.asarray(values)
    if a.dtype == bool:
        return ["yes" if v else "no" for v in a]
    if a.dtype.kind == "f":
        return [f"{v:.6g}" for v in a]
    return [str(v) for v in a]


def check_output(path, kind: str, force: bool) -> Path:
    """The output file: a known format for this kind of model, a place that can be written, not an existing
    file unless ``force``."""
    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"--out {path}: name the output file .csv, .parquet or .npy (codes only)")
    if fmt == ".npy" and kind != "encoder":
        raise InputError(f"--out {path}: a .npy file holds an encoder's codes; a {kind}'s answers go into .csv or "
                         ".parquet")
    if fmt == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("writing .parquet needs pyarrow: pip install fewlabel[parquet], or write .csv") from None
    if path.is_dir():
        raise InputError(f"--out {path} is a folder: give the file to write (e.g. {path / 'predictions.csv'})")
    if path.exists() and not force:
        raise InputError(f"--out {path} already exists: pass --force to replace it")
    if not path.parent.exists():
        raise InputError(f"--out {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"--out {path}: cannot write into {path.parent}")
    return path


class _Progress:
    """A bar on a terminal (tqdm), a plain line about every tenth of the rows otherwise."""

    def __init__(self, total: int, enabled: bool, what: str):
        self.total, self.enabled, self.what, self.done = total, enabled, what, 0
        self.bar = None
        self.next_line = max(1, total // 10)
        self.t0 = time.perf_counter()
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="row", desc=what, file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (self.done >= self.next_line or self.done == self.total):
            print(f"{self.what}: {self.done:,}/{self.total:,} rows ({time.perf_counter() - self.t0:.0f} s)",
                  file=sys.stderr, flush=True)
            self.next_line = self.done + max(1, self.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def predict_file(model, rows, out: Path, *, batch_size: int = 1024, progress: bool = True) -> dict:
    """Write ``model``'s :func:`answers` for every row of ``rows`` (from ``open_rows``) to ``out``; returns a
    summary (rows written, and the share flagged / outliers / unknown where the model says so)."""
    writer = _Writer(Path(out), rows.name_column, rows.n_rows)
    bar = _Progress(rows.n_rows, progress, "predict")
    counts: dict[str, int] = {}
    ok = False
    try:
        for X, names in rows.batches(batch_size):
            columns = answers(model, X)
            for key in ("flagged", "outlier", "unknown"):
                if key in columns:
                    counts[key] = counts.get(key, 0) + int(np.sum(columns[key]))
            writer.write(names, columns)
            bar.update(len(names))
        ok = True
    finally:
        bar.close()
        writer.close(ok)
    return {"rows": writer.done, **counts}
