"""Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number ``00 00 <dtype> <ndim>``, then ``ndim`` big-endian uint32 sizes,
then the data, big-endian, C order. Files are often gzip-compressed; we detect that from the gzip magic
bytes rather than the file name, because people rename and gunzip files by hand.

The data is read (or decompressed) straight into the array that is returned: peak memory is the array
plus about a megabyte, and the header's sizes are checked against what the file can hold before anything
is allocated, so a file whose header claims 10^12 items fails at once instead of exhausting memory.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError

# IDX type codes -> big-endian NumPy dtypes.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot compress better than about 1032:1, so a gzip file of n bytes holds at most this many
# times n bytes of content: a header claiming more is refused before memory is allocated for it.
MAX_DEFLATE_RATIO = 1032
# More dimensions than any NumPy accepts (NumPy 1 allows 32, NumPy 2 allows 64); real IDX files have 1-4.
MAX_NDIM = 32
_IN_CHUNK = 1 << 16
_OUT_CHUNK = 1 << 20


class _RawStream:
    """An uncompressed file, read as it is."""

    problem = None

    def __init__(self, f):
        self._f = f

    def readinto(self, view: memoryview) -> int:
        done = 0
        while done < len(view):
            n = self._f.readinto(view[done:])
            if not n:
                break
            done += n
        return done

    def count_rest(self) -> int:
        rest = 0
        while chunk := self._f.read(_OUT_CHUNK):
            rest += len(chunk)
        return rest


class _GzipStream:
    """The decompressed content of a gzip file (all members), produced a chunk at a time.

    ``problem`` is None while the stream is sound, else a sentence saying what is wrong with the
    container; the content decompressed up to there stays readable so that the caller can say how many
    bytes a truncated file holds. zlib checks every member's CRC-32 and length (wbits=31).
    """

    def __init__(self, f):
        self._f = f
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes read from the file but not yet given to a decompressor
        self._out = memoryview(b"")  # decompressed bytes not yet handed out
        self._done = False
        self.problem: str | None = None
        self.broken = False

    def _finish(self, problem: str | None, broken: bool = False) -> None:
        self._done, self.problem, self.broken = True, problem, broken

    def _next_member(self) -> None:
        rest = self._d.unused_data
        while len(rest) < len(GZIP_MAGIC) and (more := self._f.read(_IN_CHUNK)):
            rest += more
        if not rest:
            self._finish(None)
        elif rest.startswith(GZIP_MAGIC):
            self._d, self._pending = zlib.decompressobj(wbits=31), rest
        else:
            # Some tools pad gzip files with zero bytes; anything else after a member is garbage.
            garbage, total = bool(rest.strip(b"\x00")), len(rest)
            while more := self._f.read(_OUT_CHUNK):
                garbage, total = garbage or bool(more.strip(b"\x00")), total + len(more)
            self._finish(f"{total} bytes of garbage after the gzip stream" if garbage else None)

    def _chunk(self) -> memoryview:
        while not self._done:
            if self._d.eof:
                self._next_member()
                continue
            data = self._d.unconsumed_tail or self._pending or self._f.read(_IN_CHUNK)
            self._pending = b""
            if not data:
                self._finish("the gzip stream ends early (the .gz file is truncated)")
                break
            try:
                out = self._d.decompress(data, _OUT_CHUNK)
            except zlib.error as e:
                self._finish(f"broken gzip stream ({e})", broken=True)
                break
            if out:
                return memoryview(out)
        return memoryview(b"")

    def readinto(self, view: memoryview) -> int:
        done = 0
        while done < len(view):
            if not self._out:
                self._out = self._chunk()
                if not self._out:
                    break
            n = min(len(self._out), len(view) - done)
            view[done : done + n] = self._out[:n]
            self._out, done = self._out[n:], done + n
        return done

    def count_rest(self) -> int:
        rest = len(self._out)
        self._out = memoryview(b"")
        while chunk := self._chunk():
            rest += len(chunk)
        return rest


def read_idx(path, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array in native byte order.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is detected from the content, not the name.
    sha256 : str, optional
        Expected sha256 (hex) of the *decompressed* IDX bytes. A mismatch raises CorruptFileError naming
        the file and both sums.

    Returns
    -------
    numpy.ndarray
        Shape as given by the header (e.g. (60000, 28, 28) for MNIST training images), dtype uint8 for
        MNIST. The array is writable and owns its memory.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    CorruptFileError
        Not an IDX file (bad magic), truncated, sizes in the header beyond what the file can hold, broken
        gzip stream, trailing bytes, checksum mismatch.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdefABCDEF" for c in sha256)):
        raise InputError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"IDX file not found: {path}")
    try:
        with open(path, "rb") as f:
            return _read(f, path, os.fstat(f.fileno()).st_size, sha256)
    except OSError as e:
        raise CorruptFileError(f"cannot read {path}: {e}") from e


def _read(f, path: Path, file_size: int, sha256: str | None) -> np.ndarray:
    compressed = f.read(2) == GZIP_MAGIC
    f.seek(0)
    stream = _GzipStream(f) if compressed else _RawStream(f)

    def broken_gzip():
        if isinstance(stream, _GzipStream) and stream.broken:
            raise CorruptFileError(f"{path}: {stream.problem}; delete it and get the file again")

    def gz_note():
        return f" ({stream.problem})" if stream.problem else ""

    magic = bytearray(4)
    got = stream.readinto(memoryview(magic))
    broken_gzip()
    if got < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES or magic[3] == 0:
        what = "the gzip-compressed content" if compressed else "it"
        raise CorruptFileError(
            f"{path} is not an IDX file: {what} starts with bytes {bytes(magic[:got]).hex(' ') or '(none)'}, "
            "expected 00 00 <type 08/09/0b/0c/0d/0e> <ndim>"
        )
    dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
    header_size = 4 + 4 * ndim
    if ndim > MAX_NDIM:
        raise CorruptFileError(f"{path}: the IDX header says {ndim} dimensions; at most {MAX_NDIM} are supported "
                               "(MNIST-style files have 1 to 4)")
    dims = bytearray(4 * ndim)
    got = stream.readinto(memoryview(dims))
    broken_gzip()
    if got < len(dims):
        raise CorruptFileError(
            f"{path} is truncated: the IDX header needs {header_size} bytes, the file has {4 + got}{gz_note()}"
        )
    shape = tuple(int(d) for d in np.frombuffer(bytes(dims), dtype=">u4"))
    count = math.prod(shape)
    expected = header_size + count * dtype.itemsize
    # What the file can hold at most: itself, or for gzip the best deflate can do.
    capacity = file_size * MAX_DEFLATE_RATIO if compressed else file_size
    # An empty array (a size of 0) must not hide impossible other sizes: NumPy refuses those too.
    if expected > capacity or math.prod(max(d, 1) for d in shape) * dtype.itemsize > 1 << 48:
        raise CorruptFileError(
            f"{path} is truncated or its header is damaged: the header says shape {shape} of {dtype.name}, "
            f"i.e. {expected} bytes in all, but the file ({file_size} bytes"
            f"{', gzip-compressed' if compressed else ''}) can hold at most {capacity}"
        )

    # Native byte order from the start: the big-endian bytes are swapped in place once read.
    arr = np.empty(shape, dtype=dtype.newbyteorder("="))
    view = memoryview(arr.reshape(-1).view(np.uint8))  # a flat byte view (also of an empty array)
    got = stream.readinto(view)
    broken_gzip()
    if got < len(view):
        raise CorruptFileError(
            f"{path} is truncated: its header says shape {shape} of {dtype.name}, i.e. {expected} bytes "
            f"in all, but it holds only {header_size + got} bytes{gz_note()}"
        )
    trailing = stream.count_rest()
    broken_gzip()
    if stream.problem:  # complete IDX content, but the gzip container itself is damaged
        raise CorruptFileError(f"{path}: {stream.problem}; delete it and get the file again")
    if trailing:
        raise CorruptFileError(
            f"{path} has {trailing} bytes of trailing garbage: its header says shape {shape}, "
            f"i.e. {expected} bytes, but it holds {expected + trailing} bytes"
        )

    if sha256 is not None:
        digest = hashlib.sha256(bytes(magic) + bytes(dims))
        digest.update(view)
        actual = digest.hexdigest()
        if actual != sha256.lower():
            raise CorruptFileError(
                f"checksum mismatch for {path}: sha256 of the decompressed IDX bytes is {actual}, "
                f"expected {sha256.lower()}. The file is damaged or is not the official release; "
                "delete it and get it again."
            )
    del view
    if not dtype.isnative:
        arr.byteswap(inplace=True)
    return arr
