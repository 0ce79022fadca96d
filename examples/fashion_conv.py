"""Reproduction 3: the convolutional autoencoder on Fashion-MNIST, its reconstructions, and a 2-D map
of its 64-d pooled codes.

The classic design: 28x28 -> three stages of 3x3 convolution + 2x2 max-pooling (16, 32, 64 channels)
-> a 3x3x64 code, mirrored by transposed convolutions; MSE, Adam. After training, global average pooling
turns each 3x3x64 code into 64 numbers, which t-SNE (or UMAP) maps to 2-D, beside the same map of
the raw pixels so the picture shows what the encoder adds.

    python examples/fashion_conv.py [--epochs 20] [--method tsne|umap|pca] [--device auto]

Needs Fashion-MNIST (``fewlabel datasets`` says where it looks).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fewlabel import ConvAutoencoder, datasets, plots
from fewlabel.tasks.embed_map import embed_2d

CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("examples/figures/fashion_conv"))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--method", default="tsne", choices=["tsne", "umap", "pca"])
    p.add_argument("--points", type=int, default=5000, help="test images on the map (default 5000)")
    p.add_argument("--root", type=Path, help="folder holding the Fashion-MNIST files")
    p.add_argument("--rows", type=int, default=0, help="train on this many training images (default all 60,000)")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)

    X, _ = datasets.load("fashion-mnist", split="train", root=args.root)
    Xt, yt = datasets.load("fashion-mnist", split="test", root=args.root)
    if args.rows:
        X = X[np.random.default_rng(0).choice(len(X), min(args.rows, len(X)), replace=False)]
    t0 = time.perf_counter()
    ae = ConvAutoencoder(epochs=args.epochs, batch_size=args.batch_size, device=args.device, random_state=0)
    ae.fit(X, validation_data=Xt)
    seconds = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    plots.reconstructions(Xt[:10], ae.reconstruct(Xt[:10]), n=10, path=args.out / "reconstructions.png",
                          title="Fashion-MNIST test images (top) and the conv autoencoder's reconstructions")
    plots.loss_curves(ae.history_, path=args.out / "loss.png", title="conv autoencoder on Fashion-MNIST")
    pick = np.random.default_rng(0).choice(len(Xt), min(args.points, len(Xt)), replace=False)
    codes = ae.set_params(code="pool").transform(Xt[pick])  # 3x3x64 -> 64 by global average pooling
    t1 = time.perf_counter()
    code_map = embed_2d(codes, method=args.method, random_state=0)
    raw_map = embed_2d(Xt[pick].reshape(len(pick), -1).astype(np.float32) / 255, method=args.method, random_state=0)
    map_seconds = time.perf_counter() - t1
    names = np.asarray(CLASSES)[yt[pick]]
    plots.side_by_side_maps(raw_map, code_map, labels=names, titles=("raw pixels (784-d)", "pooled codes (64-d)"),
                            path=args.out / f"map_{args.method}.png", title=f"{args.method} of Fashion-MNIST test images")
    h = ae.history_.history
    result = {"epochs": args.epochs, "train_rows": int(len(X)), "train_mse": h["loss"][-1], "test_mse": h["val_loss"][-1],
              "train_seconds": round(seconds, 1), "map_method": args.method, "map_points": int(len(pick)),
              "map_seconds": round(map_seconds, 1), "code_shape": [3, 3, 64], "pooled_code": 64}
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
