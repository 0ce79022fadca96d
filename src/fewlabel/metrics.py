"""How good a clustering, a prediction or a score is: NMI, ARI, cluster accuracy, silhouette, accuracy, AUROC.

Every function checks its input first (same length, not empty, 1-D labels, no NaN) and raises
:class:`fewlabel.errors.InputError` naming the problem, instead of scikit-learn's or NumPy's messages.
Labels may be any values (ints, strings); clusters need not be numbered like the classes.

Only NumPy, SciPy and scikit-learn are imported here (no torch), so scoring stays cheap to import.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _skm

from fewlabel.checks import label_array
from fewlabel.errors import InputError

__all__ = ["accuracy", "ari", "auroc", "classification_report", "cluster_accuracy", "cluster_mapping", "nmi", "silhouette"]


def check_labels(y_true, y_pred, names=("y_true", "y_pred")) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as 1-D NumPy arrays of the same, non-zero length without NaN, or an InputError."""
    a = label_array(y_true, names[0])
    b = label_array(y_pred, names[1])
    if len(a) != len(b):
        raise InputError(f"{names[0]} has {len(a)} labels but {names[1]} has {len(b)}; they must match")
    return a, b


def nmi(y_true, y_pred, average_method: str = "arithmetic") -> float:
    """Normalized mutual information (scikit-learn's, arithmetic mean by default): 0 = unrelated, 1 = the same
    partition. Invariant to renaming the clusters."""
    a, b = check_labels(y_true, y_pred)
    return float(_skm.normalized_mutual_info_score(a, b, average_method=average_method))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (scikit-learn's): about 0 for a random partition, 1 for the same partition."""
    a, b = check_labels(y_true, y_pred)
    return float(_skm.adjusted_rand_score(a, b))


def _matching(a: np.ndarray, b: np.ndarray):
    """Classes, clusters, the contingency table C[cluster, class] and the best one-to-one matching."""
    classes, ia = np.unique(a, return_inverse=True)
    clusters, ib = np.unique(b, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (ib, ia), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return classes, clusters, table, rows, cols


def cluster_accuracy(y_true, y_pred) -> float:
    """Accuracy of the best one-to-one matching of clusters to classes (Hungarian method).

    Each cluster is given at most one class and each class at most one cluster, choosing the matching
    that gets the most rows right. With more clusters than classes the unmatched clusters count as wrong;
    with fewer, the unmatched classes do.
    """
    a, b = check_labels(y_true, y_pred)
    _, _, table, rows, cols = _matching(a, b)
    return float(table[rows, cols].sum() / len(a))


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def cluster_mapping(y_true, y_pred) -> dict:
    """The matching :func:`cluster_accuracy` uses, as ``{cluster: class}``.

    Clusters left unmatched (more clusters than classes) are absent from the dict, so
    ``accuracy(y_true, [mapping.get(c, no_class) for c in y_pred]) == cluster_accuracy(y_true, y_pred)``.
    Keys and values are plain Python values (``int``, ``str``...), ready for JSON.
    """
    a, b = check_labels(y_true, y_pred)
    classes, clusters, _, rows, cols = _matching(a, b)
    return {_py(clusters[r]): _py(classes[c]) for r, c in zip(rows, cols)}


def accuracy(y_true, y_pred) -> float:
    """Fraction of rows whose predicted label equals the true label."""
    a, b = check_labels(y_true, y_pred)
    return float(np.mean(a == b))


def silhouette(X, labels, sample_size: int | None = None, random_state=0) -> float:
    """Mean silhouette coefficient (Euclidean) of ``labels`` on the rows of ``X``: -1 (wrong) to 1 (tight,
    separated). ``sample_size`` scores a random subset of rows (the full score is O(n^2))."""
    if X is None:
        raise InputError("X is None: pass the rows (codes) that were clustered")
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise InputError(f"X is not a rectangular array of numbers ({e})") from None
    if X.ndim == 1:
        raise InputError("Expected 2D array, got 1D array instead: X needs one row per example; reshape with "
                         "X.reshape(-1, 1) for a single feature")
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    labels = label_array(labels, "labels")
    if len(X) != len(labels):
        raise InputError(f"X has {len(X)} rows but labels has {len(labels)} labels; they must match")
    if X.shape[1] == 0:
        raise InputError(f"X has 0 features (shape {X.shape}) while at least 1 is required")
    if not np.isfinite(X).all():
        raise InputError(f"X contains {'NaN' if np.isnan(X).any() else 'infinity'}; remove or impute them first")
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(X) - 1:
        raise InputError(f"the silhouette needs between 2 and n_rows - 1 = {len(X) - 1} distinct labels, "
                         f"got {n_labels}")
    if sample_size is not None:
        if not isinstance(sample_size, (int, np.integer)) or isinstance(sample_size, bool) or sample_size < 2:
            raise InputError(f"sample_size must be an integer of at least 2 or None, got {sample_size!r}")
        if sample_size >= len(X):
            sample_size = None
    try:
        return float(_skm.silhouette_score(X, labels, sample_size=sample_size, random_state=random_state))
    except ValueError as e:  # e.g. a random sample that caught a single cluster
        raise InputError(f"cannot compute the silhouette: {e}; use a larger sample_size") from None


def classification_report(y_true, y_pred, class_names=None) -> dict:
    """Accuracy, per-class precision / recall / F1 / support, macro averages and the confusion matrix
    (rows: true class, columns: predicted), as plain JSON-able values. Classes are those seen in either.

    ``class_names`` names the classes by their label value: a dict ``{label: name}``, or a list where the
    labels are the integers 0..len-1 (``class_names[label]``, as datasets and image folders number them),
    or, for other labels, a list with one name per class in sorted label order. A class absent from both
    ``y_true`` and ``y_pred`` does not shift the others' names.
    """
    a, b = check_labels(y_true, y_pred)
    classes = np.unique(np.concatenate([a, b]))
    p, r, f, support = _skm.precision_recall_fscore_support(a, b, labels=classes, zero_division=0)
    names = [str(c) for c in classes] if class_names is None else _class_names(classes, class_names)
    return {
        "accuracy": float(np.mean(a == b)),
        "macro_precision": float(np.mean(p)), "macro_recall": float(np.mean(r)), "macro_f1": float(np.mean(f)),
        "per_class": {n: {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
                      for n, pi, ri, fi, si in zip(names, p, r, f, support)},
        "classes": [_py(c) for c in classes],
        "confusion_matrix": _skm.confusion_matrix(a, b, labels=classes).tolist(),
    }


def _class_names(classes: np.ndarray, class_names) -> list[str]:
    """The name of each class in ``classes``, looked up by label value (see classification_report)."""
    if isinstance(class_names, dict):
        return [str(class_names.get(_py(c), c)) for c in classes]
    names = list(class_names)
    integral = classes.dtype.kind in "iu" or (classes.dtype.kind == "f" and np.all(classes == np.round(classes)))
    if integral and len(classes) and classes.min() >= 0 and classes.max() < len(names):
        return [str(names[int(c)]) for c in classes]
    if len(names) == len(classes):
        return [str(n) for n in names]  # labels that are not 0..K-1: one name per class, in sorted order
    raise InputError(f"{len(names)} class names for the classes {[_py(c) for c in classes]}: give one name per "
                     "label 0..K-1, a {label: name} dict, or one name per class in sorted label order")


def _check_scores(scores, name: str) -> np.ndarray:
    if scores is None:
        raise InputError(f"{name} is None: pass one score per row")
    if hasattr(scores, "detach"):  # a torch tensor, without importing torch
        scores = scores.detach().cpu().numpy()
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise InputError(f"{name} is not a flat list of numbers ({e})") from None
    if scores.ndim != 1:
        raise InputError(f"{name} must be 1-D (one score per row), got shape {scores.shape}")
    if len(scores) == 0:
        raise InputError(f"{name} is empty: the AUROC needs at least one score on each side")
    if not np.isfinite(scores).all():
        kind = "NaN" if np.isnan(scores).any() else "infinity"
        raise InputError(f"{name} contains {kind} (first at index {int(np.argmax(~np.isfinite(scores)))})")
    return scores


def auroc(scores_normal, scores_outlier) -> float:
    """Area under the ROC curve of a score meant to be higher on outliers (e.g. a reconstruction error).

    The probability that a random outlier scores above a random normal row, ties counting half
    (scikit-learn's ``roc_auc_score`` with the normal rows as 0 and the outliers as 1): 1 separates them
    perfectly, 0.5 is chance, below 0.5 the score points the wrong way.
    """
    a = _check_scores(scores_normal, "scores_normal")
    b = _check_scores(scores_outlier, "scores_outlier")
    truth = np.r_[np.zeros(len(a)), np.ones(len(b))]
    return float(_skm.roc_auc_score(truth, np.r_[a, b]))
