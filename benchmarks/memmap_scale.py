"""`fewlabel pretrain` and `fewlabel predict` on a memory-mapped .npy far larger than what they keep in memory.

Builds (once) a uint8 file of ``--rows`` 28x28 images: all MNIST training digits, then copies of them shifted by
up to 2 pixels, written straight to the file. Then runs, each in a fresh process,

* ``fewlabel pretrain --data FILE --epochs 1 --no-plots`` (the default dense autoencoder, 784-500-500-2000-10,
  10% of the rows held out for val_loss: both shares read from the file batch by batch), and
* ``fewlabel predict --model ... --data FILE`` (every row's code, the file read 1,024 rows at a time),

and reports each one's wall and CPU time and peak resident memory (what ``/usr/bin/time -v`` reports), split
into what the process allocated and pages of mapped files, beside the data's size in uint8 and in float32.
Writes ``benchmarks/results/memmap-<cpu>.json``.

    FEWLABEL_DATA=../shared/data python benchmarks/memmap_scale.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def copy_shifts(rows: int, base: int) -> list[tuple[int, int]]:
    """The (dx, dy) shifts, up to 2 pixels, nearest first ((0, 0): the images themselves), whose copies of ``base``
    images make ``rows`` rows; an error past the 25 of them."""
    shifts = sorted(((dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)), key=lambda s: (abs(s[0]) + abs(s[1]), s))
    if rows > base * len(shifts):
        raise SystemExit(f"--rows {rows}: at most {base * len(shifts)} from MNIST and its {len(shifts)} shifts")
    return shifts


def build(path: Path, rows: int, root) -> None:
    from fewlabel import datasets

    X, _ = datasets.load("mnist", root=None if root is None else Path(root) / "mnist")
    shifts = copy_shifts(rows, len(X))
    tmp = path.with_name(path.name + ".part")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    done = 0
    for dx, dy in shifts:
        k = min(len(X), rows - done)
        if k <= 0:
            break
        out[done:done + k] = np.roll(X[:k], (dx, dy), axis=(1, 2))
        done += k
    out.flush()
    del out
    tmp.replace(path)


def timed(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall and CPU time, its peak resident memory (``getrusage``'s, what ``/usr/bin/time -v``
    reports) and, sampled every 0.1 s from ``/proc``, the peaks of its two parts: anonymous memory (what it
    allocated) and pages of mapped files (the data file and the libraries: the kernel can drop them whenever memory
    is short)."""
    import time

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peaks = {"RssAnon": 0, "RssFile": 0}
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(value.split()[0]))
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "peak_anon_mb": peaks["RssAnon"] / 1024, "peak_file_mb": peaks["RssFile"] / 1024,
            "stdout_tail": stdout[-400:]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--file", type=Path, help="the .npy to build or reuse (default: in the temp folder)")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding mnist/")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from _timing import cpu_record
    from cpu_speed import cpu_slug

    path = args.file or Path(tempfile.gettempdir()) / f"fewlabel-mnist-{args.rows}.npy"
    if not path.exists():
        build(path, args.rows, args.root)
    work = Path(tempfile.mkdtemp(prefix="fewlabel-memmap-"))
    cli = [sys.executable, "-m", "fewlabel.cli"]
    results = {"cpu": cpu_record(), "threads": os.environ.get("OMP_NUM_THREADS", "all cores"), "rows": args.rows,
               "file_mb": path.stat().st_size / 2**20, "float32_mb": args.rows * 784 * 4 / 2**20}
    results["pretrain"] = timed([*cli, "pretrain", "--data", str(path), "--epochs", "1", "--no-plots",
                                 "--out", str(work / "ae")])
    results["predict"] = timed([*cli, "predict", "--model", str(work / "ae" / "model"), "--data", str(path),
                                "--out", str(work / "codes.npy"), "--quiet"])
    for step in ("pretrain", "predict"):
        r = results[step]
        r["peak_of_float32"] = r["peak_rss_mb"] / results["float32_mb"]
        r["peak_of_uint8"] = r["peak_rss_mb"] / results["file_mb"]
        r["anon_of_float32"] = r["peak_anon_mb"] / results["float32_mb"]
        print(f"{step}: {args.rows:,} rows in {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU, peak memory "
              f"{r['peak_rss_mb']:,.0f} MB = {r['peak_of_float32']:.2f} of the data in float32 "
              f"({results['float32_mb']:,.0f} MB), {r['peak_of_uint8']:.2f} of the uint8 file; of it at most "
              f"{r['peak_anon_mb']:,.0f} MB allocated ({r['anon_of_float32']:.2f} of float32) and "
              f"{r['peak_file_mb']:,.0f} MB pages of mapped files (the data, the libraries)", flush=True)
    out = args.out or HERE / "results" / f"memmap-{cpu_slug()}.json"
    out.write_text(json.dumps(results, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
