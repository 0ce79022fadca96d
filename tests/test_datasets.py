"""Named datasets: real MNIST / Fashion-MNIST, the IDX reader, STL-10 and CIFAR-10 binary formats,
downloading from a loopback server, and describe()."""

import dataclasses
import gzip
import hashlib
import http.server
import io
import shutil
import socket
import struct
import tarfile
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from fewlabel import datasets
from fewlabel.datasets import registry
from fewlabel.errors import CorruptFileError, DataNotFoundError, DownloadError, InputError


def closed_port():
    """A loopback port nobody listens on: connecting to it is refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test touches the user's cache, system folders or a real mirror."""
    monkeypatch.setenv("FEWLABEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FEWLABEL_OFFLINE", "1")
    monkeypatch.setattr(registry, "SYSTEM_FOLDERS", {})
    dead = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setattr(registry, "MIRRORS", {"mnist": [dead], "fashion-mnist": [dead]})
    monkeypatch.setattr(registry, "ARCHIVES", {
        k: dataclasses.replace(a, urls=(dead + a.filename,)) for k, a in registry.ARCHIVES.items()
    })


def cache_files(tmp_path):
    return sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())


# --- real MNIST / Fashion-MNIST ---------------------------------------------------------------------

# First labels of each official split: a check that files were not swapped or reordered.
FIRST_LABELS = {"mnist": (5, 7), "fashion-mnist": (9, 9)}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_real_train_and_test(real_data_root, name):
    X, y = datasets.load(name, root=real_data_root / name)
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    assert y[0] == FIRST_LABELS[name][0]
    assert 0 < X.mean() < 128 and X.max() == 255
    X[0, 0, 0] = 1  # arrays are writable copies

    # root holding <name>/ works too
    Xt, yt = datasets.load(name, split="test", root=real_data_root)
    assert Xt.shape == (10000, 28, 28) and Xt.dtype == np.uint8
    assert yt.shape == (10000,) and set(np.unique(yt)) == set(range(10))
    assert yt[0] == FIRST_LABELS[name][1]


