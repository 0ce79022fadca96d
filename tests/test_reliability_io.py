"""Reliability of the readers and model folders (issue 17): bounded memory, mismatched or broken folders."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from fewlabel import datasets
from fewlabel.errors import CorruptFileError


def _peak(fn):
    """(result, peak bytes traced while calling fn); NumPy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- IDX: memory stays bounded ----------------------------------------------------------------------


def test_gz_idx_is_read_in_about_its_own_size(real_data_root):
    path = real_data_root / "mnist" / "train-images-idx3-ubyte.gz"
    X, peak = _peak(lambda: datasets.read_idx(path))
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8 and X.flags.writeable and X.flags.owndata
    # The array itself plus a few MB of decompression buffers; the old reader peaked at 2.2x the array.
    assert peak < X.nbytes * 1.05 + 4_000_000, (peak, X.nbytes)
    assert 0 < X.mean() < 255


def test_big_endian_values_survive_the_in_place_swap(tmp_path):
    arr = np.random.default_rng(0).normal(size=(300, 50)).astype(np.float64)
    data = bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", *arr.shape) + arr.astype(">f8").tobytes()
    path = tmp_path / "x.idx.gz"
    path.write_bytes(gzip.compress(data))
    out, peak = _peak(lambda: datasets.read_idx(path))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative and peak < arr.nbytes + 2_500_000


@pytest.mark.parametrize("compress", [False, True])
def test_a_header_claiming_more_than_the_file_can_hold_allocates_nothing(tmp_path, compress):
    # 200,000 x 28 x 28 = 157 MB claimed; the file holds 784 bytes (gzip: at most ~1032x its size).
    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", 200_000, 28, 28) + bytes(784)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(CorruptFileError, match="can hold at most") as e:
        _peak(lambda: datasets.read_idx(path))
    assert str(path) in str(e.value) and "(200000, 28, 28)" in str(e.value)
    tracemalloc.start()
    with pytest.raises(CorruptFileError):
        datasets.read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_gzip_members_zero_padding_and_garbage(tmp_path):
    arr = np.arange(5000, dtype=np.uint8)
    data = bytes([0, 0, 8, 1]) + struct.pack(">I", len(arr)) + arr.tobytes()
    path = tmp_path / "x.gz"
    # two members (as `cat a.gz b.gz` makes), then zero padding: one valid file
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]) + bytes(300))
    np.testing.assert_array_equal(datasets.read_idx(path), arr)
    path.write_bytes(gzip.compress(data) + b"\x00\x07junk")
    with pytest.raises(CorruptFileError, match="6 bytes of garbage after the gzip stream"):
        datasets.read_idx(path)
    path.write_bytes(gzip.compress(data + b"extra"))
    with pytest.raises(CorruptFileError, match="5 bytes of trailing garbage"):
        datasets.read_idx(path)
