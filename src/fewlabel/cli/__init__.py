"""The ``fewlabel`` command: ``fewlabel demo | datasets | pretrain | classify | cluster | map | detect | predict |
info | run``, each with ``--help``.

Exit code 0 only on success; a problem with the user's input or files prints one line naming it
(no traceback) and exits with 2. Every command that writes checks its ``--out`` folder before any work
(:mod:`fewlabel.cli.output`), and fills it only when the work is done.

One module per command, each with ``add_parser(subparsers)``, ``run(args, out)`` and ``WRITES`` (what it
puts into ``--out``), and where it has them ``check_early(args)``: checks of its arguments that need neither
torch nor the data, run before either loads (:func:`fewlabel.cli.common.check_inputs` runs after it for every
command); the option groups and helpers they share are in :mod:`fewlabel.cli.common`. Nothing
here imports torch until a command runs, so ``--help`` and ``datasets`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fewlabel.cli import classify, cluster, datasets, demo, detect, info, predict, pretrain
from fewlabel.cli import map as map_command
from fewlabel.cli import run as run_experiment_command
from fewlabel.cli.classify import classifier_params
from fewlabel.cli.common import apply_config, check_inputs, plain_warnings
from fewlabel.cli.output import OutputFolder
from fewlabel.cli.pretrain import build_autoencoder
from fewlabel import interrupt
from fewlabel.errors import FewlabelError

__all__ = ["COMMANDS", "build_autoencoder", "build_parser", "classifier_params", "main"]

COMMANDS = {"demo": demo, "datasets": datasets, "pretrain": pretrain, "classify": classify, "cluster": cluster,
            "map": map_command, "detect": detect, "predict": predict, "info": info, "run": run_experiment_command}


def _version() -> str:
    from fewlabel import __version__
    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewlabel",
        description="Learn an encoder from unlabeled data, then classify with few labels.",
    )
    parser.add_argument("--version", action="version", version=f"fewlabel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def run_command(args) -> int:
    """Run the parsed command, its ``--out`` checked first and filled only if it succeeds; with
    ``--tensorboard DIR``, every training inside it logs to TensorBoard (and a single command's figures are
    added as images; ``fewlabel run`` adds each step's)."""
    from contextlib import nullcontext

    command = COMMANDS[args.command]
    log_dir = getattr(args, "tensorboard", None)
    if log_dir is None:
        context = nullcontext(None)
    else:
        from fewlabel.train.tensorboard import tensorboard

        context = tensorboard(log_dir)  # a missing tensorboard package is reported here, before any work
    with context as tb:
        if not command.WRITES or getattr(args, "out", None) is None:
            return command.run(args, None)
        with OutputFolder(args.out, command.WRITES, force=args.force) as staging:
            code = command.run(args, staging)
            if tb is not None and args.command != "run":
                with tb.section(args.command):
                    tb.images(Path(staging).rglob("*.png"), root=staging)
            return code


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        apply_config(args, argv)
        check_early = getattr(COMMANDS[args.command], "check_early", None)
        if check_early is not None:
            check_early(args)
        check_inputs(args)
        with interrupt.catching(), plain_warnings(args.command):
            return run_command(args)
    except FewlabelError as e:
        print(f"fewlabel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fewlabel {args.command}: interrupted", file=sys.stderr)
        return 130
