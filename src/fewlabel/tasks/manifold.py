"""The manifold step before clustering or drawing a map: codes mapped to a few dimensions by UMAP or PCA.

UMAP comes from the optional ``umap-learn`` package (``pip install fewlabel[umap]``), imported only when
asked for; ``default_manifold()`` falls back to PCA without it.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import validate_X
from fewlabel.checks import int_at_least, one_of
from fewlabel.errors import InputError

MANIFOLDS = (None, "pca", "umap")
# Up to this many rows UMAP is given exact nearest neighbours computed by scikit-learn. (Below 4,096 rows
# umap-learn would otherwise compute all pairwise distances through a Python callback, O(n^2) slow calls;
# above, its NNDescent index costs a minute of numba compilation the first time.)
EXACT_KNN_MAX_ROWS = 20_000



def check_codes(Z, name: str = "Z", min_rows: int = 1) -> np.ndarray:
    """Codes as a float32 (n_rows, n_features) array, or an InputError naming what is wrong.

    Rows with more than one axis (images) are flattened; uint8 (pixels) is scaled to [0, 1].
    """
    if isinstance(Z, np.ndarray) or isinstance(Z, (list, tuple)):
        arr = np.asarray(Z) if not isinstance(Z, np.ndarray) else Z
        if arr.dtype.kind == "c":
            raise InputError(f"Complex data not supported: {name} holds complex numbers; codes must be real")
        if arr.ndim == 2 and arr.shape[0] > 0 and arr.shape[1] == 0:
            raise InputError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    Z = validate_X(Z, name=name, min_rows=min_rows)
    if Z.dtype == np.uint8:
        Z = Z.astype(np.float32) / 255.0
    if Z.ndim > 2:
        Z = Z.reshape(len(Z), -1)
    return np.ascontiguousarray(Z, dtype=np.float32)


def umap_available() -> bool:
    try:
        import_umap()
    except InputError:
        return False
    return True


def default_manifold() -> str:
    """``'umap'`` when umap-learn is installed (what clusters and maps codes best), else ``'pca'``."""
    return "umap" if umap_available() else "pca"


def import_umap():
    try:
        import umap
    except ImportError as e:
        raise InputError(f"UMAP needs the optional package umap-learn ({e}); install it with "
                         "`pip install fewlabel[umap]` (or `pip install umap-learn`), or use manifold='pca'") from None
    cache_umap_compilations()
    return umap


#: umap-learn's modules whose numba functions a map, its fit and its transform compile
UMAP_JIT_MODULES = ("umap.umap_", "umap.distances", "umap.layouts", "umap.utils", "umap.sparse")
#: pynndescent's (umap-learn's neighbour search above EXACT_KNN_MAX_ROWS rows): about half of its functions are
#: compiled without numba's cache
PYNNDESCENT_JIT_MODULES = ("pynndescent.pynndescent_", "pynndescent.distances", "pynndescent.utils",
                           "pynndescent.rp_trees", "pynndescent.search", "pynndescent.search_graph",
                           "pynndescent.sparse", "pynndescent.sparse_nndescent", "pynndescent.hub_tree",
                           "pynndescent.kernels", "pynndescent.optimal_transport")
#: Arguments that carry a numba function (a distance, a sort): numba keys such a compilation by the function's
#: address in this process, so on disk it would never be found again and each process would add another copy
FUNCTION_ARGUMENTS = frozenset({"dist", "metric", "sparse_dist", "deheap_sort_function"})
_umap_cached = False


def _takes_a_function(fn) -> bool:
    """Whether a numba function has an argument named in ``FUNCTION_ARGUMENTS`` (True where that cannot be read)."""
    try:
        return bool(FUNCTION_ARGUMENTS & set(inspect.signature(fn.py_func).parameters))
    except (TypeError, ValueError):
        return True


def cache_umap_compilations() -> int:
    """Keep umap-learn's and pynndescent's numba compilations on disk, so that only the first process ever pays
    for them.

    umap-learn compiles its numba functions with ``cache=False``, and pynndescent about half of its own, so
    every new process (each ``fewlabel`` command) spends its first UMAP fit compiling them again (and, above
    ``EXACT_KNN_MAX_ROWS`` rows, its first neighbour search). Numba's own ``enable_caching`` keeps each
    compilation beside the function's source (or in numba's cache folder where that is read-only) and reloads it
    when the source is unchanged. Done once per process, before anything is compiled; a function numba cannot
    cache, or a machine with nowhere to write, just compiles as before. ``NUMBA_DISABLE_JIT`` or
    ``FEWLABEL_NUMBA_CACHE=0`` turn it off. Returns how many functions were switched to the disk cache.
    """
    global _umap_cached
    if _umap_cached:
        return 0
    _umap_cached = True
    if os.environ.get("FEWLABEL_NUMBA_CACHE", "1").strip() == "0":
        return 0
    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    switched = 0
    for name in UMAP_JIT_MODULES + PYNNDESCENT_JIT_MODULES:
        module = sys.modules.get(name)
        for fn in vars(module).values() if module is not None else ():
            if (isinstance(fn, Dispatcher) and fn.__module__ == name and isinstance(fn._cache, NullCache)
                    and not fn.overloads and not _takes_a_function(fn)):
                try:
                    fn.enable_caching()
                except (RuntimeError, OSError, TypeError):
                    continue
                switched += 1
    return switched


def principal_components(X, n_components: int, random_state, sample_rows: int, scale: float = 1.0,
                         chunk_rows: int = 4096) -> np.ndarray:
    """The rows of ``X`` (any numeric dtype, e.g. uint8 images; flattened) times ``scale``, projected on their
    first ``n_components`` principal components: float32 of shape (n_rows, n_components).

    The components are those of scikit-learn's randomized PCA fitted on ``sample_rows`` rows drawn at random
    (all of them if fewer); every row is then projected ``chunk_rows`` at a time, so the rows are never held as
    float32 all at once (4 times uint8 images) and a memory-mapped file is read in passes.
    """
    n = len(X)
    flat = X.reshape(n, -1)
    rng = np.random.default_rng(random_state if isinstance(random_state, (int, np.integer)) else 0)
    pick = np.sort(rng.choice(n, int(sample_rows), replace=False)) if n > sample_rows else np.arange(n)
    sample = np.asarray(flat[pick], dtype=np.float32) * np.float32(scale)
    pca = PCA(min(int(n_components), *sample.shape), svd_solver="randomized", random_state=random_state).fit(sample)
    del sample
    shift = pca.mean_.astype(np.float32) @ pca.components_.astype(np.float32).T
    basis = pca.components_.astype(np.float32).T * np.float32(scale)  # the scale folded in: chunks read as they are
    out = np.empty((n, basis.shape[1]), np.float32)
    for start in range(0, n, chunk_rows):
        out[start:start + chunk_rows] = np.asarray(flat[start:start + chunk_rows], dtype=np.float32) @ basis - shift
    return out


class ExactNeighbors:
    """Exact k-nearest-neighbour search (scikit-learn) with the part of pynndescent's ``NNDescent``
    interface that ``umap.UMAP.transform`` uses, so a UMAP fitted on exact neighbours can embed new rows."""

    _angular_trees = False

    def __init__(self, data: np.ndarray):
        self.nn = NearestNeighbors().fit(data)

    def query(self, X, k, epsilon=None):
        dist, ind = self.nn.kneighbors(np.asarray(X, dtype=np.float32), n_neighbors=k)
        return ind.astype(np.int32), dist.astype(np.float32)


def approximate_neighbors(Z: np.ndarray, n_neighbors: int, random_state, n_jobs: int = -1,
                          low_memory: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n_neighbors`` nearest rows (euclidean) and their distances, found as umap-learn finds them
    above ``EXACT_KNN_MAX_ROWS`` rows: pynndescent's ``NNDescent`` with umap-learn's own settings.

    Only the graph is kept. Left to umap-learn, the search index (its random-projection trees and a copy of the
    rows) stays in memory through the whole layout, to serve a ``transform`` that fewlabel answers from exact
    neighbours anyway.
    """
    from pynndescent import NNDescent

    n = len(Z)
    index = NNDescent(Z, n_neighbors=n_neighbors, metric="euclidean", random_state=random_state,
                      n_trees=min(64, 5 + int(round(n ** 0.5 / 20.0))), n_iters=max(5, int(round(np.log2(n)))),
                      max_candidates=60, low_memory=low_memory, n_jobs=n_jobs, compressed=False)
    ind, dist = index.neighbor_graph
    return np.ascontiguousarray(ind, dtype=np.int32), np.ascontiguousarray(dist, dtype=np.float32)


