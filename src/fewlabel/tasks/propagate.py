"""From a few labels to labels for every row: graphs, clusters, then a classifier taught by both.

With 100 labels among 60,000 images, a network trained on the labels alone over-fits them, and an
autoencoder pretrained on the rest does not fix that. What does
pay is the *shape* of the unlabeled data: rows of one class lie on one connected, dense region of a good
embedding (UMAP of the pixels, or of autoencoder codes), so a label can travel along the region to rows
that carry none. The README's "Few labels" measures this route beside the peers; this module holds its building blocks:

* :func:`cluster_then_label`: a Gaussian mixture on the embedding; each component takes the majority
  label of its labeled rows. Robust when the classes form compact, separated clusters (MNIST digits in a
  UMAP embedding), because a cluster needs only one labeled row to be named correctly.
* :func:`spread_labels`: label spreading (Zhou et al., 2004) on a symmetric kNN graph. It follows
  manifolds a mixture cannot model, but a row in a graph component that holds no label gets nothing from
  it: such rows are returned with confidence 0 instead of a made-up class.
* :func:`self_train_network` / :func:`self_train`: the inductive step. A classifier fitted on the
  labeled rows plus the confident pseudo-labels predicts rows it never saw, so test rows need neither
  the graph nor the mixture. A convolutional network trained with shifted views on noisy pseudo-labels
  ends up *more* accurate than the labels it was taught with: it cannot fit the isolated mistakes of the
  graph, only the regularities shared by many rows.

Every function takes partial labels as scikit-learn's semi-supervised estimators do: ``y == -1`` marks
an unlabeled row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fewlabel.checks import int_at_least, number_in, uint8_images
from fewlabel.errors import InputError
from fewlabel.train.losses import weighted_cross_entropy

UNLABELED = -1


@dataclass
class PseudoLabels:
    """A label and a confidence in [0, 1] for every row.

    ``labels[i] == -1`` (confidence 0) where the method could say nothing about row ``i`` (a graph
    component without labels). Labeled rows keep their own label with confidence 1.
    """

    labels: np.ndarray
    confidence: np.ndarray

    def confident(self, threshold: float) -> np.ndarray:
        """Boolean mask of the rows whose pseudo-label is at least ``threshold`` confident."""
        return (self.labels >= 0) & (self.confidence >= threshold)

    def accuracy(self, y_true, rows=None) -> float:
        """Share of ``rows`` (default: all) whose pseudo-label equals ``y_true`` (rows without one count as wrong)."""
        y_true = np.asarray(y_true)
        rows = slice(None) if rows is None else rows
        return float(np.mean(self.labels[rows] == y_true[rows]))


def check_partial_labels(y, n_rows: int | None = None) -> np.ndarray:
    """Validate partial labels: 1-D integers, -1 for unlabeled, >= 2 classes among the labeled rows.

    Returns an int64 copy. Raises :class:`InputError` naming the problem: floats with a fraction, strings,
    a wrong length, labels below -1, no labeled row, a single class.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"y must be 1-D (one label per row, -1 for unlabeled), got shape {arr.shape}")
    if n_rows is not None and len(arr) != n_rows:
        raise InputError(f"y has {len(arr)} labels but X has {n_rows} rows")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise InputError(f"y must hold integer class labels (-1 for unlabeled), got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InputError("y contains NaN or infinite values; mark unlabeled rows with -1")
        if np.any(arr != np.round(arr)):
            raise InputError("y must hold integer class labels, got fractional values")
    out = arr.astype(np.int64)
    if np.any(out < UNLABELED):
        raise InputError(f"y has labels below -1 ({int(out.min())}); classes are 0, 1, ... and -1 means unlabeled")
    labeled = out[out >= 0]
    if labeled.size == 0:
        raise InputError("y has no labeled row (every entry is -1): at least one label per class is needed")
    if np.unique(labeled).size < 2:
        raise InputError(f"y's labeled rows hold a single class ({int(labeled[0])}); at least two are needed")
    return out


def _check_embedding(Z, name: str = "Z") -> np.ndarray:
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.shape[0] == 0 or Z.shape[1] == 0:
        raise InputError(f"{name} must be a non-empty 2-D array (rows x features), got shape {Z.shape}")
    if Z.dtype.kind not in "iuf":
        raise InputError(f"{name} must be numeric, got dtype {Z.dtype}")
    Z = Z.astype(np.float64 if Z.dtype == np.float64 else np.float32)
    if not np.all(np.isfinite(Z)):
        raise InputError(f"{name} contains NaN or infinite values")
    return Z


# -- graphs --------------------------------------------------------------------------------------------
def knn_affinity(Z, n_neighbors: int = 10):
    """Symmetric kNN graph of the rows of ``Z`` as a sparse matrix with 0/1 weights.

    Symmetric (an edge when either row is among the other's neighbours), so that a row far from every
    other still receives the labels of the rows that count it as a neighbour.
    """
    from sklearn.neighbors import NearestNeighbors

    Z = _check_embedding(Z)
    k = int_at_least("n_neighbors", n_neighbors, 1)
    if k >= len(Z):
        raise InputError(f"n_neighbors={k} needs more than {k} rows, got {len(Z)}")
    graph = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors_graph(mode="connectivity")
    graph.setdiag(0)
    graph = graph.maximum(graph.T).tocsr()
    graph.eliminate_zeros()
    return graph


def spread_labels(Z, y, n_neighbors: int = 10, alpha: float = 0.99, n_iter: int = 50) -> PseudoLabels:
    """Label spreading on the symmetric kNN graph of ``Z``; returns a label and confidence per row.

    ``F <- alpha * S F + (1 - alpha) * Y`` with ``S = D^-1/2 W D^-1/2`` (Zhou et al., 2004), iterated
    ``n_iter`` times. Confidence is the winning class's share of the spread mass. Rows of a graph component
    that holds no labeled row receive no mass at all: they get label -1 and confidence 0, so that the
    caller can see the graph fell apart (as it does on a UMAP embedding, whose clusters are far apart)
    instead of getting class 0 by default as ``argmax`` of zeros would say.
    """
    Z = _check_embedding(Z)
    y = check_partial_labels(y, len(Z))
    alpha = number_in("alpha", alpha, low_open=True)
    if alpha == 1.0:
        raise InputError("alpha must be below 1 (alpha=1 forgets the labels entirely)")
    n_iter = int_at_least("n_iter", n_iter, 1)
    W = knn_affinity(Z, n_neighbors)
    degree = np.asarray(W.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    S = W.multiply(inv_sqrt[:, None]).multiply(inv_sqrt[None, :]).tocsr()
    n_classes = int(y.max()) + 1
    labeled = y >= 0
    Y = np.zeros((len(y), n_classes), dtype=np.float64)
    Y[np.flatnonzero(labeled), y[labeled]] = 1.0
    Fm = Y.copy()
    for _ in range(n_iter):
        Fm = alpha * (S @ Fm) + (1 - alpha) * Y
    mass = Fm.sum(axis=1)
    reached = mass > 1e-12
    labels = np.where(reached, Fm.argmax(axis=1), UNLABELED)
    confidence = np.where(reached, Fm.max(axis=1) / np.where(reached, mass, 1.0), 0.0)
    labels[labeled], confidence[labeled] = y[labeled], 1.0
    return PseudoLabels(labels.astype(np.int64), confidence)


# -- clusters ------------------------------------------------------------------------------------------
@dataclass
class ClusterLabeler:
    """A fitted Gaussian mixture whose components are named by the labeled rows in them.

    ``component_labels[j]`` is the majority label of component ``j``'s labeled rows; a component
    without any labeled row takes the label of the labeled component whose mean is nearest (it is
    reported in ``unnamed``, since that guess is the weakest part of the route).
    """

    mixture: object
    component_labels: np.ndarray
    component_purity: np.ndarray
    unnamed: np.ndarray

    def predict_proba_components(self, Z) -> np.ndarray:
        return self.mixture.predict_proba(_check_embedding(Z))

    def pseudo_labels(self, Z) -> PseudoLabels:
        """Label each row with its most likely component's label; confidence = P(component) x purity."""
        post = self.predict_proba_components(Z)
        comp = post.argmax(axis=1)
        conf = post[np.arange(len(comp)), comp] * self.component_purity[comp]
        return PseudoLabels(self.component_labels[comp].astype(np.int64), conf)


def cluster_then_label(Z, y, n_clusters: int | None = None, covariance_type: str = "full",
                       random_state: int = 0, n_init: int = 1) -> tuple[PseudoLabels, ClusterLabeler]:
    """Gaussian mixture on ``Z`` (``n_clusters`` components, default twice the number of classes, at
    most the number of labeled rows); each component takes the majority label of its labeled rows. Returns the pseudo-labels of ``Z``'s rows and
    the fitted :class:`ClusterLabeler` (to label new rows of the same embedding).

    Why it works with very few labels: on a good embedding each class is one compact cluster, and one
    labeled row names a whole cluster. Where two classes share a cluster (shirts and T-shirts), it is
    wrong on one of them entirely; :func:`spread_labels` degrades more gracefully there.
    Twice as many components as classes by default: a mixture with exactly one component per class
    often settles where one component holds two classes and another splits one. Splitting a class costs
    nothing when each half holds a labeled row; merging two costs a whole class.
    Labeled rows keep their own label (confidence 1).
    """
    from sklearn.mixture import GaussianMixture

    Z = _check_embedding(Z)
    y = check_partial_labels(y, len(Z))
    n_classes = int(y.max()) + 1
    k = min(2 * n_classes, int((y >= 0).sum())) if n_clusters is None else int_at_least("n_clusters", n_clusters, 1)
    if k > len(Z):
        raise InputError(f"n_clusters={k} is more than the {len(Z)} rows")
    if covariance_type not in ("full", "tied", "diag", "spherical"):
        raise InputError(f"covariance_type must be 'full', 'tied', 'diag' or 'spherical', got {covariance_type!r}")
    gmm = GaussianMixture(k, covariance_type=covariance_type, random_state=random_state, n_init=n_init,
                          reg_covar=1e-4).fit(Z)
    comp = gmm.predict(Z)
    labeled = y >= 0
    names = np.full(k, UNLABELED, dtype=np.int64)
    purity = np.zeros(k)
    for j in range(k):
        in_j = labeled & (comp == j)
        if in_j.any():
            counts = np.bincount(y[in_j], minlength=n_classes)
            names[j], purity[j] = counts.argmax(), counts.max() / counts.sum()
    named = np.flatnonzero(names >= 0)
    unnamed = np.flatnonzero(names < 0)
    for j in unnamed:  # the nearest named component lends its label, at half the confidence
        nearest = named[np.argmin(((gmm.means_[named] - gmm.means_[j]) ** 2).sum(axis=1))]
        names[j], purity[j] = names[nearest], 0.5 * purity[nearest]
    labeler = ClusterLabeler(gmm, names, purity, unnamed)
    pseudo = labeler.pseudo_labels(Z)
    pseudo.labels[labeled], pseudo.confidence[labeled] = y[labeled], 1.0
    return pseudo, labeler


def cluster_label_distribution(Z, y, n_classes: int | None = None, n_clusters: int | None = None,
                               prior: float = 0.05, random_state: int = 0) -> tuple[np.ndarray, float]:
    """Soft cluster-then-label: a Gaussian mixture on ``Z``; each component's label distribution is the
    histogram of its labeled rows plus ``prior`` per class (so a component with mixed labels says little);
    a row's distribution is its components' distributions weighted by its posterior. Returns the
    ``(n_rows, n_classes)`` distributions (rows sum to 1) and the leave-one-out accuracy of the cluster
    names on the labeled rows: each labeled row predicted from the other labeled rows of its component
    (wrong where it is alone there), an estimate, free of any held-out labels, of how far the clusters
    can be trusted.

    ``n_clusters`` (default :func:`default_n_clusters`). Where the classes form separate clusters (digits
    in a UMAP embedding) a row's distribution is sharp and right and the leave-one-out accuracy high;
    where a component mixes classes (shirts and T-shirts) it is flat, so that multiplied with a
    classifier's probabilities it leaves the decision to the classifier instead of overruling it.
    """
    from sklearn.mixture import GaussianMixture

    Z = _check_embedding(Z)
    y = check_partial_labels(y, len(Z))
    n_classes = int(y.max()) + 1 if n_classes is None else int_at_least("n_classes", n_classes, 2)
    labeled = y >= 0
    k = default_n_clusters(n_classes, int(labeled.sum()), len(Z)) if n_clusters is None \
        else int_at_least("n_clusters", n_clusters, 1)
    if k > len(Z):
        raise InputError(f"n_clusters={k} is more than the {len(Z)} rows")
    post = GaussianMixture(k, random_state=random_state, reg_covar=1e-4).fit(Z).predict_proba(Z)
    comp = post[labeled].argmax(axis=1)
    counts = np.zeros((k, n_classes))
    np.add.at(counts, (comp, y[labeled]), 1.0)
    others = counts[comp].copy()  # each labeled row's component, without the row itself
    others[np.arange(len(comp)), y[labeled]] -= 1
    loo = float(np.mean((others.sum(axis=1) > 0) & (others.argmax(axis=1) == y[labeled]))) if len(comp) else 0.0
    hist = counts + float(prior)
    hist /= hist.sum(axis=1, keepdims=True)
    return post @ hist, loo


def default_n_clusters(n_classes: int, n_labeled: int, n_rows: int) -> int:
    """Mixture components for cluster-then-label: twice the classes (a mixture with one component per class
    often merges two classes and splits another), more when there are many labels to name them (one
    component per 20 labeled rows, up to five per class), never more than a tenth of the rows."""
    k = max(2 * n_classes, min(n_labeled // 20, 5 * n_classes))
    return int(max(2, min(k, n_rows // 10 if n_rows >= 20 * n_classes else n_classes)))


# -- the inductive step --------------------------------------------------------------------------------
def self_train(estimator, X, y, pseudo: PseudoLabels, threshold: float = 0.9):
    """Fit a clone of a scikit-learn ``estimator`` on the labeled rows plus the rows whose pseudo-label is
    at least ``threshold`` confident; return it. For tables, where no augmentation is known to keep a
    row's class, a plain classifier on the pseudo-labels is the inductive step."""
    from sklearn.base import clone

    X = np.asarray(X)
    y = check_partial_labels(y, len(X))
    _check_pseudo(pseudo, len(X))
    use = (y >= 0) | pseudo.confident(number_in("threshold", threshold))
    target = np.where(y >= 0, y, pseudo.labels)
    return clone(estimator).fit(X[use].reshape(int(use.sum()), -1), target[use])


def _check_pseudo(pseudo, n_rows: int) -> None:
    if not isinstance(pseudo, PseudoLabels):
        raise InputError(f"pseudo must be PseudoLabels (from spread_labels or cluster_then_label), got {type(pseudo).__name__}")
    if len(pseudo.labels) != n_rows or len(pseudo.confidence) != n_rows:
        raise InputError(f"pseudo has {len(pseudo.labels)} labels but X has {n_rows} rows")


class SmallConvNet(nn.Module):
    """Three conv stages (3x3 conv, batch norm, ReLU, 2x2 max-pool) and a linear layer on the pooled map.

    Sized for a CPU: small enough that an epoch over tens of thousands of 28x28 images takes little time on
    a few cores, large enough to learn more than its pseudo-labels say, and so correct them, not copy them.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, channels=(32, 64, 128), dropout: float = 0.25):
        super().__init__()
        layers, prev = [], in_channels
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            prev = c
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(prev, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x).amax(dim=(2, 3))))


def self_train_network(X, y, pseudo: PseudoLabels, threshold: float = 0.0, epochs: int = 5,
                       min_steps: int = 300, batch_size: int = 256, lr: float = 3e-3, max_shift: int | None = None,
                       hflip: bool = False, seed: int = 0, device="auto", progress: bool = False) -> SmallConvNet:
    """Train a :class:`SmallConvNet` on images ``X`` (uint8) with the true labels and the pseudo-labels.

    Every row whose pseudo-label is at least ``threshold`` confident is used, weighted by its confidence
    (a true label weighs 1); each batch sees randomly shifted views (``max_shift`` pixels, default 1/8 of
    the side, and mirrored when ``hflip``, for classes that keep their identity in a mirror). The length
    is ``epochs`` passes over all the rows used, so it follows the size of the data, not the number of
    labels, but at least ``min_steps`` optimizer steps (a few thousand rows are otherwise a few dozen
    steps, too few to fit anything). Training goes through :class:`fewlabel.train.Trainer` (one-cycle
    cosine schedule, AdamW).
    """
    from fewlabel.augment import random_shift
    from fewlabel.train import Trainer

    imgs = uint8_images(X)
    y = check_partial_labels(y, len(imgs))
    _check_pseudo(pseudo, len(imgs))
    threshold = number_in("threshold", threshold)
    epochs = int_at_least("epochs", epochs, 1)
    min_steps = int_at_least("min_steps", min_steps, 1)
    batch_size = int_at_least("batch_size", batch_size, 1)
    shift = int(min(imgs.shape[2:]) // 8) if max_shift is None else int_at_least("max_shift", max_shift, 0)
    labeled = y >= 0
    use = labeled | pseudo.confident(threshold)
    target = np.where(labeled, y, pseudo.labels)[use]
    weight = np.where(labeled, 1.0, pseudo.confidence)[use].astype(np.float32)
    n_classes = int(max(y.max(), pseudo.labels.max())) + 1
    net = SmallConvNet(imgs.shape[1], n_classes)

    def loss_fn(model, batch):
        xb, yb, wb = batch
        xb = xb.float().div_(255.0)
        if shift or hflip:
            xb = random_shift(xb, shift, hflip=hflip)
        return weighted_cross_entropy(model(xb), yb, wb)

    steps = max(epochs * math.ceil(int(use.sum()) / batch_size), min_steps)
    trainer = Trainer(max_steps=steps, batch_size=batch_size, optimizer="adamw", lr=lr, weight_decay=5e-4,
                      schedule="cosine", warmup_epochs=0, seed=seed, device=device, progress=progress,
                      description="self-train")
    # where every row is taught (self-labelling), the images themselves, not a copy of all of them
    taught = imgs if use.all() else imgs[use]
    trainer.fit(net, loss_fn, (taught, target.astype(np.int64), weight))
    return net


@torch.no_grad()
def predict_proba_network(net: nn.Module, X, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities of a network from :func:`self_train_network` for uint8 images ``X``, ``batch_size``
    at a time (default: :func:`~fewlabel.train.precision.inference_batch_size`)."""
    from fewlabel.train.precision import inference_batch_size

    batch_size = inference_batch_size(net) if batch_size is None else batch_size
    imgs = uint8_images(X)
    net.eval()
    device = next(net.parameters()).device
    out = None
    for i in range(0, len(imgs), batch_size):
        # a copy of each batch: the images may be read-only (a memory-mapped or loaded file), which torch warns of
        xb = torch.tensor(imgs[i:i + batch_size], device=device).float().div_(255.0)
        answer = torch.softmax(net(xb).float(), dim=1).cpu().numpy()
        if out is None:  # one array for every answer, as predict_batches keeps them (the heap stays flat)
            out = np.empty((len(imgs), answer.shape[1]), np.float32)
        out[i:i + len(answer)] = answer
    if out is None:
        raise InputError("no images to answer (0 rows)")
    return out


def network_pseudo_labels(net: nn.Module, X, y) -> PseudoLabels:
    """The network's own predictions as pseudo-labels (a second round of self-training starts here);
    labeled rows keep their label."""
    y = check_partial_labels(y, len(X))
    proba = predict_proba_network(net, X)
    labels, conf = proba.argmax(axis=1), proba.max(axis=1)
    labels[y >= 0], conf[y >= 0] = y[y >= 0], 1.0
    return PseudoLabels(labels.astype(np.int64), conf)
