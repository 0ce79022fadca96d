"""The checks of an experiment file's settings: each problem an InputError naming the file, the dotted key
(``tasks.classify.labels``) and what was expected."""

from __future__ import annotations

import difflib
from pathlib import Path

from fewlabel.errors import InputError


class Where:
    """Raises InputErrors that name the config file and the dotted key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> InputError:
        return InputError(f"{self.path}: {key}: {message}")

    def table(self, value, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table ([{key}] with keys), got {kind_of(value)} {value!r}")
        return value

    def keys(self, table: dict, key: str, allowed, extra=()) -> None:
        known = tuple(allowed) + tuple(extra)
        for k in table:
            if k not in known:
                hint = difflib.get_close_matches(k, known, n=1)
                also = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(dotted(key, k), f"unknown key{also}; expected one of: {', '.join(sorted(known))}")

    def integer(self, value, key: str, minimum: int | None = None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"expected an integer, got {kind_of(value)} {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"expected an integer of at least {minimum}, got {value}")
        return value

    def number(self, value, key: str, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise self.fail(key, f"expected a number, got {kind_of(value)} {value!r}")
        bad = ((lo is not None and (value <= lo if lo_open else value < lo))
               or (hi is not None and (value >= hi if hi_open else value > hi)))
        if bad:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            raise self.fail(key, f"expected a number in {left}{lo}, {hi}{right}, got {value}")
        return float(value)

    def string(self, value, key: str, choices=None) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {kind_of(value)} {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value

    def boolean(self, value, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {kind_of(value)} {value!r}")
        return value

    def int_list(self, value, key: str, minimum: int = 1, single_ok: bool = True) -> list[int]:
        if single_ok and isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected {'an integer or ' if single_ok else ''}a non-empty list of integers, "
                                 f"got {kind_of(value)} {value!r}")
        return [self.integer(v, f"{key}[{i}]", minimum) for i, v in enumerate(value)]

    def file(self, value, key: str, base: Path, folder: bool | None = None) -> Path:
        text = self.string(value, key)
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = base / path
        if not path.exists():
            raise self.fail(key, f"no such {'folder' if folder else 'file'}: {path} (relative paths are read from "
                                 "the config file's folder)")
        if folder is True and not path.is_dir():
            raise self.fail(key, f"expected a folder of images, but {path} is a file")
        if folder is False and path.is_dir():
            raise self.fail(key, f"expected a table file, but {path} is a folder")
        return path


def kind_of(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def dotted(*parts) -> str:
    return ".".join(p for p in parts if p)
