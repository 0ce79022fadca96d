"""``fewlabel datasets``: what is found where (downloads nothing)."""

from __future__ import annotations

from pathlib import Path

WRITES = ()


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list the datasets and where each was found",
                       description="Lists every dataset fewlabel knows, its splits, and where its files were "
                                   "found (or every place looked). Downloads nothing.")
    p.add_argument("--root", type=Path, help="also look in this folder first")


def run(args, out) -> int:
    from fewlabel import datasets

    print(datasets.format_description(datasets.describe(root=args.root)))
    return 0