def spectral_start(Z: np.ndarray, ind: np.ndarray, dist: np.ndarray, n_components: int, random_state,
                   umap_kwargs: dict) -> np.ndarray | None:
    """UMAP's spectral starting layout, its eigenvectors found by :func:`laplacian_eigenvectors` instead of
    ARPACK; None if that fails.

    umap-learn solves for the graph Laplacian's eigenvectors with ARPACK and ``sqrt(n)`` Lanczos vectors of
    ``n`` float64 values each: memory and time that grow as ``n**1.5`` (1.2 GB of vectors at 280,000 rows).
    The graph is the one umap-learn lays out: the fuzzy union of the same neighbours, its weakest edges
    dropped as umap-learn drops them. A graph of several connected parts is laid out part by part as
    umap-learn does it (its ``tswspectral_layout``). Where the eigenvectors are not found to their tolerance
    umap-learn would fall back to a random start; this returns None, and umap-learn's own spectral start is
    used (as with an umap-learn too old to have these functions).
    """
    import scipy.sparse.csgraph
    from sklearn.utils import check_random_state

    try:
        from umap.spectral import tswspectral_layout
        from umap.umap_ import fuzzy_simplicial_set, noisy_scale_coords
    except ImportError:  # an umap-learn older than 0.5.4
        return None

    rs = check_random_state(random_state)
    graph, _, _ = fuzzy_simplicial_set(Z, ind.shape[1], rs, "euclidean", knn_indices=ind, knn_dists=dist,
                                       set_op_mix_ratio=umap_kwargs.get("set_op_mix_ratio", 1.0),
                                       local_connectivity=umap_kwargs.get("local_connectivity", 1.0))
    # umap-learn's start reads the graph its layout will use: edges too weak to be sampled once in the layout's
    # epochs are dropped
    default_epochs = 500 if len(Z) <= 10_000 else 200
    epochs = umap_kwargs.get("n_epochs") or default_epochs
    epochs = max(epochs) if isinstance(epochs, list) else epochs
    graph.data[graph.data < graph.data.max() / float(epochs if epochs > 10 else default_epochs)] = 0.0
    graph.eliminate_zeros()
    if scipy.sparse.csgraph.connected_components(graph, directed=False)[0] > 1:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = tswspectral_layout(Z, graph, n_components, rs, method="lobpcg")
        if any("initialisation failed" in str(w.message) for w in caught):
            return None
    else:
        start = laplacian_eigenvectors(graph, n_components, rs)
        if start is None:
            return None
    return noisy_scale_coords(np.asarray(start), rs)


