"""Writes the model folders beside this file with fewlabel as it was before the encoder protocol
(commit 68dbd92): tests/test_encoder_protocol.py checks that they still load and give the same outputs.

Run from the repository root: ``python tests/data/models_0.1/make.py``. Tiny models on scikit-learn's
bundled 8x8 digits (so the folders stay a few KB); ``expected.json`` holds each model's outputs on the
first 5 rows, as the code that wrote them computed them.
"""

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import fewlabel
from fewlabel.tasks.detect import ReconstructionDetector

HERE = Path(__file__).resolve().parent


def data():
    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    return X[:300], d.target[:300]


def main():
    X, y = data()
    fit = dict(epochs=1, batch_size=64, device="cpu")
    models = {
        "dense_ae": fewlabel.Autoencoder(hidden=(8,), latent=4, **fit).fit(X),
        "conv_ae": fewlabel.ConvAutoencoder(channels=(4, 8), **fit).fit(X),
        "conv_vae": fewlabel.VariationalAutoencoder(architecture="conv", channels=(4,), latent=2, **fit).fit(X),
        "stacked_ae": fewlabel.StackedAutoencoder(hidden=(8,), latent=4, layer_epochs=1, finetune_epochs=1,
                                                  batch_size=64, device="cpu").fit(X),
        "byol_conv": fewlabel.BYOL(encoder="conv", channels=(4, 8), hidden_dim=16, projection_dim=8, **fit).fit(X),
    }
    y_few = np.full(len(y), -1)
    y_few[:40] = y[:40]
    models["classifier"] = fewlabel.SemiSupervisedClassifier(encoder=models["dense_ae"], head_hidden=(8,),
                                                             **fit).fit(X, y_few)
    models["idec"] = fewlabel.DeepClustering(models["dense_ae"], n_clusters=3, epochs=1, batch_size=64,
                                             device="cpu").fit(X)
    models["detector"] = ReconstructionDetector(fewlabel.Autoencoder(hidden=(8,), latent=4, **fit)).fit(X)
    expected = {}
    for name, model in models.items():
        fewlabel.save(model, HERE / name)
        if name == "detector":
            out = model.score_samples(X[:5])
        elif name == "idec":
            out = model.soft_assign(X[:5])
        elif name == "classifier":
            out = model.predict_proba(X[:5])
        else:
            out = model.transform(X[:5])
        expected[name] = np.asarray(out, dtype=np.float64).tolist()
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