def test_found_through_env_var_and_aliases(real_data_root, monkeypatch):
    monkeypatch.setenv("FEWLABEL_DATA", str(real_data_root))
    X, y = datasets.load("FASHION_MNIST", split="test")
    X2, y2 = datasets.load("fashion-mnist", split="test", root=real_data_root / "fashion-mnist")
    assert X.shape == (10000, 28, 28)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_uncompressed_copies_load(real_data_root, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(real_data_root / "mnist" / f"{f}.gz") as src, open(raw / f, "wb") as dst:
            shutil.copyfileobj(src, dst)
    X, y = datasets.load("mnist", split="test", root=raw)
    Xg, yg = datasets.load("mnist", split="test", root=real_data_root / "mnist")
    np.testing.assert_array_equal(X, Xg)
    np.testing.assert_array_equal(y, yg)


@pytest.fixture(scope="module")
def one_pixel_off_gz(real_data_root):
    """MNIST t10k images, gzip-compressed, with one pixel changed: a valid IDX file, wrong checksum."""
    data = bytearray(gzip.decompress((real_data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()))
    data[16 + 28 * 14 + 14] ^= 0xFF
    return gzip.compress(bytes(data), compresslevel=1), hashlib.sha256(data).hexdigest()


def test_checksum_mismatch_is_corrupt_file(real_data_root, tmp_path, one_pixel_off_gz):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(one_pixel_off_gz[0])
    shutil.copy(real_data_root / "mnist" / "t10k-labels-idx1-ubyte.gz", bad)
    # A damaged file found first is an error, not a reason to look further ($FEWLABEL_DATA has good copies).
    with pytest.raises(CorruptFileError) as e:
        datasets.load("mnist", split="test", root=bad)
    msg = str(e.value)
    assert str(bad / "t10k-images-idx3-ubyte.gz") in msg
    assert registry.IDX_SHA256["mnist"]["t10k-images-idx3-ubyte"] in msg  # expected
    assert one_pixel_off_gz[1] in msg  # actual


def test_load_rejects_bad_arguments():
    with pytest.raises(InputError, match="unknown dataset 'mnsit'.*Did you mean 'mnist'"):
        datasets.load("mnsit")
    with pytest.raises(InputError, match="splits train, test"):
        datasets.load("mnist", split="validation")
    with pytest.raises(InputError):
        datasets.load("stl10", split="all")
    with pytest.raises(InputError):
        datasets.load(3)
    with pytest.raises(InputError, match="root"):
        datasets.load("mnist", root=42)


def test_digits_splits():
    X, y = datasets.load("digits")
    Xt, yt = datasets.load("Digits", split="test")
    Xa, ya = datasets.load("digits", split="all")
    assert X.shape == (1347, 8, 8) and Xt.shape == (450, 8, 8) and Xa.shape == (1797, 8, 8)
    assert X.dtype == np.uint8 and y.dtype == np.int64
    assert Xa.max() == 255 and Xa.min() == 0
    assert set(np.unique(Xa)) <= {int(np.round(v * 255 / 16)) for v in range(17)}
    # stratified: every class holds ~25% of its samples in the test split
    share = np.bincount(yt, minlength=10) / np.bincount(ya, minlength=10)
    assert np.all(np.abs(share - 0.25) < 0.02)
    # the split is fixed and partitions "all"
    X2, _ = datasets.load("digits")
    np.testing.assert_array_equal(X, X2)
    assert len(y) + len(yt) == len(ya)


# --- IDX reader -------------------------------------------------------------------------------------

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr):
    header = bytes([0, 0, IDX_CODES[arr.dtype.type], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, compress):
    arr = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    if dtype is np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    data = idx_bytes(arr)
    # gzip is recognised by its content, not its name
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = datasets.read_idx(path, sha256=hashlib.sha256(data).hexdigest())
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_read_idx_raw_file_named_gz(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels.gz"
    path.write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(datasets.read_idx(path), arr)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(CorruptFileError, match="not an IDX file") as e:
        datasets.read_idx(path)
    assert str(path) in str(e.value)
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 3) + b"abc")  # unknown type code
    with pytest.raises(CorruptFileError, match="not an IDX file"):
        datasets.read_idx(path)
    path.write_bytes(b"PNG")
    with pytest.raises(CorruptFileError, match="not an IDX file"):
        datasets.read_idx(path)


def test_read_idx_truncated_raw_and_gz(tmp_path):
    data = idx_bytes(np.zeros((5, 4, 4), dtype=np.uint8))  # 16 + 80 = 96 bytes
    path = tmp_path / "x.idx"
    path.write_bytes(data[:-10])
    with pytest.raises(CorruptFileError, match="truncated") as e:
        datasets.read_idx(path)
    assert "96" in str(e.value) and "86" in str(e.value)  # expected vs actual bytes

    big = idx_bytes(np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8))
    gz = gzip.compress(big)
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(CorruptFileError, match="truncated") as e:
        datasets.read_idx(path)
    assert str(len(big)) in str(e.value)

    path.write_bytes(gz[:-4])  # all content there, only the gzip trailer cut
    with pytest.raises(CorruptFileError, match="gzip"):
        datasets.read_idx(path)


def test_read_idx_broken_gzip(tmp_path):
    gz = bytearray(gzip.compress(idx_bytes(np.arange(3000, dtype=np.int32))))
    gz[20:60] = b"\xff" * 40
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(CorruptFileError, match="gzip") as e:
        datasets.read_idx(path)
    assert str(path) in str(e.value)


def test_read_idx_trailing_bytes_and_checksum(tmp_path):
    data = idx_bytes(np.arange(6, dtype=np.uint8))
    path = tmp_path / "x.idx"
    path.write_bytes(data + b"junk")
    with pytest.raises(CorruptFileError, match="4 bytes of trailing garbage"):
        datasets.read_idx(path)
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="checksum mismatch") as e:
        datasets.read_idx(path, sha256="0" * 64)
    assert hashlib.sha256(data).hexdigest() in str(e.value) and "0" * 64 in str(e.value)
    with pytest.raises(DataNotFoundError):
        datasets.read_idx(tmp_path / "missing.idx")


# --- STL-10 -----------------------------------------------------------------------------------------


def pattern(n, side):
    """(n, side, side, 3) uint8 where row, column, channel and image all change the value differently."""
    i, r, c, ch = np.ogrid[:n, :side, :side, :3]
    return ((i * 37 + r * 5 + c * 3 + ch * 101) % 256).astype(np.uint8)


