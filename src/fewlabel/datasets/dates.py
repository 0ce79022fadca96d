"""A table's columns of dates, read as numbers a model can learn from.

A date cell says where a row lies in time, and where in the year, the week and the day: a flu season, a weekend,
a night shift. Each column named as dates (``dates=``, ``--dates``) becomes, in its place:

- ``NAME:days``: days since 1970-01-01 (a fraction of a day for a time), where the row lies in time;
- ``NAME:year_sin``, ``NAME:year_cos``: the point of the year, on a circle, so that 31 December lies beside
  1 January (a season is an arc of it, which a linear model can cut off);
- ``NAME:week_sin``, ``NAME:week_cos``: the day of the week, the same way (a weekend is an arc);
- ``NAME:day_sin``, ``NAME:day_cos``: the time of day, only where some cell of the column holds a time.

Cells are read year first (``2024-03-05``, ``2024/03/05``, ``2024.03.05``, a time optionally after a space or
``T``: ``2024-03-05 14:30``, ``2024-03-05T14:30:05.2``; an offset such as ``Z`` or ``+02:00`` is read past: the
time as written is the one kept) unless a format is given (``%d/%m/%Y``: :meth:`datetime.datetime.strptime`'s):
``03/05/2024`` is the 3rd of May in one country and the 5th of March in another, and is never guessed.

A model keeps each column's form, whether it held times, and its first and last date (:func:`encode_dates`), so
that ``fewlabel predict`` reads next week's file the same way and counts the rows dated outside what it learned
from.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import re

import numpy as np

from fewlabel.errors import InputError

#: The columns each date becomes, after ``NAME:``; :data:`TIME_PARTS` follow where the column holds times
DATE_PARTS = ("days", "year_sin", "year_cos", "week_sin", "week_cos")
TIME_PARTS = ("day_sin", "day_cos")
#: What a date among a table's features may become, and how to ask for it
DATES_HINT = ("a column of dates is read as numbers (days since 1970, the point of the year and of the week) with "
              "--dates NAME (dates=[NAME] in Python), or left out of the file")

_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"
                         r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                         r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?")
# what is most likely a date written day or month first: recognised only to say so in a refusal
_OTHER_DATE = re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.](\d{2}|\d{4})(?:[T ]\d{1,2}:\d{2}.*)?")
_DAY_OR_MONTH = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})")
_EPOCH = _dt.datetime(1970, 1, 1)


def looks_like_date(cell: str) -> bool:
    """Whether a cell that is not a number is most likely a date (for a refusal to name ``--dates``)."""
    text = str(cell).strip()
    return bool(_YEAR_FIRST.fullmatch(text) or _OTHER_DATE.fullmatch(text))


def date_columns(dates, names, has_names, features, path, resolve) -> dict[int, str | None]:
    """``dates`` (a column name or 0-based index, a list of them, or a dict of them to a
    :meth:`~datetime.datetime.strptime` format; None: no dates) as ``{column index: format or None}``, each checked:
    a feature column, named once. ``resolve`` is the readers' ``resolve_column``."""
    if dates is None:
        return {}
    if isinstance(dates, (str, numbers.Integral)):
        dates = [dates]
    if isinstance(dates, dict):
        pairs = list(dates.items())
    else:
        try:
            pairs = [(c, None) for c in dates]
        except TypeError:
            raise InputError(f"dates must be column names or indices (or a dict of them to a format), got {dates!r}") \
                from None
    out: dict[int, str | None] = {}
    for spec, fmt in pairs:
        if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
            raise InputError(f"the date format for {spec!r} must be a strptime format such as '%d/%m/%Y', got {fmt!r}")
        j = resolve(spec, names, has_names, "dates", path)
        if j in out:
            raise InputError(f"dates names a column twice: {[p for p, _ in pairs]}")
        if j not in features:
            raise InputError(f"{path}: dates names {names[j]!r}, which is not a feature column (it is the label or the "
                             "id column, or left out by columns)")
        out[j] = fmt
    return out


def _moment(text: str, fmt: str | None):
    """A cell's date and time (naive: as written), or None where it is not one in the form."""
    if fmt is not None:
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            return None
    m = _YEAR_FIRST.fullmatch(text)
    if m is None:
        return None
    year, _, month, day, hour, minute, second, fraction = m.groups()
    try:
        return _dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                            int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:  # 2024-02-30, 25:00
        return None


def _form_hint(values) -> str:
    """How to give the form of a column of dates not written year first: the form its cells show where one of
    their first two numbers goes past 12 (a day, so the other is the month), both forms otherwise."""
    fields = [m.groups() for m in map(_DAY_OR_MONTH.fullmatch, values) if m]
    firsts, seconds = {int(f[0]) for f in fields}, {int(f[2]) for f in fields}
    sep = fields[0][1] if fields else "/"
    year = "%Y" if not fields or len(fields[0][3]) == 4 else "%y"
    day_first, month_first = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    if fields and max(firsts) > 12 >= max(seconds):
        form = f"{day_first} (a first number past 12 is a day)"
    elif fields and max(seconds) > 12 >= max(firsts):
        form = f"{month_first} (a second number past 12 is a day)"
    else:
        form = f"{day_first} (or {month_first})"
    return f"a date written day or month first needs its form: --date-format {form}; dates={{NAME: FORM}} in Python"


