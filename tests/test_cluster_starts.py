"""The default mixture of ``fewlabel cluster`` keeps the likeliest of its starts, and that pays on a real map."""

from pathlib import Path

import numpy as np
import pytest

from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
from fewlabel.metrics import nmi
from fewlabel.tasks.clusterer import ClusterModel

MAP = Path(__file__).parent / "data" / "fashion_mnist_map_5000.npz"


@pytest.fixture(scope="module")
def fashion_map():
    """5,000 rows of the map ``ClusterModel(random_state=0)`` draws of all 70,000 Fashion-MNIST images (the default
    autoencoder's codes through UMAP), with their labels; written by ``benchmarks/cluster_starts.py --test-map``."""
    with np.load(MAP, allow_pickle=False) as d:
        return d["E"].astype(np.float32), d["y"].astype(np.int64)


def _mixture(E, seed, **params):
    model = ClusterModel(encoder=None, manifold=None, refine=None, random_state=seed, **params).fit(E)
    return model.clustering_.model_, model.labels_


def test_the_default_mixture_is_the_likeliest_of_its_starts_and_clusters_better(fashion_map):
    E, y = fashion_map
    assert CLUSTER_DEFAULTS["n_init"] > 1 and ClusterModel().n_init == CLUSTER_DEFAULTS["n_init"]
    one, default = [], []
    for seed in range(10):
        g1, labels1 = _mixture(E, seed, n_init=1)
        g, labels = _mixture(E, seed)
        assert g.n_init == CLUSTER_DEFAULTS["n_init"]
        # its first start is the single start of the same seed: the kept one is at least as likely
        assert g.lower_bound_ >= g1.lower_bound_ - 1e-9
        one.append(nmi(y, labels1))
        default.append(nmi(y, labels))
    # one start on this map lands in optima of 0.662 to 0.709 NMI (mean 0.678 over these seeds), the likeliest of
    # ten in 0.685 to 0.705 (mean 0.691); the margins leave room for another CPU's arithmetic
    assert np.mean(default) > np.mean(one) + 0.007, (one, default)
    assert min(default) > min(one) + 0.015, (one, default)


def test_a_bad_number_of_starts_is_named():
    from fewlabel.errors import InputError

    with pytest.raises(InputError, match="n_init"):
        ClusterModel(encoder=None, manifold=None, refine=None, n_init=0).fit(np.random.default_rng(0).normal(size=(50, 3)))
