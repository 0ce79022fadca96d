"""Where `fewlabel cluster`'s memory goes as the rows grow: the process's resident memory at each phase of
``ClusterModel().fit`` (encoder, codes, map and mixture, self-labelling), each row count in a fresh process.

The rows are the scaling benchmark's (``scaling.rows_of_mnist``: the 70,000 MNIST digits, then copies shifted by
up to 2 pixels), uint8. The networks are cut short, since a network's memory is that of its batches, not of the
rows: the encoder trains 20 steps, self-labelling one round of one epoch (``--no-refine``: none). The map, the
mixture and every array over the rows are the command's own. The resident memory is sampled every 10 ms; each
phase records what the process held at its end and its peak since the phase before, so the peak of the whole fit
and the phase that sets it can be read off, and set beside the rows in uint8. A phase is named by the mark that
ends it: "before encode" ends the encoder's training, "encode" the codes, "map and mixture" the clusters of the
codes, "self_label" the self-labelling.

``--before DIR`` runs the same processes on DIR's ``src`` (a checkout of an earlier commit, e.g.
``git worktree add /tmp/before HEAD~1``), so that both codes are measured on one machine.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/cluster_memory.py --rows 35000 140000 280000 \\
        --before /tmp/before

Writes ``benchmarks/results/cluster_memory-<cpu>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def phases(n: int, root, refine: bool) -> dict:
    """One row count in this process: the resident memory (MB) at the end of each phase and its peak."""
    import time

    from _timing import PhaseMemory

    memory = PhaseMemory(0.01)
    import torch  # noqa: F401  (its memory is counted before the rows, as a command's is)

    import fewlabel.tasks.cluster as cluster
    from fewlabel.tasks.clusterer import ClusterModel
    from scaling import rows_of_mnist

    X, _ = rows_of_mnist(n, root)
    mark = memory.mark
    mark("rows loaded")
    default_encoder = cluster.default_encoder
    cluster.default_encoder = lambda n_rows=None, **s: default_encoder(n_rows, **{**s, "max_steps": 20})
    for name in ("encode", "self_label"):
        step = getattr(cluster, name)

        def timed(*a, _step=step, _name=name, **k):
            mark(f"before {_name}")
            out = _step(*a, **k)
            mark(_name)
            return out

        setattr(cluster, name, timed)
    fit = cluster.CodeClustering.fit

    def map_and_mixture(self, Z, y=None):
        mark("before map and mixture")
        out = fit(self, Z)
        mark("map and mixture")
        return out

    cluster.CodeClustering.fit = map_and_mixture
    t0 = time.perf_counter()
    ClusterModel(refine="auto" if refine else None, refine_params={"rounds": 1, "epochs": 1, "min_steps": 1},
                 random_state=0).fit(X)
    mark("end")
    return {"rows": n, "uint8_mb": round(X.nbytes / 2**20), "refine": refine, **memory.stop(),
            "wall_s": round(time.perf_counter() - t0)}


def run(script: str, args: list[str], src: Path | None) -> dict:
    from _timing import in_checkout

    out = in_checkout(script, args, src)
    print(json.dumps(out), flush=True)
    return out


def harness(argv, script: str, doc: str, name: str, phases_fn, options=()) -> int:
    """The command line both memory benchmarks share: ``--rows`` each in a fresh process of ``script`` running
    ``phases_fn(rows, root, **options)``, this code and ``--before DIR``'s side by side; ``options``:
    (flag, keyword, help) of switches passed on. Writes ``results/<name>-<cpu>.json``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[35000, 140000, 280000])
    for flag, _, text in options:
        p.add_argument(flag, action="store_true", help=text)
    p.add_argument("--before", type=Path, help="a checkout of an earlier commit, measured the same way")
    p.add_argument("--root", default=os.environ.get("FEWLABEL_DATA"), help="folder holding mnist/")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    switches = {key: getattr(args, flag.lstrip("-").replace("-", "_")) for flag, key, _ in options}
    if args.one:
        print(json.dumps(phases_fn(args.one, args.root, **switches)))
        return 0
    from _timing import cpu_record
    from cpu_speed import cpu_slug

    extra = (["--root", str(args.root)] if args.root else []) + [flag for flag, key, _ in options if switches[key]]
    codes = [None] + ([args.before.resolve()] if args.before else [])
    runs = [run(script, ["--one", str(n), *extra], src) for n in args.rows for src in codes]
    revision = {"now": subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                      text=True).stdout.strip(),
                "before": None if args.before is None else subprocess.run(
                    ["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True,
                    text=True).stdout.strip()}
    out = args.out or HERE / "results" / f"{name}-{cpu_slug()}.json"
    out.write_text(json.dumps({"what": doc.split("\n\n")[0].replace("\n", " "), "cpu": cpu_record(),
                               "threads": os.environ.get("OMP_NUM_THREADS", "all cores"), "code": revision,
                               "runs": runs}, indent=1))
    print("wrote", out)
    return 0


def main(argv=None) -> int:
    def one(n, root, no_refine):
        return phases(n, root, not no_refine)

    return harness(argv, __file__, __doc__, "cluster_memory", one,
                   [("--no-refine", "no_refine", "no self-labelling (the map is then the last phase)")])


if __name__ == "__main__":
    sys.exit(main())
