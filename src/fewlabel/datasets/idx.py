"""Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number ``00 00 <dtype> <ndim>``, then ``ndim`` big-endian uint32 sizes,
then the data, big-endian, C order. Files are often gzip-compressed; we detect that from the gzip magic
bytes rather than the file name, because people rename and gunzip files by hand.
"""

from __future__ import annotations

import hashlib
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


def _gunzip(raw: bytes, path: Path) -> tuple[bytes, str | None]:
    """Decompress gzip bytes (all members). Returns (data, problem): problem is None when the stream is
    complete, else a sentence saying what is wrong; the data decompressed up to there is kept so that the
    caller can report how many bytes a truncated file holds."""
    chunks = []

    def joined():  # avoid copying 47 MB when there is a single chunk, the usual case
        chunks[:] = [c for c in chunks if c]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    rest = raw
    while rest:
        # wbits=31: gzip header and trailer, whose CRC-32 and length zlib checks for us.
        d = zlib.decompressobj(wbits=31)
        try:
            chunks.append(d.decompress(rest))
            chunks.append(d.flush())
        except zlib.error as e:
            return joined(), f"broken gzip stream ({e})"
        if not d.eof:
            return joined(), "the gzip stream ends early (the .gz file is truncated)"
        rest = d.unused_data
        # Some tools pad gzip files with zero bytes; anything else after a member must be another member.
        if rest and not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                return joined(), f"{len(rest)} bytes of garbage after the gzip stream"
            break
    return joined(), None


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
        Not an IDX file (bad magic), truncated, broken gzip stream, trailing bytes, checksum mismatch.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdefABCDEF" for c in sha256)):
        raise InputError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()

    gz_problem = None
    if raw[:2] == GZIP_MAGIC:
        data, gz_problem = _gunzip(raw, path)
        if gz_problem and gz_problem.startswith("broken"):
            raise CorruptFileError(f"{path}: {gz_problem}; delete it and get the file again")
    else:
        data = raw

    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        what = "the gzip-compressed content" if raw[:2] == GZIP_MAGIC else "it"
        raise CorruptFileError(
            f"{path} is not an IDX file: {what} starts with bytes {data[:4].hex(' ') or '(none)'}, "
            "expected 00 00 <type 08/09/0b/0c/0d/0e> <ndim>"
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise CorruptFileError(
            f"{path} is truncated: the IDX header needs {header_size} bytes, the file has {len(data)}"
            + (f" ({gz_problem})" if gz_problem else "")
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise CorruptFileError(
            f"{path} is truncated: its header says shape {shape} of {dtype.name}, i.e. {expected} bytes "
            f"in all, but it holds only {len(data)} bytes"
            + (f" ({gz_problem})" if gz_problem else "")
        )
    if gz_problem:  # complete IDX content, but the gzip container itself is damaged
        raise CorruptFileError(f"{path}: {gz_problem}; delete it and get the file again")
    if len(data) > expected:
        raise CorruptFileError(
            f"{path} has {len(data) - expected} bytes of trailing garbage: its header says shape {shape}, "
            f"i.e. {expected} bytes, but it holds {len(data)} bytes"
        )

    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise CorruptFileError(
                f"checksum mismatch for {path}: sha256 of the decompressed IDX bytes is {actual}, "
                f"expected {sha256.lower()}. The file is damaged or is not the official release; "
                "delete it and get it again."
            )

    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)), offset=header_size)
    # frombuffer on bytes is read-only; a native-order copy is writable and costs ~10 ms for MNIST.
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
