"""fewlabel.tasks.propagate: labels travel along graphs and clusters, then a classifier learns from them."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from fewlabel import InputError
from fewlabel.datasets import labeled_subset
from fewlabel.tasks import propagate as P


@pytest.fixture(scope="module")
def mnist_codes(mnist_small):
    X, y, Xt, yt = mnist_small
    flat = X.reshape(len(X), -1) / 255.0
    pca = PCA(30, random_state=0).fit(flat)
    y_few = labeled_subset(y, 100, seed=0)
    return X, y, Xt, yt, flat, pca.transform(flat), y_few


def _blobs(n_per=200, centers=((0, 0), (10, 0), (0, 10)), seed=0):
    rng = np.random.default_rng(seed)
    Z = np.vstack([rng.normal(c, 0.5, size=(n_per, 2)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(len(centers)), n_per)
    return Z, y


def test_spread_labels_beats_a_classifier_on_the_labels_alone(mnist_codes):
    X, y, _, _, flat, codes, y_few = mnist_codes
    unl = y_few < 0
    pseudo = P.spread_labels(codes, y_few, n_neighbors=10)
    lr = LogisticRegression(max_iter=1000).fit(flat[~unl], y[~unl])
    lr_acc = float(np.mean(lr.predict(flat[unl]) == y[unl]))
    acc = pseudo.accuracy(y, unl)
    assert acc > 0.8 and acc > lr_acc + 0.05, (acc, lr_acc)
    assert np.array_equal(pseudo.labels[~unl], y_few[~unl]) and np.all(pseudo.confidence[~unl] == 1)
    # confidence means something: the confident half is more often right than the rest
    top = unl & (pseudo.confidence >= np.median(pseudo.confidence[unl]))
    assert pseudo.accuracy(y, top) > pseudo.accuracy(y, unl & ~top)


def test_spread_labels_leaves_a_component_without_labels_unlabeled():
    Z, y = _blobs(n_per=50, centers=((0, 0), (100, 0), (0, 100)))
    y_few = np.full(len(y), -1)
    y_few[[0, 1, 50, 51]] = y[[0, 1, 50, 51]]  # the third blob holds no label, and is far from the others
    pseudo = P.spread_labels(Z, y_few, n_neighbors=5)
    assert np.all(pseudo.labels[:100] == y[:100])
    assert np.all(pseudo.labels[100:] == -1) and np.all(pseudo.confidence[100:] == 0)


def test_cluster_then_label_names_each_cluster_from_one_label():
    Z, y = _blobs()
    y_few = np.full(len(y), -1)
    y_few[[0, 200, 400]] = [0, 1, 2]
    pseudo, labeler = P.cluster_then_label(Z, y_few, n_clusters=3, random_state=0)
    assert pseudo.accuracy(y) == 1.0 and len(labeler.unnamed) == 0
    new = np.array([[0.2, -0.1], [9.8, 0.3], [0.1, 10.2]], dtype=np.float32)
    assert list(labeler.pseudo_labels(new).labels) == [0, 1, 2]


def test_cluster_then_label_reports_components_without_labels():
    Z, y = _blobs(centers=((0, 0), (10, 0), (0, 10), (1.5, 1.5)))
    y_few = np.full(len(y), -1)
    y_few[[0, 200, 400]] = [0, 1, 2]  # four blobs, labels in three
    pseudo, labeler = P.cluster_then_label(Z, y_few, n_clusters=4, random_state=0)
    assert len(labeler.unnamed) == 1
    j = labeler.unnamed[0]
    assert labeler.component_labels[j] == 0  # the unlabeled blob sits next to class 0's
    fourth = slice(600, 800)
    assert np.all(pseudo.labels[fourth] == 0)
    assert pseudo.confidence[fourth].max() <= 0.5 + 1e-9  # a borrowed name is at most half as sure
    assert np.median(pseudo.confidence[:200]) > 0.9


def test_self_train_with_pseudo_labels_beats_the_labels_alone(mnist_codes):
    X, y, Xt, yt, flat, codes, y_few = mnist_codes
    labeled = y_few >= 0
    pseudo = P.spread_labels(codes, y_few, n_neighbors=10)
    flat_t = Xt.reshape(len(Xt), -1) / 255.0
    base = LogisticRegression(max_iter=1000).fit(flat[labeled], y[labeled]).score(flat_t, yt)
    taught = P.self_train(LogisticRegression(max_iter=1000), flat, y_few, pseudo, threshold=0.0).score(flat_t, yt)
    assert taught > base + 0.02, (taught, base)  # measured: 0.810 against 0.776


def test_self_trained_network_beats_a_linear_model_on_unseen_images():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()  # 8x8 images: the whole network trains in seconds
    imgs = (d.images / 16 * 255).round().astype(np.uint8)
    X, Xt, y, yt = train_test_split(imgs, d.target, test_size=0.25, stratify=d.target, random_state=0)
    y_few = labeled_subset(y, 50, seed=0)
    labeled = y_few >= 0
    pseudo = P.spread_labels(X.reshape(len(X), -1) / 255.0, y_few, n_neighbors=10)
    net = P.self_train_network(X, y_few, pseudo, epochs=1, min_steps=150, batch_size=128, max_shift=1,
                               device="cpu", seed=0)
    proba = P.predict_proba_network(net, Xt)
    assert proba.shape == (len(Xt), 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    acc = float(np.mean(proba.argmax(axis=1) == yt))
    base = LogisticRegression(max_iter=2000).fit(X[labeled].reshape(-1, 64), y[labeled]).score(Xt.reshape(-1, 64), yt)
    assert acc > base + 0.03, (acc, base)
    again = P.network_pseudo_labels(net, X, y_few)
    assert np.array_equal(again.labels[labeled], y_few[labeled])


@pytest.mark.parametrize("bad, message", [
    (np.full(30, -1), "no labeled row"),
    (np.r_[np.zeros(5, int), np.full(25, -1)], "single class"),
    (np.r_[np.arange(3) + 0.5, np.full(27, -1.0)], "fractional"),
    (np.array(["a", "b"] * 15), "integer class labels"),
    (np.r_[0, 1, np.full(27, -1)], "29 labels but X has 30 rows"),
    (np.r_[0, 1, -2, np.full(27, -1)], "below -1"),
    (np.r_[0.0, 1.0, np.nan, np.full(27, -1.0)], "NaN"),
])
def test_bad_labels_are_named(bad, message):
    Z = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(InputError, match=message):
        P.spread_labels(Z, bad)
    with pytest.raises(InputError, match=message):
        P.cluster_then_label(Z, bad)


def test_bad_inputs_are_named():
    Z = np.random.default_rng(0).normal(size=(30, 3))
    y = np.r_[0, 1, np.full(28, -1)]
    with pytest.raises(InputError, match="NaN"):
        P.spread_labels(np.where(np.eye(30, 3) > 0, np.nan, Z), y)
    with pytest.raises(InputError, match="alpha"):
        P.spread_labels(Z, y, alpha=1.0)
    with pytest.raises(InputError, match="n_neighbors"):
        P.spread_labels(Z, y, n_neighbors=30)
    with pytest.raises(InputError, match="n_clusters"):
        P.cluster_then_label(Z, y, n_clusters=0)
    pseudo = P.spread_labels(Z, y, n_neighbors=5)
    with pytest.raises(InputError, match="uint8"):
        P.self_train_network(np.zeros((30, 28, 28), np.float32), y, pseudo)
    with pytest.raises(InputError, match="threshold"):
        P.self_train(LogisticRegression(), Z, y, pseudo, threshold=2)
    with pytest.raises(InputError, match="pseudo has 30 labels but X has 29 rows"):
        P.self_train(LogisticRegression(), Z[:29], y[:29], pseudo)


def test_a_network_predicts_read_only_images_without_a_warning():
    """Images from a memory-mapped or loaded file are read-only: the network's probabilities come without
    torch's warning about non-writable arrays, and equal those of a writable copy."""
    import warnings

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    net = P.SmallConvNet(1, 3).eval()
    expected = P.predict_proba_network(net, X.copy())
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(P.predict_proba_network(net, X, batch_size=16), expected, atol=1e-6)
