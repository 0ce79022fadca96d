"""``fewlabel cluster`` on a partly labeled file of the user's kind: the route its labeled rows choose (the default,
or k-means as a user would run it) against the default route alone, both scored on every row's true label.

For each of scikit-learn's wine, breast-cancer and iris tables, and its digits as a folder of 8x8 PNGs, and each
seed: ``labeled_subset(y, share of the rows, seed)`` keeps the labels of a fifth of the rows (the others are left
empty, or put in ``unlabeled/``), then ``fewlabel cluster --data FILE`` runs with its defaults twice: as it is
(the labeled rows choose the route) and with ``--route default``. The labeled rows' NMI is
what chose, so only the NMI on every row (the truth of the unlabeled ones included) says what the choice is worth.
Writes ``benchmarks/results/cluster_route_choice-<cpu>.json``.

    python benchmarks/cluster_route_choice.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TABLES = ("wine", "breast_cancer", "iris")


def write_file(name: str, folder: Path, seed: int, share: float):
    """The partly labeled file (a CSV, or for digits an image folder), its --label-column, and the true labels."""
    from PIL import Image
    from sklearn import datasets as sk

    from fewlabel.datasets import labeled_subset

    d = getattr(sk, f"load_{name}")()
    few = labeled_subset(d.target, max(2 * len(np.unique(d.target)), int(share * len(d.target))), seed=seed)
    if name == "digits":
        root = folder / "digits"
        for i, image in enumerate(np.round(d.images * 255 / 16).astype(np.uint8)):
            where = root / (str(few[i]) if few[i] >= 0 else "unlabeled")
            where.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(where / f"{i:04d}.png")
        order = sorted(range(len(few)), key=lambda i: (few[i] < 0, str(few[i]) if few[i] >= 0 else "", i))
        return root, [], d.target[order]  # the order fewlabel reads the folder in: class folders, then unlabeled/
    path = folder / f"{name}.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"c{j}" for j in range(d.data.shape[1])] + ["label"])
        w.writerows([*x, str(c) if c >= 0 else ""] for x, c in zip(d.data.tolist(), few))
    return path, ["--label-column", "label"], d.target


def run(name: str, seed: int, share: float) -> dict:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from fewlabel.cli import main

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path, options, truth = write_file(name, tmp, seed, share)
        for arm, route in (("chosen by the labeled rows", "auto"), ("default route", "default")):
            assert main(["cluster", "--data", str(path), *options, "--route", route, "--seed", str(seed), "--quiet",
                         "--out", str(tmp / arm)]) == 0
            m = json.loads((tmp / arm / "metrics.json").read_text())
            with open(tmp / arm / "clusters.csv", newline="") as f:
                clusters = [int(r["cluster"]) for r in csv.DictReader(f)]
            out[arm] = {"nmi_every_row": float(nmi(truth, clusters)), "nmi_labeled_rows": m["nmi"],
                        "route": (m.get("route_choice") or {}).get("chosen", "default"),
                        "tried": (m.get("route_choice") or {}).get("nmi_on_labeled_rows"),
                        "scored_rows": m["scored_rows"], "rows": m["n_rows"]}
            print(name, seed, arm, json.dumps(out[arm]), flush=True)
    return out


def main(argv=None) -> int:
    from _timing import cpu_record
    from cpu_speed import cpu_slug

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=[*TABLES, "digits"], choices=[*TABLES, "digits"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--share", type=float, default=0.2, help="share of the rows labeled (default 0.2)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    report = {"cpu": cpu_record(), "share": args.share, "seeds": args.seeds, "data": {}}
    for name in args.data:
        runs = {str(s): run(name, s, args.share) for s in args.seeds}
        means = {arm: float(np.mean([r[arm]["nmi_every_row"] for r in runs.values()]))
                 for arm in ("chosen by the labeled rows", "default route")}
        report["data"][name] = {"seeds": runs, "mean_nmi_every_row": means}
        print(name, "mean NMI on every row", json.dumps(means), flush=True)
    out = args.out or HERE / "results" / f"cluster_route_choice-{cpu_slug()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