def write_stl(folder, split, images, labels=None):
    """The official layout: per image, per channel, the 96x96 plane in column-major order."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{split}_X.bin", "wb") as f:
        for img in images:
            for ch in range(3):
                f.write(img[:, :, ch].tobytes(order="F"))
    if labels is not None:
        (folder / f"{split}_y.bin").write_bytes(bytes(labels))


def test_stl10_layout_labels_and_memmap(tmp_path):
    folder = tmp_path / "stl10_binary"
    images = pattern(7, 96)
    labels = [1, 2, 3, 10, 5, 1, 7]
    write_stl(folder, "train", images, labels)
    write_stl(folder, "unlabeled", images[::-1])
    X, y = datasets.load("stl10", root=tmp_path)  # finds stl10_binary/ under root
    assert X.shape == (7, 96, 96, 3) and X.dtype == np.uint8
    np.testing.assert_array_equal(X, images)
    # Straight from the format: image i, channel ch, column c, row r sits at i*27648 + ch*9216 + c*96 + r.
    raw = (folder / "train_X.bin").read_bytes()
    for i, r, c, ch in [(0, 0, 1, 0), (3, 10, 70, 2), (6, 95, 0, 1)]:
        assert X[i, r, c, ch] == raw[i * 27648 + ch * 9216 + c * 96 + r]
    np.testing.assert_array_equal(y, np.array(labels) - 1)
    assert y.dtype == np.int64

    U, yu = datasets.load("stl10", split="unlabeled", root=folder)
    assert yu is None
    assert isinstance(U, np.memmap) and not U.flags.writeable
    assert U.shape == (7, 96, 96, 3)
    np.testing.assert_array_equal(U, images[::-1])

    with pytest.raises(DataNotFoundError, match="test_X.bin"):
        datasets.load("stl10", split="test", root=tmp_path, download=False)


def test_stl10_corrupt_files(tmp_path):
    folder = tmp_path / "stl10_binary"
    write_stl(folder, "train", pattern(3, 96), [1, 2, 3])
    with open(folder / "train_X.bin", "ab") as f:
        f.write(b"\x00" * 100)
    with pytest.raises(CorruptFileError, match="27648") as e:
        datasets.read_stl10(folder, "train")
    assert "train_X.bin" in str(e.value)

    write_stl(folder, "train", pattern(3, 96), [1, 2])
    with pytest.raises(CorruptFileError, match="2 labels but .* 3 images"):
        datasets.read_stl10(folder, "train")
    write_stl(folder, "train", pattern(3, 96), [1, 11, 3])
    with pytest.raises(CorruptFileError, match="label 11"):
        datasets.read_stl10(folder, "train")
    write_stl(folder, "train", pattern(3, 96), [1, 0, 3])
    with pytest.raises(CorruptFileError, match="label 0"):
        datasets.read_stl10(folder, "train")


# --- CIFAR-10 ---------------------------------------------------------------------------------------


def cifar_records(images, labels):
    """The official record: label byte, then the red, green and blue 32x32 planes, each row-major."""
    return b"".join(bytes([lab]) + img.transpose(2, 0, 1).tobytes() for img, lab in zip(images, labels, strict=True))


def write_cifar(folder, images, labels, sizes=(3, 2, 3, 2, 2)):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for k, size in enumerate(sizes, start=1):
        records = cifar_records(images[start:start + size], labels[start:start + size])
        (folder / f"data_batch_{k}.bin").write_bytes(records)
        start += size
    (folder / "test_batch.bin").write_bytes(cifar_records(images[start:], labels[start:]))


def test_cifar10_layout_and_labels(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    images = pattern(16, 32)
    labels = [i % 10 for i in range(16)]
    write_cifar(folder, images, labels)
    X, y = datasets.load("cifar10", root=tmp_path)  # root holding cifar10/cifar-10-batches-bin/
    assert X.shape == (12, 32, 32, 3) and X.dtype == np.uint8 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, images[:12])
    np.testing.assert_array_equal(y, labels[:12])
    assert y.dtype == np.int64
    # Straight from the format: record i of batch 1 has pixel (r, c) of channel ch at 1 + ch*1024 + r*32 + c.
    raw = (folder / "data_batch_1.bin").read_bytes()
    for i, r, c, ch in [(0, 0, 1, 0), (2, 5, 30, 2), (1, 31, 0, 1)]:
        assert X[i, r, c, ch] == raw[i * 3073 + 1 + ch * 1024 + r * 32 + c]
    Xt, yt = datasets.load("CIFAR-10", split="test", root=folder)
    np.testing.assert_array_equal(Xt, images[12:])
    np.testing.assert_array_equal(yt, labels[12:])


def test_cifar10_corrupt_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    images = pattern(16, 32)
    write_cifar(folder, images, [1] * 16)
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptFileError, match="3073") as e:
        datasets.read_cifar10(folder, "train")
    assert "data_batch_3.bin" in str(e.value)

    write_cifar(folder, images, [1, 2, 3, 4, 10, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5])
    with pytest.raises(CorruptFileError, match="label byte 10") as e:
        datasets.load("cifar10", root=folder)
    assert "data_batch_2.bin" in str(e.value)


# --- downloading (loopback server only) -------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; .requests lists the paths asked for."""
    served = tmp_path / "served"
    served.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, format, *args):
            requests.append(self.path)

        def do_GET(self):
            if self.path.startswith("/short/"):  # promises 100,000 bytes, sends 12, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"x" * 10)
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}/", dir=served, requests=requests)
    httpd.shutdown()
    httpd.server_close()


