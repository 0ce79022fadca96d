"""``fewlabel predict``: apply a saved model to new files, batch by batch (:mod:`fewlabel.apply`)."""

from __future__ import annotations

from pathlib import Path

from fewlabel.cli.common import column, data_source, image_size
from fewlabel.datasets.tables import MISSING_CELLS
from fewlabel.errors import DataNotFoundError, InputError

WRITES = ()  # writes the one file --out names, not a folder


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="apply a saved model (classifier, clusterer, detector, encoder) to new data",
                       description="Applies a model saved by fewlabel (the model/ folder of classify, cluster, detect "
                                   "or pretrain) to new rows, reading and writing them in batches so that memory "
                                   "stays flat however many rows there are. A classifier gives each row a label, "
                                   "confidence, margin and unfamiliarity score; a clusterer its cluster and "
                                   "probability; a detector its score and outlier flag; an encoder its codes. Rows "
                                   "whose shape, channels or columns differ from what the model was trained on are "
                                   "refused. Images are read at the size and colour the model was trained on.")
    p.add_argument("--model", type=Path, required=True, help="the saved model's folder (e.g. runs/classify/model)")
    p.add_argument("--data", type=data_source, required=True,
                   help="the new rows: an image folder (every image under it), a .csv/.tsv/.parquet/.xlsx table "
                        "(.csv.gz and the like too), or "
                        ".npy (memory-mapped) / .npz")
    p.add_argument("--out", type=Path, required=True,
                   help="the file to write: .csv or .parquet (one row per input row), or .npy (an encoder's codes)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--id-column", help="a table column that names each row in the output (default: the row number)")
    p.add_argument("--size", type=image_size, help="resize images to HxW (default: the size the model was trained "
                                                   "on, when it resized its images)")
    p.add_argument("--missing", choices=MISSING_CELLS, default="refuse",
                   help="a table's missing cells (empty, NaN, NA, ?): refuse (the default: the first one is named) or "
                        "fill each with its column's median over the rows the model was trained on, kept with it")
    p.add_argument("--batch-size", type=int, default=1024, help="rows read and answered at a time (default 1024)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def check_early(args) -> None:
    """The model folder and the new rows, named when they are not there before torch loads (the new rows are
    files or a folder, never a dataset name)."""
    if not args.model.exists():
        raise DataNotFoundError(f"--model: no fewlabel model at {args.model}: the path does not exist")
    if not Path(args.data).exists():
        raise DataNotFoundError(f"--data: no such file or folder: {args.data}")


def run(args, out) -> int:
    import fewlabel
    from fewlabel.apply import check_output, check_rows, expected_input, kind_of, predict_file, reading_settings
    from fewlabel.datasets.stream import open_rows

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    model = fewlabel.load(args.model)
    kind = kind_of(model)
    target = check_output(args.out, kind, args.force)
    _, record = expected_input(model)
    # a folder is read at the model's image size and colour; a --size given with a file is refused, not ignored
    settings = reading_settings(model, size=args.size) if Path(args.data).is_dir() else {"size": args.size}
    fill = None
    if args.missing == "fill":
        if Path(args.data).is_dir():
            raise InputError(f"--missing applies to a table's cells; {args.data} is an image folder")
        fill = (record.get("fill") or {}).get("values")
        if fill is None:
            raise InputError(f"--missing fill: the model in {args.model} keeps no column medians to fill with (it was "
                             "not trained on a table read by a fewlabel command); fill the missing cells or drop "
                             "their rows")
    rows = open_rows(args.data, **settings, columns=record.get("columns"), id_column=column(args.id_column),
                     label_column=record.get("label_column"), fill=fill, categories=record.get("categories"),
                     dates=record.get("dates"))
    check_rows(model, rows, args.model)
    summary = predict_file(model, rows, target, batch_size=args.batch_size, progress=not args.quiet)
    extra = "".join(f", {summary[k]:,} {k}" for k in ("flagged", "outlier", "unknown") if k in summary)
    for name, values in rows.unseen.items():
        listed = ", ".join(f"{v!r} {n:,}" for v, n in list(values.items())[:8]) + (" ..." if len(values) > 8 else "")
        print(f"note: {args.data}: column {name!r} holds values the model never saw ({listed}): none of its "
              f"categories is set in those rows, which the model answers from their other columns")
    for name, counts in rows.outside.items():
        dated = record["dates"][name]
        sides = [f"{counts[side]:,} {side} {dated['first' if side == 'before' else 'last']}" for side in counts
                 if counts[side]]
        if sides:
            print(f"note: {args.data}: column {name!r} dates rows outside the dates the model learned from "
                  f"({dated['first']} to {dated['last']}): {', '.join(sides)}; where the time of year or week "
                  "is what told classes apart these rows are answered as well, where the classes changed over time "
                  "the model has not seen it")
    if rows.filled:
        from fewlabel.datasets.tables import filled_note

        print("note: " + filled_note(args.data, rows.filled, "each column's median over the model's training rows"))
    print(f"{type(model).__name__} ({kind}) applied to {summary['rows']:,} rows of {args.data}{extra}; wrote {target}")
    return 0
