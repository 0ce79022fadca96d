"""Clustering learned codes: an optional manifold step (PCA or UMAP), then k-means or a Gaussian mixture.

This is the "autoencoder, then manifold, then shallow clustering" recipe (N2D, McConville et al. 2020):
the encoder's codes are mapped by UMAP to about 10 dimensions (``n_neighbors`` about 20, ``min_dist`` 0)
and a Gaussian mixture is fitted there::

    labels = cluster(codes, k=10, method="gmm", manifold="umap")

:class:`CodeClustering` is the same as a scikit-learn estimator (``fit``/``predict``, usable in a
``Pipeline``); :func:`choose_k` picks ``k`` when it is unknown; :func:`run_cluster` is the whole job the
command line runs (encode, cluster, score against labels, write ``metrics.json`` and PNG maps);
:func:`default_encoder` is the encoder ``fewlabel cluster`` and ``fewlabel map`` train when given none,
and :func:`self_label` the last step ``fewlabel cluster`` takes on images (a network trained on the clusters
moves the rows the map put in the wrong clump)::

    ae = default_encoder(len(X)).fit(X)
    labels = cluster(ae.transform(X), k=10, method="gmm", manifold=default_manifold())
    labels = self_label(X, labels)["labels"]

The manifold step itself (:func:`reduce`, ``UMAPReducer``, :func:`default_manifold`) is
:mod:`fewlabel.tasks.manifold`; UMAP comes from the optional ``umap-learn`` package (``pip install
fewlabel[umap]``), imported only when asked for.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from fewlabel import metrics
from fewlabel._base import validate_X
from fewlabel.checks import int_at_least, label_array, one_of, uint8_images
from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.errors import InputError
# the manifold step is imported from this module too (by users, classify and the command line)
from fewlabel.tasks.manifold import MANIFOLDS, check_codes, default_manifold, make_reducer, reduce
from fewlabel.tasks.manifold import EXACT_KNN_MAX_ROWS, ExactNeighbors, UMAPReducer, import_umap, umap_available  # noqa: F401
from fewlabel.train.state import write_json_atomic

METHODS = ("kmeans", "gmm")
CRITERIA = ("silhouette", "bic")

#: The encoder ``fewlabel cluster`` and ``fewlabel map`` train when none is given (see :func:`default_encoder`)
#: trains this many epochs, and at least ``DEFAULT_ENCODER_MIN_STEPS`` optimizer steps: on a large data set
#: 20 epochs are thousands of steps, enough for codes that cluster well, but on a small one (scikit-learn's 8x8
#: digits) they are about a hundred, too few: such codes cluster worse than the raw input. The epochs set the
#: length on large data, the minimum of steps on small data.
DEFAULT_ENCODER_EPOCHS = 20
DEFAULT_ENCODER_MIN_STEPS = 600
# Self-labelling (:func:`self_label`): a small conv network learns the clusters from shifted views of the
# images, and its answers become the clusters; twice, because the second round still moves rows that the first
# round's network left in the wrong cluster. Each round costs a whole network training.
SELF_LABEL_ROUNDS = 2
SELF_LABEL_EPOCHS = 5
# ... and each round at least this many optimizer steps: on a few thousand rows five epochs are a few dozen steps,
# too few for the network to learn the clusters, let alone correct them
SELF_LABEL_MIN_STEPS = 300
# ... of this many rows each
SELF_LABEL_BATCH_SIZE = 256
# ``refine='auto'`` self-labels images at least this many rows and pixels a side: a network trained on a few
# hundred rows' clusters learns them by heart (there is nothing for it to correct them with), and three
# pooling stages leave nothing of an 8x8 image
SELF_LABEL_MIN_ROWS = 2_000
SELF_LABEL_MIN_SIDE = 16
REFINE = (None, "auto", "network")

__all__ = ["CodeClustering", "choose_k", "cluster", "default_encoder", "default_manifold", "evaluate_clustering",
           "reduce", "run_cluster", "self_label", "self_label_applies"]


# -- the defaults ----------------------------------------------------------------------------------
def default_epochs(n_rows: int, batch_size: int = 256) -> int:
    """``DEFAULT_ENCODER_EPOCHS``, or more when that is fewer than ``DEFAULT_ENCODER_MIN_STEPS`` steps."""
    steps_per_epoch = math.ceil(int_at_least("n_rows", n_rows, 1) / int_at_least("batch_size", batch_size, 1))
    return max(DEFAULT_ENCODER_EPOCHS, math.ceil(DEFAULT_ENCODER_MIN_STEPS / steps_per_epoch))


def default_encoder(n_rows: int | None = None, **settings):
    """The encoder to train when none is given: :class:`fewlabel.Autoencoder` with its defaults (DEC's and
    N2D's input-500-500-2000-10, ReLU, MSE, Adam), trained :func:`default_epochs` epochs for ``n_rows`` rows
    (``DEFAULT_ENCODER_EPOCHS`` when not given) unless ``settings`` (any of its parameters) say otherwise.
    It is the default because its codes, mapped by UMAP and clustered by a Gaussian mixture, cluster best of
    the CPU pipelines compared by ``benchmarks/cluster_codes.py`` (its figures: the README and
    ``benchmarks/results/``)."""
    from fewlabel.pretrain.autoencoder import Autoencoder  # noqa: PLC0415 (loads torch)

    if settings.get("epochs") is None:
        settings["epochs"] = (DEFAULT_ENCODER_EPOCHS if n_rows is None
                              else default_epochs(n_rows, settings.get("batch_size", 256)))
    return Autoencoder(**settings)


def check_k(k, n_rows: int, name: str = "k") -> int:
    """``k`` as an int when it is a valid number of clusters for ``n_rows`` rows (2 <= k <= n_rows)."""
    if n_rows < 2:
        raise InputError(f"clustering needs at least 2 rows, got n_samples={n_rows}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise InputError(f"{name} must be an integer number of clusters, got {k!r}")
    if k < 2:
        raise InputError(f"{name} must be at least 2 (got {k}): one cluster is not a clustering")
    if k > n_rows:
        raise InputError(f"{name}={k} is larger than the number of rows (n_samples={n_rows}); "
                         f"ask for at most {n_rows} clusters")
    return int(k)


# -- clustering ------------------------------------------------------------------------------------
def _model(method, k, random_state, n_init):
    if n_init is None:
        n_init = 10 if method == "kmeans" else 1
    n_init = int_at_least("n_init", n_init, 1)
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=n_init, random_state=random_state)
    return GaussianMixture(n_components=k, covariance_type="full", n_init=n_init, random_state=random_state)


#: what scikit-learn's GaussianMixture says when a component's covariance cannot be inverted
COLLAPSED = "ill-defined empirical covariance"


def _fit_gaussian_mixture(model: GaussianMixture, E: np.ndarray) -> tuple[GaussianMixture, np.ndarray]:
    """``model`` fitted on ``E`` (and ``E`` as it was fitted on). Where a component collapses onto a few points
    (codes squashed by a saturated layer, many identical rows), its covariance cannot be inverted and scikit-learn
    raises; as its message advises, the fit is tried again on float64 rows, then with ``reg_covar`` (the variance
    added to every component's diagonal) raised to 1e-6 and then 1e-3 times the rows' mean variance (the default
    1e-6 assumes features of unit scale). The mixture kept says which ``reg_covar`` it took."""
    E64 = np.asarray(E, np.float64)
    scale = max(float(E64.var(axis=0).mean()), 1e-12)
    tries = [(E, model.reg_covar), (E64, model.reg_covar), (E64, 1e-6 * scale), (E64, 1e-3 * scale)]
    for i, (rows, reg_covar) in enumerate(tries):
        try:
            return model.set_params(reg_covar=reg_covar).fit(rows), rows
        except ValueError as e:
            if COLLAPSED not in str(e) or i == len(tries) - 1:
                raise InputError(f"the Gaussian mixture could not be fitted: {e}") if COLLAPSED in str(e) else e
    raise AssertionError("unreachable")


class CodeClustering(ClusterMixin, BaseEstimator):
    """Cluster codes: optional manifold step (``None``, ``'pca'``, ``'umap'``), then k-means or a GMM.

    ``fit(Z)`` sets ``labels_`` (int64, 0 .. n_clusters-1; a GMM may leave a component empty, k-means
    never does); ``predict(Z)`` assigns new rows, through the
    fitted reducer when a manifold is used. ``n_init``: restarts (``None``: 10 for k-means, 1 for GMM).
    The map's size and neighbours default to ``fewlabel cluster``'s (:data:`~fewlabel.cluster_defaults.
    CLUSTER_DEFAULTS`); its method and manifold do not: this estimator clusters whatever features it is given
    (a pipeline's scaled columns as well as codes), where a full-covariance mixture without a map overfits and a
    default that depended on an optional package would change its answers from one installation to the next.
    :class:`~fewlabel.tasks.clusterer.ClusterModel` is the command line's route as an estimator.

    ``n_maps`` (UMAP only; PCA and no manifold draw one map): UMAP's layout is random, and on data whose clusters
    touch (Fashion-MNIST) one map's clusters differ from another's by points of NMI. With ``n_maps`` above 1,
    that many maps are drawn (seeds ``random_state``, ``random_state + 1``, ...), each clustered by the method,
    and the clusters are their consensus: k-means (``n_init`` starts, 10 when None) on each row's clusters in
    every map, one-hot: rows that the maps keep together end together. ``n_maps=1`` is the single map.

    Fitted attributes: ``labels_``, ``probability_`` (each row's probability of its cluster; 1 with
    k-means; with several maps, the maps' probabilities of it averaged), ``model_`` (the KMeans /
    GaussianMixture), ``reducer_`` (or None), ``n_features_in_``; ``n_maps_`` (the maps drawn), ``reducers_``
    and ``models_`` (one per map, a reducer None without a manifold; ``reducer_`` and ``model_`` are the first),
    ``consensus_`` (None for one map, else the k-means of the consensus) and ``component_clusters_`` (for each
    map, the consensus cluster each of its clusters mostly went to: how a map's probabilities are read as the
    consensus's).
    """

    def __init__(self, n_clusters=10, method="kmeans", manifold=None, manifold_dim=CLUSTER_DEFAULTS["manifold_dim"],
                 n_neighbors=CLUSTER_DEFAULTS["n_neighbors"], random_state=0, n_init=None, n_maps=1):
        self.n_clusters = n_clusters
        self.method = method
        self.manifold = manifold
        self.manifold_dim = manifold_dim
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.n_init = n_init
        self.n_maps = n_maps

    def _map_seeds(self) -> list:
        """The seed of each map: ``random_state``, ``random_state + 1``, ... (None: unseeded)."""
        n = int_at_least("n_maps", self.n_maps, 1) if self.manifold == "umap" else 1
        return [None if self.random_state is None else int(self.random_state) + i for i in range(n)]

    def _fit_mixture(self, E, k):
        """(model, labels, each row's probability of each cluster) of the method on one map."""
        model = _model(self.method, k, self.random_state, self.n_init)
        with warnings.catch_warnings():
            # k-means on fewer distinct points than k: sklearn warns and still returns a valid answer
            warnings.filterwarnings("ignore", message=".*Number of distinct clusters.*")
            if self.method == "kmeans":
                labels = model.fit(E).labels_
                return model, labels, np.eye(k)[labels]
            model, E = _fit_gaussian_mixture(model, E)
            return model, model.predict(E), model.predict_proba(E)

    def fit(self, Z, y=None):
        """Cluster the rows of ``Z`` (``y`` is ignored; it is here for scikit-learn pipelines)."""
        one_of(METHODS)("method", self.method)
        one_of(MANIFOLDS)("manifold", self.manifold)
        int_at_least("n_maps", self.n_maps, 1)
        Z = check_codes(Z)
        k = check_k(self.n_clusters, len(Z), "n_clusters")
        self.n_features_in_ = Z.shape[1]
        self.reducers_, self.models_, labels, posteriors = [], [], [], []
        for seed in self._map_seeds():
            reducer = None if self.manifold is None else make_reducer(
                self.manifold, self.manifold_dim, self.n_neighbors, seed, n_rows=len(Z), n_features=Z.shape[1])
            E = Z if reducer is None else np.asarray(reducer.fit_transform(Z), dtype=np.float32)
            self.reducers_.append(reducer)
            model, map_labels, posterior = self._fit_mixture(E, k)
            self.models_.append(model)
            labels.append(np.asarray(map_labels, dtype=np.int64))
            posteriors.append(posterior)
        self.n_maps_ = len(self.models_)
        self.reducer_, self.model_ = self.reducers_[0], self.models_[0]
        if self.n_maps_ == 1:
            self.consensus_, self.component_clusters_ = None, None
            self.labels_ = labels[0]
            self.probability_ = np.asarray(posteriors[0].max(axis=1), dtype=np.float64)
            return self
        votes = np.concatenate([np.eye(k, dtype=np.float32)[lab] for lab in labels], axis=1)
        n_init = 10 if self.n_init is None else int_at_least("n_init", self.n_init, 1)
        self.consensus_ = KMeans(n_clusters=k, n_init=n_init, random_state=self.random_state).fit(votes)
        self.labels_ = np.asarray(self.consensus_.labels_, dtype=np.int64)
        # each map's cluster stands for the consensus cluster its rows (weighted by their probability) went to
        final = np.eye(k)[self.labels_]
        self.component_clusters_ = np.stack([(post.T @ final).argmax(axis=1) for post in posteriors])
        p = self._consensus_proba(posteriors)
        self.probability_ = np.asarray(p[np.arange(len(p)), self.labels_], dtype=np.float64)
        return self

    def _consensus_proba(self, posteriors) -> np.ndarray:
        """Each map's probabilities of its clusters, read as the consensus clusters they stand for, averaged."""
        k = int(self.n_clusters)
        out = np.zeros((len(posteriors[0]), k))
        for post, to in zip(posteriors, self.component_clusters_):
            out += post @ np.eye(k)[to]
        return out / len(posteriors)

    def _per_map(self, Z):
        """(labels, probabilities) of ``Z``'s rows in each map."""
        check_is_fitted(self, "model_")
        Z = check_codes(Z)
        if Z.shape[1] != self.n_features_in_:
            raise InputError(f"X has {Z.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        k = int(self.n_clusters)
        out = []
        for reducer, model in zip(self.reducers_, self.models_):
            E = Z if reducer is None else np.asarray(reducer.transform(Z), dtype=np.float32)
            labels = np.asarray(model.predict(E), dtype=np.int64)
            proba = model.predict_proba(E) if hasattr(model, "predict_proba") else np.eye(k)[labels]
            out.append((labels, proba))
        return out

    def predict(self, Z) -> np.ndarray:
        """The cluster (int64) of each row of ``Z``."""
        per_map = self._per_map(Z)
        if self.consensus_ is None:
            return per_map[0][0]
        k = int(self.n_clusters)
        votes = np.concatenate([np.eye(k, dtype=np.float32)[labels] for labels, _ in per_map], axis=1)
        return np.asarray(self.consensus_.predict(votes), dtype=np.int64)

    def predict_proba(self, Z) -> np.ndarray:
        """Each row's probability of each cluster: the mixture's (1 for the nearest k-means centre); with several
        maps, each map's read as the consensus clusters and averaged."""
        per_map = self._per_map(Z)
        if self.consensus_ is None:
            return np.asarray(per_map[0][1], dtype=np.float64)
        return self._consensus_proba([proba for _, proba in per_map])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def cluster(Z, k, method="kmeans", manifold=None, manifold_dim=10, n_neighbors=20, random_state=0,
            n_init=None) -> np.ndarray:
    """Cluster the rows of ``Z`` into ``k`` groups; returns int64 labels 0 .. k-1.

    ``method``: ``'kmeans'`` or ``'gmm'`` (full covariances). ``manifold``: ``None`` (cluster ``Z``
    itself), ``'pca'`` or ``'umap'`` to ``manifold_dim`` dimensions first. The N2D recipe is
    ``method='gmm', manifold='umap'``.
    """
    Z = check_codes(Z)
    check_k(k, len(Z), "k")
    est = CodeClustering(n_clusters=k, method=method, manifold=manifold, manifold_dim=manifold_dim,
                         n_neighbors=n_neighbors, random_state=random_state, n_init=n_init)
    return est.fit(Z).labels_


def choose_k(Z, ks=range(2, 16), method="kmeans", criterion="silhouette", random_state=0, manifold=None,
             manifold_dim=10, n_neighbors=20, sample_size=5000, n_init=None) -> tuple[int, dict]:
    """Pick the number of clusters when it is unknown: cluster for every ``k`` in ``ks`` and score.

    ``criterion``: ``'silhouette'`` (higher is better; scored on at most ``sample_size`` rows) or
    ``'bic'`` (Bayesian information criterion, lower is better; ``method='gmm'`` only). The manifold step,
    if any, runs once. Returns ``(best_k, {k: score})``.
    """
    one_of(METHODS)("method", method)
    one_of(CRITERIA)("criterion", criterion)
    if criterion == "bic" and method != "gmm":
        raise InputError("criterion='bic' needs a likelihood: use method='gmm' (or criterion='silhouette')")
    Z = check_codes(Z)
    try:
        ks = [k for k in ks]
    except TypeError:
        raise InputError(f"ks must be a list of cluster counts, got {ks!r}") from None
    if not ks:
        raise InputError("ks is empty: give at least one number of clusters to try")
    top = len(Z) - 1 if criterion == "silhouette" else len(Z)
    for k in ks:
        check_k(k, len(Z), "every k in ks")
        if k > top:
            raise InputError(f"k={k} in ks is too large: the silhouette needs at most n_rows - 1 = {top} clusters")
    E = reduce(Z, manifold, manifold_dim, n_neighbors, random_state=random_state) if manifold else Z
    scores = {}
    for k in sorted(set(int(k) for k in ks)):
        model = _model(method, k, random_state, n_init)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Number of distinct clusters.*")
            if isinstance(model, GaussianMixture):
                model, rows = _fit_gaussian_mixture(model, E)
                labels = model.predict(rows)
            else:
                labels = model.fit_predict(E)
        if criterion == "bic":
            scores[k] = float(model.bic(E))
        elif len(np.unique(labels)) < 2:
            scores[k] = float("nan")
        else:
            scores[k] = metrics.silhouette(E, labels, sample_size=sample_size, random_state=random_state)
    finite = {k: s for k, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise InputError(f"no k in {sorted(scores)} gave a usable score: the rows may all be identical")
    best = (min if criterion == "bic" else max)(finite, key=finite.get)
    return int(best), scores


def evaluate_clustering(y_true, labels) -> dict:
    """NMI, ARI and cluster accuracy (best one-to-one matching) of ``labels`` against ``y_true``."""
    a, b = metrics.check_labels(y_true, labels, ("y_true", "labels"))
    return {"nmi": metrics.nmi(a, b), "ari": metrics.ari(a, b), "accuracy": metrics.cluster_accuracy(a, b),
            "n_clusters": int(len(np.unique(b)))}


# -- self-labelling ------------------------------------------------------------------------------------
def self_label_applies(X) -> bool:
    """Whether ``refine='auto'`` self-labels ``X``: uint8 images ((N, H, W), (N, C, H, W) or (N, H, W, C),
    1 or 3 channels) of at least :data:`SELF_LABEL_MIN_SIDE` pixels a side, and at least
    :data:`SELF_LABEL_MIN_ROWS` rows."""
    if len(X) < SELF_LABEL_MIN_ROWS:
        return False
    try:
        first = as_images(X[:1])
    except InputError:
        return False
    return min(first.shape[2:]) >= SELF_LABEL_MIN_SIDE


def as_images(images) -> np.ndarray:
    """``images`` as uint8 (N, C, H, W), or an InputError that says self-labelling needs images and what is
    wrong with these."""
    try:
        return uint8_images(images)
    except InputError as e:
        raise InputError(f"self-labelling trains a conv network on images: {e}") from None


def self_label(images, labels, rounds: int = SELF_LABEL_ROUNDS, epochs: int = SELF_LABEL_EPOCHS,
               min_steps: int = SELF_LABEL_MIN_STEPS, batch_size: int = SELF_LABEL_BATCH_SIZE, random_state=0,
               device="auto", progress: bool = False) -> dict:
    """Refine a clustering of images with a network trained on it (self-labelling).

    Each round trains a small conv network (:class:`fewlabel.tasks.propagate.SmallConvNet`, three conv
    stages, on randomly shifted views) for ``epochs`` passes (at least ``min_steps`` optimizer steps of
    ``batch_size`` rows) to predict every row's cluster, and its answers are the next round's clusters. The
    clusters of a map of the codes are right in whole clumps or wrong in whole clumps; a network that must give
    every shifted view of an image the same answer, and that sees the clumps' neighbours, moves the misplaced rows
    to where their look belongs. It helps most where the clusters are mostly right (MNIST digits) and little where
    the mixture put whole classes together (Fashion-MNIST): moving single rows does not split a cluster. Its
    figures: ``benchmarks/cluster_codes.py`` and the README.

    ``images``: uint8, (N, H, W), (N, C, H, W) or (N, H, W, C). ``labels``: one cluster per row (any
    integers; they keep their values). Returns ``{"labels", "proba" (N x clusters, the last network's),
    "rounds": [{"changed": share of rows that moved, "cpu_seconds"}, ...], "network" (the last round's,
    which places new images in the clusters), "names" (the cluster each of its outputs stands for)}``.
    """
    from fewlabel.tasks.propagate import PseudoLabels, predict_proba_network, self_train_network  # noqa: PLC0415

    imgs = as_images(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(imgs):
        raise InputError(f"labels must hold one cluster per image: {len(imgs)} images, labels of shape {labels.shape}")
    rounds = int_at_least("rounds", rounds, 1)
    epochs = int_at_least("epochs", epochs, 1)
    min_steps = int_at_least("min_steps", min_steps, 1)
    batch_size = int_at_least("batch_size", batch_size, 1)
    names, current = np.unique(labels, return_inverse=True)
    if len(names) < 2:
        raise InputError(f"labels hold a single cluster ({names[0]!r}); self-labelling needs at least two")
    nothing = PseudoLabels(np.zeros(len(imgs), np.int64), np.zeros(len(imgs)))
    seed = 0 if random_state is None else int(random_state)
    history = []
    proba = net = None
    for r in range(rounds):
        c0 = time.process_time()
        net = self_train_network(imgs, current, nothing, threshold=1.0, epochs=epochs, min_steps=min_steps,
                                 batch_size=batch_size, seed=seed + r, device=device, progress=progress)
        proba = predict_proba_network(net, imgs)
        moved = proba.argmax(axis=1)
        history.append({"changed": float(np.mean(moved != current)), "cpu_seconds": round(time.process_time() - c0, 1)})
        current = moved
    return {"labels": names[current], "proba": proba, "rounds": history, "network": net.eval(), "names": names}


# -- the job ---------------------------------------------------------------------------------------
def encode(X, encoder=None, name: str = "X") -> np.ndarray:
    """The codes of ``X`` as float32 rows, or (no encoder) ``X`` flattened with uint8 scaled to [0, 1].

    ``encoder``: a fitted fewlabel pretrainer or the path of a saved one (its ``export_encoder()``, the codes
    its ``transform`` gives), or any other fitted object with ``transform`` (a scikit-learn PCA, a classifier).
    """
    if encoder is None:
        return check_codes(X, name)
    from fewlabel.tasks.encoders import encoder_codes, resolve_model  # noqa: PLC0415 (loads torch)

    model = resolve_model(encoder, "encoder")
    if callable(getattr(model, "export_encoder", None)):
        return check_codes(encoder_codes(model.export_encoder(), X, name), f"{type(model).__name__} codes of {name}")
    if not hasattr(model, "transform"):
        raise InputError(f"encoder {type(model).__name__} has no transform method; pass a fitted encoder "
                         "(e.g. fewlabel.Autoencoder), the path of a saved one, or None to use the raw input")
    Z = model.transform(X)
    return check_codes(Z, f"{type(model).__name__}.transform({name})")


def check_y(y, n_rows: int):
    """``y`` as a 1-D array with one label per row (``None`` passes through)."""
    if y is None:
        return None
    y = label_array(y, "y")
    if len(y) != n_rows:
        raise InputError(f"X has {n_rows} rows but y has {len(y)} labels; they must match")
    return y


def subsample(n_rows: int, max_points: int | None, y=None, seed: int = 0) -> np.ndarray:
    """Sorted row indices: all rows, or ``max_points`` of them drawn by ``seed``, stratified by ``y`` if given
    (each class keeps its share, rounded by largest remainder)."""
    if max_points is not None:
        max_points = int_at_least("max_points", max_points, 1)
    if max_points is None or n_rows <= max_points:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    if y is None:
        return np.sort(rng.choice(n_rows, max_points, replace=False))
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts * max_points / n_rows
    take = np.floor(share).astype(int)
    rest = max_points - take.sum()
    take[np.argsort(-(share - take), kind="stable")[:rest]] += 1
    picked = [rng.choice(np.flatnonzero(inv == c), t, replace=False) for c, t in enumerate(take) if t > 0]
    return np.sort(np.concatenate(picked))


def run_cluster(X, y=None, *, encoder=None, k=10, method=CLUSTER_DEFAULTS["method"],
                manifold=CLUSTER_DEFAULTS["manifold"], manifold_dim=CLUSTER_DEFAULTS["manifold_dim"],
                n_neighbors=CLUSTER_DEFAULTS["n_neighbors"], n_init=CLUSTER_DEFAULTS["n_init"],
                n_maps=CLUSTER_DEFAULTS["n_maps"], standardize=CLUSTER_DEFAULTS["standardize"], out=None, seed=0,
                max_plot_points=10_000, refine=CLUSTER_DEFAULTS["refine"], refine_params=None, device="auto",
                progress=False, fitted=None) -> dict:
    """The ``fewlabel cluster`` job: fit a :class:`~fewlabel.tasks.clusterer.ClusterModel` on ``X`` (encoded by
    ``encoder``, or flattened), score, report.

    Its defaults are ``fewlabel cluster``'s (:data:`~fewlabel.cluster_defaults.CLUSTER_DEFAULTS`); ``manifold``
    ``'auto'`` is :func:`default_manifold`; ``standardize`` as :class:`~fewlabel.tasks.clusterer.ClusterModel`
    takes it (the result's ``standardized`` says whether the columns were scaled). ``refine``: ``None``,
    ``'network'`` (then :func:`self_label` the clusters on the images ``X``) or ``'auto'``
    (``'network'`` where :func:`self_label_applies` to ``X``, else nothing); the result then also holds the
    clusters' scores before it (``before_refine``) and ``refine`` (what each round changed, its CPU seconds);
    ``refine_params`` as :class:`~fewlabel.tasks.clusterer.ClusterModel` takes it. ``fitted``: a ClusterModel
    already fitted on ``X`` with these settings, reported instead of fitting another.

    With ``y``, NMI / ARI / cluster accuracy against it. With ``out`` (a folder): ``metrics.json`` (written
    atomically) and ``clusters.png`` (the codes in 2-D PCA, coloured by cluster), plus ``labels.png``
    (coloured by label) when ``y`` is given; at most ``max_plot_points`` points are drawn.
    Returns ``{"k", "method", "manifold", "n_rows", "n_features", "seconds", metrics..., "labels", "model"}``
    (``model``: the fitted ClusterModel, which ``fewlabel.save`` saves and whose ``predict`` places new rows).
    """
    from fewlabel.tasks.clusterer import ClusterModel  # noqa: PLC0415 (loads torch)

    one_of(METHODS)("method", method)
    if manifold == "auto":
        manifold = default_manifold()
    one_of(MANIFOLDS)("manifold", manifold)
    one_of(REFINE)("refine", refine)
    X = validate_X(X)
    y = check_y(y, len(X))
    if refine == "network" and len(X):  # named before any clustering
        as_images(X[:1])
    t0 = time.perf_counter()
    model = fitted if fitted is not None else ClusterModel(
        n_clusters=k, encoder=encoder, method=method, manifold=manifold, manifold_dim=manifold_dim,
        n_neighbors=n_neighbors, n_init=n_init, n_maps=n_maps, refine=refine, refine_params=refine_params,
        standardize=standardize, random_state=seed, device=device, verbose=progress)
    check_k(k, len(X), "k")
    labels = (model if fitted is not None else model.fit(X)).labels_
    Z = model.transform(X)  # the codes, of the rows scaled as the clusterer scaled them
    seconds = time.perf_counter() - t0
    refined = model.network_ is not None
    result = {"k": int(k), "method": method, "manifold": manifold, "n_init": int(n_init),
              "n_maps": int(model.clustering_.n_maps_),
              "standardized": model.standardize_ is not None,
              "seed": None if seed is None else int(seed),
              "n_rows": int(len(Z)), "n_features": int(Z.shape[1]),
              "encoder": type(encoder).__name__ if encoder is not None else None, "seconds": round(seconds, 3),
              "refine": {"method": "network", "rounds": model.refine_rounds_} if refined else None,
              "cluster_sizes": np.bincount(labels, minlength=k).tolist(), "phase_cpu_seconds": model.times_}
    if y is not None:
        result.update(evaluate_clustering(y, labels))
        if refined:
            result["before_refine"] = evaluate_clustering(y, model.labels_before_refine_)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = _draw_cluster_maps(Z, labels, y, out, seed, max_plot_points, method, k)
        result["files"] = [*files, "metrics.json"]
        write_json_atomic(out / "metrics.json", result)
    result["labels"] = labels
    result["model"] = model
    return result


def _draw_cluster_maps(Z, labels, y, out: Path, seed, max_points, method, k) -> list[str]:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from fewlabel import plots  # noqa: PLC0415

    idx = subsample(len(Z), max_points, labels, seed)
    Zs = Z[idx]
    P = PCA(n_components=min(2, Zs.shape[1], len(Zs)), random_state=seed).fit_transform(Zs)
    if P.shape[1] < 2:
        P = np.column_stack([P, np.zeros((len(P), 2 - P.shape[1]))])
    name = {"kmeans": "k-means", "gmm": "GMM"}[method]
    files = []
    fig = plots.latent_scatter(P, labels[idx], path=out / "clusters.png",
                               title=f"{name} clusters (k={k}) on the codes, 2-D PCA ({len(idx)} points)")
    plt.close(fig)
    files.append("clusters.png")
    if y is not None:
        fig = plots.latent_scatter(P, np.asarray(y)[idx], path=out / "labels.png",
                                   title=f"true labels on the codes, 2-D PCA ({len(idx)} points)")
        plt.close(fig)
        files.append("labels.png")
    return files
