"""``fewlabel cluster``'s whole pipeline as one model that places new rows in the clusters it found.

:class:`ClusterModel` holds every fitted part: the encoder (an autoencoder trained on the rows, a given one,
or none for the raw input), the map (UMAP, kept so that umap-learn's ``transform`` places new rows in it, or
PCA), the mixture (a Gaussian mixture or k-means) and, for images, the self-labelling network whose answers
are the clusters. ``predict`` gives new rows the clusters the fit found: through the network where there is
one (its answers on the training rows *are* the fitted clusters), else through the encoder, the map's
``transform`` and the mixture. Saved with ``fewlabel.save`` as one folder: the networks' and the mixture's
numbers as tensors, the map as its training codes and their embedding (nothing pickled).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import (check_standardize, column_scaling, data_record, scaled_columns, scales_columns,
                            scaling_from_tensors, scaling_tensors, validate_X)
from fewlabel.checks import int_at_least
from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.registry import REGISTRY, register

REFINE = (None, "auto", "network")
# what refine_params may set (self_label's parameters)
REFINE_SETTINGS = ("rounds", "epochs", "min_steps", "batch_size")


# -- the map and the mixture as arrays ---------------------------------------------------------------------
def _reducer_state(reducer) -> tuple[dict | None, dict]:
    """(config, arrays) of a fitted reducer: None, PCA or UMAPReducer."""
    if reducer is None:
        return None, {}
    if isinstance(reducer, PCA):
        return ({"type": "pca", "n_components": int(reducer.n_components_)},
                {"components": reducer.components_, "mean": reducer.mean_,
                 "explained_variance": reducer.explained_variance_})
    u = reducer.umap_
    config = {"type": "umap", "n_components": int(u.n_components), "n_neighbors": int(u.n_neighbors),
              "min_dist": float(u.min_dist), "random_state": reducer.random_state, "a": float(u._a),
              "b": float(u._b), "initial_alpha": float(u._initial_alpha), "n_neighbors_used": int(u._n_neighbors),
              "metric": u.metric, "output_metric": u.output_metric}
    if u.metric != "euclidean" or u.output_metric != "euclidean" or u.densmap:
        raise InputError("fewlabel saves UMAP maps with the euclidean metric only (the default)")
    return config, {"raw_data": np.asarray(u._raw_data, np.float32), "embedding": np.asarray(u.embedding_, np.float32)}


def _reducer_from_state(config, arrays):
    from fewlabel.tasks.manifold import ExactNeighbors, UMAPReducer, import_umap

    if config is None:
        return None
    if config["type"] == "pca":
        pca = PCA(n_components=int(config["n_components"]))
        pca.components_ = arrays["components"].astype(np.float64)
        pca.mean_ = arrays["mean"].astype(np.float64)
        pca.explained_variance_ = arrays["explained_variance"].astype(np.float64)
        pca.n_components_ = int(config["n_components"])
        pca.n_features_in_ = pca.components_.shape[1]
        pca.whiten = False
        return pca
    umap = import_umap()
    raw = np.ascontiguousarray(arrays["raw_data"], np.float32)
    reducer = UMAPReducer(n_components=config["n_components"], n_neighbors=config["n_neighbors"],
                          min_dist=config["min_dist"], random_state=config["random_state"])
    u = umap.UMAP(n_components=config["n_components"], n_neighbors=config["n_neighbors"], min_dist=config["min_dist"],
                  random_state=config["random_state"], n_jobs=1)
    # What umap-learn's transform reads of a fitted map (umap-learn 0.5; a test checks that the rebuilt map
    # places rows exactly where the fitted one does): the training rows and their embedding, the curve
    # parameters a and b, the learning rate, the neighbours, and a search index over the training rows.
    u._raw_data, u.embedding_ = raw, np.ascontiguousarray(arrays["embedding"], np.float32)
    u._a, u._b, u._initial_alpha = config["a"], config["b"], config["initial_alpha"]
    u._n_neighbors = int(config["n_neighbors_used"])
    u._disconnection_distance = np.inf
    u._input_hash, u._small_data, u._sparse_data, u.densmap = None, False, False, False
    u._metric_kwds, u._output_metric_kwds, u.tqdm_kwds = {}, {}, {"disable": True}
    u._knn_search_index = ExactNeighbors(raw)
    u._n_features_out = int(config["n_components"])
    reducer.umap_ = u
    return reducer


def _mixture_state(model) -> tuple[dict, dict]:
    if isinstance(model, GaussianMixture):
        return ({"type": "gmm", "covariance_type": model.covariance_type},
                {"weights": model.weights_, "means": model.means_, "covariances": model.covariances_,
                 "precisions_cholesky": model.precisions_cholesky_})
    return {"type": "kmeans"}, {"centers": model.cluster_centers_}


class _Centres:
    """k-means' fitted centres: each row goes to the nearest."""

    def __init__(self, centres):
        self.cluster_centers_ = np.asarray(centres, np.float64)

    def predict(self, E):
        d = ((np.asarray(E, np.float64)[:, None, :] - self.cluster_centers_[None]) ** 2).sum(axis=2)
        return d.argmin(axis=1)


