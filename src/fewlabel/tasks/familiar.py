"""How unfamiliar a row is to a fitted network: the distance from its features to the training rows'.

A classifier answers every row with one of its classes, however unlike its training data the row is. The
rows it has never seen the like of are found by their features (what the classifier's last layer reads):
L2-normalised, the distance to the k-th nearest training row's features is small for rows like the training
data and large for the rest (Sun et al., 2022, "Out-of-distribution detection with deep nearest
neighbors"). The distances of the training rows themselves, each without itself, give the cut-off: Tukey's
fence on their logarithms, as ``ReconstructionDetector(contamination="auto")`` puts it; a score is the
distance divided by that cut-off, so a score of 1 or more flags the row.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from fewlabel.checks import is_int, is_number
from fewlabel.errors import InputError

#: What ``SemiSupervisedClassifier(familiarity=True)`` uses; a dict given as ``familiarity`` changes any of them.
DEFAULTS = {"n_neighbors": 10, "fence": 1.5, "max_reference": 20_000}
#: Below this distance (of unit vectors) a reference row is the queried row itself: a training row is scored
#: against the others, as the cut-off was measured.
SELF_DISTANCE = 1e-4


def check_settings(value) -> dict | None:
    """``familiarity`` as settings (None when off): True for :data:`DEFAULTS`, a dict to change some of them."""
    if value is False or value is None:
        return None
    if value is True:
        return dict(DEFAULTS)
    if not isinstance(value, dict):
        raise InputError(f"familiarity must be True, False or a dict of {sorted(DEFAULTS)}, got {value!r}")
    unknown = sorted(set(value) - set(DEFAULTS))
    if unknown:
        raise InputError(f"familiarity has {unknown}; its settings are {sorted(DEFAULTS)}")
    settings = {**DEFAULTS, **value}
    for name in ("n_neighbors", "max_reference"):
        if not is_int(settings[name]) or settings[name] < 1:
            raise InputError(f"familiarity's {name} must be a positive integer, got {settings[name]!r}")
    if not is_number(settings["fence"]) or settings["fence"] < 0:
        raise InputError(f"familiarity's fence must be a number >= 0, got {settings['fence']!r}")
    return settings


def _unit(F) -> np.ndarray:
    F = np.asarray(F, np.float32).reshape(len(F), -1)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)


class FeatureNeighbors:
    """The unfamiliarity score of rows from their features (see the module docstring).

    ``fit(F)`` keeps at most ``max_reference`` rows of ``F`` (drawn by ``random_state``) as the reference and
    sets ``cutoff_``; ``score(F)`` is each row's distance to its ``n_neighbors``-th nearest reference row
    (itself left out) divided by ``cutoff_``.
    """

    def __init__(self, n_neighbors: int = 10, fence: float = 1.5, max_reference: int = 20_000, random_state=0):
        self.n_neighbors = n_neighbors
        self.fence = fence
        self.max_reference = max_reference
        self.random_state = random_state

    def fit(self, F) -> FeatureNeighbors:
        check_settings({"n_neighbors": self.n_neighbors, "fence": self.fence, "max_reference": self.max_reference})
        F = _unit(F)
        if len(F) < 3:
            raise InputError(f"the unfamiliarity score needs at least 3 training rows, got {len(F)}")
        keep = np.arange(len(F))
        if len(F) > self.max_reference:
            rng = np.random.default_rng(self.random_state)
            keep = np.sort(rng.choice(len(F), self.max_reference, replace=False))
        self.reference_ = np.ascontiguousarray(F[keep])
        self._index = None
        distances = self._distances(self.reference_)
        logs = np.log(np.maximum(distances, 1e-12))
        q1, q3 = np.quantile(logs, [0.25, 0.75])
        self.cutoff_ = float(np.exp(q3 + float(self.fence) * (q3 - q1)))
        return self

    def _distances(self, F) -> np.ndarray:
        if getattr(self, "_index", None) is None:
            self._index = NearestNeighbors().fit(self.reference_)
        k = min(int(self.n_neighbors), len(self.reference_) - 1)
        dist, _ = self._index.kneighbors(F, n_neighbors=k + 1)
        # a row that is itself in the reference is scored against the others: drop its own zero distance
        own = dist[:, 0] < SELF_DISTANCE
        return np.where(own, dist[:, k], dist[:, k - 1])

    def score(self, F) -> np.ndarray:
        """Each row's unfamiliarity: 1 at the cut-off, larger the less the row resembles the training rows."""
        if not hasattr(self, "cutoff_"):
            raise InputError("FeatureNeighbors is not fitted")
        return (self._distances(_unit(F)) / max(self.cutoff_, 1e-12)).astype(np.float32)

    # -- saving (inside the model that owns it) ----------------------------------------------------------
    def state(self) -> tuple[dict, np.ndarray]:
        return ({"n_neighbors": int(self.n_neighbors), "fence": float(self.fence),
                 "max_reference": int(self.max_reference), "cutoff": self.cutoff_}, self.reference_)

    @classmethod
    def from_state(cls, config: dict, reference) -> FeatureNeighbors:
        out = cls(config["n_neighbors"], config["fence"], config["max_reference"])
        out.reference_ = np.ascontiguousarray(np.asarray(reference, np.float32))
        out.cutoff_ = float(config["cutoff"])
        if out.reference_.ndim != 2 or len(out.reference_) < 3 or not np.isfinite(out.reference_).all() \
                or not np.isfinite(out.cutoff_) or out.cutoff_ <= 0:
            raise InputError("the saved unfamiliarity reference is damaged (too few rows, or not finite)")
        out._index = None
        return out
