"""The encoder protocol: every pretrainer hands its encoder over the same way (``export_encoder``), and the
tasks take any of them, fitted or saved, computing exactly the codes the pretrainer's ``transform`` gives.
Also: models saved before the protocol still load and give the same outputs."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fewlabel
from fewlabel.errors import InputError
from fewlabel.nets import CodeEncoder, EncoderSpec, build_encoder
from fewlabel.tasks.cluster import encode
from fewlabel.tasks.detect import ReconstructionDetector
from fewlabel.tasks.encoders import encoder_codes

FIT = dict(epochs=1, batch_size=128, device="cpu", random_state=0)


def same_codes(a, b):
    """Equal codes, up to the rounding of bf16 where one side was computed in it (the training loop picks
    bf16 on CPUs that have it when a model's work pays for it, and a model predicts in its training
    precision); a lost layer changes the codes' shape or their values far beyond that."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=2e-2, atol=2e-2 * float(np.abs(b).max()))
OLD_MODELS = Path(__file__).parent / "data" / "models_0.1"


def pretrainers():
    """One small instance of every pretrainer (a small conv encoder for BYOL)."""
    return {
        "dense_ae": fewlabel.Autoencoder(hidden=(64,), latent=8, **FIT),
        "conv_ae": fewlabel.ConvAutoencoder(channels=(8, 16), **FIT),
        "dense_vae": fewlabel.VariationalAutoencoder(hidden=(64,), latent=4, **FIT),
        "conv_vae": fewlabel.VariationalAutoencoder(architecture="conv", channels=(8, 16), latent=4, **FIT),
        "stacked_ae": fewlabel.StackedAutoencoder(hidden=(64,), latent=8, layer_epochs=1, finetune_epochs=1,
                                                  batch_size=128, device="cpu"),
        "byol_conv": fewlabel.BYOL(encoder="conv", channels=(8, 16), hidden_dim=64, projection_dim=16, **FIT),
    }


@pytest.fixture(scope="module")
def digits(mnist_small):
    X, y, Xt, yt = mnist_small
    return X[:600], y[:600], Xt[:200]


@pytest.fixture(scope="module")
def fitted(digits, tmp_path_factory):
    """name -> (fitted pretrainer, the folder it was saved to)."""
    X = digits[0]
    root = tmp_path_factory.mktemp("pretrainers")
    out = {}
    for name, est in pretrainers().items():
        est.fit(X[:256] if name == "byol_conv" else X)  # BYOL's augmentations are the slow part
        out[name] = (est, fewlabel.save(est, root / name))
    return out


NAMES = list(pretrainers())


@pytest.mark.parametrize("name", NAMES)
def test_exported_encoder_computes_transform(fitted, digits, name):
    est, path = fitted[name]
    Xt = digits[2]
    spec = est.export_encoder()
    assert isinstance(spec, EncoderSpec)
    json.dumps(spec.config)  # the config is JSON: it can be saved beside the weights
    assert isinstance(build_encoder(spec.config), CodeEncoder)
    assert spec.input_shape == est.input_shape_
    own = est.transform(Xt)
    assert spec.precision in ("fp32", "bf16")
    assert np.allclose(encoder_codes(spec, Xt), own, atol=1e-5)  # in the pretrainer's precision: the same
    # the saved folder exports the same encoder
    again = fewlabel.load(path).export_encoder()
    assert again.config == spec.config
    assert all(torch.equal(again.state_dict[k], v) for k, v in spec.state_dict.items())
    # the codes the clustering and map jobs use, from the object and from the folder
    assert np.allclose(encode(Xt, est), own, atol=1e-5)
    assert np.allclose(encode(Xt, str(path)), own, atol=1e-5)
    assert same_codes(encoder_codes(spec, Xt, precision="fp32"), own)