def _mixture_from_state(config, arrays):
    if config["type"] == "kmeans":
        return _Centres(arrays["centers"])
    g = GaussianMixture(n_components=len(arrays["weights"]), covariance_type=config["covariance_type"])
    g.weights_, g.means_ = arrays["weights"].astype(np.float64), arrays["means"].astype(np.float64)
    g.covariances_ = arrays["covariances"].astype(np.float64)
    g.precisions_cholesky_ = arrays["precisions_cholesky"].astype(np.float64)
    g.n_features_in_ = g.means_.shape[1]
    g.converged_, g.n_iter_, g.lower_bound_ = True, 0, 0.0
    return g


def _code_width(reducer, model) -> int:
    """How many values a code has, read off a loaded map (or, without one, the mixture it feeds)."""
    if reducer is None:
        centres = model.means_ if isinstance(model, GaussianMixture) else model.cluster_centers_
        return int(centres.shape[1])
    if isinstance(reducer, PCA):
        return int(reducer.components_.shape[1])
    return int(reducer.umap_._raw_data.shape[1])


def _network_config(net) -> dict:
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    return {"in_channels": int(convs[0].in_channels), "n_classes": int(net.head.out_features),
            "channels": [int(c.out_channels) for c in convs], "dropout": float(net.dropout.p)}


