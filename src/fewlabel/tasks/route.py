"""Which route the semi-supervised classifier takes, chosen by measurement on the user's own labeled rows.

The unlabeled rows can teach the final network through three label sources, and which one is right depends on
the data: where the classes form separate clusters (digits), the clusters' labels are better than anything a
network learns from a few labels; where clusters mix classes (shirts and pullovers), a network trained on the
labels knows more, and the clusters can only correct it. Rather than a threshold fitted to a few benchmarks,
each source is scored on the same labeled rows, each row predicted by a model that never saw its label:

* ``labels alone``: networks trained on the other folds of the labeled rows (out-of-fold);
* ``clusters``: the cluster names from the other labeled rows (leave-one-out, :class:`ClusterPropagator`);
* ``clusters x network``: the product of both distributions, row by row, divided once by the labeled rows' class
  frequencies (:func:`class_prior`; ``prior_once``).

Where the rows are a table (not images), the model on the labels alone may be a linear one instead of the
network: a logistic regression on the same folds is scored beside the network's out-of-fold answers, and the
better of the two (:func:`choose_labels_model`: clearly more accurate, else the smaller log-loss) is the
``labels alone`` source and the ``network`` of ``clusters x network``; the record's ``labels_model`` says which.
Where it is chosen, a close route is settled by log-loss too (:func:`choose_route`'s ``settle_by_log_loss``).
Log-losses are taken over the labeled rows whose class the other folds hold (``scored``): a class with one
labeled row is unknown to the models that answer it, whichever they are, and the probability a logistic
regression gives an unknown class (zero) would otherwise decide the comparison by that one row.

The more accurate of the two propagated sources (exact ties go to the clusters) is compared with the network's
own out-of-fold answers, judged by the rows the two get differently (McNemar's comparison,
:func:`clearly_better`). Where the network is clearly more accurate, the propagated labels would teach mistakes:
the network on the labels alone is the model. Otherwise the unlabeled rows are used: propagated labels clearly
more accurate than the network's own train a fresh network, which learns them without the first network's
mistakes; labels that are not clearly better (nor clearly worse) are added to what the network on the labels
already knows (it continues, the labeled rows repeated to half of what it sees: the labels stay the main
signal, the unlabeled rows add what the network is sure of). "Clearly" is ``z_labels_alone`` and ``z_fresh``
standard errors of the difference (two each: about 95%), kept in the record with the counts they judged.

Each of the two distributions is a posterior that already holds how common each class is among the labeled rows:
the network learned it from them, and a cluster's distribution is the histogram of its labeled rows. Their plain
product counts those frequencies twice, and where the classes are not equally common it pushes the rows of a
rare class that shares clusters with a common one into the common class. Bayes' rule for two sources that see
the rows independently divides the product by the frequencies once; ``prior_once=True`` (the default) does, for
the product's labels and for its score in the route's measurement. Where every class has as many labeled rows,
the division changes nothing.

With ``pool=True``, where 'clusters x network' teaches, its labels are the two distributions pooled
(:func:`pooled`): their product, each raised to a power fitted on the same labeled rows (:func:`pool_weight`:
the powers under which the pool best predicts their classes, by log-loss), kept in the record as
``network_weight`` (0.5 without the pool: the plain product). A network trained on a few labels can be surer
than it is right, and clusters named by a few labels less sure than they are right; the pool lets each source's
sureness count as far as it held on this data. It is not the default: the out-of-fold networks it is fitted on
see fewer labels and steps than the network it is applied to, and on the benchmarks it helped where the
clusters were right and hurt where they mix classes (README, "Few labels"). The route itself is always chosen
on the plain product's answers: scoring the pool would need weights fitted on other rows than those it is
scored on, and on a few labels that split is noise enough to move the choice.
"""

from __future__ import annotations

import math

import numpy as np

from fewlabel.errors import InputError

