"""Fuzz fewlabel's parsers of untrusted bytes: mutated valid files must give fewlabel's own errors only.

    python scripts/fuzz_parsers.py --examples 2000            # every parser, 2,000 inputs each
    python scripts/fuzz_parsers.py --examples 500 --only idx.gz npz

Each parser starts from small valid files (IDX raw and gzip, STL-10 and CIFAR-10 binaries, a folder of
PNG/JPEG/BMP/GIF/TIFF/WebP images, CSV/TSV/Parquet/.npy/.npz tables, model folders, training checkpoints)
and is fed mutations of them: bit flips, bytes and header fields set to extreme values, truncations,
insertions, deletions, random bytes, and for structured formats (the content inside a gzip or .npz, the
JSON of config.json and of a safetensors header) mutations applied inside the container, which is then
rebuilt so that the mutation reaches the parser behind it. An input passes when the parser returns or
raises a :class:`fewlabel.errors.FewlabelError`. It fails as a *crash* (any other exception), a *hang*
(longer than ``--timeout`` seconds) or an *allocation* beyond what the input supports (traced peak over
``ratio x input bytes + 32 MB``; the script also caps the address space, so an untraced huge allocation
ends in MemoryError, a crash). The script prints the inputs tried, crashes, hangs and allocations per
parser, then one example of each distinct failure, and exits 1 when there was any.

tests/test_fuzz_parsers.py runs the same parsers and mutations through hypothesis, a few seconds each.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import random
import re
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import traceback
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

EXTREMES = (0, 1, 2, 0x7F, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            2**40, 2**63 - 1, 2**64 - 1)
NASTY_JSON = (None, True, False, 0, -1, 1, 3, 10**9, -(10**12), 2**63, 2**80, 0.5, -1e308, 1e308, "", "x",
              "../../x", "MLP", "relu", [], [0], [-1], [1, 2, 3], [10**9, 10**9], {}, {"type": "x"},
              {"a": [1, {}]}, [[[]]])
# Mutation kinds (each op is (kind, position, value, blob)).
FLIP, BYTE, FIELD_BE, FIELD_LE, FIELD64_LE, TRUNCATE, INSERT, DELETE, REPLACE, APPEND, DIGITS = range(11)
N_KINDS = 11
# Structured (JSON) mutation kinds (each op is (kind, node index, value index)).
J_REPLACE, J_DELETE, J_DUPLICATE = range(3)


def mutate_bytes(data: bytes, ops) -> bytes:
    """Apply byte-level mutation ops, in order. Positions wrap around the current length."""
    b = bytearray(data)
    for kind, pos, value, blob in ops:
        kind %= N_KINDS
        p = pos % (len(b) + 1)
        if kind == FLIP and b:
            b[p % len(b)] ^= 1 << (value % 8)
        elif kind == BYTE and b:
            b[p % len(b)] = value & 0xFF
        elif kind in (FIELD_BE, FIELD_LE, FIELD64_LE):
            width, order = (8, "<") if kind == FIELD64_LE else (4, ">" if kind == FIELD_BE else "<")
            v = EXTREMES[value % len(EXTREMES)] & ((1 << (8 * width)) - 1)
            b[p : p + width] = struct.pack(order + ("Q" if width == 8 else "I"), v)
        elif kind == TRUNCATE:
            del b[p:]
        elif kind == INSERT:
            b[p:p] = blob
        elif kind == DELETE:
            del b[p : p + 1 + value % 64]
        elif kind == REPLACE:
            b = bytearray(blob)
        elif kind == APPEND:
            b += blob
        elif kind == DIGITS:  # a number written as text (an .npy shape, a CSV cell) set to an extreme value
            runs = list(re.finditer(rb"\d+", bytes(b)))
            if runs:
                run = runs[pos % len(runs)]
                b[run.start() : run.end()] = str(EXTREMES[value % len(EXTREMES)]).encode()
    return bytes(b)


def _nodes(obj, out):
    """Every (container, key) pair of a JSON value, depth first."""
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k))
            _nodes(obj[k], out)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _nodes(obj[i], out)
    return out


def mutate_json(obj, ops):
    """Apply structured ops to a (copied) JSON value: replace a node by a nasty value, delete, duplicate."""
    obj = json.loads(json.dumps(obj))
    for kind, node, value in ops:
        nodes = _nodes(obj, [])
        if not nodes:
            return NASTY_JSON[value % len(NASTY_JSON)]
        parent, key = nodes[node % len(nodes)]
        kind %= 3
        if kind == J_REPLACE:
            parent[key] = json.loads(json.dumps(NASTY_JSON[value % len(NASTY_JSON)]))
        elif kind == J_DELETE:
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        else:
            parent[f"{key}_{value}"] = json.loads(json.dumps(parent[key]))
    return obj


# --- the parsers and their seed files ---------------------------------------------------------------


class Target:
    """One parser: ``read(folder)`` parses what ``files`` (relative path -> bytes) put in ``folder``.

    ``layer`` says how a mutation reaches the parser: "bytes" (the file itself), "gzip" (the decompressed
    content, gzip-compressed again), "npz" (an array member, zipped again), "json" (a JSON file's value),
    "safetensors-header" (a safetensors file's JSON header). ``ratio``: how many bytes of memory one input
    byte may legitimately become (gzip and deflate: about 1032).
    """

    def __init__(self, name: str, files: dict[str, bytes], read: Callable[[Path], object], layer: str = "bytes",
                 ratio: float = 8.0, mutable: list[str] | None = None):
        self.name, self.files, self.read, self.layer, self.ratio = name, files, read, layer, ratio
        self.mutable = mutable or sorted(files)

    def build(self, folder: Path, which: int, byte_ops=(), json_ops=()) -> int:
        """Write the seed files into ``folder`` with file ``which`` mutated; return the bytes written."""
        total = 0
        for i, rel in enumerate(sorted(self.files)):
            data = self.files[rel]
            if rel == self.mutable[which % len(self.mutable)]:
                data = self._mutated(data, byte_ops, json_ops)
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            total += len(data)
        return total

    def _mutated(self, data: bytes, byte_ops, json_ops) -> bytes:
        if self.layer == "gzip":
            return gzip.compress(mutate_bytes(gzip.decompress(data), byte_ops), mtime=0)
        if self.layer == "npz":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                members = {n: z.read(n) for n in z.namelist()}
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                for n, content in members.items():
                    z.writestr(n, mutate_bytes(content, byte_ops) if n == "X.npy" else content)
            return out.getvalue()
        if self.layer == "json":
            return mutate_bytes(json.dumps(mutate_json(json.loads(data), json_ops)).encode(), byte_ops)
        if self.layer == "safetensors-header":
            n = struct.unpack("<Q", data[:8])[0]
            header = json.dumps(mutate_json(json.loads(data[8 : 8 + n]), json_ops)).encode()
            return mutate_bytes(struct.pack("<Q", len(header)) + header + data[8 + n :], byte_ops)
        return mutate_bytes(data, byte_ops)


def _idx(arr: np.ndarray) -> bytes:
    codes = {np.uint8: 8, np.int8: 9, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    head = bytes([0, 0, codes[arr.dtype.type], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _png_like(fmt: str, mode: str, seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (6, 5) if mode == "L" else (6, 5, 3)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(out, fmt)
    return out.getvalue()


def _npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def _npy(arr) -> bytes:
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


def _model_files() -> dict[str, dict[str, bytes]]:
    """Saved model folders of a few registered types (fitted for one epoch on 60 tiny images)."""
    import torch

    import fewlabel
    from fewlabel.nets import MLP

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60, 6, 6), dtype=np.uint8)
    small = dict(epochs=1, device="cpu", verbose=False, batch_size=32)
    models = {
        "autoencoder": fewlabel.Autoencoder(hidden=(8,), latent=3, **small).fit(X),
        "mlp": MLP([36, 8, 4]),
        "detector": fewlabel.ReconstructionDetector(
            autoencoder=fewlabel.Autoencoder(hidden=(8,), latent=3, **small)).fit(X),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        for name, model in models.items():
            path = fewlabel.save(model, Path(tmp) / name)
            out[name] = {p.name: p.read_bytes() for p in path.iterdir()}
    return out


def _checkpoint_file() -> bytes:
    import torch

    from fewlabel.train import Trainer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 4))
    X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "ck.safetensors"
        Trainer(epochs=2, batch_size=16, device="cpu", progress=False, checkpoint=ck, schedule="cosine").fit(
            net, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[0]), X)
        return ck.read_bytes()


def make_targets(models: bool = True) -> dict[str, Target]:
    """Every parser with its seed files. ``models=False`` leaves out the ones that need training."""
    from fewlabel import datasets, io as fio
    from fewlabel.train.state import load_state_file

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 6, 6), dtype=np.uint8)
    idx_files = {"images.idx": _idx(images), "labels.idx": _idx(np.arange(4, dtype=np.int32)),
                 "values.idx": _idx(rng.normal(size=(3, 2)).astype(np.float64))}
    stl = {"train_X.bin": rng.integers(0, 256, (2, 3, 96, 96), dtype=np.uint8).tobytes(),
           "train_y.bin": bytes([3, 10])}
    cifar = {"test_batch.bin": b"".join(bytes([k]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                                        for k in (0, 9, 4))}
    folder = {"a/1.png": _png_like("PNG", "L", 1), "a/2.bmp": _png_like("BMP", "RGB", 2),
              "a/3.gif": _png_like("GIF", "L", 3), "b/4.jpg": _png_like("JPEG", "RGB", 4),
              "b/5.tiff": _png_like("TIFF", "RGB", 5), "b/6.webp": _png_like("WEBP", "RGB", 6)}
    csv = "f1,f2,f3,label\n0.5,1,-2e3,cat\n1.5,NaN,3,dog\n2.5,4,\"5\",cat\n".encode()
    tsv = b"1\t2\t3\n4\t5\t6\n7\t8\t9\n"
    table = rng.normal(size=(5, 3)).astype(np.float32)

    def read_idx_all(d):
        for name in sorted(idx_files):
            datasets.read_idx(d / name)

    def read_idx_gz_all(d):
        for name in sorted(idx_files):
            datasets.read_idx(d / f"{name}.gz")

    idx_gz = {f"{k}.gz": gzip.compress(v, mtime=0) for k, v in idx_files.items()}
    targets = [
        Target("idx", idx_files, read_idx_all),
        Target("idx.gz", idx_gz, read_idx_gz_all, ratio=1100),
        Target("idx.gz-content", idx_gz, read_idx_gz_all, layer="gzip", ratio=1100),
        Target("stl10", stl, lambda d: datasets.read_stl10(d, "train")),
        Target("cifar10", cifar, lambda d: datasets.read_cifar10(d, "test")),
        Target("image-folder", folder, lambda d: datasets.read_image_folder(d, size=(6, 5))),
        Target("csv", {"t.csv": csv}, lambda d: datasets.read_table(d / "t.csv", label_column="label",
                                                                                allow_nan=True)),
        Target("tsv", {"t.tsv": tsv}, lambda d: datasets.read_table(d / "t.tsv", label_column=-1)),
        Target("npy", {"t.npy": _npy(table)}, lambda d: datasets.read_table(d / "t.npy")),
        Target("npz", {"t.npz": _npz(X=table, y=np.arange(5))}, lambda d: datasets.read_table(d / "t.npz"),
               ratio=1100),
        Target("npz-member", {"t.npz": _npz(X=table, y=np.arange(5))}, lambda d: datasets.read_table(d / "t.npz"),
               layer="npz", ratio=1100),
    ]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = io.BytesIO()
        pq.write_table(pa.table({"a": [1.0, 2.0, None], "b": ["1", "2", "3"], "y": [0, 1, 0]}), out)
        targets.append(Target("parquet", {"t.parquet": out.getvalue()},
                              lambda d: datasets.read_table(d / "t.parquet", label_column="y", allow_nan=True)))
    except ImportError:
        pass
    if models:
        for name, files in _model_files().items():
            targets += [
                Target(f"model-{name}", files, fio.load, ratio=8),
                Target(f"model-{name}-config", files, fio.load, layer="json", mutable=["config.json"]),
                Target(f"model-{name}-weights", files, fio.load, layer="safetensors-header",
                       mutable=["model.safetensors"]),
            ]
        ck = {"ck.safetensors": _checkpoint_file()}
        targets += [
            Target("checkpoint", ck, lambda d: load_state_file(d / "ck.safetensors", "checkpoint")),
            Target("checkpoint-header", ck, lambda d: load_state_file(d / "ck.safetensors", "checkpoint"),
                   layer="safetensors-header"),
        ]
    return {t.name: t for t in targets}


# --- running one input ------------------------------------------------------------------------------


class Hang(Exception):
    pass


class Outcome:
    def __init__(self, kind: str, detail: str = ""):
        self.kind = kind  # "ok", "error" (a fewlabel error), "crash", "hang", "alloc"
        self.detail = detail


def allowed_peak(target: Target, input_bytes: int) -> float:
    return target.ratio * input_bytes + 32_000_000


def run_one(target: Target, which: int, byte_ops, json_ops, timeout: float | None = None,
            trace_memory: bool = True) -> Outcome:
    """Build one mutated input in a fresh folder and parse it."""
    from fewlabel.errors import FewlabelError

    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        size = target.build(folder, which, byte_ops, json_ops)
        if trace_memory:
            tracemalloc.start()
        if timeout:
            signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with _quiet():
                target.read(folder)
            outcome = Outcome("ok")
        except FewlabelError as e:
            outcome = Outcome("error", str(e))
        except Hang:
            outcome = Outcome("hang", f"longer than {timeout} s")
        except Exception as e:  # noqa: BLE001 - anything else is what we are looking for
            frame = traceback.extract_tb(e.__traceback__)[-1]
            outcome = Outcome("crash", f"{type(e).__name__}: {str(e)[:200]} at {Path(frame.filename).name}:"
                                       f"{frame.lineno}")
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if trace_memory:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        if trace_memory and outcome.kind in ("ok", "error") and peak > allowed_peak(target, size):
            outcome = Outcome("alloc", f"peak {peak} bytes from {size} input bytes ({outcome.kind}: "
                                       f"{outcome.detail[:120]})")
        return outcome
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _alarm(signum, frame):
    raise Hang()


@contextlib.contextmanager
def _quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def random_ops(rng: random.Random):
    """One random mutation: 1 to 4 byte ops, and 1 to 3 JSON ops (used by structured layers)."""
    byte_ops = []
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        kind = rng.randrange(N_KINDS)
        pos = rng.randrange(64) if rng.random() < 0.5 else rng.randrange(1 << 20)
        blob = rng.randbytes(rng.choice((1, 4, 16, 300)))
        byte_ops.append((kind, pos, rng.randrange(1 << 16), blob))
    if rng.random() < 0.3:  # structured layers: often the JSON mutation alone
        byte_ops = []
    json_ops = [(rng.randrange(3), rng.randrange(1 << 16), rng.randrange(1 << 16))
                for _ in range(rng.choice((1, 1, 2, 3)))]
    return rng.randrange(16), byte_ops, json_ops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="inputs per parser")
    parser.add_argument("--only", nargs="*", help="parsers to fuzz (default: all)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-cap-gb", type=float, default=6.0,
                        help="address space added to what the process uses at start (huge allocations fail)")
    args = parser.parse_args(argv)

    targets = make_targets()
    if args.only:
        unknown = sorted(set(args.only) - set(targets))
        if unknown:
            parser.error(f"unknown parsers {unknown}; choose from {sorted(targets)}")
        targets = {k: targets[k] for k in args.only}
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    cap = used + int(args.memory_cap_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))

    failures: dict[tuple[str, str], tuple[int, str, object]] = {}
    print(f"{'parser':28s} {'inputs':>7s} {'ok':>6s} {'errors':>7s} {'crashes':>8s} {'hangs':>6s} "
          f"{'allocs':>7s} {'seconds':>8s}", flush=True)
    totals = dict(inputs=0, crash=0, hang=0, alloc=0)
    for name, target in targets.items():
        rng = random.Random(f"{args.seed}-{name}")
        counts = dict(ok=0, error=0, crash=0, hang=0, alloc=0)
        t0 = time.perf_counter()
        for _ in range(args.examples):
            which, byte_ops, json_ops = random_ops(rng)
            outcome = run_one(target, which, byte_ops, json_ops, timeout=args.timeout)
            counts[outcome.kind] += 1
            if outcome.kind in ("crash", "hang", "alloc"):
                key = (name, outcome.detail.split(" at ")[-1] if outcome.kind == "crash" else outcome.kind)
                if key not in failures:
                    failures[key] = (0, outcome.kind + ": " + outcome.detail, (which, byte_ops, json_ops))
                n, d, ops = failures[key]
                failures[key] = (n + 1, d, ops)
        print(f"{name:28s} {args.examples:7d} {counts['ok']:6d} {counts['error']:7d} {counts['crash']:8d} "
              f"{counts['hang']:6d} {counts['alloc']:7d} {time.perf_counter() - t0:8.1f}", flush=True)
        totals["inputs"] += args.examples
        for k in ("crash", "hang", "alloc"):
            totals[k] += counts[k]
    print(f"\n{totals['inputs']} inputs: {totals['crash']} crashes, {totals['hang']} hangs, "
          f"{totals['alloc']} allocations beyond the input's size")
    for (name, _), (n, detail, ops) in sorted(failures.items()):
        print(f"\n[{name}] x{n}: {detail}\n  reproduce: which={ops[0]} byte_ops={ops[1]!r:.300} json_ops={ops[2]!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
