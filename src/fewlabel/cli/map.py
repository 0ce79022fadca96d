"""``fewlabel map``: the same rows mapped to 2-D twice, raw input beside an encoder's codes (by default an
autoencoder trained on the data here, as ``fewlabel cluster`` does)."""

from __future__ import annotations

from pathlib import Path

from fewlabel.cli.cluster import add_encoder_options, check_encoder_options, load_split, train_or_load_encoder
from fewlabel.cli.common import add_data_options, add_output_options, positive, refuse_file_options

WRITES = ("map.png", "map.json", "model")


def add_parser(sub) -> None:
    p = sub.add_parser("map", help="draw a 2-D map (UMAP, t-SNE, PCA) of the raw input beside an encoder's codes",
                       description="Maps the same rows of a dataset to 2-D twice, the raw input and the codes of an "
                                   "encoder, with the same method, and draws them side by side coloured by label. "
                                   "By default the encoder is the default autoencoder trained here on the rows "
                                   "(saved as OUT/model), as fewlabel cluster does. Writes map.png, map.json and "
                                   "model/.")
    add_data_options(p)
    add_encoder_options(p)
    p.add_argument("--method", choices=["auto", "pca", "tsne", "umap"], default="auto",
                   help="auto (default: umap when umap-learn is installed, else pca), pca (fast, linear), tsne, umap")
    p.add_argument("--max-points", type=int, default=5000,
                   help="map at most this many rows, drawn by --seed and stratified by label (default 5000)")
    p.add_argument("--max-rows", type=int, help="train the encoder on at most this many rows, drawn by --seed "
                                                "(default: all rows)")
    add_output_options(p, WRITES)


def run(args, out: Path) -> int:
    import numpy as np

    from fewlabel.tasks.cluster import default_manifold, subsample
    from fewlabel.tasks.embed_map import check_map_rows, run_map
    from fewlabel.train.state import write_json_atomic

    positive(args.max_points, "--max-points")
    positive(args.max_rows, "--max-rows")
    refuse_file_options(args.data, {"--split": args.split, "--root": args.root})
    check_encoder_options(args)
    method = default_manifold() if args.method == "auto" else args.method
    # the arguments alone decide these: refused before any data is read or any encoder trains
    check_map_rows(args.max_points, method, f"--max-points {args.max_points}")
    if args.max_rows is not None:
        check_map_rows(args.max_rows, method, f"--max-rows {args.max_rows}")
    X, y, source = load_split(args, args.split or "train")
    if args.max_rows is not None and args.max_rows < len(X):
        idx = subsample(len(X), args.max_rows, y, args.seed)
        X, y = X[idx], (None if y is None else np.asarray(y)[idx])
    check_map_rows(min(len(X), args.max_points), method, args.data)
    encoder, encoder_info = train_or_load_encoder(args, X, out, source)
    result = run_map(X, y, encoder=encoder, method=method, out=out, seed=args.seed, max_points=args.max_points,
                     class_names=source.get("class_names"))
    if out is not None:
        info = {k: v for k, v in result.items() if k not in ("raw", "codes", "indices", "labels")}
        info.update(encoder_info)
        if args.encoder == "auto":
            info["files"] = [*info["files"], "model"]
        write_json_atomic(out / "map.json", info)
    s = result["seconds"]
    trained = (f" (encoder trained here in {encoder_info['encoder_trained']['seconds']:.0f} s, saved to "
               f"{args.out / 'model'})" if args.encoder == "auto" else "")
    print(f"mapped {result['n_points']} rows of {args.data} with {method} in {s['raw'] + s['codes']:.1f} s{trained}; "
          f"wrote {args.out / 'map.png'} and {args.out / 'map.json'}")
    return 0