def parse_dates(cells, fmt: str | None, where, column: str, path, allow_nan: bool) -> tuple[np.ndarray, bool]:
    """A column's cells as seconds since 1970-01-01 (float64; NaN for an empty cell where ``allow_nan``), and
    whether any holds a time of day. ``where(i)`` names data row i in a message; a cell that is no date in the
    form (``fmt``, or year first where None) is refused by its row, as an empty one is without ``allow_nan``."""
    from fewlabel.datasets.tables import MISSING, MISSING_REMEDY

    text = np.char.strip(np.asarray(cells, dtype=str))
    values, inverse = np.unique(text, return_inverse=True)
    seconds = np.full(len(values), np.nan)
    timed = False
    for k, value in enumerate(values.tolist()):
        if value.lower() in MISSING or value.lower() == "nat":  # NaT: a missing date as pandas writes it
            continue
        moment = _moment(value, fmt)
        if moment is None:
            i = int(np.flatnonzero(inverse == k)[0])
            form = (f"in the form {fmt!r}" if fmt is not None else
                    "written year first (2024-03-05, 2024/03/05, with a time optional: 2024-03-05 14:30)")
            remedy = "" if fmt is not None else f"; {_form_hint(values)}"
            raise InputError(f"{path}, {where(i)}, column {column}: {value!r} is not a date {form}{remedy}")
        seconds[k] = (moment - _EPOCH).total_seconds()
        timed = timed or moment.time() != _dt.time(0)
    out = seconds[inverse.ravel()]
    empty = np.isnan(out)
    if not allow_nan and empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError(f"{path}, {where(i)}, column {column}: missing date ({int(empty.sum())} in this column); "
                         f"{MISSING_REMEDY}")
    return out, timed


def date_parts(seconds: np.ndarray, time: bool) -> np.ndarray:
    """The columns a date becomes (:data:`DATE_PARTS`, and :data:`TIME_PARTS` with ``time``), float32, NaN where
    ``seconds`` is."""
    seconds = np.asarray(seconds, dtype=np.float64)
    known = ~np.isnan(seconds)
    days = seconds / 86400.0
    year_frac = np.full(len(seconds), np.nan)
    moments = np.floor(seconds[known]).astype("datetime64[s]")
    years = moments.astype("datetime64[Y]")
    start, end = years.astype("datetime64[s]"), (years + 1).astype("datetime64[s]")
    year_frac[known] = (moments - start).astype(np.float64) / (end - start).astype(np.float64)
    week_frac = np.mod(days + 3.0, 7.0) / 7.0  # 1970-01-01 was a Thursday: Monday is 0
    columns = [days]
    for frac in (year_frac, week_frac) + ((np.mod(days, 1.0),) if time else ()):
        columns += [np.sin(2 * np.pi * frac), np.cos(2 * np.pi * frac)]
    return np.stack(columns, axis=1).astype(np.float32)


def date_names(name: str, time: bool) -> list[str]:
    return [f"{name}:{part}" for part in DATE_PARTS + (TIME_PARTS if time else ())]


def _iso(seconds: float) -> str:
    moment = _EPOCH + _dt.timedelta(seconds=float(seconds))
    return moment.isoformat(sep=" ") if moment.time() != _dt.time(0) else moment.date().isoformat()


def encode_dates(cells, name: str, how: dict, where, path, allow_nan: bool, column: str | None = None):
    """One column of dates as its columns (:func:`date_parts`). ``how``: ``{"format": ...}`` to learn the column
    from these rows, or a model's record of it (with ``"time"``, ``"first"`` and ``"last"``) to read new rows as it
    was read. Returns (the block, float32; its columns' names; the record: the form, whether it holds times, the
    first and last date; ``{"empty": cells with no date, "before": rows dated before the record's first, "after":
    after its last}``)."""
    fmt = how.get("format")
    seconds, timed = parse_dates(cells, fmt, where, column or repr(name), path, allow_nan)
    known = seconds[~np.isnan(seconds)]
    counts = {"empty": int(np.isnan(seconds).sum()), "before": 0, "after": 0}
    if "first" in how:  # a model's column: its parts, and the rows outside the dates it learned from
        time = bool(how["time"])
        first, last = (np.datetime64(how[k]).astype("datetime64[s]").astype(np.float64) for k in ("first", "last"))
        counts.update(before=int((known < first).sum()), after=int((known > last).sum()))
        record = dict(how)
    else:
        if not len(known):  # a column learnt from must hold a date (new rows' may all be empty: filled or refused)
            raise InputError(f"{path}: the column of dates {column or repr(name)} holds no date in any row; leave it "
                             "out")
        time = timed
        record = {"format": fmt, "time": time, "first": _iso(known.min()), "last": _iso(known.max())}
    return date_parts(seconds, time), date_names(name, time), record, counts


def dates_note(where, dates: dict, counts: dict) -> str:
    """What reading the columns of dates did, in a sentence."""
    parts = []
    for name, record in dates.items():
        form = f"in the form {record['format']!r}" if record.get("format") else "year first"
        extra = [f"{counts[name]['empty']:,} empty"] if counts[name]["empty"] else []
        for side, word in (("before", "before"), ("after", "after")):
            if counts[name][side]:
                bound = record["first"] if side == "before" else record["last"]
                extra.append(f"{counts[name][side]:,} dated {word} {bound}, outside the dates the model learned from")
        parts.append(f"{name!r} ({form}, {record['first']} to {record['last']}): "
                     f"{len(date_names(name, record['time']))} columns"
                     f"{' with the time of day' if record['time'] else ''}"
                     f"{'; ' + '; '.join(extra) if extra else ''}")
    return (f"{where}: columns of dates, each read as days since 1970 and the point of the year and of the week: "
            + "; ".join(parts))
