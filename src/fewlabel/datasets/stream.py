"""Rows read in batches, so that applying a model to a file or folder takes memory that does not grow with its
rows: image folders (any depth), CSV / TSV / text and Parquet tables, memory-mapped ``.npy``, ``.npz``.

:func:`open_rows` checks what it can before the first batch (the file's kind, its columns against the ones a
model was trained on, the shape of its rows) and :meth:`Rows.batches` yields ``(X, names)``: a batch of rows
as the readers give them (uint8 images, float32 table rows) and what names each row in an output (the
image's path under the folder, the ``id_column`` value, or the row's number).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewlabel.datasets.tables import MISSING_REMEDY
from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError


@dataclass
class Rows:
    """A source of rows, read batch by batch (see :func:`open_rows`)."""

    path: Path
    kind: str  # "images", "table", "arrays"
    n_rows: int
    row_shape: tuple
    name_column: str
    _batches: object = field(repr=False, default=None)
    #: a table's missing cells filled so far (with ``fill``, :func:`open_rows`), by column
    filled: dict = field(default_factory=dict)
    #: a table's values, in its columns of categories, that are none of the model's categories: their cells so far
    unseen: dict = field(default_factory=dict)
    #: a table's rows dated outside the dates the model learned from, by column: ``{"before": n, "after": n}``
    outside: dict = field(default_factory=dict)

    def batches(self, size: int = 1024) -> Iterator[tuple[np.ndarray, list[str]]]:
        if not isinstance(size, int) or size < 1:
            raise InputError(f"batch size must be a positive integer, got {size!r}")
        return self._batches(size)


# -- images ----------------------------------------------------------------------------------------------
def _all_images(root: Path) -> list[Path]:
    from fewlabel.datasets.folders import IMAGE_EXTENSIONS

    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def _image_rows(root: Path, size, color) -> Rows:
    from fewlabel.datasets.partial import find_unreadable_images, read_images, unreadable_images

    files = _all_images(root)
    if not files:
        raise InputError(f"no images in {root} or its sub-folders (looked for png, jpg, jpeg, bmp, gif, tif, tiff, "
                         "webp)")

    def read(start, part):
        try:
            return read_images(part, root, size, color)
        except CorruptFileError:
            # every unreadable file of the folder named at once (the ones before this batch were read), so that one
            # pass mends them all; counted against the whole folder, not the batch
            raise unreadable_images(find_unreadable_images(files[start:], color, size), len(files), root) from None

    first = read(0, files[:1])
    shape = tuple(first.shape[1:])

    def batches(n):
        for start in range(0, len(files), n):
            part = files[start:start + n]
            X = read(start, part)
            if tuple(X.shape[1:]) != shape:
                raise InputError(f"the images in {root} differ in size: {files[0].relative_to(root)} gives "
                                 f"{_shape_text(shape)}, {part[0].relative_to(root)} and others "
                                 f"{_shape_text(X.shape[1:])}; give --size HxW to resize them all")
            yield X, [str(f.relative_to(root)) for f in part]

    return Rows(root, "images", len(files), shape, "file", batches)


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


# -- tables ----------------------------------------------------------------------------------------------
def _match_columns(path: Path, names: list[str], has_header: bool, expect, id_column, label_column):
    """(feature indices in the model's order, id index or None, the index of a row index pandas wrote that the model
    does not know, left out, or None): the file's columns against the model's."""
    from fewlabel.datasets.tables import resolve_column, row_index_column, unnamed_columns

    ident = None if id_column is None else resolve_column(id_column, names, has_header, "id_column", path)
    label = None
    if label_column is not None and has_header and label_column in names:
        label = names.index(label_column)  # the label column of next week's file is not a feature
    # a column with no name the model does not know: what rows that end in a delimiter leave (its cells must be
    # empty: checked as the rows are read, see _blank_cells)
    skip = {i for i in unnamed_columns(names, has_header) if expect is not None and names[i] not in expect}
    # and a row index pandas wrote (its values must number the rows: checked as they are read, see _row_index)
    index = row_index_column(names, has_header, text=path.suffix.lower() != ".parquet")
    if index is not None and expect is not None and names[index] not in expect and index not in (ident, label):
        skip.add(index)
    else:
        index = None
    rest = [i for i in range(len(names)) if i not in (ident, label) and i not in skip]
    if expect is None or not has_header:
        if expect is not None and len(rest) != len(expect):
            raise InputError(f"{path} has {len(rest)} feature columns, but the model was trained on {len(expect)} "
                             f"({', '.join(map(str, expect[:8]))}{' ...' if len(expect) > 8 else ''})")
        return rest, ident, index
    missing = [c for c in expect if c not in names]
    extra = [names[i] for i in rest if names[i] not in expect]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks the model's column(s) {', '.join(map(repr, missing[:8]))}")
        if extra:
            parts.append(f"has column(s) the model was not trained on: {', '.join(map(repr, extra[:8]))} (a column "
                         "naming the rows goes in --id-column)")
        raise InputError(f"{path} {' and '.join(parts)}; the model's columns are "
                         f"{', '.join(map(repr, expect[:12]))}{' ...' if len(expect) > 12 else ''}")
    return [names.index(c) for c in expect], ident, index


def _filled(filled: dict, X: np.ndarray, fill, names) -> np.ndarray:
    """``X`` with its missing cells filled from ``fill`` (the model's medians), counted in ``filled`` by column."""
    if fill is None:
        return X
    from fewlabel.datasets.tables import fill_missing

    X, counts = fill_missing(X, fill, names)
    for name, n in counts.items():
        filled[name] = filled.get(name, 0) + n
    return X


def _encoded(rows: Rows, numeric: np.ndarray, cells: dict, features, names, categories, dates, where,
             allow_nan) -> np.ndarray:
    """The feature matrix of a batch with its columns of categories and of dates encoded as the model's (see
    :func:`~fewlabel.datasets.tables.expand_columns`): the values it never saw counted in ``rows.unseen``, the
    rows dated outside what it learned from in ``rows.outside``; an empty date is NaN (filled or refused after)
    where ``allow_nan``, else refused by its row."""
    if not cells:
        return numeric
    from fewlabel.datasets.tables import expand_columns

    X, _, _, counts = expand_columns(numeric, cells, features, names, categories, path=rows.path, dates=dates,
                                        where=where, allow_nan=allow_nan)
    for name, c in counts["categories"].items():
        for value, n in c["unseen"].items():
            rows.unseen.setdefault(name, {})
            rows.unseen[name][value] = rows.unseen[name].get(value, 0) + n
    for name, c in counts["dates"].items():
        seen = rows.outside.setdefault(name, {"before": 0, "after": 0})
        for side in seen:
            seen[side] += c[side]
    return X


def _table_columns(path: Path, names, has_header, expect, id_column, label_column, categories, dates):
    """(the file's feature columns in the model's order, its id column, those of them holding categories or dates,
    the others, the width of a row as the model takes it, a row index pandas wrote that is left out or None):
    :func:`_match_columns` against the model's columns as a file holds them (a column of categories or of dates by
    its own name)."""
    from fewlabel.datasets.tables import raw_columns

    raw = None if expect is None else raw_columns(expect, categories, dates)
    features, ident, index = _match_columns(path, names, has_header, raw, id_column, label_column)
    cat = [j for j in features if names[j] in (categories or {}) or names[j] in (dates or {})]
    width = len(expect if expect is not None else features)
    return features, ident, cat, [j for j in features if j not in cat], width, index


def _row_index(path: Path, cells, first_row: int) -> None:
    """Refuse a first column the model does not know, with no name of its own, whose values do not number the rows
    from ``first_row`` (counted from 0) on as a row index pandas wrote does
    (:func:`~fewlabel.datasets.tables.numbers_the_rows`)."""
    from fewlabel.datasets.tables import numbers_the_rows

    try:
        values = np.asarray(cells, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.full(len(cells), np.nan)
    if numbers_the_rows(values, first_row) or (len(values) == 1 and values[0] in (first_row, first_row + 1)):
        return
    start = first_row + 1 if values[0] == first_row + 1 else first_row
    bad = int(np.flatnonzero(values != np.arange(start, start + len(values)))[0])
    raise InputError(f"{path}, row {first_row + bad + 1}: the first column has no name of its own and the model does "
                     f"not know it; it is left out only where it numbers the rows as the index pandas writes does (0, "
                     f"1, 2, ...), and it holds {str(cells[bad]).strip()!r} here: name it, or remove it")


def _blank_cells(path: Path, table: np.ndarray, columns: list, lines: list) -> None:
    """Refuse a value in a column with no name that the model does not know (:func:`_match_columns` leaves such a
    column out where its cells are empty)."""
    from fewlabel.datasets.tables import MISSING

    for j in columns:
        filled = ~np.isin(np.char.lower(np.char.strip(table[:, j])), MISSING)
        if filled.any():
            i = int(np.flatnonzero(filled)[0])
            raise InputError(f"{path}, row {lines[i]}: column {j + 1} has no name but holds {table[i, j].strip()!r}; "
                             "name it in the header, or remove it")


def _text_rows(path: Path, expect, id_column, label_column, fill=None, categories=None, dates=None) -> Rows:
    from fewlabel.datasets.tables import open_text, parse_feature_column, text_header, unnamed_columns

    delimiter, _, has_header, names = text_header(path)
    features, ident, cat, numeric, width, index = _table_columns(path, names, has_header, expect, id_column,
                                                                 label_column, categories, dates)
    label = names.index(label_column) if label_column is not None and has_header and label_column in names else None
    blank = sorted(unnamed_columns(names, has_header) - set(features) - {ident, label, index})
    filled: dict = {}
    with open_text(path) as f:
        n_rows = sum(1 for line in f if line.strip()) - (1 if has_header else 0)
    if n_rows <= 0:
        raise InputError(f"{path} has no data rows")

    def batches(n):
        with open_text(path, newline="") as f:
            reader = csv.reader(f, delimiter=delimiter) if delimiter is not None else (line.split() for line in f)
            row_no, chunk, lines = 0, [], []
            header_pending = has_header
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header_pending:  # the first non-blank row is the header
                    header_pending = False
                    continue
                row_no += 1
                if len(row) != len(names):
                    raise InputError(f"{path}, row {row_no}: {len(row)} fields, expected {len(names)}")
                chunk.append(row)
                lines.append(row_no)
                if len(chunk) == n:
                    yield _parse(chunk, lines)
                    chunk, lines = [], []
            if chunk:
                yield _parse(chunk, lines)

    def _parse(chunk, lines):
        table = np.array(chunk, dtype=str)
        _blank_cells(path, table, blank, lines)
        if index is not None:
            _row_index(path, np.char.strip(table[:, index]), lines[0] - 1)
        X = np.empty((len(chunk), len(numeric)), np.float32)
        for k, j in enumerate(numeric):
            X[:, k] = parse_feature_column(table[:, j], lambda i: f"row {lines[i]}", repr(names[j]), path,
                                           fill is not None, delimiter == ";")
        X = _encoded(rows, X, {j: table[:, j] for j in cat}, features, names, categories, dates,
                     lambda i: f"row {lines[i]}", fill is not None)
        ids = [str(v).strip() for v in table[:, ident]] if ident is not None else [str(r) for r in lines]
        return _filled(filled, X, fill, expect if expect is not None else [names[j] for j in features]), ids

    rows = Rows(path, "table", n_rows, (width,), names[ident] if ident is not None else "row", batches, filled)
    return rows


def _parquet_rows(path: Path, expect, id_column, label_column, fill=None, categories=None, dates=None) -> Rows:
    from fewlabel.datasets.tables import arrow_numbers

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"reading {path} needs pyarrow, an optional dependency: pip install fewlabel[parquet]") from None
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise CorruptFileError(f"cannot read Parquet file {path}: {e}") from e
    names = list(file.schema_arrow.names)
    features, ident, cat, numeric, width, index = _table_columns(path, names, True, expect, id_column, label_column,
                                                                 categories, dates)
    n_rows = file.metadata.num_rows
    if n_rows == 0:
        raise InputError(f"{path} has no rows")
    filled: dict = {}

    def batches(n):
        done = 0
        for batch in file.iter_batches(batch_size=n):
            if index is not None:
                _row_index(path, arrow_numbers(batch.column(index)), done)
            X = np.empty((batch.num_rows, len(numeric)), np.float32)
            for k, j in enumerate(numeric):
                column = batch.column(j)
                kind = column.type
                try:
                    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or \
                            pa.types.is_decimal(kind):
                        X[:, k] = arrow_numbers(column)  # a null is NaN: filled or refused below
                    else:
                        X[:, k] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float32)
                except (TypeError, ValueError):
                    raise InputError(f"{path}, column {names[j]!r}: not numbers") from None
            cells = {j: np.array(["" if v is None else str(v) for v in batch.column(j).to_pylist()], dtype=str)
                     for j in cat}
            X = _encoded(rows, X, cells, features, names, categories, dates, lambda i: f"row {done + i + 1}",
                         fill is not None)
            X = _filled(filled, X, fill, expect if expect is not None else [names[j] for j in features])
            if not np.isfinite(X).all():
                i, k = np.argwhere(~np.isfinite(X))[0]
                what = "not finite" if fill is not None or np.isinf(X[i, k]) else f"missing; {MISSING_REMEDY}"
                column = expect[k] if expect is not None else names[features[k]]
                raise InputError(f"{path}, row {done + i + 1}, column {column!r}: {what}")
            ids = ([str(v) for v in batch.column(ident).to_pylist()] if ident is not None
                   else [str(done + i + 1) for i in range(batch.num_rows)])
            done += batch.num_rows
            yield X, ids

    rows = Rows(path, "table", n_rows, (width,), names[ident] if ident is not None else "row", batches, filled)
    return rows


