"""Reproduction 2: MNIST in a 2-D latent space, four encoder depths.

Encoders 784-392-28-10-2, 784-28-10-2, 784-10-2 and 784-2 (sigmoid hidden layers, tanh code), mirrored
decoders with a sigmoid output, binary cross-entropy, Adam, batch 256, validated on the test set, as in
the reference chapter. Writes one figure of the four latent spaces (test digits coloured by label),
the reconstructions of the first eight test digits by each model, and a table of validation losses.

    python examples/mnist_latent2.py [--epochs 100] [--device auto] [--out examples/figures/mnist_latent2]

Each trained model is saved under OUT/models/; ``--depths`` trains only some of them and ``--reuse``
loads the saved ones instead of training again, so the four can train as parallel processes:

    for d in 392-28-10-2 28-10-2 10-2 2; do python examples/mnist_latent2.py --depths $d & done; wait
    python examples/mnist_latent2.py --reuse

Needs MNIST (``fewlabel datasets`` says where it looks; FEWLABEL_DATA=folder works).
"""

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import fewlabel
from fewlabel import Autoencoder, datasets, plots

DEPTHS = {"392-28-10-2": (392, 28, 10), "28-10-2": (28, 10), "10-2": (10,), "2": ()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("examples/figures/mnist_latent2"))
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--root", type=Path, help="folder holding the MNIST files")
    p.add_argument("--depths", nargs="+", choices=list(DEPTHS), default=list(DEPTHS), help="train only these")
    p.add_argument("--reuse", action="store_true", help="load models saved under OUT/models instead of training")
    args = p.parse_args(argv)

    X, _ = datasets.load("mnist", split="train", root=args.root)
    Xt, yt = datasets.load("mnist", split="test", root=args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    models = {}
    for name in args.depths:
        saved = args.out / "models" / name
        if args.reuse and saved.exists():
            models[name] = fewlabel.load(saved)
            continue
        t0 = time.perf_counter()
        ae = Autoencoder(hidden=DEPTHS[name], latent=2, activation="sigmoid", latent_activation="tanh",
                         output_activation="sigmoid", loss="bce", optimizer="adam", lr=1e-3, epochs=args.epochs,
                         batch_size=256, device=args.device, random_state=0)
        ae.fit(X, validation_data=Xt)
        ae.seconds_ = time.perf_counter() - t0
        fewlabel.save(ae, saved)
        (saved / "seconds.txt").write_text(f"{ae.seconds_:.1f}")
        models[name] = ae
        print(f"784-{name:12s} val_loss {ae.history_.history['val_loss'][-1]:.4f} in {ae.seconds_:.0f} s", flush=True)
    if set(models) != set(DEPTHS):
        print(f"trained {sorted(models)}; run with --reuse once all four are saved to draw the figures")
        return None
    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    rows, recon = [], [Xt[:8]]
    for ax, name in zip(axes.ravel(), DEPTHS):
        ae = models[name]
        h = ae.history_.history
        val = h["val_loss"]
        seconds_file = args.out / "models" / name / "seconds.txt"
        seconds = float(seconds_file.read_text()) if seconds_file.exists() else None
        rows.append({"encoder": f"784-{name}", "val_loss": val[-1], "best_val_loss": min(val),
                     "train_loss": h["loss"][-1], "epochs": len(val), "seconds": seconds})
        print(f"784-{name:12s} val_loss {val[-1]:.4f} (best {min(val):.4f})")
        plots.latent_scatter(ae.transform(Xt), yt, ax=ax, title=f"encoder 784-{name}: val loss {val[-1]:.4f}")
        recon.append(ae.reconstruct(Xt[:8]))
    fig.tight_layout()
    fig.savefig(args.out / "latent_spaces.png", dpi=110)
    plt.close(fig)
    labels = ["input"] + [f"784-{n}" for n in DEPTHS]
    plots.image_grid(np.concatenate(recon), ncols=8, row_labels=labels, path=args.out / "reconstructions.png",
                     title="first eight test digits and their reconstructions")
    table = "| encoder | epochs | validation BCE (last) | best | training BCE | seconds |\n|---|---|---|---|---|---|\n"
    table += "".join(f"| {r['encoder']} | {r['epochs']} | {r['val_loss']:.4f} | {r['best_val_loss']:.4f} | "
                     f"{r['train_loss']:.4f} | {r['seconds']} |\n" for r in rows)
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(table)
    return rows


if __name__ == "__main__":
    main()
