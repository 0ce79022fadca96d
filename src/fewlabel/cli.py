"""The ``fewlabel`` command: ``fewlabel demo | datasets | pretrain``, each with ``--help``.

Exit code 0 only on success; a problem with the user's input or files prints one line naming it
(no traceback) and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fewlabel.errors import FewlabelError, InputError


def _add_training_options(p: argparse.ArgumentParser, epochs: int) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help=f"passes over the data (default {epochs})")
    g.add_argument("--batch-size", type=int, default=256, help="rows per step (default 256)")
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    g.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 128,64, got {text!r}")
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewlabel",
        description="Learn an encoder from unlabeled data, then classify with few labels.",
    )
    parser.add_argument("--version", action="version", version=f"fewlabel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="pretrain on unlabeled digits, classify from 50 labels, compare with a baseline",
                       description="Learns an encoder on the unlabeled part of scikit-learn's bundled 8x8 digits, "
                                   "trains a classifier from a few labels, and prints it beside a supervised "
                                   "baseline trained on the same labels. Needs no download.")
    p.add_argument("--labels", type=int, default=50, help="how many training examples keep their label (default 50)")
    p.add_argument("--seeds", type=int, default=3, help="repeat over this many label draws (default 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON into this folder")
    p.add_argument("--device", default="auto")
    p.add_argument("--progress", action="store_true", help="show a progress bar for each training run")

    p = sub.add_parser("datasets", help="list the datasets and where each was found",
                       description="Lists every dataset fewlabel knows, its splits, and where its files were "
                                   "found (or every place looked). Downloads nothing.")
    p.add_argument("--root", type=Path, help="also look in this folder first")

    p = sub.add_parser("pretrain", help="train an autoencoder on a dataset's images and save it",
                       description="Trains a dense autoencoder on a dataset (labels are not used) and saves it "
                                   "(safetensors + JSON) with its training history.")
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, fashion-mnist, ...) or a .npy/.csv file")
    p.add_argument("--split", default="train")
    p.add_argument("--root", type=Path, help="folder holding the dataset's files")
    p.add_argument("--model", choices=["dense"], default="dense")
    p.add_argument("--hidden", type=_sizes, default=(128, 64), help="encoder layer sizes, e.g. 500,500,2000")
    p.add_argument("--latent", type=int, default=16, help="code size (default 16)")
    p.add_argument("--activation", default="relu")
    p.add_argument("--loss", choices=["mse", "bce"], default="mse")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--out", type=Path, required=True, help="folder to write the model and history into")
    p.add_argument("--config", type=Path, help="JSON file of option values (command-line options win)")
    _add_training_options(p, epochs=20)
    return parser


def _version() -> str:
    from fewlabel import __version__
    return __version__


def _apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, argv) -> None:
    """Values from ``--config`` for every option not given on the command line."""
    path = getattr(args, "config", None)
    if path is None:
        return
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"--config: no such file {path}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"--config {path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise InputError(f"--config {path} must hold a JSON object of option names and values")
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in values.items():
        attr = key.replace("-", "_")
        if not hasattr(args, attr):
            raise InputError(f"--config {path}: unknown option {key!r}")
        if attr not in given:
            setattr(args, attr, tuple(value) if attr == "hidden" else value)


def _load_data(name: str, split: str, root):
    from fewlabel import datasets

    path = Path(name)
    if path.suffix.lower() in (".npy", ".npz", ".csv", ".tsv", ".parquet", ".txt") or path.exists():
        if path.is_dir():
            X, y, _ = datasets.read_image_folder(path)
            return X, y
        X, y, _ = datasets.read_table(path)
        return X, y
    return datasets.load(name, split=split, root=root)


def cmd_datasets(args) -> int:
    from fewlabel import datasets

    print(datasets.format_description(datasets.describe(root=args.root)))
    return 0


def cmd_pretrain(args) -> int:
    from fewlabel import Autoencoder, save

    X, _ = _load_data(args.data, args.split, args.root)
    t0 = time.perf_counter()
    ae = Autoencoder(hidden=args.hidden, latent=args.latent, activation=args.activation, loss=args.loss,
                     optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                     validation_fraction=args.validation_fraction, device=args.device, random_state=args.seed,
                     verbose=not args.quiet)
    ae.fit(X)
    seconds = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    save(ae, args.out / "model")
    from fewlabel.train.state import atomic_write

    text = json.dumps(ae.history_.to_dict(), indent=2)
    atomic_write(args.out / "history.json", lambda tmp: tmp.write_text(text))
    h = ae.history_.history
    last = f"loss {h['loss'][-1]:.4f}" + (f", val_loss {h['val_loss'][-1]:.4f}" if "val_loss" in h else "")
    print(f"trained a {args.model} autoencoder on {len(X)} rows of {args.data} in {seconds:.1f} s: {last}")
    print(f"saved to {args.out / 'model'} (load with fewlabel.load)")
    return 0


def cmd_demo(args) -> int:
    from fewlabel.demo import run_demo

    run_demo(labels=args.labels, seeds=args.seeds, out=args.out, device=args.device, verbose=args.progress)
    return 0


COMMANDS = {"demo": cmd_demo, "datasets": cmd_datasets, "pretrain": cmd_pretrain}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _apply_config(args, parser, argv)
        return COMMANDS[args.command](args)
    except FewlabelError as e:
        print(f"fewlabel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fewlabel {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