def _numpy_rows(path: Path, expect, fill=None) -> Rows:
    from fewlabel.datasets.tables import load_npz

    if path.suffix.lower() == ".npz":
        X, _ = load_npz(path)  # a compressed member cannot be mapped: read whole
    else:
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise CorruptFileError(f"{path} is not a readable .npy array ({e})") from None
    if X.dtype.kind not in "biuf":
        raise InputError(f"{path}: X has dtype {X.dtype}; rows must be numbers")
    if X.ndim < 2 or len(X) == 0:
        raise InputError(f"{path}: expected rows of features or images, got shape {X.shape}")
    if expect is not None and X.ndim == 2 and X.shape[1] != len(expect):
        raise InputError(f"{path} has {X.shape[1]} feature columns, but the model was trained on {len(expect)}")
    filled: dict = {}

    def batches(n):
        for start in range(0, len(X), n):
            part = np.asarray(X[start:start + n])
            if part.dtype != np.uint8:
                part = part.astype(np.float32)
                if part.ndim == 2:
                    part = _filled(filled, part, fill, None)  # columns by their place, from 1
                if not np.isfinite(part).all():
                    i = int(np.argwhere(~np.isfinite(part.reshape(len(part), -1)))[0][0])
                    remedy = f"; {MISSING_REMEDY}" if part.ndim == 2 and fill is None else ""
                    raise InputError(f"{path}, row {start + i + 1}: NaN or infinite values{remedy}")
            yield part, [str(start + i + 1) for i in range(len(part))]

    return Rows(path, "arrays", len(X), tuple(X.shape[1:]), "row", batches, filled)


