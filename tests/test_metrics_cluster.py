"""Clustering metrics, code clustering (k-means / GMM, PCA / UMAP manifold), choosing k, 2-D maps.

Real data: scikit-learn's digits (1,797 8x8 images) and the real MNIST subset of ``mnist_small``.
"""

import importlib.util
import json
import os
import sys
import time

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from fewlabel import metrics
from fewlabel.errors import InputError
from fewlabel.tasks.cluster import CodeClustering, choose_k, cluster, evaluate_clustering, reduce, run_cluster
from fewlabel.tasks.embed_map import embed_2d, run_map


@pytest.fixture
def needs_umap():
    """UMAP tests run where umap-learn is installed (it is in the test extra; CI must have it)."""
    if importlib.util.find_spec("umap") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have umap-learn: pip install -e .[test]")
        pytest.skip("umap-learn not installed: pip install fewlabel[umap]")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """BLAS and OpenMP on one thread here: these problems are small, and on a shared 2-core machine two
    OpenMP threads waiting on each other at every k-means / GMM step ran this file 3x slower."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _no_temp_files(folder):
    left = [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".partial")]
    assert left == [], f"temporary files left behind: {left}"


# -- metrics ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmi_ari_equal_scikit_learn_on_random_labelings(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.5, a, rng.integers(0, 6, 200))  # partly agreeing, 6 clusters
    assert metrics.nmi(a, b) == pytest.approx(skm.normalized_mutual_info_score(a, b), abs=1e-12)
    assert metrics.ari(a, b) == pytest.approx(skm.adjusted_rand_score(a, b), abs=1e-12)
    assert metrics.nmi(a, b) == pytest.approx(
        skm.normalized_mutual_info_score(a, b, average_method="arithmetic"), abs=1e-12)
    # string labels work the same as the integers they stand for
    names = np.array(["zero", "one", "two", "three"])
    assert metrics.nmi(names[a], b) == pytest.approx(metrics.nmi(a, b))


def test_cluster_accuracy_of_a_renamed_perfect_clustering_is_one():
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    rename = np.array(["d", "a", "c", "b"])  # clusters named in a different order, with other values
    assert metrics.cluster_accuracy(y_true, rename[y_true]) == 1.0
    assert metrics.cluster_mapping(y_true, rename[y_true]) == {"d": 0, "a": 1, "c": 2, "b": 3}
    assert metrics.accuracy(y_true, rename[y_true]) == 0.0  # plain accuracy does not rename


def test_cluster_accuracy_by_hand():
    # Contingency table C[cluster, class] for y_true=[0,0,0,1,1,2], y_pred=[1,1,0,0,0,2]:
    #   cluster 0 holds rows 2,3,4 -> classes (0, 1, 1): C[0] = [1, 2, 0]
    #   cluster 1 holds rows 0,1   -> classes (0, 0):    C[1] = [2, 0, 0]
    #   cluster 2 holds row 5      -> class 2:           C[2] = [0, 0, 1]
    # Best one-to-one matching: 1->0 (2 right), 0->1 (2 right), 2->2 (1 right) = 5 of 6.
    # (Giving cluster 0 class 0 instead leaves cluster 1 with no class it holds: 1 + 0 + 1 = 2.)
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [1, 1, 0, 0, 0, 2]
    assert metrics.cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    assert metrics.cluster_mapping(y_true, y_pred) == {0: 1, 1: 0, 2: 2}


def test_cluster_accuracy_with_more_clusters_than_classes_and_fewer():
    # 4 clusters, 2 classes: C = [[2,0],[1,0],[0,2],[0,1]]; only 2 clusters can be matched (0->0, 2->1),
    # the rows of clusters 1 and 3 count as wrong: 4 of 6.
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 2, 2, 3]
    assert metrics.cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert metrics.cluster_mapping(y_true, y_pred) == {0: 0, 2: 1}
    # 2 clusters, 3 classes: one class is left without a cluster: 4 of 6.
    assert metrics.cluster_accuracy([0, 0, 1, 1, 2, 2], [5, 5, 5, 5, 7, 7]) == pytest.approx(4 / 6)
    # Many clusters of one row each: only as many rows as classes can be right.
    assert metrics.cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 5]) == pytest.approx(2 / 6)


@pytest.mark.parametrize("n_classes,n_clusters", [(3, 3), (3, 7), (6, 2)])
def test_cluster_accuracy_equals_accuracy_after_mapping(n_classes, n_clusters):
    rng = np.random.default_rng(n_classes * 10 + n_clusters)
    y_true = rng.integers(0, n_classes, 300)
    # a noisy clustering (60% of rows follow the class), cluster ids 100.. unlike the class values
    y_pred = np.where(rng.random(300) < 0.6, y_true % n_clusters, rng.integers(0, n_clusters, 300)) + 100
    mapping = metrics.cluster_mapping(y_true, y_pred)
    mapped = np.array([mapping.get(c, -1) for c in y_pred])  # unmatched clusters: no class (-1)
    assert metrics.cluster_accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy(y_true, mapped))
    assert len(mapping) == min(n_classes, len(np.unique(y_pred)))


def test_silhouette_matches_scikit_learn(digits):
    X, y = digits
    assert metrics.silhouette(X, y) == pytest.approx(skm.silhouette_score(X, y), rel=1e-6)
    sub = metrics.silhouette(X, y, sample_size=500, random_state=3)
    assert sub == pytest.approx(skm.silhouette_score(X, y, sample_size=500, random_state=3), rel=1e-6)


@pytest.mark.parametrize("fn", [metrics.nmi, metrics.ari, metrics.cluster_accuracy, metrics.cluster_mapping,
                                metrics.accuracy])
def test_metric_input_errors(fn):
    with pytest.raises(InputError, match="y_true has 3 labels but y_pred has 2"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(InputError, match="y_true is empty"):
        fn([], [])
    with pytest.raises(InputError, match=r"y_pred contains NaN \(1 values; first at index 1\)"):
        fn([0, 1, 1], [0.0, np.nan, 1.0])
    with pytest.raises(InputError, match="y_true contains infinity"):
        fn([0, np.inf, 1], [0, 1, 1])
    with pytest.raises(InputError, match=r"y_true must be 1-D.*\.ravel\(\)"):
        fn(np.zeros((3, 1)), [0, 1, 1])
    with pytest.raises(InputError, match="y_pred is None"):
        fn([0, 1], None)
    with pytest.raises(ValueError):  # InputError is a ValueError
        fn([0, 1], [None, 1])


def test_silhouette_input_errors():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(InputError, match="X has 10 rows but labels has 9"):
        metrics.silhouette(X, np.arange(9) % 2)
    with pytest.raises(InputError, match="between 2 and"):
        metrics.silhouette(X, np.zeros(10))
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="X contains NaN"):
        metrics.silhouette(X, np.arange(10) % 2)


# -- clustering ------------------------------------------------------------------------------------
def test_cluster_input_errors():
    Z = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(InputError, match="k must be at least 2 .got 1."):
        cluster(Z, 1)
    with pytest.raises(InputError, match=r"k=21 is larger than the number of rows \(n_samples=20\)"):
        cluster(Z, 21)
    with pytest.raises(InputError, match="k must be an integer"):
        cluster(Z, 2.5)
    with pytest.raises(InputError, match="unknown method 'dbscan'"):
        cluster(Z, 3, method="dbscan")
    with pytest.raises(InputError, match="unknown manifold 'tsne'"):
        cluster(Z, 3, manifold="tsne")
    with pytest.raises(InputError, match="Z is empty"):
        cluster(np.zeros((0, 4)), 2)
    bad = Z.copy()
    bad[5, 2] = np.nan
    with pytest.raises(InputError, match=r"Z contains NaN \(1 values; first at row 5, feature 2\)"):
        cluster(bad, 3)
    bad[5, 2] = np.inf
    with pytest.raises(InputError, match="Z contains infinity"):
        cluster(bad, 3)
    with pytest.raises(InputError, match="Expected 2D array"):
        cluster(Z[:, 0], 3)


def test_reduce_without_umap_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # `import umap` now raises ImportError
    with pytest.raises(InputError, match=r"pip install fewlabel\[umap\]"):
        reduce(np.random.default_rng(0).normal(size=(50, 5)), "umap")
    # PCA needs nothing extra; it keeps at most n_features components
    R = reduce(np.random.default_rng(0).normal(size=(50, 5)), "pca", n_components=10)
    assert R.shape == (50, 5) and R.dtype == np.float32


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_kmeans_and_gmm_recover_digits(digits, method):
    X, y = digits
    labels = cluster(X, 10, method=method, random_state=0)
    assert labels.dtype == np.int64 and labels.shape == (len(X),)
    assert set(np.unique(labels)) <= set(range(10))
    score = evaluate_clustering(y, labels)
    print(f"digits {method}: {score}")
    # measured: k-means NMI 0.742, GMM 0.728 (seed 0); random labels give ~0.01
    assert score["nmi"] > 0.6
    assert score["accuracy"] > 0.55 and score["ari"] > 0.45
    rand = np.random.default_rng(0).integers(0, 10, len(y))
    assert metrics.nmi(y, rand) < 0.05


def test_umap_then_kmeans_beats_raw_pixels_on_real_mnist(mnist_small, needs_umap):
    X, y, _, _ = mnist_small
    pixels = X.reshape(len(X), -1).astype(np.float32) / 255.0
    t0 = time.perf_counter()
    raw_nmi = metrics.nmi(y, cluster(pixels, 10, method="kmeans", random_state=0))
    t1 = time.perf_counter()
    codes = reduce(pixels, "pca", n_components=50)  # stand-in codes: PCA(50) of the pixels
    umap_nmi = metrics.nmi(y, cluster(codes, 10, method="kmeans", manifold="umap", manifold_dim=10,
                                      n_neighbors=20, random_state=0))
    t2 = time.perf_counter()
    print(f"MNIST 3000: raw-pixel k-means NMI {raw_nmi:.3f} ({t1 - t0:.1f} s); "
          f"PCA(50) -> UMAP(10) -> k-means NMI {umap_nmi:.3f} ({t2 - t1:.1f} s)")
    # measured: raw 0.485, UMAP 0.71
    assert raw_nmi > 0.35
    assert umap_nmi > raw_nmi + 0.1


def test_umap_clustering_predicts_new_rows(digits, needs_umap):
    X, y = digits
    est = CodeClustering(n_clusters=10, method="gmm", manifold="umap", manifold_dim=5, random_state=0)
    est.fit(X[:1200])
    held_out = est.predict(X[1200:])
    assert held_out.dtype == np.int64 and held_out.shape == (len(X) - 1200,)
    fit_nmi, new_nmi = metrics.nmi(y[:1200], est.labels_), metrics.nmi(y[1200:], held_out)
    print(f"digits UMAP->GMM: NMI {fit_nmi:.3f} on the fitted rows, {new_nmi:.3f} on new rows")
    assert fit_nmi > 0.75 and new_nmi > 0.75
    # the fitted rows, pushed through the fitted UMAP again, mostly land in their own cluster
    assert np.mean(est.predict(X[:300]) == est.labels_[:300]) > 0.9


@pytest.mark.parametrize("method,criterion", [("kmeans", "silhouette"), ("gmm", "bic")])
def test_choose_k_finds_four_blobs(method, criterion):
    X, _ = make_blobs(600, centers=4, cluster_std=0.5, random_state=0)
    best, scores = choose_k(X, ks=range(2, 9), method=method, criterion=criterion)
    assert best == 4
    assert sorted(scores) == list(range(2, 9))
    with pytest.raises(InputError, match="bic"):
        choose_k(X, method="kmeans", criterion="bic")


@pytest.mark.parametrize("params", [{"method": "kmeans"}, {"method": "gmm"}, {"manifold": "pca", "manifold_dim": 2}])
def test_code_clustering_passes_sklearn_estimator_checks(params):
    # These four checks set n_clusters=1, which CodeClustering refuses on purpose (one cluster is not a
    # clustering: an InputError, like cluster(k=1)); what they test is checked with n_clusters=3 below.
    reason = "sets n_clusters=1, which CodeClustering refuses on purpose (one cluster is not a clustering)"
    expected = {c: reason for c in ("check_dont_overwrite_parameters", "check_methods_subset_invariance",
                                    "check_fit2d_1feature", "check_fit2d_predict1d")}
    results = check_estimator(CodeClustering(n_init=2, **params), expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(expected)
    assert sum(r["status"] == "passed" for r in results) >= 35

    # the same properties, with a valid number of clusters
    X, _ = make_blobs(60, centers=3, n_features=4, random_state=0)
    est = CodeClustering(n_clusters=3, **params)
    before = est.get_params()
    est.fit(X)
    assert est.get_params() == before  # fit changes no parameter
    assert np.array_equal(np.concatenate([est.predict(X[:25]), est.predict(X[25:])]), est.predict(X))
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.predict(X[0])
    with pytest.raises(InputError, match="X has 2 features, but CodeClustering is expecting 4"):
        est.predict(X[:, :2])
    assert len(np.unique(CodeClustering(n_clusters=3, **params).fit(X[:, :1]).labels_)) >= 2  # one feature works


def test_code_clustering_in_a_pipeline_after_standard_scaler():
    X, y = make_blobs(300, centers=3, n_features=4, cluster_std=1.0, random_state=1)
    noise = 1000 * np.random.default_rng(0).normal(size=len(X))  # a loud uninformative feature
    X = np.column_stack([X, noise])
    unscaled = CodeClustering(n_clusters=3).fit(X).labels_
    pipe = make_pipeline(StandardScaler(), CodeClustering(n_clusters=3, manifold="pca", manifold_dim=3))
    pipe.fit(X)
    assert skm.adjusted_rand_score(y, unscaled) < 0.1  # the noise dominates raw distances
    assert skm.adjusted_rand_score(y, pipe[-1].labels_) > 0.95
    assert np.array_equal(pipe.predict(X), pipe[-1].labels_)
    assert np.array_equal(pipe.fit_predict(X), pipe[-1].labels_)


# -- the jobs --------------------------------------------------------------------------------------
def test_run_cluster_writes_metrics_and_maps(digits, tmp_path):
    X, y = digits
    images = (X.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)  # as uint8 images, like MNIST
    result = run_cluster(images, y, k=10, method="kmeans", manifold=None, refine=None, out=tmp_path / "run", seed=0)
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == ["clusters.png", "labels.png", "metrics.json"]
    _no_temp_files(out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["k"] == 10 and saved["n_rows"] == len(X) and saved["n_features"] == 64
    assert saved["nmi"] == pytest.approx(result["nmi"]) and saved["nmi"] > 0.6
    assert set(saved) >= {"nmi", "ari", "accuracy", "n_clusters", "seconds", "cluster_sizes"}
    assert sum(saved["cluster_sizes"]) == len(X)
    assert result["labels"].shape == (len(X),) and result["labels"].dtype == np.int64
    assert (out / "clusters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # with an encoder (any fitted object with transform), no labels, a GMM; writing again replaces the JSON
    encoder = PCA(n_components=20, random_state=0).fit(X)
    again = run_cluster(X, encoder=encoder, k=10, method="gmm", manifold="pca", out=out, seed=1)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["encoder"] == "PCA" and saved["n_features"] == 20 and "nmi" not in saved
    assert again["labels"].shape == (len(X),)
    _no_temp_files(out)
    with pytest.raises(InputError, match="X has 1797 rows but y has 10 labels"):
        run_cluster(X, y[:10], k=10)
    with pytest.raises(InputError, match="has no transform method"):
        run_cluster(X, encoder=object(), k=10)


def test_run_map_writes_side_by_side_figure(digits, tmp_path, needs_umap):
    X, y = digits
    encoder = PCA(n_components=16, random_state=0).fit(X)
    result = run_map(X, y, encoder=encoder, method="umap", out=tmp_path, seed=0, max_points=600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.json", "map.png"]
    _no_temp_files(tmp_path)
    saved = json.loads((tmp_path / "map.json").read_text())
    assert saved["method"] == "umap" and saved["n_points"] == 600 and saved["n_rows"] == len(X)
    assert saved["code_dim"] == 16 and saved["input_dim"] == 64
    assert result["raw"].shape == (600, 2) and result["codes"].shape == (600, 2)
    assert result["raw"].dtype == np.float32 and np.isfinite(result["codes"]).all()
    # stratified: every class keeps its share (within rounding), and the draw is fixed by the seed
    share = np.bincount(result["labels"], minlength=10) / 600
    assert np.abs(share - np.bincount(y, minlength=10) / len(y)).max() < 1 / 600 + 1e-9
    assert np.array_equal(result["labels"], y[result["indices"]])
    again = run_map(X, y, method="pca", seed=0, max_points=600)
    assert np.array_equal(again["indices"], result["indices"])
    assert not np.array_equal(run_map(X, y, method="pca", seed=1, max_points=600)["indices"], result["indices"])
    # the codes keep the classes apart on the map: 5-NN on the 2-D codes recovers most labels
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.model_selection import cross_val_score
    knn = cross_val_score(KNeighborsClassifier(5), result["codes"], result["labels"], cv=3).mean()
    assert knn > 0.85


def test_embed_2d_methods(digits):
    X, y = digits
    P = embed_2d(X, "pca")
    assert P.shape == (len(X), 2) and P.dtype == np.float32
    assert np.allclose(np.abs(P), np.abs(PCA(2).fit_transform(X)), atol=1e-3)
    T = embed_2d(X[:300], "tsne", random_state=0)
    assert T.shape == (300, 2) and T.dtype == np.float32 and np.isfinite(T).all()
    one = embed_2d(X[:10, 10:11], "pca")  # one feature: the second axis is 0
    assert one.shape == (10, 2) and np.all(one[:, 1] == 0) and np.ptp(one[:, 0]) > 0
    with pytest.raises(InputError, match="unknown map method 'mds'"):
        embed_2d(X, "mds")
    with pytest.raises(InputError, match="needs at least 4 rows"):
        embed_2d(X[:3], "tsne")


def test_a_mixture_on_collapsed_codes_is_fitted_not_refused():
    """Codes squashed onto a few points far from the origin (a saturated layer's): scikit-learn's float32 mixture
    cannot invert a component's covariance and raises; the fit is tried again as its message advises (float64,
    then more variance on the diagonal, scaled to the rows) and finds the four clumps."""
    from sklearn.mixture import GaussianMixture

    from fewlabel.tasks.cluster import CodeClustering, choose_k

    rng = np.random.default_rng(0)
    clumps = np.repeat(np.arange(4), 50)
    E = (rng.normal(size=(4, 10))[clumps] * 1000 + 1e4).astype(np.float32)
    E[:5] += rng.normal(size=(5, 10)).astype(np.float32) * 1e-3
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(6, covariance_type="full", random_state=0).fit(E)
    model = CodeClustering(6, method="gmm", manifold=None).fit(E)
    # each clump in a cluster of its own, but for the five moved rows, which the two spare components may take
    labels, rest = model.labels_, np.arange(len(E)) >= 5
    assert all(len(np.unique(labels[rest & (clumps == c)])) == 1 for c in range(4)), labels
    assert len({labels[rest & (clumps == c)][0] for c in range(4)}) == 4 and model.model_.reg_covar >= 1e-6
    best, scores = choose_k(E, ks=[3, 4, 5], method="gmm")
    assert best == 4 and set(scores) == {3, 4, 5}
