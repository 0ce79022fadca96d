"""``metrics.auroc``: the AUROC of an outlier score, against a direct count of the pairs it ranks right."""

import numpy as np
import pytest

from fewlabel import metrics
from fewlabel.errors import InputError


def _pair_count(normal, outlier):
    """The Mann-Whitney reading of the AUROC: outlier above normal counts 1, a tie counts 1/2."""
    diff = np.asarray(outlier)[:, None] - np.asarray(normal)[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_auroc_is_the_share_of_pairs_ranked_right():
    rng = np.random.default_rng(0)
    normal = rng.normal(0.0, 1.0, 300)
    outlier = rng.normal(1.0, 1.0, 120)
    value = metrics.auroc(normal, outlier)
    assert value == pytest.approx(_pair_count(normal, outlier), abs=1e-12)
    assert 0.7 < value < 0.8  # two unit normals one std apart: Phi(1 / sqrt(2)) = 0.760
    rounded_n, rounded_o = np.round(normal), np.round(outlier)  # many ties
    assert metrics.auroc(rounded_n, rounded_o) == pytest.approx(_pair_count(rounded_n, rounded_o), abs=1e-12)


def test_auroc_extremes_and_direction():
    assert metrics.auroc([0.1, 0.2, 0.3], [0.5, 0.9]) == 1.0
    assert metrics.auroc([0.5, 0.9], [0.1, 0.2, 0.3]) == 0.0  # the score points the wrong way
    assert metrics.auroc([1, 1, 1], [1, 1]) == 0.5


@pytest.mark.parametrize("normal, outlier, words", [
    ([], [1.0], "scores_normal is empty"),
    ([0.1, 0.2], [], "scores_outlier is empty"),
    ([0.1, np.nan], [1.0], "scores_normal contains NaN"),
    ([0.1], [np.inf], "scores_outlier contains infinity"),
    ([[0.1, 0.2]], [1.0], "must be 1-D"),
    (["a", "b"], [1.0], "not a flat list of numbers"),
    (None, [1.0], "scores_normal is None"),
])
def test_auroc_refuses_bad_scores_by_name(normal, outlier, words):
    with pytest.raises(InputError, match=words):
        metrics.auroc(normal, outlier)