def open_rows(path, *, size=None, color=None, columns=None, id_column=None, label_column=None, fill=None,
              categories=None, dates=None) -> Rows:
    """Rows of an image folder (every image under it, named by its path under the folder; ``size``, ``color`` as
    :func:`~fewlabel.datasets.read_image_folder`), a table (``columns``: the feature columns a model was trained
    on, checked against the file's; ``id_column`` names the rows; a ``label_column`` in the file is left out) or
    a NumPy file (``.npy`` memory-mapped). ``fill``: a value for each feature column (in ``columns``' order), put
    in a table's missing cells, which are otherwise refused; :attr:`Rows.filled` counts them as batches are read.
    ``categories``: a model's columns of categories and their categories (``columns`` then names their 0/1
    columns, ``NAME=VALUE``): a file's column ``NAME`` is encoded with them, :attr:`Rows.unseen` counting the
    values that are none of them. ``dates``: a model's columns of dates and how it read them (``columns`` names
    their ``NAME:PART`` columns): a file's column ``NAME`` is read the same way, :attr:`Rows.outside` counting the
    rows dated outside what the model learned from."""
    from fewlabel.datasets.tables import DECOMPRESSION_ERRORS, SUPPORTED, TEXT_LIKE, damaged, table_suffix, unsupported

    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"the data path must be a file or folder, got {path!r}")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        if id_column is not None:
            raise InputError(f"{path} is an image folder: --id-column applies to tables (images are named by their file)")
        if fill is not None:
            raise InputError(f"{path} is an image folder: --missing applies to a table's cells")
        return _image_rows(path, size, color)
    if size is not None or color is not None:
        raise InputError(f"{path} is not an image folder: size / color apply to image folders only")
    ext = table_suffix(path)
    if ext not in SUPPORTED:
        raise InputError(unsupported(path, f"an image folder or {', '.join(SUPPORTED)}"))
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    if ext in TEXT_LIKE:
        try:
            return _text_rows(path, columns, id_column, label_column, fill, categories, dates)
        except UnicodeDecodeError as e:
            raise InputError(f"{path} is not UTF-8 text ({e})") from None
        except DECOMPRESSION_ERRORS as e:
            raise damaged(path, e) from None
    if ext == ".parquet":
        return _parquet_rows(path, columns, id_column, label_column, fill, categories, dates)
    if id_column is not None:
        raise InputError(f"{path} is a NumPy file: its rows are named by their number (--id-column applies to tables)")
    return _numpy_rows(path, columns, fill)