@register
class ClusterModel(ClusterMixin, BaseEstimator):
    """Clusters of rows, and the means to place new rows in them (see the module docstring).

    Parameters and their defaults (:data:`~fewlabel.cluster_defaults.CLUSTER_DEFAULTS`) are ``fewlabel cluster``'s:
    ``n_clusters``; ``encoder`` ('auto': the default autoencoder trained
    on the rows, :func:`fewlabel.tasks.cluster.default_encoder`; None: the raw input; or a fitted pretrainer /
    the path of a saved one); ``method`` ('gmm' or 'kmeans'); ``manifold`` ('auto': UMAP when umap-learn is
    installed, else PCA; 'umap', 'pca' or None) to ``manifold_dim`` dimensions with ``n_neighbors``; ``n_init``
    (the mixture's starts: the one with the highest likelihood, or k-means' lowest inertia, is kept); ``n_maps``
    (UMAP maps drawn, each clustered, the clusters their consensus:
    :class:`~fewlabel.tasks.cluster.CodeClustering`; PCA draws one);
    ``standardize`` ('auto': the columns of a table of floats are centred and scaled by their mean and spread
    before anything else, unless a given encoder has its own scale; True; False);
    ``refine`` ('auto': self-label images of at least 2,000 rows and 16 pixels a side; 'network': always; None);
    ``refine_params`` (None, or a dict of :func:`~fewlabel.tasks.cluster.self_label` settings: ``rounds`` (2),
    ``epochs`` (5), ``min_steps`` (300) and ``batch_size`` (256) of each round's network); ``random_state``;
    ``device``; ``verbose``.

    Fitted: ``labels_`` (each training row's cluster), ``probability_`` (each training row's probability of
    its cluster: the self-labelling network's, else the mixture's; 1 with k-means), ``labels_before_refine_``,
    ``encoder_`` (or None), ``clustering_`` (a fitted :class:`~fewlabel.tasks.cluster.CodeClustering`:
    ``reducer_`` and ``model_``), ``network_`` (the self-labelling network, or None), ``cluster_names_`` (the
    cluster each network output stands for), ``refine_rounds_``, ``times_`` (seconds of each phase),
    ``standardize_`` (each column's mean and spread, or None), ``training_data_``.
    """

    def __init__(self, n_clusters=10, encoder="auto", method=CLUSTER_DEFAULTS["method"],
                 manifold=CLUSTER_DEFAULTS["manifold"], manifold_dim=CLUSTER_DEFAULTS["manifold_dim"],
                 n_neighbors=CLUSTER_DEFAULTS["n_neighbors"], n_init=CLUSTER_DEFAULTS["n_init"],
                 n_maps=CLUSTER_DEFAULTS["n_maps"], refine=CLUSTER_DEFAULTS["refine"], refine_params=None,
                 standardize=CLUSTER_DEFAULTS["standardize"], random_state=0, device="auto", verbose=False):
        self.n_clusters = n_clusters
        self.encoder = encoder
        self.method = method
        self.manifold = manifold
        self.manifold_dim = manifold_dim
        self.n_neighbors = n_neighbors
        self.n_init = n_init
        self.n_maps = n_maps
        self.refine = refine
        self.refine_params = refine_params
        self.standardize = standardize
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self):
        from fewlabel.tasks.cluster import METHODS
        from fewlabel.tasks.manifold import MANIFOLDS, default_manifold

        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}: choose one of {METHODS}")
        manifold = default_manifold() if self.manifold == "auto" else self.manifold
        if manifold not in MANIFOLDS:
            raise InputError(f"unknown manifold {self.manifold!r}: choose one of ('auto', *{MANIFOLDS})")
        if self.refine not in REFINE:
            raise InputError(f"unknown refine {self.refine!r}: choose one of {REFINE}")
        int_at_least("n_init", self.n_init, 1)
        int_at_least("n_maps", self.n_maps, 1)
        check_standardize(self.standardize)
        self._refine_settings()
        return manifold

    def _refine_settings(self) -> dict:
        """``refine_params`` checked: the self-labelling settings it names, each a whole number >= 1."""
        params = {} if self.refine_params is None else self.refine_params
        if not isinstance(params, dict):
            raise InputError(f"refine_params must be None or a dict, got {type(params).__name__}")
        unknown = sorted(set(params) - set(REFINE_SETTINGS))
        if unknown:
            raise InputError(f"refine_params has {unknown}: its settings are {list(REFINE_SETTINGS)}")
        return {name: int_at_least(f"refine_params[{name!r}]", value, 1) for name, value in params.items()}

    def fit(self, X, y=None):
        """Encode, map, cluster and (for images) self-label the rows of ``X`` (``y`` is ignored)."""
        from fewlabel.tasks.cluster import (CodeClustering, as_images, check_k, default_encoder, encode,
                                            self_label, self_label_applies)
        from fewlabel.tasks.encoders import resolve_model

        manifold = self._check_params()
        X = validate_X(X, estimator=type(self).__name__)
        check_k(self.n_clusters, len(X), "n_clusters")
        refine = self.refine
        if refine == "auto":
            refine = "network" if self_label_applies(X) else None
        elif refine == "network":
            as_images(X[:1])  # named before any training
        times = {}
        t0 = time.process_time()
        given = not (self.encoder is None or (isinstance(self.encoder, str) and self.encoder == "auto"))
        self.standardize_ = column_scaling(X) if scales_columns(self.standardize, X, own_scale=given) else None
        X_given, X = X, scaled_columns(X, self.standardize_)
        if isinstance(self.encoder, str) and self.encoder == "auto":
            encoder = default_encoder(len(X), random_state=self.random_state, device=self.device,
                                      verbose=self.verbose, standardize=False).fit(X)  # X is scaled as asked
            times["encoder"] = time.process_time() - t0
        else:
            encoder = None if self.encoder is None else resolve_model(self.encoder, "encoder")
            if isinstance(encoder, ClusterModel):  # a saved clusterer lends its encoder, not itself
                encoder = encoder.lend_encoder()
        Z = encode(X, encoder)
        t1 = time.process_time()
        clustering = CodeClustering(n_clusters=self.n_clusters, method=self.method, manifold=manifold,
                                    manifold_dim=self.manifold_dim, n_neighbors=self.n_neighbors,
                                    random_state=self.random_state, n_init=self.n_init, n_maps=self.n_maps).fit(Z)
        times["map and mixture"] = time.process_time() - t1
        self.labels_before_refine_ = clustering.labels_
        self.labels_, self.network_, self.refine_rounds_ = clustering.labels_, None, None
        self.probability_ = clustering.probability_
        self.cluster_names_ = np.arange(int(self.n_clusters), dtype=np.int64)
        if refine == "network":
            t2 = time.process_time()
            refined = self_label(X, clustering.labels_, **self._refine_settings(), random_state=self.random_state,
                                 device=self.device, progress=self.verbose)
            self.labels_, self.network_ = np.asarray(refined["labels"], np.int64), refined["network"]
            self.probability_ = np.asarray(refined["proba"], np.float64).max(axis=1)
            self.cluster_names_ = np.asarray(refined["names"], np.int64)
            self.refine_rounds_ = refined["rounds"]
            times["self-labelling"] = time.process_time() - t2
        self.encoder_, self.clustering_ = encoder, clustering
        self.times_ = {k: round(v, 2) for k, v in times.items()}
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.training_data_ = data_record(X_given, scaling=self.standardize_)
        return self

    def _rows(self, X) -> np.ndarray:
        """New rows checked against the training rows' shape, and scaled as they were."""
        check_is_fitted(self, "clustering_")
        X = validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)
        return scaled_columns(X, getattr(self, "standardize_", None))

    def lend_encoder(self):
        """The encoder, for another clusterer or task (``fewlabel cluster --encoder OUT/model``). When this
        clusterer centred and scaled a table's columns for its autoencoder, the autoencoder lent is a copy that
        scales them itself (its ``standardize_`` is the clusterer's), so whoever borrows it gives it the columns
        in their own units. Another encoder that reads scaled columns cannot carry the scaling: refused."""
        import copy

        from fewlabel.pretrain.autoencoder import AutoencoderBase

        check_is_fitted(self, "clustering_")
        scaling = getattr(self, "standardize_", None)
        if scaling is None or self.encoder_ is None:
            return self.encoder_
        if isinstance(self.encoder_, AutoencoderBase) and getattr(self.encoder_, "standardize_", None) is None:
            lent = copy.deepcopy(self.encoder_)
            lent.standardize_ = scaling
            if isinstance(lent.training_data_, dict):
                lent.training_data_ = {**lent.training_data_, "scaled_columns": True}
            return lent
        raise InputError("this clusterer's encoder reads the table's columns centred and scaled by the clusterer: "
                         "alone it would read them in their own units; cluster the table with its own encoder "
                         "(encoder='auto', fewlabel cluster --encoder auto)")

    # -- using -------------------------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Each row's probability of each cluster (columns: clusters 0 .. n_clusters-1); k-means without a
        network gives 1 for the nearest centre."""
        from fewlabel.tasks.cluster import as_images, encode
        from fewlabel.tasks.propagate import predict_proba_network

        X = self._rows(X)
        k = int(self.n_clusters)
        out = np.zeros((len(X), k))
        if self.network_ is not None:
            out[:, self.cluster_names_] = predict_proba_network(self.network_, as_images(X))
            return out
        return self.clustering_.predict_proba(encode(X, self.encoder_))

    def predict(self, X) -> np.ndarray:
        """The cluster of each row."""
        from fewlabel.tasks.cluster import encode

        if self.network_ is not None:
            return self.predict_proba(X).argmax(axis=1).astype(np.int64)
        return self.clustering_.predict(encode(self._rows(X), self.encoder_))

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def transform(self, X) -> np.ndarray:
        """The encoder's codes of ``X`` (the raw rows, flattened, when it clusters the raw input)."""
        from fewlabel.tasks.cluster import encode

        return encode(self._rows(X), self.encoder_)

    def export_encoder(self, pooling: str = "auto"):
        """The encoder's :class:`~fewlabel.nets.encoder.EncoderSpec`, so that a saved clusterer serves as the
        encoder of other tasks (``fewlabel cluster --encoder OUT/model``)."""
        encoder = self.lend_encoder()
        if encoder is None or not callable(getattr(encoder, "export_encoder", None)):
            raise InputError("this ClusterModel clusters the raw input: it has no encoder to give")
        return encoder.export_encoder(pooling)

    # -- saving --------------------------------------------------------------------------------------------
    def get_state(self):
        check_is_fitted(self, "clustering_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "encoder"}
        params["encoder"] = self.encoder if (self.encoder is None or isinstance(self.encoder, str)) else "given"
        tensors = {}
        encoder = None
        if self.encoder_ is not None:
            if not hasattr(self.encoder_, "get_state"):
                raise InputError(f"a ClusterModel with a {type(self.encoder_).__name__} encoder cannot be saved: give a "
                                 "fewlabel pretrainer as its encoder")
            e_config, e_tensors = self.encoder_.get_state()
            encoder = {"type": type(self.encoder_).__name__, "config": e_config}
            tensors.update({f"encoder.{k}": v for k, v in e_tensors.items()})
        c = self.clustering_
        consensus = None
        if c.consensus_ is None:
            reducer, r_arrays = _reducer_state(c.reducer_)
            mixture, m_arrays = _mixture_state(c.model_)
        else:  # several maps: each map and its mixture under its number, and the consensus
            reducer, mixture, r_arrays, m_arrays = [], [], {}, {}
            for i, (r, m) in enumerate(zip(c.reducers_, c.models_)):
                config_i, arrays = _reducer_state(r)
                reducer.append(config_i)
                r_arrays.update({f"{i}.{k}": v for k, v in arrays.items()})
                config_i, arrays = _mixture_state(m)
                mixture.append(config_i)
                m_arrays.update({f"{i}.{k}": v for k, v in arrays.items()})
            consensus = {"type": "kmeans", "n_maps": len(c.models_)}
            tensors["consensus.centers"] = torch.from_numpy(np.asarray(c.consensus_.cluster_centers_, np.float64))
            tensors["consensus.component_clusters"] = torch.from_numpy(np.asarray(c.component_clusters_, np.int64))
        tensors.update({f"map.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in r_arrays.items()})
        tensors.update({f"mixture.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in m_arrays.items()})
        network = None
        if self.network_ is not None:
            network = _network_config(self.network_)
            tensors.update({f"network.{k}": v for k, v in self.network_.state_dict().items()})
        tensors.update(scaling_tensors(self.standardize_))
        tensors["labels"] = torch.from_numpy(np.asarray(self.labels_, np.int64))
        tensors["probability"] = torch.from_numpy(np.asarray(self.probability_, np.float32))
        tensors["cluster_names"] = torch.from_numpy(np.asarray(self.cluster_names_, np.int64))
        config = {"params": json_safe(params), "encoder": encoder, "map": reducer, "mixture": mixture,
                  "consensus": consensus, "network": network, "manifold": self.clustering_.manifold,
                  "input_shape": list(self.input_shape_), "n_clusters": int(self.n_clusters),
                  "refine_rounds": self.refine_rounds_, "times": self.times_,
                  "data": getattr(self, "training_data_", None)}
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        from fewlabel.tasks.cluster import CodeClustering
        from fewlabel.tasks.propagate import SmallConvNet

        def part(prefix):
            return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

        est = cls(**{"n_maps": 1, **config["params"]})  # files from before n_maps drew one map
        est.encoder_ = None
        if config["encoder"] is not None:
            est.encoder_ = REGISTRY[config["encoder"]["type"]].from_state(config["encoder"]["config"], part("encoder"))
        consensus = config.get("consensus")
        maps = [config["map"]] if consensus is None else config["map"]
        mixtures = [config["mixture"]] if consensus is None else config["mixture"]
        clustering = CodeClustering(n_clusters=config["n_clusters"], method=mixtures[0]["type"]
                                    if mixtures[0]["type"] == "kmeans" else "gmm",
                                    manifold=config["manifold"], n_maps=len(mixtures))
        clustering.reducers_, clustering.models_ = [], []
        for i, (map_config, mixture_config) in enumerate(zip(maps, mixtures)):
            suffix = "" if consensus is None else f".{i}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clustering.reducers_.append(
                    _reducer_from_state(map_config, {k: v.numpy() for k, v in part("map" + suffix).items()}))
            clustering.models_.append(_mixture_from_state(
                mixture_config, {k: v.numpy() for k, v in part("mixture" + suffix).items()}))
        clustering.reducer_, clustering.model_ = clustering.reducers_[0], clustering.models_[0]
        clustering.n_maps_ = len(clustering.models_)
        clustering.consensus_, clustering.component_clusters_ = None, None
        if consensus is not None:
            clustering.consensus_ = _Centres(tensors["consensus.centers"].numpy())
            clustering.component_clusters_ = tensors["consensus.component_clusters"].numpy().astype(np.int64)
        clustering.n_features_in_ = _code_width(clustering.reducer_, clustering.model_)
        est.clustering_ = clustering
        est.network_ = None
        if config["network"] is not None:
            net = SmallConvNet(**config["network"])
            net.load_state_dict(part("network"))
            est.network_ = net.eval()
        est.standardize_ = scaling_from_tensors(tensors)
        est.labels_ = tensors["labels"].numpy().astype(np.int64)
        # files saved before it was kept have none
        est.probability_ = tensors["probability"].numpy().astype(np.float64) if "probability" in tensors else None
        est.labels_before_refine_ = None
        est.cluster_names_ = tensors["cluster_names"].numpy().astype(np.int64)
        est.refine_rounds_, est.times_ = config.get("refine_rounds"), config.get("times")
        est.input_shape_ = tuple(config["input_shape"])
        est.n_features_in_ = int(np.prod(est.input_shape_))
        est.training_data_ = config.get("data")
        return est
