"""``n_maps``: the clusterer draws several UMAP maps and keeps their consensus. One map is the single map as before
(the default); on scikit-learn's digits the consensus of five keeps what most of its maps find; a saved clusterer
places new rows through every map."""

import warnings

import numpy as np
import pytest

import fewlabel
from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.errors import InputError
from fewlabel.metrics import cluster_accuracy, nmi
from fewlabel.tasks.cluster import CodeClustering
from fewlabel.tasks.clusterer import ClusterModel


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _clusters(X, seed, n_maps):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CodeClustering(10, method="gmm", manifold="umap", n_init=CLUSTER_DEFAULTS["n_init"], n_maps=n_maps,
                              random_state=seed).fit(X)


def test_one_map_is_the_single_map(digits):
    pytest.importorskip("umap")
    from sklearn.mixture import GaussianMixture

    from fewlabel.tasks.manifold import make_reducer

    X, _ = digits
    one = _clusters(X, 4, 1)
    # the reference: the map and the mixture by hand, as the clusterer drew its one map before n_maps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        E = make_reducer("umap", CLUSTER_DEFAULTS["manifold_dim"], CLUSTER_DEFAULTS["n_neighbors"], 4, n_rows=len(X),
                         n_features=X.shape[1]).fit_transform(X)
    labels = GaussianMixture(10, covariance_type="full", n_init=CLUSTER_DEFAULTS["n_init"],
                             random_state=4).fit_predict(E)
    assert one.n_maps_ == 1 and one.consensus_ is None and one.component_clusters_ is None
    assert (one.labels_ == labels).all()
    # with more maps, the first is this one (the same seed) and so are its clusters
    two = _clusters(X, 4, 2)
    np.testing.assert_allclose(two.reducers_[0].umap_.embedding_, one.reducer_.umap_.embedding_)
    assert (two.models_[0].predict(two.reducers_[0].umap_.embedding_) == labels).all()


def test_the_consensus_of_five_maps_follows_what_most_of_its_maps_find_on_real_rows(digits):
    pytest.importorskip("umap")
    X, y = digits
    for seed in range(2):
        many = _clusters(X, seed, 5)
        maps = [many.models_[i].predict(many.reducers_[i].umap_.embedding_) for i in range(5)]
        # its first map and that map's clusters are what one map of the same seed gives (the test above)
        assert many.n_maps_ == 5 and len(many.reducers_) == 5 and many.component_clusters_.shape == (5, 10)
        # a map of these digits lands in one of two partitions (NMI about 0.905 or 0.922, accuracy 0.88 or 0.95),
        # which one moves with the seed and with the CPU's arithmetic (Zen 4: the better one in 1 of seeds 0-3 for the
        # first map, 2 of 4 for the consensus; a first-generation Zen: every map in the lower one). The consensus
        # keeps the partition most of its maps share: at least the median map, less a margin far below the 0.017
        # between the two partitions
        scores = np.array([(nmi(y, m), cluster_accuracy(y, m)) for m in maps])
        median = np.median(scores, axis=0)
        got = nmi(y, many.labels_), cluster_accuracy(y, many.labels_)
        assert got[0] > median[0] - 0.005 and got[1] > median[1] - 0.01, (seed, scores, got)
        # each map's clusters are read as the consensus's
        assert np.all((many.probability_ > 0) & (many.probability_ <= 1 + 1e-9))
        np.testing.assert_allclose(many.predict_proba(X[:200]).sum(axis=1), 1.0, rtol=1e-6)


def test_the_saved_clusterer_keeps_its_maps_and_their_consensus(tmp_path, digits):
    pytest.importorskip("umap")
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ClusterModel(n_clusters=10, encoder=None, manifold="umap", refine=None, n_maps=3).fit(X[:1000])
        fewlabel.save(model, tmp_path / "c")
        loaded = fewlabel.load(tmp_path / "c")
        assert loaded.n_maps == 3 and loaded.clustering_.n_maps_ == 3 and len(loaded.clustering_.reducers_) == 3
        for fitted, read in zip(model.clustering_.reducers_, loaded.clustering_.reducers_):
            np.testing.assert_allclose(read.transform(X[1000:1100]), fitted.umap_.transform(X[1000:1100]), atol=1e-5)
        assert (loaded.predict(X[1000:]) == model.predict(X[1000:])).all()
        # the maps' coordinates agree to 1e-5 (above); a mixture's probabilities near a border move by more (a
        # first-generation Zen: 1.6e-5)
        np.testing.assert_allclose(loaded.predict_proba(X[1000:1100]), model.predict_proba(X[1000:1100]), atol=1e-4)
        assert np.mean(loaded.predict(X[:1000]) == model.labels_) > 0.95


def test_pca_draws_one_map_and_a_bad_number_of_maps_is_named():
    Z = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    assert CodeClustering(4, method="gmm", manifold="pca", n_maps=5).fit(Z).n_maps_ == 1
    assert ClusterModel(4, encoder=None, manifold=None, refine=None, n_maps=5).fit(Z).clustering_.n_maps_ == 1
    for bad in (0, -2, 1.5, "3", True):
        with pytest.raises(InputError, match="n_maps"):
            CodeClustering(4, manifold="pca", n_maps=bad).fit(Z)
        with pytest.raises(InputError, match="n_maps"):
            ClusterModel(4, encoder=None, manifold=None, refine=None, n_maps=bad).fit(Z)


def test_the_command_draws_the_maps_asked_for_and_saves_them(tmp_path):
    pytest.importorskip("umap")
    import json

    from fewlabel.cli import main

    out = tmp_path / "maps"
    assert main(["cluster", "--data", "digits", "--encoder", "raw", "--refine", "none", "--n-maps", "3", "--quiet",
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_maps"] == 3 and m["manifold"] == "umap"
    model = fewlabel.load(out / "model")
    assert model.n_maps == 3 and model.clustering_.n_maps_ == 3
