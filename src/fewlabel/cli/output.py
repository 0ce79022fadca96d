"""The folder a command writes into (``--out``): checked before any work, filled only when the work is done.

Before a command loads its data or trains anything, :class:`OutputFolder` checks that ``--out`` can be a
folder (not an existing file, not under a file, creatable), that it holds none of the files the command
writes unless ``--force`` is given, and creates an empty staging folder beside it: a location that cannot
be written is found then, in one line, not after an hour of training. The command writes into the
staging folder; only when it has finished are its files moved into ``--out`` (the whole folder renamed
into place when ``--out`` is new). A failure or Ctrl-C removes the staging folder and any parent folders
this run created, and leaves whatever was in ``--out`` before as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from fewlabel.errors import InputError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


class OutputFolder:
    """``--out`` of one command run: ``with OutputFolder(out, writes, force) as staging: ...``.

    ``writes`` names every file or folder the command may write directly under ``out``. With ``force``,
    those already there are replaced, and those this run does not write again are removed (they
    described an earlier run); other files in ``out`` are never touched.
    """

    def __init__(self, out, writes, force: bool = False, option: str = "--out"):
        self.out = Path(out)
        self.writes = tuple(writes)
        self.force = bool(force)
        self.option = option
        self.staging: Path | None = None
        self._created: list[Path] = []  # parent folders this run made, outermost first

    # -- before the work ------------------------------------------------------------------------------
    def check(self) -> Path:
        """Refuse an unusable or occupied ``out``; create and return the empty staging folder."""
        out, opt = self.out, self.option
        what = ", ".join(w + ("/" if w == "model" else "") for w in self.writes)
        if _exists(out) and not out.is_dir():
            kind = "a broken link" if out.is_symlink() and not out.exists() else "an existing file"
            raise InputError(f"{opt} {out} is {kind}, not a folder: give a new or empty folder to write {what} into")
        ancestor = out.parent
        while not _exists(ancestor) and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if _exists(ancestor) and not ancestor.is_dir():
            raise InputError(f"{opt} {out}: {ancestor} is a file, so no folder can be made under it")
        if out.is_dir():
            taken = [w for w in self.writes if _exists(out / w)]
            if taken and not self.force:
                raise InputError(f"{opt} {out} already holds {', '.join(taken)} (from an earlier run?): pass --force "
                                 "to replace them, or give another folder")
        try:
            self._make_parents(out.parent)
            if out.is_dir():  # stage inside it: the files then move within one file system
                self.staging = Path(tempfile.mkdtemp(prefix=".fewlabel-", suffix=".partial", dir=out))
            else:
                self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        except OSError as e:
            self._undo_parents()
            reason = e.strerror or str(e)
            raise InputError(f"{opt} {out}: cannot write there ({reason})") from None
        return self.staging

    def _make_parents(self, folder: Path) -> None:
        missing = []
        while not _exists(folder):
            missing.append(folder)
            folder = folder.parent
        for f in reversed(missing):
            f.mkdir()
            self._created.append(f)

    def _undo_parents(self) -> None:
        for f in reversed(self._created):
            try:
                f.rmdir()  # only while empty: never anything another process put there meanwhile
            except OSError:
                break
        self._created = []

    # -- after the work -------------------------------------------------------------------------------
    def commit(self) -> None:
        """Move what the run wrote into ``out``; on any failure put back what was there before."""
        staging, out = self.staging, self.out
        if not out.is_dir():
            os.replace(staging, out)
            self.staging = None
            return
        written = sorted(p.name for p in staging.iterdir())
        stale = [w for w in self.writes if w not in written and _exists(out / w)] if self.force else []
        tag = uuid.uuid4().hex[:8]
        backups: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for name in written + stale:
                dest = out / name
                if _exists(dest):
                    backup = out / f".{name}.old-{tag}"
                    os.replace(dest, backup)
                    backups.append((backup, dest))
            for name in written:
                os.replace(staging / name, out / name)
                placed.append(out / name)
        except BaseException:
            for dest in placed:
                _remove(dest)
            for backup, dest in backups:
                os.replace(backup, dest)
            raise
        for backup, _ in backups:
            _remove(backup)

    def discard(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if not _exists(self.out):
            self._undo_parents()

    def __enter__(self) -> Path:
        return self.check()

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()
        return False
