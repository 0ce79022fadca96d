"""``fewlabel demo``: pretraining against its baseline on scikit-learn's bundled 8x8 digits (no download)."""

from __future__ import annotations

from fewlabel.cli.common import add_output_options

WRITES = ("demo.json", "report.html", "figures")


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="pretrain on unlabeled digits, classify from 50 labels, compare with a baseline",
                       description="Learns an encoder on the unlabeled part of scikit-learn's bundled 8x8 digits, "
                                   "trains a classifier from a few labels, and prints it beside a supervised "
                                   "baseline trained on the same labels. Needs no download.")
    p.add_argument("--labels", type=int, default=50, help="how many training examples keep their label (default 50)")
    p.add_argument("--seeds", type=int, default=3, help="repeat over this many label draws (default 3)")
    add_output_options(p, WRITES, required=False)
    p.add_argument("--device", default="auto")
    p.add_argument("--progress", action="store_true", help="show a progress bar for each training run")


def run(args, out) -> int:
    from fewlabel.demo import run_demo

    run_demo(labels=args.labels, seeds=args.seeds, out=out, device=args.device, verbose=args.progress)
    if out is not None:
        print(f"results written to {args.out / 'demo.json'}; the report: {args.out / 'report.html'}")
    return 0