def serve_mnist_test(real_data_root, server):
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real_data_root / "mnist" / f, server.dir / f)


def test_download_verified_into_cache(real_data_root, server, tmp_path, monkeypatch):
    serve_mnist_test(real_data_root, server)
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    dead = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setitem(registry.MIRRORS, "mnist", [dead, server.url.rstrip("/")])  # first mirror is down
    X, y = datasets.load("mnist", split="test")
    assert X.shape == (10000, 28, 28) and y.shape == (10000,)
    cache = tmp_path / "cache" / "mnist"
    assert cache_files(tmp_path) == [cache / "t10k-images-idx3-ubyte.gz", cache / "t10k-labels-idx1-ubyte.gz"]
    assert sorted(server.requests) == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]
    # The next load reads the cache: no new request.
    X2, _ = datasets.load("mnist", split="test")
    np.testing.assert_array_equal(X, X2)
    assert len(server.requests) == 2


def test_download_with_bad_checksum_leaves_nothing(real_data_root, server, tmp_path, monkeypatch, one_pixel_off_gz):
    serve_mnist_test(real_data_root, server)
    (server.dir / "t10k-images-idx3-ubyte.gz").write_bytes(one_pixel_off_gz[0])
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    monkeypatch.setitem(registry.MIRRORS, "mnist", [server.url])
    with pytest.raises((DownloadError, CorruptFileError)) as e:
        datasets.load("mnist", split="test")
    assert f"{server.url}t10k-images-idx3-ubyte.gz" in str(e.value)
    assert "checksum mismatch" in str(e.value)
    assert server.requests == ["/t10k-images-idx3-ubyte.gz"]
    assert cache_files(tmp_path) == []  # neither the temporary nor the final file


def test_interrupted_download_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    monkeypatch.setitem(registry.MIRRORS, "mnist", [server.url + "short/"])
    with pytest.raises(DataNotFoundError) as e:
        datasets.load("mnist", split="test")
    assert f"{server.url}short/t10k-images-idx3-ubyte.gz" in str(e.value)
    assert server.requests == ["/short/t10k-images-idx3-ubyte.gz"]
    assert cache_files(tmp_path) == []


def test_not_found_names_places_and_urls(tmp_path, monkeypatch):
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    dead = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setitem(registry.MIRRORS, "fashion-mnist", [dead])
    system = tmp_path / "usr-share-datasets"
    monkeypatch.setitem(registry.SYSTEM_FOLDERS, "fashion-mnist", [str(system)])
    with pytest.raises(DataNotFoundError) as e:
        datasets.load("fashion-mnist")
    msg = str(e.value)
    assert str(tmp_path / "cache" / "fashion-mnist") in msg
    assert str(system) in msg
    assert "FEWLABEL_DATA" in msg
    assert f"{dead}train-images-idx3-ubyte.gz" in msg
    assert "refused" in msg.lower()
    assert "apt-get install dataset-fashion-mnist" in msg
    assert cache_files(tmp_path) == []


def test_offline_and_download_false_skip_the_network(real_data_root, server, tmp_path, monkeypatch):
    serve_mnist_test(real_data_root, server)
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.setitem(registry.MIRRORS, "mnist", [server.url])
    with pytest.raises(DataNotFoundError, match="FEWLABEL_OFFLINE"):
        datasets.load("mnist", split="test")  # FEWLABEL_OFFLINE=1 from the fixture
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    with pytest.raises(DataNotFoundError, match="download=False"):
        datasets.load("mnist", split="test", download=False)
    assert server.requests == []
    assert cache_files(tmp_path) == []


