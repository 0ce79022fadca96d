"""``fewlabel run EXPERIMENT.toml``: pretrain, classify, cluster, map, detect as one file says; one report.

The file is read and checked whole (every key, type and value; the data loaded; every estimator's
parameters) before anything trains (:mod:`fewlabel.experiment`). ``--out`` is checked first, as by every
command. The run keeps each finished step in ``OUT/steps/`` (written atomically), so that a run stopped by
Ctrl-C (or a crash) can go on with ``--resume``; the report, metrics, figures and models are written into
``OUT`` only when the run ends (complete, or interrupted: then the report says so).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fewlabel.cli.common import add_tensorboard_option
from fewlabel.errors import InputError

WRITES = ()  # this command checks and fills its --out itself (see run), keeping steps/ for --resume
OUTPUTS = ("report.html", "metrics.json", "figures", "models", "experiment.toml")
STATE = "steps"


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a whole experiment from one TOML file and write one HTML report",
                       description="Reads an experiment file (TOML: [data], [pretrain], [tasks.classify], "
                                   "[tasks.cluster], [tasks.map], [tasks.detect]; see fewlabel.experiment), checks "
                                   "all of it before training, runs it, and writes into --out: report.html (one "
                                   "self-contained page), metrics.json, figures/ (PNG), models/ (safetensors + JSON), "
                                   "experiment.toml, and steps/ (each finished step, for --resume).")
    p.add_argument("experiment", metavar="CONFIG", type=Path, help="the experiment file (TOML)")
    p.add_argument("--out", type=Path, help="folder to write into (default runs/<file name without .toml>); "
                                            "checked before any work")
    p.add_argument("--force", action="store_true", help="start over where --out holds an earlier run (its outputs "
                                                        "and steps/ are replaced); other files are never touched")
    p.add_argument("--resume", action="store_true", help="go on with the run in --out (same file and --set "
                                                         "options): finished steps are not run again")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting of the file, e.g. --set pretrain.epochs=2 --set data.max_rows=1000 "
                        "(VALUE read as TOML: 2, true, [100, 1000], \"text\"); repeatable")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_tensorboard_option(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout when done (progress "
                                                       "goes to stderr)")


def _check_out(args, out: Path) -> None:
    state = out / STATE
    if args.resume and args.force:
        raise InputError("--resume goes on with the run in --out, --force starts it over: give one")
    if out.is_dir() and state.exists() and not (args.resume or args.force):
        raise InputError(f"--out {out} holds an earlier run ({STATE}/): pass --resume to go on with it, --force to "
                         "start over, or give another folder")
    if args.resume and not (state / "run.json").is_file():
        raise InputError(f"--resume: --out {out} holds no run to resume (no {STATE}/run.json); run without --resume")


def run(args, out) -> int:
    from fewlabel.cli.output import OutputFolder
    from fewlabel.experiment import read_experiment

    log_stream = sys.stderr if args.json else sys.stdout

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=log_stream, flush=True)

    exp = read_experiment(args.experiment, args.overrides, load_data=False)  # the file's own errors first
    out = args.out if args.out is not None else Path("runs") / args.experiment.stem
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file, not a folder: give a new or empty folder")
    _check_out(args, out)
    with OutputFolder(out, OUTPUTS, force=args.force or args.resume) as staging:
        from fewlabel.experiment import check_estimators, load_experiment_data
        from fewlabel.runner import Runner, assemble

        exp.arrays = load_experiment_data(exp)
        check_estimators(exp)
        log(f"{exp.title}: {exp.arrays['where']}, {len(exp.arrays['X'])} training rows; steps: "
            + ", ".join(exp.steps()))
        runner = Runner(exp, out / STATE, verbose=not args.quiet, log=log)
        try:
            info = runner.run(resume=args.resume)
        except BaseException:
            if runner.results:
                print(f"fewlabel run: the {len(runner.results)} finished step(s) are kept in {out / STATE}: "
                      f"fewlabel run {args.experiment} --out {out} --resume goes on from there", file=sys.stderr)
            raise
        metrics = assemble(exp, runner, info, staging, overrides=args.overrides)
    if args.json:
        print(json.dumps(metrics, indent=2))
    if info["status"] == "interrupted":
        log(f"interrupted in {info['interrupted_in']}: the report of what finished is {out / 'report.html'}; "
            f"fewlabel run {args.experiment} --out {out} --resume goes on from there")
        return 130
    log(f"done in {info['this_run']['wall_seconds']} s (CPU {info['this_run']['cpu_seconds']} s): "
        f"{out / 'report.html'}, metrics.json, figures/, models/")
    return 0