def test_conv_vae_encoder_keeps_its_moments_layer(fitted, digits):
    """The mean code of a conv VAE comes out of its ``moments`` layer, as the VAE computes it."""
    est, _ = fitted["conv_vae"]
    spec = est.export_encoder()
    assert spec.config["code"] == "mean" and spec.config["body"]["config"]["latent"] == 2 * est.latent
    assert torch.equal(spec.state_dict["body.head.1.weight"], est.module_.moments.weight.detach())
    Xt = digits[2][:50]
    mean, _ = est.module_.encode_distribution(torch.from_numpy(Xt).float() / 255)
    codes = encoder_codes(spec, Xt, precision="fp32")
    assert codes.shape == (50, est.latent)
    assert np.allclose(codes, mean.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("as_path", [False, True], ids=["object", "folder"])
def test_classifier_takes_every_encoder(fitted, digits, name, as_path):
    est, path = fitted[name]
    X, y, Xt = digits
    y_few = np.full(len(y), -1)
    y_few[:100] = y[:100]
    clf = fewlabel.SemiSupervisedClassifier(encoder=path if as_path else est, freeze_encoder=True, epochs=1,
                                            batch_size=64, device="cpu").fit(X, y_few)
    # frozen encoder: the classifier's codes are the pretrainer's own
    assert same_codes(clf.transform(Xt), est.transform(Xt))
    assert clf.predict(Xt).shape == (len(Xt),)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("as_path", [False, True], ids=["object", "folder"])
def test_deep_clustering_takes_every_encoder(fitted, digits, name, as_path, tmp_path):
    est, path = fitted[name]
    X = digits[0][:300]
    source = path if as_path else est
    is_autoencoder = name != "byol_conv"
    dc = fewlabel.DeepClustering(source, n_clusters=5, epochs=1, batch_size=128, reconstruction=is_autoencoder,
                                 device="cpu")
    dc.fit(X)
    assert dc.labels_.shape == (300,) and set(np.unique(dc.labels_)) <= set(range(5))
    assert np.array_equal(dc.predict(X), dc.labels_)
    assert (dc.autoencoder_ is not None) == is_autoencoder and (dc.encoder_ is not None) != is_autoencoder
    Z = dc.transform(X[:50])
    assert Z.shape == (50, dc.cluster_centers_.shape[1])
    copy = fewlabel.load(fewlabel.save(dc, tmp_path / "dc"))
    assert np.allclose(copy.soft_assign(X[:50]), dc.soft_assign(X[:50]), atol=1e-6)
    assert np.allclose(copy.transform(X[:50]), Z, atol=1e-6)


def test_deep_clustering_starts_from_the_pretrainers_codes(fitted, digits):
    """The codes DEC starts from are the pretrainer's: with initial labels, the centres start at each
    cluster's mean code (and a learning rate of 1e-12 keeps them there through the one epoch)."""
    X = digits[0][:300]
    labels = np.arange(300) % 3
    for name in ("conv_vae", "byol_conv"):
        est, _ = fitted[name]
        dc = fewlabel.DeepClustering(est, n_clusters=3, init=labels, epochs=1, reconstruction=False, lr=1e-12,
                                     device="cpu").fit(X)
        for Z in (encoder_codes(est.export_encoder(), X, precision="fp32"), est.transform(X)):
            centres = np.stack([Z[labels == c].mean(0) for c in range(3)])
            assert same_codes(dc.cluster_centers_, centres)


def test_idec_needs_an_autoencoder(fitted, digits):
    est, path = fitted["byol_conv"]
    for source in (est, path):
        with pytest.raises(InputError, match="reconstruction=False.*a BYOL only encodes"):
            fewlabel.DeepClustering(source, n_clusters=3, epochs=1, device="cpu").fit(digits[0][:100])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "byol_conv"])
def test_detector_takes_every_autoencoder(fitted, digits, name):
    est, path = fitted[name]
    X, _, Xt = digits
    for source in (est, path):
        det = ReconstructionDetector(source, prefit=True, contamination=0.05).fit(X[:300])
        assert np.allclose(det.reconstruction_error(Xt), est.reconstruction_error(Xt), atol=1e-6)
        assert set(np.unique(det.predict(Xt))) <= {-1, 1}


def test_detector_refuses_an_encoder_alone(fitted, digits):
    est, path = fitted["byol_conv"]
    for source in (est, path):
        with pytest.raises(InputError, match="reconstruction error, which needs a decoder; a BYOL only encodes"):
            ReconstructionDetector(source, prefit=True).fit(digits[0][:100])


def test_export_errors(fitted):
    with pytest.raises(InputError, match="not fitted"):
        fewlabel.Autoencoder().export_encoder()
    with pytest.raises(InputError, match="unknown pooling"):
        fitted["conv_ae"][0].export_encoder(pooling="max")
    with pytest.raises(InputError, match="dense"):
        fitted["dense_ae"][0].export_encoder(pooling="global")
    with pytest.raises(InputError, match="mean vector"):
        fitted["conv_vae"][0].export_encoder(pooling="global")
    assert fitted["conv_ae"][0].export_encoder(pooling="global").code_size == 16
    with pytest.raises(InputError, match="export_encoder"):
        fewlabel.SemiSupervisedClassifier(encoder=object()).fit(np.zeros((4, 8, 8), np.float32), [0, 1, -1, -1])


def test_models_saved_before_the_protocol_still_load():
    sys.path.insert(0, str(OLD_MODELS))
    try:
        from make import data  # the data the models were written on
    finally:
        sys.path.remove(str(OLD_MODELS))
    X, _ = data()
    expected = json.loads((OLD_MODELS / "expected.json").read_text())
    assert len(expected) == 8
    for name, values in expected.items():
        model = fewlabel.load(OLD_MODELS / name)
        if name == "detector":
            out = model.score_samples(X[:5])
        elif name == "idec":
            out = model.soft_assign(X[:5])
        elif name == "classifier":
            out = model.predict_proba(X[:5])
        else:
            out = model.transform(X[:5])
            assert np.allclose(encoder_codes(model.export_encoder(), X[:50]), model.transform(X[:50]), atol=1e-6)
        np.testing.assert_allclose(out, np.asarray(values), rtol=1e-5, atol=1e-6, err_msg=name)