def make_tar_gz(entries):
    """entries: (name, bytes) for files, (name, None, TarInfo type) for other kinds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if entry[1] is None:
                info.type = entry[2]
                info.linkname = "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return buf.getvalue()


def cifar_archive_entries():
    images = pattern(16, 32)
    labels = [i % 10 for i in range(16)]
    entries = [(f"cifar-10-batches-bin/data_batch_{k}.bin",
                cifar_records(images[2 * k - 2:2 * k], labels[2 * k - 2:2 * k])) for k in range(1, 6)]
    entries.append(("cifar-10-batches-bin/test_batch.bin", cifar_records(images[10:], labels[10:])))
    return entries, images, labels


def serve_archive(server, monkeypatch, data, md5=None):
    (server.dir / "cifar.tar.gz").write_bytes(data)
    archive = dataclasses.replace(registry.ARCHIVES["cifar10"], urls=(server.url + "cifar.tar.gz",),
                                  md5=md5 or hashlib.md5(data).hexdigest())
    monkeypatch.setitem(registry.ARCHIVES, "cifar10", archive)
    monkeypatch.delenv("FEWLABEL_DATA", raising=False)
    monkeypatch.delenv("FEWLABEL_OFFLINE")


def test_archive_download_and_extract(server, tmp_path, monkeypatch):
    entries, images, labels = cifar_archive_entries()
    serve_archive(server, monkeypatch, make_tar_gz(entries))
    X, y = datasets.load("cifar10", split="test")
    np.testing.assert_array_equal(X, images[10:])
    np.testing.assert_array_equal(y, labels[10:])
    folder = tmp_path / "cache" / "cifar10" / "cifar-10-batches-bin"
    assert cache_files(tmp_path) == sorted(folder / name.split("/")[1] for name, _ in entries)  # archive deleted
    X, _ = datasets.load("cifar10", split="train")
    np.testing.assert_array_equal(X, images[:10])
    assert len(server.requests) == 1


def test_archive_with_wrong_md5_leaves_nothing(server, tmp_path, monkeypatch):
    entries, _, _ = cifar_archive_entries()
    serve_archive(server, monkeypatch, make_tar_gz(entries), md5="0" * 32)
    with pytest.raises(DownloadError, match="md5"):
        datasets.load("cifar10")
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize("bad", [("../evil.bin", b"x"), ("/tmp/evil.bin", b"x"),
                                 ("cifar-10-batches-bin/link", None, tarfile.SYMTYPE)])
def test_archive_with_unsafe_member_is_refused(server, tmp_path, monkeypatch, bad):
    entries, _, _ = cifar_archive_entries()
    serve_archive(server, monkeypatch, make_tar_gz(entries + [bad]))
    with pytest.raises((CorruptFileError, DownloadError), match="refusing"):
        datasets.load("cifar10")
    assert cache_files(tmp_path) == []
    assert not (tmp_path / "cache" / "evil.bin").exists()


# --- describe ---------------------------------------------------------------------------------------


def test_describe_finds_mnist_and_downloads_nothing(real_data_root, server, tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLABEL_DATA", str(real_data_root))
    monkeypatch.delenv("FEWLABEL_OFFLINE")
    monkeypatch.setitem(registry.MIRRORS, "mnist", [server.url])
    rows = datasets.describe()
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"digits", "mnist", "fashion-mnist", "stl10", "cifar10"}
    assert by_name["mnist"]["path"] == str(real_data_root / "mnist")
    assert by_name["mnist"]["available"] == ["train", "test"]
    assert by_name["digits"]["available"] == ["train", "test", "all"]
    assert by_name["stl10"]["path"] is None and by_name["stl10"]["splits"] == ["train", "test", "unlabeled"]
    assert any(str(tmp_path / "cache" / "stl10") in place for place in by_name["stl10"]["looked"])
    text = datasets.format_description(rows)
    for name in by_name:
        assert name in text
    assert str(real_data_root / "mnist") in text and "not found" in text
    assert server.requests == [] and cache_files(tmp_path) == []


def test_describe_with_root(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-bin", pattern(16, 32), [0] * 16)
    rows = {r["name"]: r for r in datasets.describe(root=tmp_path)}
    assert rows["cifar10"]["path"] == str(tmp_path / "cifar-10-batches-bin")
    assert rows["cifar10"]["available"] == ["train", "test"]


def test_an_explicit_root_is_the_only_place_searched(tmp_path, monkeypatch, real_data_root):
    """A typo in root= must not quietly read the data of another place ($FEWLABEL_DATA holds MNIST here)."""
    monkeypatch.setenv("FEWLABEL_DATA", str(real_data_root))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        datasets.load("mnist", root=tmp_path / "typo")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        datasets.load("mnist", root=tmp_path / "file")
    with pytest.raises(DataNotFoundError, match="only that folder") as e:
        datasets.load("mnist", root=tmp_path)  # exists, holds no MNIST: no fallback to $FEWLABEL_DATA
    assert str(real_data_root) not in str(e.value)
    X, _ = datasets.load("mnist", split="test", root=real_data_root)  # root holding mnist/
    assert X.shape == (10000, 28, 28)
