"""The learning curve of the default classifier: accuracy against the number of labels, from the runs of semi_default.py.

    python benchmarks/semi_default.py --data fashion-mnist --labels 100 --seeds 0
    python benchmarks/semi_default.py --data fashion-mnist --labels 1000 --seeds 0 1 2
    python benchmarks/semi_default.py --data fashion-mnist --labels 5000 --seeds 0
    python benchmarks/semi_default.py --data fashion-mnist --labels 60000 --seeds 0      # every label
    python benchmarks/semi_curve.py --data fashion-mnist

Reads every benchmarks/results/semi_default-<data>-<labels>.json and draws one line per method (mean over
the label draws, a band of +-1 std where there are several) into
benchmarks/results/semi_curve-<data>.png, with the table beside it in semi_curve-<data>.json.

After a change to the default, re-measure only fewlabel's two networks (``semi_default.py --skip-peers --out
NEW.json``: the default and the same network on the labels alone) and pass those files with ``--newer``: their
draws replace the same draws' figures of the default and its twin, and the peers (which do not depend on the
default) are kept from the first runs. The files given are recorded in the table.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = {  # the method's key in semi_default's runs -> its line in the figure
    "fewlabel_default": "SemiSupervisedClassifier() (default)",
    "supervised_baseline": "same network, labels only",
    "label_spreading_pca50": "LabelSpreading (PCA-50, kNN)",
    "logistic_regression": "LogisticRegression (pixels)",
    "umap_gmm10_majority": "UMAP + GMM(10), majority label",
}


def curves(data: str, results: Path = RESULTS, newer=()) -> dict:
    """``{method line: {n_labels: [accuracy per draw]}}`` from the files found, each draw's figure taken from the
    last of ``newer`` (semi_default.py result files of the same data) that has it."""
    by_draw: dict = {}  # method line -> n_labels -> seed -> accuracy

    def take(result: dict, n_labels: int) -> None:
        for r in result["runs"]:
            for key, name in NAMES.items():
                if key in r:
                    by_draw.setdefault(name, {}).setdefault(n_labels, {})[r["seed"]] = r[key]["accuracy"]

    for f in sorted(results.glob(f"semi_default-{data}-*.json")):
        m = re.fullmatch(rf"semi_default-{re.escape(data)}-(\d+)\.json", f.name)
        if m:
            take(json.loads(f.read_text()), int(m.group(1)))
    for f in newer:
        result = json.loads(Path(f).read_text())
        if result.get("data") != data:
            raise SystemExit(f"{f} holds {result.get('data')!r} runs, not {data!r}")
        take(result, int(result["labels"]))
    return {name: {n: [acc for _, acc in sorted(seeds.items())] for n, seeds in by_n.items()}
            for name, by_n in by_draw.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--newer", type=Path, nargs="*", default=[],
                    help="semi_default.py result files whose draws replace the same draws' figures (in order)")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fewlabel.plots import learning_curves

    table = curves(args.data, args.results, args.newer)
    if not table:
        raise SystemExit(f"no semi_default-{args.data}-<labels>.json in {args.results}: run semi_default.py first")
    fig = learning_curves(table, path=args.results / f"semi_curve-{args.data}.png",
                          title=f"{args.data}: test accuracy, the other training rows unlabeled")
    plt.close(fig)
    record = {name: {str(n): v for n, v in sorted(by_n.items())} for name, by_n in table.items()}
    if args.newer:
        record["newer_runs_from"] = [Path(f).name for f in args.newer]
    (args.results / f"semi_curve-{args.data}.json").write_text(json.dumps(record, indent=1))
    for name, by_n in table.items():
        print(f"{name:40s} " + "  ".join(f"{n}: {sum(v) / len(v):.4f}" + (f" (x{len(v)})" if len(v) > 1 else "")
                                         for n, v in sorted(by_n.items())))
    return table


if __name__ == "__main__":
    main()