LABELS_ALONE, CLUSTERS, PRODUCT = "labels alone", "clusters", "clusters x network"
ROUTES = (LABELS_ALONE, CLUSTERS, PRODUCT)
#: the models on the labels alone :func:`choose_labels_model` chooses between
NETWORK, LINEAR = "network", "linear"
#: the settings of :func:`choose_route` a classifier's ``route_params`` may set, and ``linear`` (whether a table's
#: rows also score a linear model on the labels alone, :func:`choose_labels_model`)
ROUTE_SETTINGS = ("z_labels_alone", "z_fresh", "pool", "linear", "prior_once")
#: the order exact ties between the propagated sources are broken in
PREFERENCE = (CLUSTERS, PRODUCT)


def clearly_better(right_a: np.ndarray, right_b: np.ndarray, z: float = 2.0) -> int:
    """+1 if ``a`` is right on clearly more of the same rows than ``b``, -1 if clearly fewer, 0 otherwise.
    Clearly: on the rows the two get differently (``a`` alone right on ``n_a``, ``b`` alone on ``n_b``), a
    difference of more than ``z`` times ``sqrt(n_a + n_b)``, its standard error under no difference (McNemar's
    comparison: ``z=2`` about 95%, ``z=1`` about 84%, one-sided)."""
    right_a, right_b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    n_a, n_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    limit = z * math.sqrt(n_a + n_b)
    return 1 if n_a - n_b > limit else -1 if n_b - n_a > limit else 0


def normalized(p: np.ndarray) -> np.ndarray:
    return p / p.sum(axis=1, keepdims=True).clip(1e-300)


def class_prior(y_labeled: np.ndarray, n_classes: int) -> np.ndarray:
    """How common each class is among the labeled rows, each class counted one row more (Laplace's rule): a class
    with one labeled row is not taken as all but absent, and none has a frequency of zero."""
    counts = np.bincount(np.asarray(y_labeled, np.int64), minlength=n_classes)[:n_classes].astype(np.float64)
    return (counts + 1.0) / (counts.sum() + n_classes)


def pooled(p_network: np.ndarray, p_clusters: np.ndarray, network_weight: float = 0.5,
           prior: np.ndarray | None = None) -> np.ndarray:
    """The two sources' distributions pooled row by row: ``p_network ** (2 w) * p_clusters ** (2 (1 - w))``,
    normalised, ``w`` = ``network_weight``. At 0.5 it is their plain product; below, the clusters outvote a sure
    network more often; above, the network outvotes sure clusters. ``prior`` (the class frequencies both sources
    learned, :func:`class_prior`): the pool is divided by it once, so that it counts them once, not twice (the
    module docstring); None: not divided."""
    w = float(network_weight)
    log = 2 * w * np.log(np.clip(p_network, 1e-12, None)) + 2 * (1 - w) * np.log(np.clip(p_clusters, 1e-12, None))
    if prior is not None:
        log = log - np.log(np.clip(np.asarray(prior, np.float64), 1e-12, None))[None, :]
    log -= log.max(axis=1, keepdims=True)
    return normalized(np.exp(log))


