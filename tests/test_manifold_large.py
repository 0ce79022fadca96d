"""The UMAP map above EXACT_KNN_MAX_ROWS rows: the neighbours found without umap-learn's index kept, and the
spectral start found by LOBPCG, checked against umap-learn's own on real digits."""

import numpy as np
import pytest

pytest.importorskip("umap")

from fewlabel.tasks import manifold  # noqa: E402
from fewlabel.tasks.manifold import UMAPReducer, approximate_neighbors, spectral_start  # noqa: E402


@pytest.fixture(scope="module")
def digits(mnist_small):
    X, y, _, _ = mnist_small
    return X.reshape(len(X), -1).astype(np.float32) / 255, y


def test_approximate_neighbors_are_nearly_the_exact_ones(digits):
    from sklearn.neighbors import NearestNeighbors

    Z, _ = digits
    ind, dist = approximate_neighbors(Z, 15, random_state=0, n_jobs=1)
    assert ind.shape == dist.shape == (len(Z), 15) and ind.dtype == np.int32 and dist.dtype == np.float32
    exact = NearestNeighbors(n_neighbors=15).fit(Z).kneighbors(Z, return_distance=False)
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(ind, exact)])
    assert recall > 0.97, recall
    assert np.all(ind[:, 0] == np.arange(len(Z)))  # each row its own first neighbour, as umap-learn expects
    assert np.allclose(dist[:, 1], np.linalg.norm(Z - Z[ind[:, 1]], axis=1), atol=1e-4)


def test_spectral_start_spans_umap_learns_own(digits):
    """LOBPCG finds the same eigenvectors as umap-learn's ARPACK start, up to a rotation within them."""
    from sklearn.utils import check_random_state
    from umap.spectral import spectral_layout
    from umap.umap_ import fuzzy_simplicial_set

    Z, _ = digits
    ind, dist = approximate_neighbors(Z, 15, random_state=0, n_jobs=1)
    start = spectral_start(Z, ind, dist, 5, 0, {})
    assert start is not None and start.shape == (len(Z), 5) and start.dtype == np.float32
    graph, _, _ = fuzzy_simplicial_set(Z, 15, check_random_state(0), "euclidean", knn_indices=ind, knn_dists=dist)
    reference = spectral_layout(Z, graph, 5, check_random_state(0))
    # the share of the reference's variance that a linear map of the new start explains
    A = np.c_[start, np.ones(len(Z))]
    coef, *_ = np.linalg.lstsq(A, reference, rcond=None)
    explained = 1 - np.sum((reference - A @ coef) ** 2) / np.sum((reference - reference.mean(0)) ** 2)
    assert explained > 0.99, explained
    assert np.abs(start).max() == pytest.approx(10, abs=0.01)  # scaled as umap-learn scales its start


def test_map_of_many_rows_takes_the_lean_path_and_separates_digits(digits, monkeypatch):
    from sklearn.neighbors import KNeighborsClassifier

    Z, y = digits
    half = len(Z) // 2

    def held_out_accuracy(E):
        return KNeighborsClassifier(10).fit(E[:half], y[:half]).score(E[half:], y[half:])

    exact = held_out_accuracy(UMAPReducer(n_components=5, n_neighbors=15, random_state=0).fit_transform(Z))
    monkeypatch.setattr(manifold, "EXACT_KNN_MAX_ROWS", 1000)
    calls = []
    lobpcg = manifold.spectral_start
    monkeypatch.setattr(manifold, "spectral_start", lambda *a, **k: calls.append(1) or lobpcg(*a, **k))
    reducer = UMAPReducer(n_components=5, n_neighbors=15, random_state=0)
    E = reducer.fit_transform(Z)
    assert calls and isinstance(reducer.umap_.init, np.ndarray)
    assert reducer.umap_._knn_search_index is not None  # new rows can still be placed
    score = held_out_accuracy(E)
    assert score > 0.85 and score > exact - 0.02, (score, exact)  # as good a map as the exact neighbours' (0.891)
    placed = reducer.transform(Z[:50])
    assert np.median(np.linalg.norm(placed - E[:50], axis=1)) < 0.5 * np.median(np.linalg.norm(E - E.mean(0), axis=1))


def test_a_failed_lobpcg_falls_back_to_umap_learns_start(digits, monkeypatch):
    import scipy.sparse.linalg

    Z, _ = digits
    ind, dist = approximate_neighbors(Z[:1500], 15, random_state=0, n_jobs=1)
    assert spectral_start(Z[:1500], ind, dist, 5, 0, {}) is not None

    def fails(operator, X, **kwargs):
        import warnings

        warnings.warn("Exited at iteration 20 with accuracies not reaching the requested tolerance 1e-4.")
        return np.ones(X.shape[1]), X

    monkeypatch.setattr(scipy.sparse.linalg, "lobpcg", fails)
    assert spectral_start(Z[:1500], ind, dist, 5, 0, {}) is None


def test_the_eigenvectors_are_umap_learns_own_on_the_same_graph(digits):
    """The float32 LOBPCG on the normalized adjacency finds the eigenvectors umap-learn's own LOBPCG finds on
    the float64 Laplacian it builds (``tswspectral_layout``, the reference), each up to its sign."""
    from sklearn.utils import check_random_state
    from umap.spectral import tswspectral_layout
    from umap.umap_ import fuzzy_simplicial_set

    Z, _ = digits
    ind, dist = approximate_neighbors(Z, 15, random_state=0, n_jobs=1)
    graph, _, _ = fuzzy_simplicial_set(Z, 15, check_random_state(0), "euclidean", knn_indices=ind, knn_dists=dist)
    vectors = manifold.laplacian_eigenvectors(graph, 5, 0)
    reference = tswspectral_layout(Z, graph, 5, check_random_state(0), method="lobpcg")
    assert vectors.shape == reference.shape == (len(Z), 5) and vectors.dtype == np.float32
    cosines = np.abs(np.sum(vectors * reference, axis=0)) / (
        np.linalg.norm(vectors, axis=0) * np.linalg.norm(reference, axis=0))
    assert np.all(cosines > 0.99), cosines
