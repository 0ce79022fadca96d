"""``fewlabel map``: the same rows mapped to 2-D twice, raw input beside a saved encoder's codes."""

from __future__ import annotations

from pathlib import Path

from fewlabel.cli.common import (add_data_options, add_output_options, check_encoder_path, encode_for, load_data,
                                 load_encoder, positive, refuse_file_options)

WRITES = ("map.png", "map.json")


def add_parser(sub) -> None:
    p = sub.add_parser("map", help="draw a 2-D map (PCA, t-SNE, UMAP) of the raw input beside a saved encoder's codes",
                       description="Maps the same rows of a dataset to 2-D twice, the raw input and the codes of a "
                                   "saved fewlabel autoencoder, with the same method, and draws them side by side "
                                   "coloured by label. Writes map.png and map.json.")
    add_data_options(p)
    p.add_argument("--encoder", type=Path, help="folder of a saved fewlabel autoencoder; default: both maps show "
                                                "the raw input")
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca",
                   help="pca (fast, linear; default), tsne, or umap (needs umap-learn)")
    p.add_argument("--max-points", type=int, default=5000,
                   help="map at most this many rows, drawn by --seed and stratified by label (default 5000)")
    p.add_argument("--device", default="cpu", help="where the encoder runs: cpu (default), auto, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_output_options(p, WRITES)


def run(args, out: Path) -> int:
    from fewlabel.tasks.embed_map import run_map

    positive(args.max_points, "--max-points")
    refuse_file_options(args.data, {"--split": args.split, "--root": args.root})
    check_encoder_path(args.encoder)
    X, y = load_data(args.data, args.split or "train", args.root)
    encoder = None if args.encoder is None else load_encoder(args.encoder, args.device)
    if encoder is not None:
        encode_for(encoder, X[:1], args)  # another input shape is named before any map is computed
    result = run_map(X, y, encoder=encoder, method=args.method, out=out, seed=args.seed,
                     max_points=args.max_points)
    s = result["seconds"]
    print(f"mapped {result['n_points']} rows of {args.data} with {args.method} in {s['raw'] + s['codes']:.1f} s; "
          f"wrote {args.out / 'map.png'} and {args.out / 'map.json'}")
    return 0
