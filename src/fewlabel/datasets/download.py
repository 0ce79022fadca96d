"""Downloading dataset files: verified, atomic, and safe to interrupt.

A file is streamed into a temporary file in the destination folder, checked, and only then moved into
place with ``os.replace`` (atomic within one file system). Any failure, Ctrl-C included, deletes the
temporary file, so the cache never holds a half-written or unverified file that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import platformdirs
from tqdm import tqdm  # plain: the bar goes to stderr, also in notebooks

from fewlabel.errors import CorruptFileError, DownloadError

CHUNK = 1 << 20
TIMEOUT_S = 60


def cache_dir() -> Path:
    """Where downloads go: ``$FEWLABEL_CACHE`` if set, else the user cache dir (``~/.cache/fewlabel``)."""
    env = os.environ.get("FEWLABEL_CACHE", "").strip()
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("fewlabel"))


def offline() -> bool:
    """True when ``$FEWLABEL_OFFLINE`` is set to anything but an empty string, 0, false, no or off."""
    return os.environ.get("FEWLABEL_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def file_md5(path: Path) -> str:
    h = hashlib.md5()  # the published checksum of the STL-10 / CIFAR-10 archives is md5
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: Path, verify: Callable[[Path], None] | None = None) -> None:
    """Download ``url`` to ``dest``, calling ``verify(temp_path)`` before moving it into place.

    ``verify`` raises CorruptFileError when the bytes are wrong. Raises DownloadError for network and
    server failures, CorruptFileError for a verification failure; in both cases nothing is left behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, dest.name)
        if verify is not None:
            try:
                verify(tmp)
            except CorruptFileError as e:
                # Name the URL, not the temporary file that is about to be deleted.
                raise CorruptFileError(str(e).replace(str(tmp), url)) from None
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stream(url: str, out, label: str) -> None:
    """Copy the body of ``url`` into the open file ``out``; DownloadError on any network/server failure."""
    from fewlabel import __version__

    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"fewlabel/{__version__}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                      desc=label, leave=False) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: {e.reason}") from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadError(f"{url}: {type(e).__name__}: {e}") from e
    if total is not None and received != total:
        raise DownloadError(f"{url}: connection closed after {received} of {total} bytes")


@dataclass
class Attempt:
    url: str
    error: str
    bad_bytes: bool  # the server answered, but with bytes that failed verification


def fetch_first(urls, dest: Path, verify=None) -> tuple[str | None, list[Attempt]]:
    """Try ``urls`` in order until one downloads and verifies. Returns (the URL that worked or None,
    the failed attempts)."""
    failed = []
    for url in urls:
        try:
            fetch(url, dest, verify)
            return url, failed
        except CorruptFileError as e:
            failed.append(Attempt(url, str(e), True))
        except DownloadError as e:
            failed.append(Attempt(url, str(e), False))
    return None, failed


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    drive_like = bool(name.parts) and ":" in name.parts[0]  # "C:evil" on Windows
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ".." in name.parts or drive_like:
        raise CorruptFileError(f"{archive}: refusing to extract {member.name!r}, a path outside the folder")
    if not (member.isfile() or member.isdir()):
        # Links and device files could point outside the extraction folder; the official archives have none.
        raise CorruptFileError(f"{archive}: refusing to extract {member.name!r}, not a plain file or folder")


def safe_extract(archive: Path, dest_dir: Path, folder: str) -> Path:
    """Extract the tar archive into a temporary folder beside ``dest_dir/folder``, checking every member
    (no absolute paths, no ``..``, no links), then move ``folder`` into place. Returns dest_dir/folder.

    Streams through the archive once (the STL-10 archive is 2.6 GB), so a bad member found late still
    leaves nothing behind: the temporary folder is removed on any failure.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive, "r|*") as tar:
                for member in tar:
                    _check_member(member, archive)
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: a second line of defence
                        tar.extract(member, tmp, filter="data")
                    else:
                        tar.extract(member, tmp)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise CorruptFileError(f"{archive}: cannot extract the archive ({type(e).__name__}: {e})") from e
        extracted = tmp / folder
        if not extracted.is_dir():
            raise CorruptFileError(f"{archive} does not contain the expected folder {folder}/")
        target = dest_dir / folder
        if target.exists():  # an incomplete earlier copy (we only download when files are missing)
            shutil.rmtree(target)
        os.replace(extracted, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
