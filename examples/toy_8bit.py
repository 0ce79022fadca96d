"""Reproduction 1: an autoencoder memorises the one input it was trained on.

An 8-6-4-2-4-6-8 autoencoder, sigmoid everywhere, mean squared error, plain SGD (learning rate 0.01,
10,000 epochs, as in the reference chapter), trained on the single input 00100111 (the number 39).
It reconstructs that input almost perfectly and fails on its bit-inverse 11011000: it has memorised
one example rather than learned anything about bytes.

    python examples/toy_8bit.py [--out examples/figures/toy_8bit]

Prints both errors and writes results.json and loss.png (about 30 s on a laptop CPU).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from fewlabel import Autoencoder, plots


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("examples/figures/toy_8bit"))
    p.add_argument("--epochs", type=int, default=10_000)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args(argv)

    x = np.array([[0, 0, 1, 0, 0, 1, 1, 1]], np.float32)  # 39 = 00100111
    inverse = 1 - x  # 11011000
    ae = Autoencoder(hidden=(6, 4), latent=2, activation="sigmoid", latent_activation="sigmoid",
                     output_activation="sigmoid", loss="mse", optimizer="sgd", lr=args.lr, epochs=args.epochs,
                     batch_size=1, device="cpu", random_state=0)
    ae.fit(x)
    result = {
        "trained_input": "00100111", "mse_trained_input": float(ae.reconstruction_error(x)[0]),
        "reconstruction_trained_input": np.round(ae.reconstruct(x)[0], 3).tolist(),
        "inverse_input": "11011000", "mse_inverse_input": float(ae.reconstruction_error(inverse)[0]),
        "reconstruction_inverse_input": np.round(ae.reconstruct(inverse)[0], 3).tolist(),
        "code_trained_input": ae.transform(x)[0].tolist(), "code_inverse_input": ae.transform(inverse)[0].tolist(),
        "epochs": args.epochs, "lr": args.lr,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    plots.loss_curves(ae.history_, path=args.out / "loss.png", title="8-6-4-2-4-6-8 autoencoder on 00100111")
    print(f"MSE on the trained input 00100111: {result['mse_trained_input']:.5f}")
    print(f"MSE on its inverse      11011000: {result['mse_inverse_input']:.5f}")
    print(f"reconstruction of the inverse: {result['reconstruction_inverse_input']} (it answers with what it memorised)")
    return result


if __name__ == "__main__":
    main()
