"""Read a table of features (CSV, TSV, whitespace text, an Excel sheet, Parquet, .npy, .npz) into a float32 matrix.
A text table may come compressed (``.csv.gz``, ``.tsv.bz2``, ``.txt.xz``, ...): it is read through Python's own
gzip, bz2 or lzma module, a line at a time, never decompressed to disk. An Excel workbook (``.xlsx``, ``.xlsm``;
openpyxl, an optional dependency) is read from its first sheet, its cells turned into the text a CSV of that sheet
would hold, and parsed as such: one parser, one set of messages, the sheet's row numbers as the lines.

Errors name the file, the row and the column of the first bad cell, so that a user can open the file at
that line and fix it. Parsing is vectorised (NumPy converts whole columns of strings at once); the
cell-by-cell search for the culprit only runs once a column is known to be bad.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import functools
import gzip
import io
import lzma
import math
import numbers
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fewlabel.errors import CorruptFileError, DataNotFoundError, FewlabelError, InputError

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
#: Excel workbooks, read as the CSV text of their first sheet (:func:`sheet_text`)
SPREADSHEETS = (".xlsx", ".xlsm")
#: the tables parsed as text: text files and spreadsheets
TEXT_LIKE = TEXT_EXTENSIONS + SPREADSHEETS
SUPPORTED = TEXT_LIKE + (".parquet", ".npy", ".npz")
#: compressions a text table may come in, by extension: the module that opens it
COMPRESSIONS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}
# Cell spellings that mean "no value" (lower-cased, stripped); "?" is what UCI files use.
MISSING = ("", "nan", "na", "n/a", "null", "none", "?")
#: The error values a spreadsheet writes where a formula has no value (lower-cased): a feature cell holding one is
#: a missing cell, and a label cell holding one is refused (it names no class)
SPREADSHEET_ERRORS = ("#n/a", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#spill!", "#calc!",
                      "#getting_data", "#field!", "#blocked!", "#connect!", "#busy!", "#unknown!")
#: What a table's missing feature cells meet (``missing=``, ``--missing``): refused, the first one named with the
#: remedies, or each filled with its column's median over the rows read (:func:`fill_missing`)
MISSING_CELLS = ("refuse", "fill")
#: What a word among a table's features may be besides a label or a row's name, and what to do with it
CATEGORIES_HINT = ("features are read as numbers: a column of categories is read as one 0/1 column per category "
                   "with --categorical NAME (categorical=[NAME] in Python), or left out of the file")
#: How a missing cell is named as refused, with the remedies: fill or drop it, or let fewlabel fill it
MISSING_REMEDY = ("fill it or drop the row, or give --missing fill (missing='fill' in Python) to fill each missing "
                  "cell with its column's median (allow_nan=True in Python keeps it as NaN)")


#: What to do with files that are tables in another form, by extension.
_CONVERT = {**dict.fromkeys((".xls", ".ods", ".numbers"),
                            "this kind of spreadsheet is not read (an Excel .xlsx is): save its sheet as CSV (File > "
                            "Save as / Export, CSV) or as .xlsx, and give that"),
            **dict.fromkeys((".gz", ".bz2", ".xz", ".zip", ".zst"),
                            "of compressed files only a text table is read (.csv, .tsv or .txt, then .gz, .bz2 or "
                            ".xz: data.csv.gz); decompress this one (gunzip, unzip, ...) and give what it holds")}


def table_suffix(path) -> str:
    """The kind of table a file is by its name, lower-case: ``.csv`` for ``data.csv`` and for a compressed
    ``data.csv.gz`` (:data:`COMPRESSIONS`); otherwise the last extension (``.gz`` for ``data.npy.gz``)."""
    path = Path(path)
    last = path.suffix.lower()
    if last in COMPRESSIONS:
        inner = Path(path.stem).suffix.lower()
        if inner in TEXT_EXTENSIONS:
            return inner
    return last


def compression(path):
    """The module that decompresses a compressed text table (gzip, bz2 or lzma), or None for a plain file."""
    path = Path(path)
    last = path.suffix.lower()
    return COMPRESSIONS[last] if last in COMPRESSIONS and table_suffix(path) in TEXT_EXTENSIONS else None


def open_text(path, newline=None):
    """A text table opened for reading as UTF-8 (a byte-order mark dropped), or as Windows-1252 where it is not
    UTF-8 (:func:`text_encoding`), through its decompression where it is compressed; a spreadsheet as the CSV text
    of its first sheet (:func:`sheet_text`)."""
    if table_suffix(path) in SPREADSHEETS:
        return io.StringIO(sheet_text(path), newline=newline)
    module = compression(path)
    opener = open if module is None else module.open
    return opener(path, "rt", newline=newline, encoding=text_encoding(path))


def text_encoding(path) -> str:
    """How a text table's bytes are read: ``"utf-16"`` where they begin with its byte-order mark (Excel's "Unicode
    text"), ``"utf-8-sig"`` where they are UTF-8 (ASCII too), else ``"cp1252"``, the encoding Excel and other Windows
    programs write "CSV" in, said once in a :class:`DataQualityWarning`. A file holding NUL bytes otherwise, which no
    text table does, is left to fail as UTF-8 (a binary file under a table's name)."""
    path = Path(path)
    stat = path.stat()
    return _text_encoding(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _text_encoding(path: str, size: int, mtime_ns: int) -> str:  # size and time: a file rewritten is looked at anew
    module = compression(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    nul = False
    try:
        with (open if module is None else module.open)(path, "rb") as f:
            if f.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                return "utf-16"  # Excel's "Unicode text", marked as such by its first two bytes
            f.seek(0)
            while chunk := f.read(1 << 20):
                nul = nul or b"\x00" in chunk
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        if nul:
            return "utf-8-sig"
    except (OSError, EOFError, zlib.error, lzma.LZMAError):
        return "utf-8-sig"  # the reader that follows names a damaged file
    from fewlabel.datasets.partial import DataQualityWarning

    encoding = "cp1252"
    try:  # five bytes mean nothing in Windows-1252: a file holding one is read as Latin-1, which reads every byte
        with (open if module is None else module.open)(path, "rb") as f:
            decoder = codecs.getincrementaldecoder("cp1252")()
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
    except UnicodeDecodeError:
        encoding = "latin-1"
    name = {"cp1252": "Windows-1252, the encoding Excel writes CSV in on Windows", "latin-1": "Latin-1"}[encoding]
    warnings.warn(f"{path} is not UTF-8 text: read as {name} (save it as CSV UTF-8 to be sure of its accented "
                  "letters)", DataQualityWarning, stacklevel=4)
    return encoding


def _cell_text(value) -> str:
    """A spreadsheet cell as a CSV of its sheet holds it: empty for none, numbers exactly (the shortest text that
    reads back as the same float), TRUE / FALSE as 1 / 0, a date in ISO form, anything else as its text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


_SHEET_CACHE: dict = {}


def sheet_text(path) -> str:
    """The first sheet of an Excel workbook as CSV text, one line per sheet row from the first (blank rows as blank
    lines, so that a message's line is the sheet's row number); cached for the file as it is now (its size and
    time), since a reader opens a table several times. Formulas give the value Excel last computed. A workbook
    with more than one sheet warns that the first is read."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _SHEET_CACHE:
        return _SHEET_CACHE[key]
    try:
        import openpyxl
    except ImportError:
        raise InputError(f"reading {path} needs openpyxl, an optional dependency: pip install fewlabel[xlsx] (or save "
                         "the sheet as CSV and give that)") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - openpyxl raises many kinds (zip, XML, key errors) for a damaged file
        raise CorruptFileError(f"cannot read the Excel workbook {path} ({type(e).__name__}: {e}); is it really an "
                               f"{path.suffix} file? Save it again from the spreadsheet program, or as CSV") from None
    try:
        sheets = book.worksheets
        if not sheets:
            raise InputError(f"{path} holds no sheet")
        if len(sheets) > 1:
            from fewlabel.datasets.partial import DataQualityWarning

            warnings.warn(DataQualityWarning(
                f"{path} has {len(sheets)} sheets ({', '.join(repr(s.title) for s in sheets[:5])}"
                f"{', ...' if len(sheets) > 5 else ''}): the first, {sheets[0].title!r}, is read; move the table "
                "to the first sheet, or save its sheet as CSV"), stacklevel=2)
        rows = [[_cell_text(v) for v in row] for row in sheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    # the table's columns: from the first to the last holding a value in any row (a table may start at column B,
    # and a sheet's recorded size can be larger than what it holds)
    used = [j for row in rows for j, c in enumerate(row) if c != ""]
    first, end = (min(used), max(used) + 1) if used else (0, 0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        cells = (row + [""] * end)[first:end]
        if any(cells):
            writer.writerow(cells)
        else:
            out.write("\n")
    text = out.getvalue()
    _SHEET_CACHE.clear()  # one workbook kept: the one being read
    _SHEET_CACHE[key] = text
    return text


#: what a damaged compressed file raises while it is read (a bad header, a truncated or corrupt stream)
DECOMPRESSION_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)


def damaged(path, e: Exception) -> Exception:
    """What to raise for ``e`` (one of :data:`DECOMPRESSION_ERRORS`) met reading ``path``: for a compressed table,
    an error naming it as damaged; for any other file, ``e`` itself."""
    if compression(path) is None:
        return e
    return CorruptFileError(f"{path}: the compressed file is damaged or cut short ({type(e).__name__}: {e}); "
                            "decompress it by hand to see how far it reads")


def unsupported(path: Path, supported: str) -> str:
    """The message for a file fewlabel does not read, saying what to do where the file is a table in another
    form (a spreadsheet, a compressed CSV)."""
    ext = path.suffix.lower()
    advice = _CONVERT.get(ext)
    return (f"{path}: {advice}" if advice else
            f"{path}: unsupported file type {ext or '(none)'!r}; supported: {supported}")


def is_number_text(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


#: Currency signs a spreadsheet writes before or after an amount
CURRENCY = "$€£¥₹₩₽¢"
#: What separates thousands where the decimal mark is a point, and where it is a comma
_GROUPS = {False: ",\u00a0\u202f '", True: ".\u00a0\u202f "}


def formatted_number(cell: str, decimal_comma: bool = False) -> float | None:
    """A number as a spreadsheet shows it and writes it to CSV (Excel writes cells as they are formatted), or None
    where the cell is no such thing: a currency sign before or after (``$1,200.50``, ``1.200,50 €``), thousands
    separated (``1,200``; with ``decimal_comma``, ``1.200`` or ``1 200``), a percentage (``45%``: 0.45, what the
    sheet's cell holds), an accounting negative in parentheses (``(1,200)``) and zero (``$ -``), ``TRUE`` / ``FALSE``
    (1 / 0, as a workbook's own cells are read). A plain number is None here: the float parser reads it."""
    import re

    t = cell.strip()
    if t.lower() in ("true", "false"):
        return 1.0 if t.lower() == "true" else 0.0
    negative = formatted = False
    if len(t) > 2 and t[0] == "(" and t[-1] == ")":
        negative, formatted, t = True, True, t[1:-1].strip()
    percent = t.endswith("%")
    if percent:
        formatted, t = True, t[:-1].strip()
    for _ in range(2):  # a sign and a currency sign, in either order: -$5, $-5
        if t[:1] in "-+\u2212" and t[:1]:
            negative, t = negative ^ (t[0] != "+"), t[1:].strip()
        if t[:1] and t[:1] in CURRENCY:
            formatted, t = True, t[1:].strip()
    if t[-1:] and t[-1:] in CURRENCY:
        formatted, t = True, t[:-1].strip()
    if not t and negative and formatted and not percent:
        return 0.0  # "$ -": zero as the accounting format shows it (a dash alone is no number: it is refused)
    decimal = "," if decimal_comma else "."
    m = re.fullmatch(r"(\d+|\d{1,3}(?:([%s])\d{3})(?:\2\d{3})*)(?:%s(\d+))?" % (re.escape(_GROUPS[decimal_comma]),
                                                                                  re.escape(decimal)), t)
    if m is None or not (formatted or m.group(2)):
        return None
    value = float(m.group(1).replace(m.group(2) or "", "") + ("." + m.group(3) if m.group(3) else ""))
    return (-value if negative else value) / (100.0 if percent else 1.0)


# --- turning columns of cells into numbers ----------------------------------------------------------


def parse_feature_column(cells: np.ndarray, where, column: str, path: Path, allow_nan: bool,
                         decimal_comma: bool = False, scope: str = "in this column") -> np.ndarray:
    """Parse one column of strings to float64. ``where(i)`` describes data row i for messages.
    ``decimal_comma``: a cell such as ``3,25`` is 3.25 (a table separated by semicolons, as spreadsheets write it
    where the comma is the decimal mark). ``scope``: what the cells are, where a message counts its missing ones
    (a part of a file read in parts says which rows)."""
    stripped = np.char.strip(cells.astype(str))
    if decimal_comma:
        stripped = np.char.replace(stripped, ",", ".")
    lowered = np.char.lower(stripped)
    errors = np.isin(lowered, SPREADSHEET_ERRORS)
    missing = np.isin(lowered, MISSING) | errors
    text = np.where(missing, "nan", stripped)
    try:
        values = text.astype(np.float64)
    except ValueError:
        values = _formatted_column(cells, text, decimal_comma)
        if values is not None:  # every cell a number, some as a spreadsheet shows them
            warnings.warn(f"{path}, column {column}: numbers written as a spreadsheet shows them (a currency sign, "
                          "thousands separators, a percentage, an accounting negative in parentheses, TRUE / FALSE) "
                          "read as numbers, a percentage as hundredths, TRUE / FALSE as 1 / 0", _quality_warning(),
                          stacklevel=3)
            _check_values(values, missing, where, column, path, allow_nan, scope, cells if errors.any() else None)
            return values
        for i, cell in enumerate(text):  # only now look cell by cell, to name the culprit
            if not is_number_text(cell) and formatted_number(str(cells[i]), decimal_comma) is None:
                from fewlabel.datasets.dates import DATES_HINT, looks_like_date

                if looks_like_date(cell):  # said so, with the option: the label and id hints do not apply
                    raise InputError(f"{path}, {where(i)}, column {column}: {str(cells[i]).strip()!r} is a date, "
                                     f"not a number; {DATES_HINT}") from None
                raise InputError(
                    f"{path}, {where(i)}, column {column}: {str(cells[i]).strip()!r} is not a number"
                ) from None
        raise  # pragma: no cover - NumPy and float() disagree on some spelling
    _check_values(values, missing, where, column, path, allow_nan, scope, cells if errors.any() else None)
    return values


def _formatted_column(cells: np.ndarray, text: np.ndarray, decimal_comma: bool) -> np.ndarray | None:
    """The column's values where every cell is a number, plain or a :func:`formatted_number` (each distinct cell
    read once), else None. A cell that reads both ways is read as the spreadsheet wrote it: in a column written with
    decimal commas that needs this reading (``1.200,50``), ``1.200`` is twelve hundred, not 1.2."""
    raw = np.char.strip(np.asarray(cells).astype(str))
    pairs, inverse = np.unique(np.stack([raw, text], axis=1), axis=0, return_inverse=True)
    numbers = np.empty(len(pairs))
    for k, (cell, value) in enumerate(pairs.tolist()):
        number = None if value == "nan" else formatted_number(cell, decimal_comma)
        if number is None:
            if not is_number_text(value):
                return None
            number = float(value)
        numbers[k] = number
    return numbers[inverse.ravel()]


def _quality_warning():
    from fewlabel.datasets.partial import DataQualityWarning

    return DataQualityWarning


def _check_values(values, missing, where, column, path, allow_nan, scope="in this column", cells=None):
    """Refuse a missing cell (unless ``allow_nan``) and a value float32 cannot hold; ``cells``: the cells as written,
    where some are a spreadsheet's error values, to name the first missing one as written."""
    if not allow_nan and missing.any():
        i = int(np.flatnonzero(missing)[0])
        written = "" if cells is None else str(cells[i]).strip()
        what = (f"{written!r}, a spreadsheet's error value, is no value" if written.lower() in SPREADSHEET_ERRORS
                else "missing value")
        raise InputError(
            f"{path}, {where(i)}, column {column}: {what} (empty, NaN or a spreadsheet error; {int(missing.sum())} "
            f"{scope}); {MISSING_REMEDY}"
        )
    bad = np.isinf(values) | (np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}, {where(i)}, column {column}: {values[i]} is infinite or too large for float32")


def _label_values(cells: np.ndarray, where, column: str, path: Path, partial: bool = False) -> np.ndarray:
    """Labels as given: int64 if every cell is an integer, float64 if every cell is a number, else str.
    ``partial``: the cells as written (stripped strings); their unlabeled rows are read by
    :func:`fewlabel.datasets.partial.encode_labels`."""
    text = np.char.strip(cells.astype(str))
    check_no_error_labels(text, f"{path}, label column {column}", where)
    if partial:
        return text
    empty = np.isin(np.char.lower(text), MISSING)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError(f"{path}, {where(i)}, label column {column}: the label is missing")
    for dtype in (np.int64, np.float64):
        try:
            return text.astype(dtype)
        except (ValueError, OverflowError):
            pass
    return text


def check_no_error_labels(labels, where: str, row=None) -> None:
    """Refuse labels that are a spreadsheet's error values (``#N/A``, :data:`SPREADSHEET_ERRORS`): a lookup that found
    nothing names no class, and read as one it would be learnt as one. ``row(i)`` names data row i."""
    text = np.char.strip(np.asarray(labels, dtype=str))
    errors = np.isin(np.char.lower(text), SPREADSHEET_ERRORS)
    if errors.any():
        i = int(np.flatnonzero(errors)[0])
        at = f", {row(i)}" if row is not None else ""
        n = int(errors.sum())
        raise InputError(f"{where}{at}: {str(text[i])!r} ({n:,} row{'s' if n != 1 else ''}) is a spreadsheet's error "
                         "value, not a class: leave those cells empty to mark the rows unlabeled, or give them their "
                         "labels")


def resolve_column(spec, names: list[str], has_names: bool, what: str, path: Path) -> int:
    """A column given by name or (0-based, negative allowed) index -> its index."""
    n = len(names)
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        if not -n <= spec < n:
            raise InputError(f"{what}={spec} is out of range: {path} has {n} columns")
        return int(spec) % n
    if isinstance(spec, str):
        hits = [i for i, name in enumerate(names) if name == spec]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InputError(f"{what}={spec!r} is ambiguous: {path} has {len(hits)} columns with that name")
        if not has_names:
            raise InputError(f"{what}={spec!r} names a column, but {path} has no header row; give an index")
        raise InputError(f"{what}={spec!r} is not a column of {path}; columns are {names}")
    raise InputError(f"{what} must be a column name or index, got {spec!r}")


def _select(names, has_names, label_column, columns, path, id_column=None):
    """(label index or None, id index or None, feature indices)."""
    label = None if label_column is None else resolve_column(label_column, names, has_names, "label_column", path)
    ident = None if id_column is None else resolve_column(id_column, names, has_names, "id_column", path)
    if ident is not None and ident == label:
        raise InputError(f"id_column and label_column name the same column {names[label]!r}")
    if columns is None:
        features = [i for i in range(len(names)) if i not in (label, ident)]
    else:
        if isinstance(columns, (str, numbers.Integral)):
            columns = [columns]
        features = [resolve_column(c, names, has_names, "columns", path) for c in columns]
        for index, what in ((label, "label"), (ident, "id")):
            if index is not None and index in features:
                raise InputError(f"columns includes the {what} column {names[index]!r}")
        if len(set(features)) != len(features):
            raise InputError(f"columns lists a column twice: {list(columns)}")
    if not features:
        raise InputError(f"{path}: no feature columns left (the only columns are the label and the id)")
    return label, ident, features


# --- text files -------------------------------------------------------------------------------------


def _delimiter(path: Path, line: str) -> str | None:
    """"," for .csv, tab for .tsv; for .txt whatever the first row uses; None means runs of whitespace. A .csv or
    .txt whose first row has at least as many semicolons as commas is separated by semicolons (spreadsheets
    write CSV so where the comma is the decimal mark: ``3,25;1,5``)."""
    ext = table_suffix(path)
    if ext in SPREADSHEETS:
        return ","  # the sheet's cells, written by csv.writer
    if ext in (".csv", ".txt") and "\t" not in line and ";" in line and line.count(";") >= line.count(","):
        return ";"
    if ext == ".csv" or (ext == ".txt" and "\t" not in line and "," in line):
        return ","
    if ext == ".tsv" or "\t" in line:
        return "\t"
    return None


def _split(line: str, delimiter: str | None) -> list[str]:
    return line.split() if delimiter is None else next(csv.reader([line], delimiter=delimiter))


def first_row(path: Path):
    """(delimiter, file line number, cells) of the first non-blank row, or None for a blank file."""
    with open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                delimiter = _delimiter(path, line)
                return delimiter, line_no, _split(line.rstrip("\r\n"), delimiter)
    return None


def _text_rows(path: Path, delimiter: str | None) -> list[tuple[int, list[str]]]:
    """(file line number, cells) for every non-blank row."""
    return list(_iter_text_rows(path, delimiter))


def _iter_text_rows(path: Path, delimiter: str | None):
    """(file line number, cells) for each non-blank row, one at a time."""
    with open_text(path, newline="") as f:
        if delimiter is None:
            for line_no, line in enumerate(f, start=1):
                if line.strip():
                    yield line_no, line.split()
            return
        reader = csv.reader(f, delimiter=delimiter)
        start = 1
        for row in reader:
            # A quoted cell may span lines: the row starts on the line after the previous row ended.
            if row and not (len(row) == 1 and not row[0].strip()):
                yield start, row
            start = reader.line_num + 1


#: Rows of a text table read at once, by NumPy's reader and by the careful path alike: a file of any length is read
#: in parts of this many rows, so that what reading it takes is its numbers (float32) and the columns kept as text,
#: not the whole file as text
PART_ROWS = 65536


def _fast_text(path, delimiter, skip, width, label, features, ident=None, partial=False, special=()):
    """The common case, a clean numeric file, parsed by NumPy's C reader (much faster than the careful
    path), :data:`PART_ROWS` lines at a time. Returns (X float32 of the ``features`` columns, label strings or
    None, id strings or None, the ``special`` columns' cells as strings by index, each data row's line number), or
    None when anything is off (missing or bad cells, ragged rows, quotes, ...): the careful path then finds and
    names the problem."""
    parts: dict = {"X": [], "labels": [], "ids": [], "lines": []}
    cells: dict = {j: [] for j in special}
    options = dict(delimiter=delimiter, comments=None, ndmin=2)

    def read(lines, line_nos) -> bool:
        if delimiter is not None and any('"' in line for line in lines):
            return False  # quoted cells may hold delimiters: counting fields below would be wrong
        # loadtxt with usecols does not notice rows with extra fields, so count the fields of every row.
        counts = {len(line.split()) if delimiter is None else line.count(delimiter) + 1 for line in lines}
        if counts != {width}:
            return False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X = np.loadtxt(lines, dtype=np.float64, usecols=features, **options)
                labels = None if label is None else np.loadtxt(lines, dtype=str, usecols=[label], **options)[:, 0]
                ids = None if ident is None else np.loadtxt(lines, dtype=str, usecols=[ident], **options)[:, 0]
                texts = {j: np.loadtxt(lines, dtype=str, usecols=[j], **options)[:, 0] for j in special}
        except (ValueError, IndexError):
            return False
        if not np.all(np.isfinite(X)) or (np.abs(X) > np.finfo(np.float32).max).any():
            return False
        if labels is not None and not partial and np.isin(np.char.lower(np.char.strip(labels)), MISSING).any():
            return False
        parts["X"].append(X.astype(np.float32))
        parts["labels"].append(labels)
        parts["ids"].append(ids)
        parts["lines"].append(np.asarray(line_nos, dtype=np.int64))
        for j in special:
            cells[j].append(texts[j])
        return True

    with open_text(path) as f:
        lines, line_nos = [], []
        for line_no, line in enumerate(f, start=1):
            if line_no <= skip or not line.strip():
                continue
            lines.append(line)
            line_nos.append(line_no)
            if len(lines) == PART_ROWS:
                if not read(lines, line_nos):
                    return None
                lines, line_nos = [], []
        if lines and not read(lines, line_nos):
            return None
    if not parts["X"]:
        return None

    def joined(key):
        return None if parts[key][0] is None else np.concatenate(parts[key])

    X = parts["X"][0] if len(parts["X"]) == 1 else np.concatenate(parts["X"])
    return (X, joined("labels"), joined("ids"), {j: np.concatenate(c) for j, c in cells.items()},
            np.concatenate(parts["lines"]))


def unnamed_columns(names: list, has_header: bool) -> set:
    """The columns of a text table whose header cell is empty (:func:`text_header` names them by their index; a
    header holds no number, so no named column is called so)."""
    return {i for i, name in enumerate(names) if name == str(i)} if has_header else set()


def row_index_column(names: list, has_header: bool, text: bool = True) -> int | None:
    """0 where a table's first column may be the row index pandas writes beside the data (``to_csv`` without
    ``index=False``): no name of its own (an empty header cell; ``Unnamed: 0``, as pandas names one it read; or
    ``__index_level_0__`` in Parquet), else None; ``text``: a text table, whose column with an empty header cell is
    named by its index (``"0"``). Whether it is one is for its values to say (:func:`numbers_the_rows`)."""
    import re

    if not has_header or not names:
        return None
    first = str(names[0])
    return 0 if (text and first == "0") or re.fullmatch(r"Unnamed: \d+|__index_level_\d+__", first) else None


def numbers_the_rows(values, first_row: int = 0) -> bool:
    """Whether ``values`` (one per row, from data row ``first_row`` counted from 0) number the rows in order, from
    0 or from 1, as a row index does."""
    values = np.asarray(values, dtype=np.float64)
    rows = np.arange(first_row, first_row + len(values), dtype=np.float64)
    return len(values) > 1 and (np.array_equal(values, rows) or np.array_equal(values, rows + 1))


def _without_row_index(path, parts: dict, names: list, features: list, numeric: list, has_header: bool,
                       text: bool = True):
    """``parts`` (X of the ``numeric`` columns) without the first column where it is a row index pandas wrote
    (:func:`row_index_column`, :func:`numbers_the_rows`), said in a note: a feature that numbers the rows teaches
    the order the file was written in (sorted by class, it gives the labels away). Returns (parts, features,
    numeric)."""
    j = row_index_column(names, has_header, text)
    if j is None or j not in numeric or not numbers_the_rows(parts["X"][:, numeric.index(j)]):
        return parts, features, numeric
    from fewlabel.datasets.partial import DataQualityWarning

    name, shown = ("0", "no name") if names[j] == "0" else (repr(names[j]), repr(names[j]))
    warnings.warn(f"{path}: column 1 ({shown}) numbers the rows "
                  f"{int(parts['X'][0, numeric.index(j)])}, {int(parts['X'][1, numeric.index(j)])}, ... (the index "
                  f"pandas writes with to_csv unless index=False): left out of the features; --id-column {name} "
                  "names the rows by it", DataQualityWarning, stacklevel=4)
    k = numeric.index(j)
    X = np.delete(parts["X"], k, axis=1)
    return {**parts, "X": X}, [i for i in features if i != j], [i for i in numeric if i != j]


def text_header(path: Path):
    """``(delimiter, line of the first row, has_header, column names)`` of a text table. A header is a first row
    in which no cell is a number (data rows with string labels still have numeric features, so they are not
    mistaken for one); without one the columns are named by their index."""
    head = first_row(path)
    if head is None:
        raise InputError(f"{path} is empty")
    delimiter, first_line, first = head
    cells = [c.strip() for c in first]
    numbers = [c.replace(",", ".") if delimiter == ";" else c for c in cells]  # decimal commas: see _delimiter
    has_header = any(cells) and not any(is_number_text(c) for c in numbers if c)
    names = [c or str(i) for i, c in enumerate(cells)] if has_header else [str(i) for i in range(len(first))]
    return delimiter, first_line, has_header, names


def _read_text(path, label_column, columns, allow_nan, id_column=None, partial=False, categorical=None, dates=None,
               encodings=None):
    try:
        delimiter, first_line, has_header, names = text_header(path)
        width = len(names)
        label, ident, features = _select(names, has_header, label_column, columns, path, id_column)
        cat, when = _special_columns(categorical, dates, names, has_header, features, path)
        numeric = [j for j in features if j not in cat]
        cells = {}

        def col(j):
            return f"{j + 1} ({names[j]!r})" if has_header else f"{j + 1}"

        # NumPy's reader for a clean file: its numbers as numbers, its columns of categories and dates as text
        fast = _fast_text(path, delimiter, first_line if has_header else 0, width, label, numeric, ident, partial,
                          special=cat)
        if fast is not None:
            X, labels, ids, cells, lines = fast

            def where(i):
                return f"row {i + 1} (line {lines[i]})"
        else:
            X, labels, ids, cells, lines, features, numeric = _careful_text(
                path, delimiter, first_line, has_header, names, features, numeric, cat, label, ident, allow_nan, col)

            def where(i):
                return f"row {i + 1} (line {lines[i]})"
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text ({e}); is it really a {table_suffix(path)} file?") from e
    except csv.Error as e:
        raise InputError(f"{path}: cannot parse as {table_suffix(path)} ({e})") from e
    except DECOMPRESSION_ERRORS as e:
        raise damaged(path, e) from None
    y = None if label is None else _label_values(labels, where, col(label), path, partial)
    parts, features, numeric = _without_row_index(path, {"X": X.astype(np.float32, copy=False)}, names, features,
                                                  numeric, has_header)
    return _with_expanded({**parts, "y": y, "feature_names": [names[j] for j in features],
                             "label_name": None if label is None else names[label], "ids": ids},
                            cells, features, names, path, when, where, allow_nan, encodings)


def _careful_text(path, delimiter, first_line, has_header, names, features, numeric, cat, label, ident, allow_nan,
                  col):
    """The cell-by-cell reading of a text table, for any file the fast path turns down: ragged rows, bad and
    missing cells named by their row, line and column. Read in parts of :data:`PART_ROWS` rows. Returns (X
    float32 of the ``numeric`` columns, label cells, id cells, the ``cat`` columns' cells by index, each row's
    line, the feature and numeric columns left once a column with no name and no value is left out)."""
    width = len(names)
    unnamed = unnamed_columns(names, has_header)
    # an unnamed column may be the empty one rows that end in a comma leave: it is judged once every row is read
    later = [j for j in numeric if j in unnamed]
    parsed = [j for j in numeric if j not in later]
    kept = cat + later + [j for j in (label, ident) if j is not None]
    parts, texts, line_parts = [], {j: [] for j in kept}, []
    done = 0

    def read(chunk):
        nonlocal done
        table = np.array([row for _, row in chunk], dtype=str)
        line_nos = np.array([line_no for line_no, _ in chunk], dtype=np.int64)
        offset = done

        def where(i):
            return f"row {offset + i + 1} (line {line_nos[i]})"

        scope = "in this column" if offset == 0 and len(chunk) < PART_ROWS else \
            f"in this column's rows {offset + 1:,}-{offset + len(chunk):,}"
        part = np.empty((len(chunk), len(parsed)), dtype=np.float32)
        for k, j in enumerate(parsed):
            part[:, k] = parse_feature_column(table[:, j], where, col(j), path, allow_nan, delimiter == ";", scope)
        parts.append(part)
        for j in kept:
            texts[j].append(table[:, j])
        line_parts.append(line_nos)
        done += len(chunk)

    chunk = []
    rows = _iter_text_rows(path, delimiter)
    if has_header:
        next(rows, None)
    for line_no, row in rows:
        if len(row) != width:
            raise InputError(f"{path}, line {line_no}: {len(row)} fields, expected {width} (as in line {first_line}); "
                             "ragged rows are not allowed")
        chunk.append((line_no, row))
        if len(chunk) == PART_ROWS:
            read(chunk)
            chunk = []
    if chunk:
        read(chunk)
    if done == 0:
        raise InputError(f"{path} has a header row (line {first_line}) but no data rows")
    lines = np.concatenate(line_parts)
    text = {j: np.concatenate(texts[j]) for j in kept}
    blank = [j for j in later if np.isin(np.char.lower(np.char.strip(text[j])), MISSING).all()]
    if blank:  # a column with no name and no value: what rows that end in a delimiter leave
        from fewlabel.datasets.partial import DataQualityWarning

        warnings.warn(f"{path}: column(s) {', '.join(str(j + 1) for j in blank)} with no name and no value in "
                      "any row (rows that end in a comma) left out", DataQualityWarning, stacklevel=5)
        features = [j for j in features if j not in blank]
        numeric = [j for j in numeric if j not in blank]
    X = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if len(numeric) != len(parsed):  # the unnamed columns with values, parsed now, in their places

        def where(i):
            return f"row {i + 1} (line {lines[i]})"

        columns = {j: X[:, k] for k, j in enumerate(parsed)}
        for j in numeric:
            if j not in columns:
                columns[j] = parse_feature_column(text[j], where, col(j), path, allow_nan, delimiter == ";")
        X = np.stack([columns[j] for j in numeric], axis=1).astype(np.float32) if numeric else \
            np.zeros((done, 0), np.float32)
    return (X, None if label is None else text[label], None if ident is None else np.char.strip(text[ident]),
            {j: text[j] for j in cat}, lines, features, numeric)


def _special_columns(categorical, dates, names, has_names, features, path) -> tuple[list[int], dict]:
    """The feature columns read as cells, not numbers: those of categories, then those of dates, each named once;
    and the dates' forms by column index (:func:`~fewlabel.datasets.dates.date_columns`)."""
    from fewlabel.datasets.dates import date_columns

    cat = categorical_indices(categorical, names, has_names, features, path)
    when = date_columns(dates, names, has_names, features, path, resolve_column)
    both = [names[j] for j in cat if j in when]
    if both:
        raise InputError(f"{path}: {both[0]!r} is named both as categorical and as dates; a column is read one way")
    return cat + list(when), when


def _with_expanded(parts: dict, cells: dict, features: list, names: list, path, when=None, where=None,
                     allow_nan=False, encodings=None) -> dict:
    """``parts`` with its columns of categories (``cells``, by index) made 0/1 columns and its columns of dates
    (``when``: their forms by index) made their columns (:func:`expand_columns`): the categories in
    ``parts["categories"]`` and their counts in ``parts["category_counts"]``, the dates' records in
    ``parts["dates"]`` and their counts in ``parts["date_counts"]``; learned from these rows, or ``encodings``'
    (:func:`read_table_parts`)."""
    if not cells:
        return parts
    known = encodings or {}
    dates = {str(names[j]): (known.get("dates") or {}).get(str(names[j])) or {"format": f}
             for j, f in (when or {}).items()}
    X, feature_names, learned, counts = expand_columns(parts["X"], cells, features, names,
                                                          categories=known.get("categories") or None, path=path,
                                                          dates=dates, where=where, allow_nan=allow_nan)
    out = {**parts, "X": X, "feature_names": feature_names}
    if learned["categories"]:
        out.update(categories=learned["categories"], category_counts=counts["categories"])
    if learned["dates"]:
        out.update(dates=learned["dates"], date_counts=counts["dates"])
    return out


#: Distinct values of a column counted by :func:`label_like_columns` before it stops counting: more are an id's
LABEL_LIKE_VALUES = 10000


def label_like_columns(path) -> list[dict]:
    """The columns of a CSV / TSV / TXT / Parquet table that could be its partial labels, most likely first:
    each that has both empty cells (any of :data:`MISSING`) and filled ones, or cells that are not numbers
    (features are numbers), as ``{"name", "filled", "values", "empty"}`` (``values``: distinct filled cells,
    counted up to :data:`LABEL_LIKE_VALUES`): what a message asking for the label column can point at. The file is
    read in parts. Any problem reading the file gives ``[]`` (the reader that follows
    names it)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(path)
            names, comma = list(file.schema_arrow.names), False
            parts = ([["" if v is None else str(v) for v in batch.column(j).to_pylist()] for j in range(len(names))]
                     for batch in file.iter_batches(batch_size=PART_ROWS))
        else:
            delimiter, _, has_header, names = text_header(path)
            comma = delimiter == ";"  # decimal commas: see _delimiter
            parts = _column_parts(path, delimiter, has_header, len(names))
        stats = [{"filled": 0, "empty": 0, "values": set(), "words": False} for _ in names]
        for columns in parts:
            if columns is None:  # a ragged row
                return []
            for st, column in zip(stats, columns):
                text = np.char.strip(np.array(column, dtype=str))
                empty = np.isin(np.char.lower(text), MISSING)
                filled = text[~empty]
                st["filled"] += int(len(filled))
                st["empty"] += int(empty.sum())
                room = LABEL_LIKE_VALUES + 1 - len(st["values"])
                if room > 0:
                    st["values"].update(np.unique(filled)[:room].tolist())
                if not st["words"] and len(filled):
                    try:  # a column of plain numbers, at NumPy's speed; else cell by distinct cell
                        (np.char.replace(filled, ",", ".") if comma else filled).astype(np.float64)
                    except ValueError:
                        st["words"] = any(not is_number_text(c.replace(",", ".") if comma else c)
                                          and formatted_number(c, comma) is None for c in np.unique(filled).tolist())
    except Exception:  # noqa: BLE001 - a suggestion only: reading for real reports the problem
        return []
    found = [{"name": name, "filled": st["filled"], "values": len(st["values"]), "empty": st["empty"]}
             for name, st in zip(names, stats) if st["filled"] and (st["empty"] or st["words"])]
    # partly filled first (the unlabeled rows' empty cells), then fewer distinct values (classes, not ids)
    return sorted(found, key=lambda c: (c["empty"] == 0, c["values"] / c["filled"]))


def _column_parts(path, delimiter, has_header, width):
    """A text table's data rows, a quarter of :data:`PART_ROWS` at a time, as columns of cells (None for a part with
    a ragged row)."""
    rows = _iter_text_rows(path, delimiter)
    if has_header:
        next(rows, None)
    part = []
    for _, row in rows:
        part.append(row)
        if len(part) == PART_ROWS // 4:  # a quarter: each cell is a Python string here
            yield None if any(len(r) != width for r in part) else list(zip(*part))
            part = []
    if part:
        yield None if any(len(r) != width for r in part) else list(zip(*part))


# --- Parquet ----------------------------------------------------------------------------------------


def arrow_numbers(column) -> np.ndarray:
    """A Parquet column of numbers (integers, floats, decimals, booleans) as float64, its nulls NaN: cast by Arrow
    itself, not cell by cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count == 0 and not pa.types.is_decimal(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.asarray(pc.cast(column, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _read_parquet(path, label_column, columns, allow_nan, id_column=None, partial=False, categorical=None,
                  dates=None, encodings=None):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"reading {path} needs pyarrow, an optional dependency: pip install fewlabel[parquet]"
        ) from None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise CorruptFileError(f"cannot read Parquet file {path}: {e}") from e
    names = list(table.column_names)
    if not names or table.num_rows == 0:
        raise InputError(f"{path} is empty ({table.num_rows} rows, {len(names)} columns)")
    label, ident, features = _select(names, True, label_column, columns, path, id_column)
    cat, when = _special_columns(categorical, dates, names, True, features, path)
    numeric = [j for j in features if j not in cat]

    def where(i):
        return f"row {i + 1}"

    def as_cells(column):
        # Non-numeric columns go through the same string parsing as CSV, so "3.5" stored as text works
        # and anything else is reported with its row.
        return np.array(["" if v is None else str(v) for v in column.to_pylist()], dtype=str)

    cells = {j: as_cells(table.column(j)) for j in cat}
    X = np.empty((table.num_rows, len(numeric)), dtype=np.float32)
    for k, j in enumerate(numeric):
        column, name = table.column(j), repr(names[j])
        t = column.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
            values = arrow_numbers(column)  # nulls become NaN (then refused unless allow_nan)
            _check_values(values, np.isnan(values), where, name, path, allow_nan)
            X[:, k] = values
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            X[:, k] = parse_feature_column(as_cells(column), where, name, path, allow_nan)
        elif pa.types.is_temporal(t):
            from fewlabel.datasets.dates import DATES_HINT

            raise InputError(f"{path}, column {name} holds dates or times ({t}); {DATES_HINT}")
        else:
            raise InputError(f"{path}, column {name} has type {t}; features must be numbers")
    y = None
    if label is not None and partial:
        # nulls stay None (a missing value, as NaN is): encode_labels reads both as unlabeled
        y = np.array(table.column(label).to_pylist(), dtype=object)
    elif label is not None:
        column = table.column(label)
        if column.null_count:
            i = column.to_pylist().index(None)
            raise InputError(f"{path}, {where(i)}, label column {names[label]!r}: the label is missing")
        t = column.type
        if pa.types.is_integer(t):
            y = np.asarray(column.to_numpy(), dtype=np.int64)
        elif pa.types.is_floating(t):
            y = np.asarray(column.to_numpy(), dtype=np.float64)
        else:
            y = np.array([str(v) for v in column.to_pylist()], dtype=str)
    ids = None if ident is None else np.array(["" if v is None else str(v) for v in table.column(ident).to_pylist()])
    parts, features, numeric = _without_row_index(path, {"X": X}, names, features, numeric, True, text=False)
    return _with_expanded({**parts, "y": y, "feature_names": [names[j] for j in features],
                             "label_name": None if label is None else names[label], "ids": ids},
                            cells, features, names, path, when, where, allow_nan, encodings)


# --- NumPy files ------------------------------------------------------------------------------------


_PICKLE_HINT = (
    "it holds a Python object array, which only unpickling can read, and unpickling a file can run "
    "arbitrary code. Save a numeric array instead, e.g. np.save(path, X.astype(np.float32))"
)


# NumPy 1 allows 32 dimensions, NumPy 2 allows 64; tables and images have 2 to 4.
_MAX_NDIM = 32
# Deflate cannot compress better than about 1032:1: an .npz member claiming more is damaged.
_MAX_DEFLATE_RATIO = 1032


def _read_npy(f, size: int, where: str) -> np.ndarray:
    """One .npy stream of ``size`` bytes from the binary file object ``f`` (a file or a zip member).

    The header is parsed and checked against ``size`` before the array is allocated, and the data is
    read straight into it: a header claiming 10^12 items fails at once, and nothing is ever unpickled.
    """
    shape, fortran_order, dtype, header_size = _npy_header(f, size, where)
    count = math.prod(shape)
    expected = header_size + count * dtype.itemsize
    arr = np.empty(count, dtype=dtype)
    view = memoryview(arr.view(np.uint8)) if dtype.itemsize else memoryview(b"")
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            raise CorruptFileError(f"{where} is truncated: {header_size + done} of {expected} bytes")
        done += n
    del view
    return arr.reshape(shape[::-1]).transpose() if fortran_order else arr.reshape(shape)


def _npy_header(f, size: int, where: str) -> tuple[tuple, bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header bytes) of the .npy stream ``f`` of ``size`` bytes, checked: a damaged
    or hostile header, an object dtype (pickles), an impossible shape, a truncated or padded file fail here."""
    fmt = np.lib.format
    prefix = f.read(12)
    # The header's length is read first and checked against the size: NumPy would allocate a buffer of
    # whatever length the file claims (up to 4 GB) before finding out the header is not there.
    wide = prefix[6:7] not in (b"\x01", b"")
    length_end = 12 if wide else 10
    header_length = int.from_bytes(prefix[8:length_end], "little")
    header_size = length_end + header_length
    if len(prefix) < length_end or header_size < 12 or header_size > size or header_length > 1 << 20:
        raise CorruptFileError(f"{where} is not a readable .npy array: its header claims {header_length} bytes, "
                               f"the file holds {size}")
    head = io.BytesIO(prefix[:length_end] + f.read(header_size - length_end) if wide else
                      prefix + f.read(header_size - 12))
    try:
        version = fmt.read_magic(head)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran_order, dtype = read_header(head, max_header_size=1 << 20)
        if head.tell() != header_size:
            raise ValueError(f"the header ends at byte {head.tell()}, not at byte {header_size}")
    except Exception as e:  # ast, tokenize and dtype parsing of hostile text fail in many ways
        raise CorruptFileError(f"{where} is not a readable .npy array: damaged header ({type(e).__name__}: {e})") from e
    if dtype.hasobject:
        raise InputError(f"{where}: {_PICKLE_HINT}")
    if (len(shape) > _MAX_NDIM or any(d < 0 for d in shape)
            or math.prod(max(d, 1) for d in shape) * dtype.itemsize > 1 << 48):  # even an empty array's sizes
        raise CorruptFileError(f"{where}: the .npy header gives an impossible shape {shape}")
    count = math.prod(shape)
    expected = header_size + count * dtype.itemsize
    if expected != size:
        problem = "is truncated" if expected > size else f"has {size - expected} bytes of trailing garbage"
        raise CorruptFileError(
            f"{where} {problem}: its header says shape {shape} of {dtype}, i.e. {expected} bytes, but it holds {size}"
        )
    return shape, fortran_order, dtype, header_size


def _check_magic(path: Path, magic: bytes):
    with open(path, "rb") as f:
        head = f.read(len(magic))
    if head != magic:
        raise CorruptFileError(f"{path} is not a {path.suffix} file (it does not start with {magic!r})")


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of an .npy file. With ``mmap``, images (more than two axes) are memory-mapped, not read: a file
    of a million images is paged in as training reads its rows, and the kernel can drop those pages again, so the
    data never has to fit in memory. The mapping is copy-on-write: nothing fewlabel does can change the file."""
    _check_magic(path, b"\x93NUMPY")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        shape, fortran_order, dtype, header_size = _npy_header(f, size, str(path))
        if mmap and len(shape) > 2 and math.prod(shape) > 0:
            return np.memmap(path, dtype=dtype, mode="c", offset=header_size, shape=shape,
                             order="F" if fortran_order else "C")
        f.seek(0)
        return _read_npy(f, size, str(path))


def load_npz(path: Path):
    """(X, y or None) from an .npz archive; only the members X and y are read."""
    _check_magic(path, b"PK")
    archive_size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            if "X" not in members:
                raise InputError(
                    f"{path} has arrays {sorted(members)}; read_table needs one named 'X' (and optional 'y')"
                )
            arrays = []
            for key in ("X", "y"):
                info = members.get(key)
                if info is None:
                    arrays.append(None)
                    continue
                where = f"{path} (array {key})"
                ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
                if info.compress_size > archive_size or info.file_size > ratio * info.compress_size + 1024:
                    raise CorruptFileError(
                        f"{where}: the archive says {info.file_size} bytes stored in {info.compress_size}, "
                        f"which a {archive_size}-byte archive cannot hold; the file is damaged"
                    )
                with archive.open(info) as f:
                    arrays.append(_read_npy(f, info.file_size, where))
                    if f.read(1):
                        raise CorruptFileError(f"{where} holds more bytes than the archive says")
            return arrays[0], arrays[1]
    except FewlabelError:
        raise
    except Exception as e:  # zipfile and zlib report a damaged archive in many ways
        raise CorruptFileError(f"cannot read {path} as an .npz archive: {type(e).__name__}: {e}") from e


def _read_numpy(path, label_column, columns, allow_nan, id_column=None, partial=False, mmap=False):
    if path.suffix.lower() == ".npz":
        X, y = load_npz(path)
    else:
        X, y = _load_npy(path, mmap), None

    if X.dtype.kind not in "biuf":
        raise InputError(f"{path}: X has dtype {X.dtype}; features must be numbers")
    if X.ndim < 2:
        raise InputError(
            f"{path}: X is {X.ndim}-D with shape {X.shape}; read_table needs one row per sample, "
            "(N, features) or (N, H, W[, C]) images; for a single feature save X.reshape(-1, 1)"
        )
    if len(X) == 0:
        raise InputError(f"{path} holds no samples (shape {X.shape})")
    if y is not None:
        if y.ndim != 1 or len(y) != len(X):
            raise InputError(f"{path}: y has shape {y.shape}, expected ({len(X)},) to match X {X.shape}")
        if label_column is not None:
            raise InputError(f"{path} has its own 'y' array; label_column must not be given too")
        if y.dtype.kind not in "biufU":
            raise InputError(f"{path}: y has dtype {y.dtype}; labels must be numbers or strings")

    def where(i):
        return f"row {i + 1}"

    if X.ndim > 2:
        # Images: returned as they are (uint8 stays uint8); columns make no sense here.
        if label_column is not None or columns is not None:
            raise InputError(f"{path}: X is {X.ndim}-D {X.shape}; label_column/columns need a 2-D table")
        if X.dtype.kind == "f":
            flat = X.reshape(len(X), -1)
            from fewlabel._base import row_slices

            nan, inf = (np.concatenate([test(part).any(axis=1) for part in row_slices(flat)])
                        for test in (np.isnan, np.isinf))
            for bad, what in ((nan, "NaN"), (inf, "infinite")):
                if bad.any() and not (what == "NaN" and allow_nan):
                    raise InputError(f"{path}, sample {int(np.flatnonzero(bad)[0]) + 1}: {what} values "
                                     f"({int(bad.sum())} samples affected)")
        return {"X": X, "y": y, "feature_names": None, "label_name": None, "ids": None}

    names = [str(i) for i in range(X.shape[1])]
    label, ident, features = _select(names, False, label_column, columns, path, id_column)
    if label is not None:
        y = X[:, label]
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
    values = X[:, features].astype(np.float64)
    for k, j in enumerate(features):
        _check_values(values[:, k], np.isnan(values[:, k]), where, str(j + 1), path, allow_nan)
    ids = None if ident is None else np.array([str(v) for v in X[:, ident].tolist()])
    return {"X": values.astype(np.float32), "y": y, "feature_names": [names[j] for j in features],
            "label_name": None if label is None else names[label], "ids": ids}


def read_table(path, label_column=None, columns=None, allow_nan=False, mmap=False, missing=None, categorical=None,
               dates=None):
    """Read a feature table.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``, ``.tsv``, ``.txt`` (comma, tab or whitespace separated; a first row without any number
        is taken as the header), ``.parquet`` (needs pyarrow), ``.npy`` or ``.npz`` (arrays ``X`` and
        optional ``y``).
    label_column : str or int, optional
        The column holding labels, by header name or 0-based index (negative counts from the end).
    columns : list of str or int, optional
        Feature columns to keep, by name or index; default all but the label column.
    allow_nan : bool
        Keep missing cells (empty, NaN, NA, ?) as NaN instead of raising.
    mmap : bool
        Memory-map an ``.npy`` of images (more than two axes) instead of reading it, for data larger than memory:
        rows are paged in as they are used, and writing into the array never reaches the file (copy-on-write).
        Off by default: overwriting the file while the array is still in use crashes the process (SIGBUS), a
        trap in a notebook; the ``fewlabel`` commands turn it on.
    missing : str, optional
        ``"fill"``: each missing feature cell filled with its column's median over the rows (for a table; see
        :func:`read_table_parts` for the medians themselves); ``"refuse"``: as ``allow_nan=False``.
    categorical : list of str or int, optional
        Feature columns of categories (words or codes), each read as one 0/1 column per category, named
        ``NAME=VALUE`` in ``feature_names``; an empty cell sets none of them.
    dates : str, int, list or dict, optional
        Feature columns of dates (a name or 0-based index, a list of them, or a dict of them to a
        :meth:`~datetime.datetime.strptime` format such as ``"%d/%m/%Y"``; without one, dates are read year first:
        ``2024-03-05``, ``2024/03/05 14:30``), each read as days since 1970 and the point of the year and of the
        week (and of the day, where the column holds times), named ``NAME:PART`` (:mod:`fewlabel.datasets.dates`).

    Returns
    -------
    X : numpy.ndarray
        float32 (N, F). A ``.npy``/``.npz`` with more than 2 dimensions (images) is returned as it is.
    y : numpy.ndarray or None
        Labels as given: int64 when all are integers, float64 when all are numbers, else a str array.
    feature_names : list of str or None
        Header names (or column indices as strings); None for image arrays.
    """
    parts = read_table_parts(path, label_column, columns, allow_nan, mmap=mmap, missing=missing,
                             categorical=categorical, dates=dates)
    return parts["X"], parts["y"], parts["feature_names"]


def check_missing(missing) -> str:
    if not isinstance(missing, str) or missing not in MISSING_CELLS:
        raise InputError(f"missing must be one of {', '.join(map(repr, MISSING_CELLS))}, got {missing!r}")
    return missing


def column_fill_values(X: np.ndarray, names, path) -> np.ndarray:
    """Each feature column's median over the rows where it has a value (float32): what ``missing="fill"`` puts in
    its missing cells, in the rows read and, saved with a model, in the new rows it answers. The median, not the
    mean: one wild value in a column (a typo, a unit slip) does not move it. A column with no value at all is
    refused: there is nothing to fill it with."""
    X = np.asarray(X)
    empty = np.isnan(X).all(axis=0)
    if empty.any():
        bad = [str(names[k]) if names is not None else str(k + 1) for k in np.flatnonzero(empty)]
        raise InputError(f"{path}: column(s) {', '.join(map(repr, bad[:8]))} hold no value in any row; leave them "
                         "out of the file (or give them values)")
    # column by column: a temporary of one column, not of the table
    return np.array([np.nanmedian(X[:, k]) for k in range(X.shape[1])], dtype=np.float32)


def fill_missing(X: np.ndarray, values: np.ndarray, names=None) -> tuple[np.ndarray, dict]:
    """``X`` with each NaN cell of column k set to ``values[k]`` (in place where ``X`` is writable float32, else in
    a copy), and how many cells were filled in each column (by name; without names, "column k", counted from 1 as
    the messages count a NumPy file's columns)."""
    nan = np.isnan(X)
    if not nan.any():
        return X, {}
    if not (X.flags.writeable and X.dtype == np.float32):
        X = np.array(X, dtype=np.float32)
    rows, cols = np.nonzero(nan)
    X[rows, cols] = np.asarray(values, dtype=np.float32)[cols]
    counts = np.bincount(cols, minlength=X.shape[1])
    return X, {(str(names[k]) if names is not None else f"column {k + 1}"): int(c) for k, c in enumerate(counts) if c}


def filled_note(where, counts: dict, medians: str = "each column's median") -> str:
    """What :func:`fill_missing` did, in a sentence: the cells filled, their columns and what filled them."""
    total = sum(counts.values())
    cols = ", ".join(f"{name!r} {n:,}" for name, n in list(counts.items())[:8]) + (" ..." if len(counts) > 8 else "")
    return (f"{where}: filled {total:,} missing cell(s) in {len(counts)} column(s) with {medians} ({cols}); "
            "--missing refuse to stop at them instead")


def categorical_indices(categorical, names, has_names, features, path) -> list[int]:
    """The feature columns that ``categorical`` names (by name or 0-based index), each checked: a feature column,
    named once."""
    if categorical is None:
        return []
    if isinstance(categorical, (str, numbers.Integral)):
        categorical = [categorical]
    out = [resolve_column(c, names, has_names, "categorical", path) for c in categorical]
    if len(set(out)) != len(out):
        raise InputError(f"categorical names a column twice: {list(categorical)}")
    for j in out:
        if j not in features:
            raise InputError(f"{path}: categorical names {names[j]!r}, which is not a feature column (it is the "
                             "label or the id column, or left out by columns)")
    return out


def expand_columns(numeric: np.ndarray, cells: dict, order: list, names: list, categories: dict | None = None,
                      path=None, dates: dict | None = None, where=None, allow_nan: bool = False):
    """The feature matrix with each column of categories as one 0/1 column per category and each column of dates
    as its columns (:mod:`fewlabel.datasets.dates`), in the file's column order: ``numeric`` holds the other
    feature columns (in ``order``'s order), ``cells`` each categorical or date column's cells as written (by
    index), ``order`` the feature columns' indices and ``names`` every column's name.
    ``categories``: each column's categories (by name) to encode with, as a model keeps them (a value not among
    them, or an empty cell, sets none of its columns); None: learned here, each column's distinct values sorted.
    ``dates``: the columns of dates (by name), each ``{"format": ...}`` to learn it here or a model's record of it
    (:func:`~fewlabel.datasets.dates.encode_dates`); ``where(i)`` names row i and ``allow_nan`` lets an empty date
    be NaN in its columns, as in a numeric column. Returns (X float32, the columns' names, ``NAME=VALUE`` for a
    category's, ``NAME:PART`` for a date's; ``{"categories": by column name, "dates": each one's record}``;
    ``{"categories": {name: {"empty": cells with no value, "unseen": {value: cells}}}, "dates": {name: {"empty",
    "before", "after"}}}``)."""
    from fewlabel.datasets.dates import encode_dates

    dates = dates or {}
    blocks, out_names = [], []
    learned: dict = {"categories": {}, "dates": {}}
    counts: dict = {"categories": {}, "dates": {}}
    k = 0
    for j in order:
        name = str(names[j])
        if j not in cells:
            blocks.append(numeric[:, k:k + 1].astype(np.float32))
            out_names.append(name)
            k += 1
            continue
        if name in dates:
            block, block_names, record, counted = encode_dates(
                cells[j], name, dates[name], where or (lambda i: f"row {i + 1}"), path, allow_nan,
                f"{j + 1} ({name!r})")
            blocks.append(block)
            out_names += block_names
            learned["dates"][name], counts["dates"][name] = record, counted
            continue
        text = np.char.strip(np.asarray(cells[j], dtype=str))
        empty = np.isin(np.char.lower(text), MISSING)
        values = sorted(set(text[~empty].tolist())) if categories is None else list(categories[name])
        if not values:
            raise InputError(f"{path}: categorical column {name!r} holds no value in any row; leave it out")
        index = {v: i for i, v in enumerate(values)}
        codes = np.array([index.get(t, -1) for t in text.tolist()])
        block = np.zeros((len(text), len(values)), np.float32)
        hit = codes >= 0
        block[np.flatnonzero(hit), codes[hit]] = 1
        blocks.append(block)
        out_names += [f"{name}={v}" for v in values]
        learned["categories"][name] = values
        unseen = text[(~hit) & ~empty]
        seen_not = {str(v): int(n) for v, n in zip(*np.unique(unseen, return_counts=True))}
        counts["categories"][name] = {"empty": int(empty.sum()), "unseen": seen_not}
    rows = len(numeric) if numeric is not None else len(next(iter(cells.values())))
    X = np.concatenate(blocks, axis=1) if blocks else np.zeros((rows, 0), np.float32)
    return X, out_names, learned, counts


def raw_columns(columns: list, categories: dict | None, dates: dict | None = None) -> list:
    """A model's feature columns as a file holds them: each categorical column's ``NAME=VALUE`` columns, and each
    date column's ``NAME:PART`` columns, back to ``NAME``, once, where it stood."""
    if not categories and not dates:
        return list(columns)
    from fewlabel.datasets.dates import date_names

    expanded = {f"{name}={v}": name for name, values in (categories or {}).items() for v in values}
    expanded.update({part: name for name, record in (dates or {}).items()
                     for part in date_names(name, record["time"])})
    out = []
    for c in columns:
        raw = expanded.get(c, c)
        if raw not in out:
            out.append(raw)
    return out


def categories_note(where, categories: dict, counts: dict) -> str:
    """What encoding the categorical columns did, in a sentence."""
    parts = []
    for name, values in categories.items():
        shown = ", ".join(map(repr, values[:6])) + (" ..." if len(values) > 6 else "")
        extra = []
        if counts[name]["empty"]:
            extra.append(f"{counts[name]['empty']:,} empty")
        unseen = counts[name]["unseen"]
        if unseen:
            extra.append(f"{sum(unseen.values()):,} of values the model never saw ({', '.join(map(repr, unseen))}"
                         f"): none of its columns set")
        parts.append(f"{name!r}: {len(values)} categories ({shown}){'; ' + '; '.join(extra) if extra else ''}")
    return f"{where}: columns of categories, one 0/1 column per category: " + "; ".join(parts)


def reading_notes(where, parts: dict) -> list[str]:
    """What reading a table did to its cells, one sentence each (:func:`read_table_parts`'s ``parts``): the missing
    cells filled, the columns of categories encoded. Every reader says them, a command as a warning, the own-data
    reader as a note of the data."""
    notes = []
    if parts.get("fill") and parts["fill"]["filled"]:
        notes.append(filled_note(where, parts["fill"]["filled"]))
    if parts.get("categories"):
        notes.append(categories_note(where, parts["categories"], parts["category_counts"]))
    if parts.get("dates"):
        from fewlabel.datasets.dates import dates_note

        notes.append(dates_note(where, parts["dates"], parts["date_counts"]))
    return notes


def read_table_parts(path, label_column=None, columns=None, allow_nan=False, id_column=None,
                     partial_labels=False, mmap=False, missing=None, categorical=None, dates=None,
                     encodings=None) -> dict:
    """:func:`read_table`'s work, with an ``id_column`` (a column naming the rows, not a feature) and, with
    ``partial_labels``, label cells returned as written (missing ones included) for
    :func:`fewlabel.datasets.partial.encode_labels`. Returns ``{"X", "y", "feature_names", "label_name",
    "ids"}``. With ``missing`` ('refuse' or 'fill', :data:`MISSING_CELLS`), a table's rows (2-D) also give
    ``"fill"``: ``{"how": "median", "values": each column's median (:func:`column_fill_values`), "filled": the
    cells filled in each column}``; 'fill' fills the missing cells (``allow_nan`` is then implied), 'refuse' refuses
    them as ``allow_nan=False`` does. ``categorical``: feature columns of categories (names or 0-based indices; a
    CSV / TSV / spreadsheet or Parquet table), each read as one 0/1 column per category, ``NAME=VALUE``
    (:func:`expand_columns`; an empty cell sets none): ``"categories"`` then holds each one's categories and
    ``"category_counts"`` its empty cells. ``dates``: feature columns of dates (as :func:`read_table`), each read
    as its columns ``NAME:PART``: ``"dates"`` then holds each one's record (its form, whether it holds times, its
    first and last date) and ``"date_counts"`` its empty cells; an empty one is a missing cell, filled or refused
    as ``missing`` says. ``encodings``: ``{"categories": ..., "dates": ...}`` as a first read of another file
    returned them, to read this one's columns of categories and of dates as that one's were (in place of
    ``categorical`` and ``dates``): the same columns, a value it never saw setting none of its categories."""
    if missing is not None:
        check_missing(missing)
        allow_nan = missing == "fill"
        parts = read_table_parts(path, label_column, columns, allow_nan, id_column, partial_labels, mmap,
                                 categorical=categorical, dates=dates, encodings=encodings)
        X = parts["X"]
        if X.ndim == 2:
            values = column_fill_values(X, parts["feature_names"], path)
            filled = {}
            if missing == "fill":  # a NumPy file's columns are named by their place, counted from 1 as elsewhere
                names = None if table_suffix(Path(path)) in (".npy", ".npz") else parts["feature_names"]
                X, filled = fill_missing(X, values, names)
            parts.update(X=X, fill={"how": "median", "values": [float(v) for v in values], "filled": filled})
        return parts
    if encodings is not None:
        if categorical is not None or dates is not None:
            raise InputError("encodings reads the columns of categories and of dates as another file's were: give "
                             "categorical and dates only without it")
        categorical = list(encodings.get("categories") or {}) or None
        dates = {name: record.get("format") for name, record in (encodings.get("dates") or {}).items()} or None
    if not isinstance(mmap, (bool, np.bool_)):
        raise InputError(f"mmap must be True or False, got {mmap!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
    if not isinstance(allow_nan, (bool, np.bool_)):
        raise InputError(f"allow_nan must be True or False, got {allow_nan!r}")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"table file not found: {path}")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    ext = table_suffix(path)
    if ext not in SUPPORTED:
        raise InputError(unsupported(path, ', '.join(SUPPORTED)))
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    if ext in TEXT_LIKE:
        return _read_text(path, label_column, columns, allow_nan, id_column, partial_labels, categorical, dates,
                          encodings)
    if ext == ".parquet":
        return _read_parquet(path, label_column, columns, allow_nan, id_column, partial_labels, categorical, dates,
                             encodings)
    for what, given in (("categorical", categorical), ("dates", dates)):
        if given is not None:
            raise InputError(f"{path} is a NumPy file, whose columns are numbers: {what} applies to a CSV, TSV, "
                             "spreadsheet or Parquet table")
    return _read_numpy(path, label_column, columns, allow_nan, id_column, partial_labels, mmap)