def laplacian_eigenvectors(graph, n_components: int, random_state, max_iterations: int = 2000) -> np.ndarray | None:
    """The ``n_components`` eigenvectors of a connected graph's normalized Laplacian ``I - D^-1/2 G D^-1/2``
    with the smallest eigenvalues but the first (the one that follows the degrees), as umap-learn's spectral
    layout defines them; None if LOBPCG does not reach its tolerance (umap-learn's ``1e-4``) within
    ``max_iterations`` (a safeguard, over ten times what maps of real images took: README, "The map's memory").

    They are the largest of ``D^-1/2 G D^-1/2``, found by LOBPCG in float32 on that product applied to a
    block of vectors, the Laplacian never built. umap-learn builds it in float64 (several sparse copies of the
    graph) and starts from its truncated SVD: more memory and time for the same vectors (a test holds this one
    to umap-learn's). The start is random, with the first vector the square roots of the degrees, as
    umap-learn's.
    """
    import scipy.sparse.linalg
    from scipy.sparse.linalg import LinearOperator
    from sklearn.utils import check_random_state

    graph = graph.tocsr().astype(np.float32)
    n, k = graph.shape[0], int(n_components) + 1
    sqrt_degree = np.sqrt(np.asarray(graph.sum(axis=0), dtype=np.float64).ravel())
    scale = (1.0 / sqrt_degree).astype(np.float32)[:, None]

    def product(X):
        X = np.asarray(X, dtype=np.float32)
        Y = scale * (graph @ (scale * X.reshape(n, -1)))
        return Y.ravel() if X.ndim == 1 else Y

    operator = LinearOperator((n, n), matvec=product, matmat=product, dtype=np.float32)
    X = check_random_state(random_state).normal(size=(n, k)).astype(np.float32)
    X[:, 0] = sqrt_degree / np.linalg.norm(sqrt_degree)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning, message=r"(?ms).*not reaching the requested tolerance")
        try:
            values, vectors = scipy.sparse.linalg.lobpcg(operator, X, largest=True, tol=1e-4,
                                                           maxiter=min(5 * n, int(max_iterations)))
        except UserWarning:
            return None
    order = np.argsort(-values)[1:k]
    return vectors[:, order]


