"""A short fuzz of every parser of untrusted bytes (scripts/fuzz_parsers.py runs the long one).

Mutated valid files (bit flips, extreme header fields, truncations, random bytes, JSON values inside
config.json and safetensors headers) must give fewlabel's own errors only, within a deadline, without
allocating more than the input supports.
"""

import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fewlabel.errors import CorruptFileError

byte_op = st.tuples(st.integers(0, 10), st.one_of(st.integers(0, 63), st.integers(0, 1 << 20)),
                    st.integers(0, 1 << 16), st.binary(min_size=1, max_size=64))
json_op = st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 1 << 16))


@pytest.fixture(scope="module")
def fuzz(load_script):
    return load_script("scripts", "fuzz_parsers")


@pytest.fixture(scope="module")
def targets(fuzz):
    # Model folders of one type and the checkpoint: training the others' seeds costs seconds, not coverage.
    found = fuzz.make_targets(models=True)
    return {k: v for k, v in found.items() if not k.startswith(("model-mlp", "model-detector"))}


PARSERS = ["idx", "idx.gz", "idx.gz-content", "stl10", "cifar10", "image-folder", "csv", "tsv", "npy", "npz",
           "npz-member", "parquet", "model-autoencoder", "model-autoencoder-config", "model-autoencoder-weights",
           "checkpoint", "checkpoint-header"]


@pytest.mark.parametrize("name", PARSERS)
def test_mutated_files_give_fewlabel_errors_only(fuzz, targets, name):
    if name not in targets:
        pytest.skip(f"{name}: optional dependency missing")
    target = targets[name]

    @settings(max_examples=25, deadline=5000, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(which=st.integers(0, 15), byte_ops=st.lists(byte_op, max_size=3), json_ops=st.lists(json_op, min_size=1,
                                                                                                max_size=3))
    def check(which, byte_ops, json_ops):
        outcome = fuzz.run_one(target, which, byte_ops, json_ops)
        assert outcome.kind in ("ok", "error"), outcome.detail

    check()


def test_mutation_ops_do_what_they_say(fuzz):
    data = bytes(range(16))
    assert fuzz.mutate_bytes(data, [(fuzz.FLIP, 3, 0, b"")])[3] == 2
    assert fuzz.mutate_bytes(data, [(fuzz.TRUNCATE, 5, 0, b"")]) == data[:5]
    assert fuzz.mutate_bytes(data, [(fuzz.FIELD_BE, 4, 11, b"")])[4:8] == b"\xff\xff\xff\xff"
    assert fuzz.mutate_bytes(b"shape (10, 3)", [(fuzz.DIGITS, 1, 9, b"")]) == b"shape (10, 2147483647)"
    assert fuzz.mutate_json({"a": [1, 2]}, [(fuzz.J_DELETE, 0, 0)]) == {}


def test_npy_header_claiming_gigabytes_allocates_nothing(tmp_path):
    import tracemalloc

    from fewlabel import datasets

    out = io.BytesIO()
    np.save(out, np.zeros((4, 3), np.float32))
    good = out.getvalue()
    path = tmp_path / "x.npy"
    cases = {
        "shape": good.replace(b"(4, 3)", b"(9999999999, 3)"),
        "header length": good[:8] + struct.pack("<H", 0xFFFF) + good[10:],
        "v2 header length": good[:6] + b"\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + good[10:],
    }
    for what, data in cases.items():
        path.write_bytes(data)
        tracemalloc.start()
        with pytest.raises(CorruptFileError) as e:
            datasets.read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert str(path) in str(e.value), what
        assert peak < 2_000_000, (what, peak)


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _png_chunk(data: bytes, name: bytes) -> int:
    """Offset of the length field of the first chunk called ``name``."""
    pos = 8
    while data[pos + 4 : pos + 8] != name:
        pos += 12 + struct.unpack(">I", data[pos : pos + 4])[0]
    return pos


def test_image_with_a_damaged_chunk_length_allocates_nothing(tmp_path):
    # Found by scripts/fuzz_parsers.py: one byte of a 104-byte PNG set the IDAT chunk's length to 2.7 GB,
    # and Pillow, reading the file itself, asked for all of it (a 2.7 GB allocation) before decoding.
    import tracemalloc

    from fewlabel import datasets

    pixels = np.random.default_rng(0).integers(0, 256, (6, 5), dtype=np.uint8)
    data = bytearray(_png(pixels))
    at = _png_chunk(bytes(data), b"IDAT")
    data[at : at + 4] = struct.pack(">I", 0xA100002F)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.png").write_bytes(bytes(data))
    tracemalloc.start()
    X, y, classes = datasets.read_image_folder(tmp_path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000, peak
    np.testing.assert_array_equal(X[0], pixels)  # the pixels themselves were intact
    assert classes == ["a"]


def test_image_header_claiming_more_pixels_than_its_file_holds_is_refused_before_decoding(tmp_path):
    import zlib

    from PIL import Image

    from fewlabel import datasets

    data = bytearray(_png(np.zeros((6, 5), np.uint8)))
    ihdr = _png_chunk(bytes(data), b"IHDR")
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", 8000, 8000)  # 64 MB of pixels claimed by ~100 bytes
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])))
    path = tmp_path / "x.png"
    path.write_bytes(bytes(data))
    assert Image.open(path).size == (8000, 8000)  # a header Pillow accepts, and would allocate 64 MB for
    with pytest.raises(CorruptFileError, match="8000x8000") as e:
        datasets.read_image_folder(tmp_path)
    assert str(tmp_path) in str(e.value) and path.name in str(e.value)

    # Sound files as compressible as images get are read: one colour, 3000x3000, PNG and GIF.
    for fmt in ("PNG", "GIF"):
        sound = tmp_path / fmt
        sound.mkdir()
        Image.fromarray(np.full((3000, 3000), 9, np.uint8)).save(sound / f"blank.{fmt.lower()}", fmt)
        X, _, _ = datasets.read_image_folder(sound, size=(30, 30), color="L")
        assert X.shape == (1, 30, 30) and (X == 9).all()


@pytest.mark.parametrize("header", [
    {"kind": "checkpoint", "format": 1},  # found by scripts/fuzz_parsers.py: a raw KeyError 'state'
    ["checkpoint"],
    {"kind": "checkpoint", "state": {"__dict__": [["a", 1, 2]]}},
    {"kind": "checkpoint", "state": {"__dict__": [[["unhashable"], 1]]}},
    {"kind": "checkpoint", "state": {"__tensor__": ["s"]}},
    {"kind": "checkpoint", "state": {"__float__": "many"}},
    {"kind": "checkpoint", "state": {"__tensor__": "missing"}},
])
def test_checkpoint_with_a_damaged_structure_gives_corrupt_file_error(tmp_path, header):
    import json

    import torch
    from safetensors.torch import save_file

    from fewlabel.train.state import load_state_file

    path = tmp_path / "ck.safetensors"
    save_file({"s": torch.zeros(2)}, str(path), metadata={"fewlabel": json.dumps(header)})
    with pytest.raises(CorruptFileError) as e:
        load_state_file(path, "checkpoint")
    assert str(path) in str(e.value)
