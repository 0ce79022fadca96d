"""Where `fewlabel classify`'s memory goes as the rows grow: the process's resident memory at each phase of the
default ``SemiSupervisedClassifier().fit`` and of the unfamiliarity detector the command fits after it, each row
count in a fresh process.

The rows are the scaling benchmark's (``scaling.rows_of_mnist``: the 70,000 MNIST digits, then copies shifted by
up to 2 pixels), uint8, 100 of them labeled (a stratified draw). The networks are cut short (``max_steps=60``,
shared by the route's measurement and the networks as the classifier shares any budget), since a network's
memory is that of its batches and of the rows it is handed, not of its steps. The map, the mixture, every array
over the rows and the rows each network is handed are the classifier's own. The resident memory is sampled every
10 ms; each phase (the classifier's own timed phases: "map and mixture", "route", "first network", "final
network"; then "detector") records what the process held at its end and its peak while it ran, so the peak of
the whole fit and the phase that sets it can be read off and set beside the rows in uint8.

``--before DIR`` runs the same processes on DIR's ``src`` (a checkout of an earlier commit, e.g.
``git worktree add /tmp/before HEAD~1``), so that both codes are measured on one machine.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/classify_memory.py --rows 35000 280000 \\
        --before /tmp/before

Writes ``benchmarks/results/classify_memory-<cpu>.json``.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def phases(n: int, root) -> dict:
    """One row count in this process: the resident memory (MB) at the end of each phase and its peak."""
    import time

    from _timing import PhaseMemory

    memory = PhaseMemory(0.01)
    import torch  # noqa: F401  (its memory is counted before the rows, as a command's is)

    from fewlabel import datasets
    from fewlabel.tasks.classify import SemiSupervisedClassifier
    from fewlabel.timing import PhaseClock
    from scaling import rows_of_mnist

    X, y = rows_of_mnist(n, root)
    y_part = datasets.labeled_subset(y, 100, seed=0)
    mark = memory.mark
    mark("rows loaded")
    timed = PhaseClock.__call__

    @contextmanager
    def marked(self, name):
        mark(f"before {name}")
        with timed(self, name):
            yield
        mark(name)

    PhaseClock.__call__ = marked
    t0 = time.perf_counter()
    model = SemiSupervisedClassifier(max_steps=60, random_state=0).fit(X, y_part)
    mark("before detector")
    model.fit_unfamiliarity(X)
    mark("detector")
    unl = y_part < 0
    return {"rows": n, "uint8_mb": round(X.nbytes / 2**20), "route": model.route_.get("route"), **memory.stop(),
            "wall_s": round(time.perf_counter() - t0),
            "accuracy_unlabeled": round(float((model.predict(X[unl]) == y[unl]).mean()), 4)}


def main(argv=None) -> int:
    from cluster_memory import harness

    return harness(argv, __file__, __doc__, "classify_memory", phases)


if __name__ == "__main__":
    sys.exit(main())