def teaching_labels(p: np.ndarray, y_part: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(target, weight) for every row, what the final network learns: a labeled row's own label (weight 1);
    elsewhere the most probable class of ``p``, kept where it is at least ``threshold`` confident, weighted by
    that confidence (0: the row is left out)."""
    target, confidence = p.argmax(axis=1), p.max(axis=1)
    labeled = y_part >= 0
    target[labeled], confidence[labeled] = y_part[labeled], 1.0
    weight = np.where(confidence >= threshold, confidence, 0.0).astype(np.float32)
    return target.astype(np.int64), weight


def log_loss(y_true: np.ndarray, p: np.ndarray) -> float:
    """The mean of ``-log p[row, y_true[row]]`` over the rows (each probability taken as at least 1e-12)."""
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y_true)), y_true], 1e-12, None))))


def choose_labels_model(y_true: np.ndarray, p_network: np.ndarray, p_linear: np.ndarray, z: float = 2.0,
                        scored: np.ndarray | None = None) -> dict:
    """Which model on the labels alone the route is built on, the network or a linear model (a table's rows),
    from their out-of-fold answers on the same labeled rows: the one clearly more accurate (:func:`clearly_better`
    at ``z``), and where neither is, the linear model if its probabilities give the rows' classes a smaller
    log-loss than the network's and than the class frequencies' own (:func:`prior_log_loss`: a model no better
    than them knows nothing to settle a choice by). On a few labels the two are right on nearly the same rows,
    and accuracy cannot tell them apart; log-loss also counts how sure each was where it was wrong, which is what
    its labels would teach. Otherwise the network. The log-losses are over the rows ``scored`` marks (None: every
    row; the module docstring). Returns ``{"model", "network": {"right", "rows", "log_loss"}, "linear": {...},
    "prior_log_loss"}``, and ``"log_loss_rows"`` where ``scored`` leaves rows out."""
    y_true = np.asarray(y_true)
    keep = np.ones(len(y_true), bool) if scored is None else np.asarray(scored, bool)
    right = {NETWORK: p_network.argmax(1) == y_true, LINEAR: p_linear.argmax(1) == y_true}
    loss = {NETWORK: log_loss(y_true[keep], p_network[keep]), LINEAR: log_loss(y_true[keep], p_linear[keep])}
    prior = prior_log_loss(y_true[keep], p_linear.shape[1])
    verdict = clearly_better(right[LINEAR], right[NETWORK], z=z)
    model = LINEAR if verdict > 0 or (verdict == 0 and loss[LINEAR] < min(loss[NETWORK], prior)) else NETWORK
    return {"model": model, **{name: {"right": int(right[name].sum()), "rows": len(y_true),
                                      "log_loss": round(loss[name], 4)} for name in (NETWORK, LINEAR)},
            "prior_log_loss": round(prior, 4), **({} if keep.all() else {"log_loss_rows": int(keep.sum())})}


def known_to_other_folds(y_part: np.ndarray, folds) -> np.ndarray:
    """For each labeled row of ``y_part`` (in order), whether its class is among the labels of the other folds'
    rows, those its out-of-fold answer was learned from (``folds``: the labeled rows each fold held out)."""
    known = np.flatnonzero(y_part >= 0)
    ok = np.ones(len(y_part), bool)
    for held in folds:
        ok[held] = np.isin(y_part[held], y_part[np.setdiff1d(known, held)])
    return ok[known]


def prior_log_loss(y_true: np.ndarray, n_classes: int) -> float:
    """The log-loss of the labeled rows' class frequencies given to every row: what a model that knows nothing
    but how common each class is scores."""
    prior = np.bincount(y_true, minlength=n_classes) / len(y_true)
    return log_loss(y_true, np.tile(prior, (len(y_true), 1)))


def pool_weight(y_true: np.ndarray, p_network: np.ndarray, p_clusters: np.ndarray, steps: int = 20,
                prior: np.ndarray | None = None) -> float:
    """The network's weight in :func:`pooled` (one of ``steps + 1`` evenly spaced values in [0, 1]) whose pooled
    distributions (divided by ``prior`` as :func:`pooled` does) give the labeled rows' classes the smallest
    log-loss; of equal ones, the nearest to 0.5."""
    grid = sorted(np.linspace(0.0, 1.0, int(steps) + 1), key=lambda w: abs(w - 0.5))
    loss = [log_loss(y_true, pooled(p_network, p_clusters, w, prior)) for w in grid]
    return float(grid[int(np.argmin(loss))])


def choose_route(y_true: np.ndarray, p_network: np.ndarray, p_clusters: np.ndarray, how: str,
                 z_labels_alone: float = 2.0, z_fresh: float = 2.0, pool: bool = False,
                 settle_by_log_loss: bool = False, scored: np.ndarray | None = None, prior_once: bool = True) -> dict:
    """Score the three label sources on the labeled rows and choose the route (the module docstring).

    ``y_true``: the class index of each labeled row; ``p_network``: the out-of-fold network's probabilities on
    those rows; ``p_clusters``: the clusters' leave-one-out distributions on them. Returns the record saved with
    the model: each source's accuracy and rows right, the chosen ``route``, ``second``: 'fresh' or 'continue'
    (how the final network learns from the chosen labels), ``compared``: the better propagated source and the
    rows only it, or only the network, gets right, and the evidence each decision asked for (``z_labels_alone``
    standard errors to choose the network alone, ``z_fresh`` to train a fresh network: the module docstring), with
    ``how`` the measurement was made.

    ``settle_by_log_loss`` (where ``p_network`` is a linear model's, whose probabilities a logistic regression's
    penalty keeps near how often it is right): where neither the model on the labels alone nor the better
    propagated source is clearly more accurate, the model on the labels alone is the route if it is right on at
    least as many labeled rows and its log-loss on them is smaller than the propagated source's and than that of
    the class frequencies themselves (a model no better than them knows nothing to settle a choice by);
    otherwise the propagated source is. Log-losses are over the rows ``scored`` marks (None: every row; the
    module docstring). ``prior_once``: the product is divided once by the labeled rows' class frequencies
    (:func:`class_prior` of ``y_true``; the module docstring); the record keeps it."""
    y_true = np.asarray(y_true)
    keep = np.ones(len(y_true), bool) if scored is None else np.asarray(scored, bool)
    if len(y_true) == 0 or p_network.shape != p_clusters.shape or len(p_network) != len(y_true):
        raise InputError("the route is chosen from one network and one cluster distribution per labeled row")
    prior = class_prior(y_true, p_network.shape[1]) if prior_once else None
    product = pooled(p_network, p_clusters, 0.5, prior)
    answers = {LABELS_ALONE: p_network.argmax(1), CLUSTERS: p_clusters.argmax(1), PRODUCT: product.argmax(1)}
    weight = pool_weight(y_true[keep], p_network[keep], p_clusters[keep], prior=prior) if pool else 0.5
    right = {name: a == y_true for name, a in answers.items()}
    scores = {name: {"accuracy": float(r.mean()), "right": int(r.sum()), "rows": len(r)} for name, r in right.items()}
    propagated = max((CLUSTERS, PRODUCT), key=lambda name: (scores[name]["right"], -PREFERENCE.index(name)))
    # the rows only one of the two gets right: what the comparisons are made on, kept in the record
    compared = {"propagated": propagated,
                "propagated_right_alone": int(np.sum(right[propagated] & ~right[LABELS_ALONE])),
                "network_right_alone": int(np.sum(~right[propagated] & right[LABELS_ALONE])),
                "z_labels_alone": float(z_labels_alone), "z_fresh": float(z_fresh)}
    record = {"scores": scores, "compared": compared, "pool": bool(pool), "network_weight": weight,
              "prior_once": bool(prior_once), "how": how}
    verdict = clearly_better(right[LABELS_ALONE], right[propagated], z=z_labels_alone)
    if settle_by_log_loss:
        distributions = {LABELS_ALONE: p_network, CLUSTERS: p_clusters, PRODUCT: product}
        for name in ROUTES:
            scores[name]["log_loss"] = round(log_loss(y_true[keep], distributions[name][keep]), 4)
        record["prior_log_loss"] = round(prior_log_loss(y_true[keep], p_network.shape[1]), 4)
        if not keep.all():
            record["log_loss_rows"] = int(keep.sum())
        if verdict == 0 and scores[LABELS_ALONE]["right"] >= scores[propagated]["right"] \
                and scores[LABELS_ALONE]["log_loss"] < min(scores[propagated]["log_loss"], record["prior_log_loss"]):
            verdict, record["settled_by"] = 1, "log-loss"
    if verdict > 0:
        return {"route": LABELS_ALONE, "second": None, **record}
    second = "fresh" if clearly_better(right[propagated], right[LABELS_ALONE], z=z_fresh) > 0 else "continue"
    return {"route": propagated, "second": second, **record}


def forced_route(route: str) -> dict:
    """The record of a route set by the caller (``route=``): nothing measured."""
    if route not in ROUTES:
        raise InputError(f"unknown route {route!r}: choose 'auto' or one of {ROUTES}")
    second = None if route == LABELS_ALONE else "fresh" if route == CLUSTERS else "continue"
    return {"route": route, "second": second, "scores": None, "how": "set by route="}