class UMAPReducer(TransformerMixin, BaseEstimator):
    """``umap.UMAP`` with scikit-learn's exact neighbours for up to ``EXACT_KNN_MAX_ROWS`` rows; above, the
    neighbours as umap-learn finds them without its search index kept (:func:`approximate_neighbors`) and the
    spectral start found by LOBPCG (:func:`spectral_start`), so that the map's memory grows linearly in the rows.

    ``fit_transform`` and ``transform`` (new rows placed into the fitted map, as ``umap.UMAP.transform``
    does). ``random_state`` makes it deterministic (and single-threaded); ``None`` lets UMAP use all cores.
    ``umap_kwargs`` go to ``umap.UMAP``. The fitted ``umap.UMAP`` is ``umap_``.
    """

    def __init__(self, n_components=10, n_neighbors=20, min_dist=0.0, random_state=0, umap_kwargs=None):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.random_state = random_state
        self.umap_kwargs = umap_kwargs

    def fit_transform(self, Z) -> np.ndarray:
        umap = import_umap()
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        n = len(Z)
        n_components = int_at_least("n_components", self.n_components, 1)
        if n < n_components + 2 or n < 3:
            raise InputError(f"UMAP to {n_components} dimensions needs at least {max(n_components + 2, 3)} rows, "
                             f"got {n}; use PCA or fewer dimensions")
        n_neighbors = min(int_at_least("n_neighbors", self.n_neighbors, 2), n - 1)
        kw = {"n_components": n_components, "n_neighbors": n_neighbors, "min_dist": self.min_dist,
              "random_state": self.random_state, **(self.umap_kwargs or {})}
        if self.random_state is not None:
            kw.setdefault("n_jobs", 1)  # what UMAP does anyway with a seed; said here to silence its warning
        metric = kw.get("metric", "euclidean")
        if metric == "euclidean" and "precomputed_knn" not in kw:
            if n <= EXACT_KNN_MAX_ROWS:
                index = ExactNeighbors(Z)
                dist, ind = index.nn.kneighbors(Z, n_neighbors=n_neighbors)  # each row is its own first neighbour
                kw["precomputed_knn"] = (ind.astype(np.int32), dist.astype(np.float32), index)
            else:
                ind, dist = approximate_neighbors(Z, n_neighbors, self.random_state, kw.get("n_jobs", -1),
                                                  kw.get("low_memory", True))
                # no search index: new rows are placed by ExactNeighbors (below) in any case
                kw["precomputed_knn"] = (ind, dist, None)
                if isinstance(kw.get("init", "spectral"), str) and kw.get("init", "spectral") == "spectral":
                    start = spectral_start(Z, ind, dist, n_components, self.random_state, kw)
                    if start is not None:
                        kw["init"] = start
        self.umap_ = umap.UMAP(**kw)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(NNDescent|n_jobs|precomputed_knn).*")
            warnings.filterwarnings("ignore", message=".*[Gg]raph is not fully connected.*")
            embedding = np.asarray(self.umap_.fit_transform(Z), dtype=np.float32)
        if metric == "euclidean":
            # new rows are placed by their exact neighbours among the training rows, whatever the size (a saved
            # map rebuilds this index, so a loaded map places rows exactly where this one does)
            self.umap_._knn_search_index = ExactNeighbors(Z)
        return embedding

    def fit(self, Z, y=None):
        self.fit_transform(Z)
        return self

    def transform(self, Z) -> np.ndarray:
        check_is_fitted(self, "umap_")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            return np.asarray(self.umap_.transform(np.ascontiguousarray(Z, dtype=np.float32)), dtype=np.float32)


def make_reducer(method, n_components=10, n_neighbors=20, random_state=0, min_dist=0.0, n_rows=None,
                 n_features=None, **kw):
    """An unfitted reducer (``fit_transform`` / ``transform``) for ``method`` ``'pca'`` or ``'umap'``.

    PCA keeps at most ``min(n_components, n_features, n_rows)`` components when those are given.
    """
    one_of(("pca", "umap"))("manifold method", method)
    n_components = int_at_least("n_components", n_components, 1)
    if method == "pca":
        limit = min(x for x in (n_components, n_features, n_rows) if x is not None)
        return PCA(n_components=limit, random_state=random_state, **kw)
    return UMAPReducer(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist,
                       random_state=random_state, umap_kwargs=kw or None)


def reduce(Z, method="umap", n_components=10, n_neighbors=20, min_dist=0.0, random_state=0, **kw) -> np.ndarray:
    """The manifold step: ``Z`` mapped to ``n_components`` dimensions by UMAP or PCA (``None``: unchanged).

    UMAP defaults follow N2D (``n_neighbors=20``, ``min_dist=0``: tight clumps suit clustering);
    extra keyword arguments go to ``umap.UMAP`` / ``sklearn.decomposition.PCA``.
    Returns float32 of shape (n_rows, n_components).
    """
    one_of(MANIFOLDS)("manifold", method)
    Z = check_codes(Z)
    if method is None:
        return Z
    reducer = make_reducer(method, n_components, n_neighbors, random_state, min_dist, len(Z), Z.shape[1], **kw)
    return np.asarray(reducer.fit_transform(Z), dtype=np.float32)
