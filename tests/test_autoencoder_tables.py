"""Autoencoders on a table whose columns come in their own units (scikit-learn's wine table: proline in the
hundreds to thousands beside hue below 2): the default centres and scales the columns, answers in their own
units, saves the scaling, and hands it over with the encoder."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from fewlabel import Autoencoder, InputError, load, save
from fewlabel.nets.encoder import EncoderSpec, build_encoder
from fewlabel.pretrain.variational import VariationalAutoencoder
from fewlabel.tasks.deep_cluster import DeepClustering
from fewlabel.tasks.detect import ReconstructionDetector


@pytest.fixture(scope="module")
def wine():
    d = load_wine()
    return d.data.astype(np.float32), d.target


@pytest.fixture(scope="module")
def fitted(wine):
    X, _ = wine
    return {"scaled": Autoencoder(random_state=0).fit(X), "unscaled": Autoencoder(standardize=False).fit(X)}


def knn(Z, y) -> float:
    return float(cross_val_score(KNeighborsClassifier(5), Z, y, cv=5).mean())


def test_the_default_codes_of_a_table_are_those_of_its_scaled_columns(wine, fitted):
    """Unscaled, proline alone decides the loss and the codes follow it (5-NN accuracy about 0.68, the raw
    columns' 0.69); scaled, the codes find the cultivars as the scaled columns do (0.94-0.96)."""
    X, y = wine
    ae = fitted["scaled"]
    np.testing.assert_allclose(ae.standardize_[0], X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ae.standardize_[1], X.std(axis=0), rtol=1e-4)
    assert fitted["unscaled"].standardize_ is None
    assert ae.training_data_["scaled_columns"] is True
    scaled, unscaled = knn(ae.transform(X), y), knn(fitted["unscaled"].transform(X), y)
    assert scaled >= 0.9 and unscaled <= 0.8, (scaled, unscaled)
    # learnt and scored in the scaled units: a loss of order 1, not proline's squared hundreds
    assert ae.history_.history["loss"][-1] < 1.0 < fitted["unscaled"].history_.history["loss"][-1]
    assert ae.output_activation_ == "linear" and ae.loss_ == "mse"


def test_reconstructions_answer_in_the_columns_own_units(wine, fitted):
    X, _ = wine
    ae = fitted["scaled"]
    spread = X.std(axis=0)
    rec = ae.reconstruct(X)
    # each column reconstructed to within a fraction of its own spread, proline in the hundreds as given
    assert np.all(np.mean(np.abs(rec - X), axis=0) / spread < 0.6)
    assert 300 < rec[:, 12].mean() < 1200
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(X)), rec, rtol=1e-4, atol=1e-3)
    # the error and the residuals are in the scaled units: the mean squared residual is the error
    np.testing.assert_allclose(ae.squared_residuals(X).mean(axis=1), ae.reconstruction_error(X), rtol=1e-3,
                               atol=1e-5)
    np.testing.assert_allclose(ae.squared_residuals(X), ((rec - X) / spread) ** 2, rtol=1e-2, atol=1e-3)


def test_rows_within_zero_and_one_are_left_as_they_are():
    """Pixels scaled to [0, 1] keep the range the sigmoid output works in (a border pixel that is almost always
    0 would otherwise be blown up by its tiny spread)."""
    X = (load_digits().data / 16).astype(np.float32)[:400]
    ae = Autoencoder(hidden=(32,), latent=4, epochs=2).fit(X)
    assert ae.standardize_ is None and ae.output_activation_ == "sigmoid"
    forced = Autoencoder(hidden=(32,), latent=4, epochs=2, standardize=True).fit(X)
    assert forced.standardize_ is not None and forced.output_activation_ == "linear"
    with pytest.raises(InputError, match="standardize must be True, False or 'auto'"):
        Autoencoder(standardize="yes").fit(X)
    with pytest.raises(InputError, match="uint8 images"):
        Autoencoder(standardize=True).fit((X * 255).astype(np.uint8))


def test_saved_and_loaded_it_keeps_its_scaling(wine, fitted, tmp_path):
    X, _ = wine
    ae = fitted["scaled"]
    save(ae, tmp_path / "ae")
    again = load(tmp_path / "ae")
    np.testing.assert_array_equal(again.standardize_[1], ae.standardize_[1])
    np.testing.assert_allclose(again.transform(X), ae.transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.reconstruct(X), ae.reconstruct(X), rtol=1e-5, atol=1e-3)


def test_the_exported_encoder_carries_the_scaling(wine, fitted):
    """Whoever takes the encoder (the classifier, deep clustering, ``--encoder``) gives it the columns in their
    own units, and gets the autoencoder's own codes."""
    X, _ = wine
    ae = fitted["scaled"]
    spec = ae.export_encoder()
    assert spec.config["standardize"] == X.shape[1]
    config = json.loads(json.dumps(spec.config))  # as a saved model keeps it
    module = build_encoder(config)
    module.load_state_dict(spec.state_dict)
    import torch

    with torch.no_grad():
        codes = module.eval()(torch.from_numpy(X)).numpy()
        mean, spread = ae.standardize_
        own = ae.module_.encoder.float()(torch.from_numpy((X - mean) / spread)).numpy()
    np.testing.assert_allclose(codes, own, rtol=1e-5, atol=1e-5)
    # transform computes in the precision it trained in (bf16 on CPUs that have it): equal to its digits
    np.testing.assert_allclose(codes, ae.transform(X), rtol=2e-2, atol=2e-2)
    # an encoder exported without scaling has no such key, as before
    assert "standardize" not in fitted["unscaled"].export_encoder().config
    assert "standardize" not in EncoderSpec.of(ae.module_.encoder, "flatten", input_shape=(13,), scale=1.0).config


def test_a_classifier_on_the_saved_encoder_reads_the_columns_as_given(wine, fitted, tmp_path):
    """The classifier does not scale the columns for a given encoder (it has its own scale): the encoder's
    scaling is what puts the cultivars apart."""
    from fewlabel import SemiSupervisedClassifier

    X, y = wine
    rng = np.random.default_rng(0)
    y_part = np.full(len(y), -1)
    for c in range(3):
        y_part[rng.choice(np.flatnonzero(y == c), 5, replace=False)] = c
    save(fitted["scaled"], tmp_path / "ae")
    clf = SemiSupervisedClassifier(encoder=str(tmp_path / "ae"), random_state=0).fit(X, y_part)
    assert clf.standardize_ is None
    unlabeled = y_part == -1
    assert np.mean(clf.predict(X[unlabeled]) == y[unlabeled]) >= 0.85


def test_deep_clustering_and_the_detector_use_the_scaled_units(wine, fitted):
    X, y = wine
    ae = fitted["scaled"]
    dc = DeepClustering(ae, n_clusters=3, epochs=4, random_state=0).fit(X)
    np.testing.assert_array_equal(dc.predict(X), dc.labels_)
    from sklearn.metrics import normalized_mutual_info_score as nmi

    assert nmi(y, dc.labels_) > 0.6
    detector = ReconstructionDetector(ae, prefit=True).fit(X[y == 0])
    assert detector.standardize_ is None  # the autoencoder scales its own columns
    assert np.median(detector.anomaly_score(X[y != 0])) > np.median(detector.anomaly_score(X[y == 0]))


def test_the_variational_autoencoder_scales_too(wine):
    X, y = wine
    vae = VariationalAutoencoder(random_state=0).fit(X)
    assert vae.standardize_ is not None
    assert np.all(np.isfinite(vae.elbo(X))) and vae.elbo(X).mean() < 50
    assert knn(vae.transform(X), y) > 0.8
