"""The label propagator: a map of the rows, clusters in it, and each cluster named by its labeled rows.

:class:`ClusterPropagator` is the first stage of the default semi-supervised classifier, and works alone: give
it rows (or an encoder's codes) and labels with ``-1`` for the unlabeled rows; it returns, for every row, a
distribution over the classes and how confident it is, and for every labeled row the distribution its
neighbours alone would give it (leave-one-out), so that the clusters' accuracy is measured on the user's own
labels before anyone trusts them.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator

from fewlabel.checks import is_int, one_of, positive_int
from fewlabel.errors import InputError
from fewlabel.tasks.propagate import check_partial_labels, default_n_clusters

MAPS = ("auto", "umap", "pca")


def umap_installed() -> bool:
    try:
        import umap  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


class ClusterPropagator(BaseEstimator):
    """Propagate a few labels through the clusters of a map of the rows.

    ``fit(Z, y)``: ``Z`` holds one row of numbers per row (flattened; pixels scaled as the caller wants, or an
    encoder's codes), ``y`` the class index of each labeled row and -1 elsewhere. ``fit(..., scale=s)`` reads
    the rows multiplied by ``s``: images may come as uint8, never copied whole as float32.

    1. The map (``map``): 'umap' (to ``map_dims`` dimensions, ``n_neighbors`` neighbours, ``min_dist=0`` so
       that clusters stay compact, as N2D clusters), 'pca' (``pca_dims`` components), or 'auto': UMAP, unless
       umap-learn is missing or there are fewer than ``umap_min_rows`` rows (a UMAP graph of a few dozen rows
       is noise), then PCA. Rows of more than ``umap_pca_dims`` values are drawn by UMAP from their first
       ``umap_pca_dims`` principal components (fitted on ``umap_pca_sample`` rows drawn at random, every row
       then projected a block at a time, so images are never held whole as float32; None: UMAP on the values
       as they are; how it compares with the pixels: README, "The classifier's map from the rows' principal
       components"). A map computed before (it uses no labels) can be passed to ``fit`` as ``embedding``.
    2. A Gaussian mixture of ``n_clusters`` components on the map (None: :func:`default_n_clusters`).
    3. Each component's label distribution: the histogram of its labeled rows plus ``prior`` per class (a
       component with mixed labels says little). A row's distribution is its components' distributions,
       weighted by its posterior.
    4. Leave-one-out: each labeled row's distribution from its component's *other* labeled rows. Its accuracy
       (``loo_accuracy_``) says how far the clusters can be trusted on this data; the distributions
       (``loo_distributions_``) let a caller compare them, row by row, with another source's out-of-fold
       answers on the same labeled rows.

    Fitted: ``embedding_``, ``map_`` (the map used), ``label_distributions_`` (n_rows, n_classes),
    ``confidence_`` (each row's largest probability), ``loo_distributions_`` (n_labeled, n_classes, in the
    order of the labeled rows), ``loo_accuracy_``, ``n_clusters_``, ``labels_`` (argmax per row).
    """

    def __init__(self, map="auto", map_dims=10, n_neighbors=15, pca_dims=50, umap_min_rows=200, n_clusters=None,
                 prior=0.05, umap_pca_dims=100, umap_pca_sample=10_000, random_state=None):
        self.map = map
        self.umap_pca_dims = umap_pca_dims
        self.umap_pca_sample = umap_pca_sample
        self.map_dims = map_dims
        self.n_neighbors = n_neighbors
        self.pca_dims = pca_dims
        self.umap_min_rows = umap_min_rows
        self.n_clusters = n_clusters
        self.prior = prior
        self.random_state = random_state

    def check_params(self) -> None:
        """Raise :class:`~fewlabel.InputError` naming a bad setting."""
        one_of(MAPS)("map", self.map)
        for name in ("map_dims", "n_neighbors", "pca_dims", "umap_pca_sample"):
            positive_int(name, getattr(self, name))
        if self.umap_pca_dims is not None:
            positive_int("umap_pca_dims", self.umap_pca_dims)
        if not is_int(self.umap_min_rows) or self.umap_min_rows < 0:
            raise InputError(f"umap_min_rows must be an integer >= 0, got {self.umap_min_rows!r}")
        if self.n_clusters is not None:
            positive_int("n_clusters", self.n_clusters)
        if isinstance(self.prior, bool) or not isinstance(self.prior, (int, float)) or not 0 < self.prior < np.inf:
            raise InputError(f"prior must be a positive finite number, got {self.prior!r}")

    def resolved_map(self, n_rows: int) -> str:
        """The map ``fit`` will draw for ``n_rows`` rows: 'umap' or 'pca'."""
        if self.map != "auto":
            return self.map
        return "umap" if n_rows >= self.umap_min_rows and umap_installed() else "pca"

    def embed(self, Z, scale: float = 1.0) -> np.ndarray:
        """The map of the rows of ``Z`` times ``scale`` (it uses no labels)."""
        from sklearn.decomposition import PCA

        from fewlabel.tasks.cluster import reduce
        from fewlabel.tasks.manifold import principal_components

        self.check_params()
        Z = Z if isinstance(Z, np.ndarray) else np.asarray(Z)
        Z = Z.reshape(len(Z), -1)
        if Z.dtype.kind not in "biuf" or (Z.dtype.kind == "f" and not np.isfinite(Z).all()):
            raise InputError("the rows hold NaN, infinite or non-numeric values: a map needs numbers in every row")
        seed = self.random_state or 0
        self.map_ = self.resolved_map(len(Z))
        if self.map_ == "umap" and self.umap_pca_dims is not None and Z.shape[1] > int(self.umap_pca_dims) \
                and len(Z) > int(self.umap_pca_dims):
            Z = principal_components(Z, int(self.umap_pca_dims), seed, int(self.umap_pca_sample), scale)
        else:
            Z = Z.astype(np.float32)  # a copy: scaled in place below, the caller's rows untouched
            if scale != 1:
                Z *= np.float32(scale)
        if self.map_ == "pca":
            return PCA(min(int(self.pca_dims), *Z.shape), random_state=seed).fit_transform(Z)
        if len(Z) < 4:
            raise InputError(f"a UMAP map needs at least 4 rows, got {len(Z)}: use map='pca'")
        with warnings.catch_warnings():  # umap-learn says it runs on one thread when seeded: by design here
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            return reduce(Z, method="umap", n_components=min(int(self.map_dims), len(Z) - 2),
                          n_neighbors=min(int(self.n_neighbors), len(Z) - 1), min_dist=0.0, random_state=seed)

    def fit(self, Z, y, n_classes: int | None = None, embedding=None, scale: float = 1.0):
        from sklearn.mixture import GaussianMixture

        self.check_params()
        y = check_partial_labels(y, len(Z))
        n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
        if embedding is None:
            embedding = self.embed(Z, scale)
        else:
            embedding = np.asarray(embedding)
            if embedding.ndim != 2 or len(embedding) != len(y):
                raise InputError(f"embedding must hold one row per row of Z ({len(y)}), got shape {embedding.shape}")
            self.map_ = "given"
        if not np.isfinite(embedding).all():
            raise InputError("the map holds NaN or infinite values: check the rows for NaN")
        self.embedding_ = embedding
        labeled = y >= 0
        k = default_n_clusters(n_classes, int(labeled.sum()), len(y)) if self.n_clusters is None \
            else int(self.n_clusters)
        if k > len(y):
            raise InputError(f"n_clusters={k} is more than the {len(y)} rows")
        post = GaussianMixture(k, random_state=self.random_state or 0, reg_covar=1e-4).fit(embedding) \
            .predict_proba(embedding)
        comp = post[labeled].argmax(axis=1)
        counts = np.zeros((k, n_classes))
        np.add.at(counts, (comp, y[labeled]), 1.0)
        hist = self._normalized(counts)
        self.label_distributions_ = post @ hist
        # Leave-one-out: a labeled row's own component loses that row's count; the other components' histograms
        # do not hold it.
        own = counts[comp].copy()
        own[np.arange(len(comp)), y[labeled]] -= 1
        p_lab = post[labeled]
        weight_own = p_lab[np.arange(len(comp)), comp][:, None]
        loo = p_lab @ hist - weight_own * hist[comp] + weight_own * self._normalized(own)
        self.loo_distributions_ = loo / loo.sum(axis=1, keepdims=True).clip(1e-300)
        self.loo_accuracy_ = float(np.mean(self.loo_distributions_.argmax(axis=1) == y[labeled])) if len(comp) \
            else 0.0
        self.confidence_ = self.label_distributions_.max(axis=1)
        self.labels_ = self.label_distributions_.argmax(axis=1)
        self.n_clusters_ = k
        return self

    def _normalized(self, counts: np.ndarray) -> np.ndarray:
        hist = counts + float(self.prior)
        return hist / hist.sum(axis=1, keepdims=True)
