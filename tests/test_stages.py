"""The stages the semi-supervised classifier is made of, each alone: the label propagator, the route choice,
the network stage (per-row weights, a network to start from)."""

import time

import numpy as np
import pytest

from fewlabel.errors import InputError
from fewlabel.tasks.propagator import ClusterPropagator
from fewlabel.tasks.route import (
    CLUSTERS,
    LABELS_ALONE,
    LINEAR,
    NETWORK,
    PRODUCT,
    choose_labels_model,
    choose_route,
    class_prior,
    clearly_better,
    forced_route,
    known_to_other_folds,
    log_loss,
    normalized,
    pool_weight,
    pooled,
    prior_log_loss,
)


def blobs(seed=0, n=200):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [12, 0], [0, 12]], float)
    Z = np.vstack([c + rng.normal(size=(n, 2)) for c in centres])
    return Z, np.repeat([0, 1, 2], n)


def test_the_propagator_names_clusters_and_measures_itself_leaving_each_label_out():
    Z, truth = blobs()
    y = np.full(len(Z), -1)
    seen = [0, 1, 2, 200, 201, 202, 400, 401, 402]
    y[seen] = truth[seen]
    prop = ClusterPropagator(map="pca", pca_dims=2, n_clusters=3, random_state=0).fit(Z, y)
    assert prop.map_ == "pca" and prop.embedding_.shape == (600, 2)
    assert prop.label_distributions_.shape == (600, 3) and np.allclose(prop.label_distributions_.sum(1), 1)
    assert (prop.labels_ == truth).mean() > 0.99 and prop.loo_accuracy_ == 1.0
    assert prop.loo_distributions_.shape == (9, 3) and np.allclose(prop.loo_distributions_.sum(1), 1)
    # a labeled row alone in its cluster: leaving it out, its cluster says nothing, so it is not counted right
    y_alone = y.copy()
    y_alone[[201, 202]] = -1
    alone = ClusterPropagator(map="pca", pca_dims=2, n_clusters=3, random_state=0).fit(Z, y_alone)
    assert alone.loo_accuracy_ == pytest.approx(6 / 7)
    assert (alone.labels_ == truth).mean() > 0.99  # with its label, the cluster is still named right
    # the same map given as an embedding gives the same answer without drawing it again
    again = ClusterPropagator(n_clusters=3, random_state=0).fit(Z, y, embedding=prop.embedding_)
    np.testing.assert_allclose(again.label_distributions_, prop.label_distributions_)


@pytest.mark.parametrize("params, message", [({"map": "tsne"}, "map"), ({"map_dims": 0}, "map_dims"),
                                             ({"prior": -1.0}, "prior"), ({"umap_min_rows": -3}, "umap_min_rows")])
def test_bad_propagator_settings_are_named(params, message):
    Z, truth = blobs(n=20)
    with pytest.raises(InputError, match=message):
        ClusterPropagator(**params).fit(Z, np.where(np.arange(60) % 10 == 0, truth, -1))


def test_a_map_of_images_is_drawn_from_principal_components_computed_a_block_at_a_time(real_data_root):
    """Rows of more than ``umap_pca_dims`` values reach UMAP as their first principal components: the same as
    scikit-learn's randomized PCA on the scaled rows (the reference) when it sees every row, and close to it
    (the same share of the variance) from a sample, with uint8 images read as they are."""
    from sklearn.decomposition import PCA

    from fewlabel import datasets
    from fewlabel.tasks.manifold import principal_components

    X, y = datasets.load("fashion-mnist", root=real_data_root / "fashion-mnist")
    pick = np.random.default_rng(0).choice(len(X), 3000, replace=False)
    X, y = X[pick], y[pick]
    reference = PCA(20, svd_solver="randomized", random_state=0).fit(X.reshape(3000, -1).astype(np.float32) / 255)
    expected = reference.transform(X.reshape(3000, -1).astype(np.float32) / 255)
    every = principal_components(X, 20, 0, sample_rows=3000, scale=1 / 255, chunk_rows=700)
    assert every.dtype == np.float32 and every.shape == (3000, 20)
    np.testing.assert_allclose(every, expected, atol=2e-4 * np.abs(expected).max())
    sampled = principal_components(X, 20, 0, sample_rows=500, scale=1 / 255)
    assert sampled.var(axis=0).sum() > 0.97 * expected.var(axis=0).sum()
    few = datasets.labeled_subset(y[:400], 40, seed=0)
    prop = ClusterPropagator(random_state=0, umap_pca_dims=20, umap_pca_sample=500, n_neighbors=10)
    prop.fit(X[:400], few, n_classes=10, scale=1 / 255)
    assert prop.map_ == "umap" and prop.embedding_.shape == (400, 10) and np.isfinite(prop.embedding_).all()
    with pytest.raises(InputError, match="umap_pca_dims"):
        ClusterPropagator(umap_pca_dims=0).fit(X[:400], few, n_classes=10)
    holed = X[:400].astype(np.float32)
    holed[7, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        prop.fit(holed, few, n_classes=10)


def network_unsure_where_the_clusters_are_wrong(y):
    """(network, clusters) distributions over two classes: the network right on every row, sure (0.99) on the
    first 90 and barely (0.51) on the last 10; the clusters sure (0.99) everywhere and wrong on those 10."""
    n = len(y)
    sure = np.where(np.arange(n) < n - 10, 0.99, 0.51)
    p_net = np.where(np.eye(2)[y] == 1, sure[:, None], 1 - sure[:, None])
    p_clusters = np.where(np.eye(2)[y] == 1, 0.99, 0.01)
    p_clusters[n - 10:] = p_clusters[n - 10:, ::-1]
    return p_net, p_clusters


def test_the_route_is_the_most_accurate_source_on_the_held_out_labels():
    y = np.repeat([0, 1], 50)
    right_net = np.eye(2)[y] * 0.8 + 0.1
    wrong = np.eye(2)[1 - y] * 0.8 + 0.1
    # clusters right on 95 rows, the network on 70: clusters, and clearly better, so a fresh network learns them
    p_clusters = np.where((np.arange(100) < 95)[:, None], right_net, wrong)
    p_net = np.where((np.arange(100) % 10 < 7)[:, None], right_net, wrong)
    record = choose_route(y, p_net, p_clusters, how="test")
    assert record["route"] == CLUSTERS and record["second"] == "fresh"
    assert record["scores"][CLUSTERS] == {"accuracy": 0.95, "right": 95, "rows": 100}
    assert record["scores"][LABELS_ALONE]["right"] == 70
    # the network right everywhere, but barely sure on the ten rows where the clusters are surely wrong: the
    # clusters' mistakes outvote it in the product: the labels alone win, and nothing else is trained
    record = choose_route(y, *network_unsure_where_the_clusters_are_wrong(y), how="test")
    assert record["route"] == LABELS_ALONE and record["second"] is None
    # flat clusters that only tip the network's close calls: the product, not clearly better: continue
    close = np.where((np.arange(100) % 10 < 8)[:, None], np.eye(2)[y] * 0.2 + 0.4, np.eye(2)[1 - y] * 0.1 + 0.45)
    tip = np.eye(2)[y] * 0.2 + 0.4
    record = choose_route(y, close, tip, how="test")
    assert record["route"] in (CLUSTERS, PRODUCT)
    assert record["scores"][PRODUCT]["right"] >= record["scores"][LABELS_ALONE]["right"]
    assert forced_route(PRODUCT)["second"] == "continue" and forced_route(CLUSTERS)["scores"] is None
    with pytest.raises(InputError, match="unknown route"):
        forced_route("both")


def test_the_route_record_keeps_the_rows_each_source_alone_gets_right():
    """The record keeps what both decisions were made on: the rows only the propagated labels, or only the
    network, get right, and the standard errors each decision asked for (``z_labels_alone``, ``z_fresh``)."""
    y = np.repeat([0, 1], 50)

    def confident(wrong_rows, sure):
        p = np.eye(2)[y] * (2 * sure - 1) + (1 - sure)
        p[wrong_rows] = p[wrong_rows][:, ::-1]
        return p

    p_net = confident([0, 1, 2, 3, 4], sure=0.6)  # 95 right
    # the clusters right alone on 5 rows, the network on 1: 4 > sqrt(6) = 2.4 but < 2 sqrt(6) = 4.9
    record = choose_route(y, p_net, confident([5], sure=0.9), how="test")
    assert record["route"] == CLUSTERS and record["second"] == "continue"
    assert record["compared"] == {"propagated": CLUSTERS, "propagated_right_alone": 5, "network_right_alone": 1,
                                  "z_labels_alone": 2.0, "z_fresh": 2.0}
    assert choose_route(y, p_net, confident([5], sure=0.9), how="test", z_fresh=1.0)["second"] == "fresh"
    # 5 against 3: 2 < sqrt(8) = 2.8: not more accurate even at one standard error
    assert choose_route(y, p_net, confident([5, 6, 7], sure=0.9), how="test", z_fresh=1.0)["second"] == "continue"
    # the network right alone on 10 rows, the product on 0: 10 > 2 sqrt(10) = 6.3: the labels alone
    record = choose_route(y, *network_unsure_where_the_clusters_are_wrong(y), how="test")
    assert record["route"] == LABELS_ALONE and record["compared"]["network_right_alone"] == 10
    assert choose_route(y, *network_unsure_where_the_clusters_are_wrong(y), how="test",
                        z_labels_alone=4.0)["route"] != LABELS_ALONE  # 10 < 4 sqrt(10) = 12.6


def sure_network_wrong_where_the_clusters_are_right(y, wrong_every=10):
    """Two classes: the network 0.999 sure of every row, wrong on every ``wrong_every``-th; the clusters right
    there and 0.99 sure, wrong (0.6 sure) on the rows after those, where the network is right."""
    n = len(y)
    net_wrong = np.arange(n) % wrong_every == 0
    clusters_wrong = np.arange(n) % wrong_every == 1
    p_net = np.where(np.eye(2)[y] == 1, 0.999, 0.001)
    p_net[net_wrong] = p_net[net_wrong][:, ::-1]
    p_clusters = np.where(np.eye(2)[y] == 1, 0.99, 0.01)
    p_clusters[clusters_wrong] = np.where(np.eye(2)[y[clusters_wrong]] == 1, 0.4, 0.6)
    return p_net, p_clusters


def test_the_pool_weighs_each_source_by_how_its_confidence_held_on_the_labeled_rows():
    y = np.repeat([0, 1], 50)
    p_net, p_clusters = sure_network_wrong_where_the_clusters_are_right(y)
    np.testing.assert_allclose(pooled(p_net, p_clusters, 0.5), normalized(p_net * p_clusters))
    np.testing.assert_array_equal(pooled(p_net, p_clusters, 0.0).argmax(1), p_clusters.argmax(1))
    np.testing.assert_array_equal(pooled(p_net, p_clusters, 1.0).argmax(1), p_net.argmax(1))
    # the plain product follows the sure network into its ten mistakes: 90 right. The network's sureness was not
    # earned and the clusters' was: the fitted pool leans on the clusters where they are sure, and the network
    # still corrects them where they are not
    assert np.sum(normalized(p_net * p_clusters).argmax(1) == y) == 90
    w = pool_weight(y, p_net, p_clusters)
    assert w < 0.5
    assert np.sum(pooled(p_net, p_clusters, w).argmax(1) == y) == 100
    # the other way round: a sure network that is right outweighs clusters that are sure and wrong
    assert pool_weight(y, p_clusters, p_net) > 0.5
    # the route is chosen on the plain product (90 right, as the network and the clusters); with pool=True the
    # record keeps the fitted weight the final network's labels are pooled with; by default the plain product's
    record = choose_route(y, p_net, p_clusters, how="test", pool=True)
    assert record["scores"][PRODUCT]["right"] == 90 and record["pool"] is True and record["network_weight"] == w
    record = choose_route(y, p_net, p_clusters, how="test")
    assert record["scores"][PRODUCT]["right"] == 90 and record["pool"] is False and record["network_weight"] == 0.5



def two_sources_of_a_long_tail(n=4000, seed=0):
    """Rows of three classes, 80% / 15% / 5% of them, seen by two sources that see them independently: each
    source's view of a row is its class's mean plus noise, and each source's distribution is the exact posterior
    of its view, which holds the class frequencies (as a network trained on the labels, and a cluster's histogram
    of labeled rows, do). Returns (classes, frequencies, the two posteriors, the exact posterior of both views)."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.80, 0.15, 0.05])
    y = rng.choice(3, n, p=prior)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    log_like = []
    for _ in range(2):
        view = means[y] + rng.normal(size=(n, 2))
        log_like.append(-0.5 * ((view[:, None, :] - means[None]) ** 2).sum(-1))

    def posterior(*logs):
        z = sum(logs) + np.log(prior)
        return normalized(np.exp(z - z.max(1, keepdims=True)))

    return y, prior, posterior(log_like[0]), posterior(log_like[1]), posterior(*log_like)


def test_the_product_counts_the_class_frequencies_once():
    """Each source's posterior holds the class frequencies; their plain product counts them twice, and sends rows
    of the rare classes to the common one. Divided once by the frequencies it is Bayes' rule for two sources: the
    exact posterior of both views, the most accurate answer on every class that can be had from them."""
    y, prior, p_a, p_b, exact = two_sources_of_a_long_tail()
    np.testing.assert_allclose(pooled(p_a, p_b, 0.5, prior), exact, atol=1e-9)
    twice = pooled(p_a, p_b, 0.5)
    assert np.abs(twice - exact).max() > 0.2

    def recall(p, c):
        return np.mean(p[y == c].argmax(1) == c)

    # measured: the rare classes' recall 0.32 and 0.07 counted twice, 0.61 and 0.42 once; all rows 0.849 and 0.884
    assert recall(exact, 1) > recall(twice, 1) + 0.15 and recall(exact, 2) > recall(twice, 2) + 0.2
    assert np.mean(exact.argmax(1) == y) > np.mean(twice.argmax(1) == y) + 0.02
    # where every class is as common, dividing changes nothing
    np.testing.assert_allclose(pooled(p_a, p_b, 0.5, np.full(3, 1 / 3)), twice, atol=1e-12)
    # the frequencies of the labeled rows, a row more for each class: none is zero
    np.testing.assert_allclose(class_prior(np.array([0, 0, 0, 1]), 3), [4 / 7, 2 / 7, 1 / 7])
    # the route scores the product so divided (prior_once=True, the default), and keeps whether it did
    record = choose_route(y, p_a, p_b, how="test")
    assert record["prior_once"] is True
    assert record["scores"][PRODUCT]["right"] == np.sum(pooled(p_a, p_b, 0.5, class_prior(y, 3)).argmax(1) == y)
    before = choose_route(y, p_a, p_b, how="test", prior_once=False)
    assert before["prior_once"] is False and before["scores"][PRODUCT]["right"] == np.sum(twice.argmax(1) == y)

def sure(y, wrong_rows, p):
    """Two classes: probability ``p`` on the true class of every row, on the other class for ``wrong_rows``."""
    out = np.where(np.eye(2)[y] == 1, p, 1 - p)
    out[wrong_rows] = out[wrong_rows][:, ::-1]
    return out


def test_the_model_on_the_labels_is_the_linear_one_where_it_predicted_them_better():
    y = np.repeat([0, 1], 10)
    # right on the same 18 of 20 rows: the network 0.9999 sure of its two mistakes, the linear model 0.7 sure of
    # every answer: accuracy cannot tell them apart, log-loss can (0.92 and 0.44 against the frequencies' 0.69)
    p_net, p_lin = sure(y, [0, 10], 0.9999), sure(y, [0, 10], 0.7)
    record = choose_labels_model(y, p_net, p_lin)
    assert record["model"] == LINEAR and record[NETWORK]["right"] == record[LINEAR]["right"] == 18
    assert record[LINEAR]["log_loss"] < record["prior_log_loss"] < record[NETWORK]["log_loss"]
    assert record["prior_log_loss"] == pytest.approx(np.log(2), abs=1e-4)
    assert log_loss(y, p_lin) == pytest.approx(-(18 * np.log(0.7) + 2 * np.log(0.3)) / 20)
    # a network clearly more accurate wins however sure it is (20 against 10 right: beyond 2 sqrt(10))
    assert choose_labels_model(y, sure(y, [], 0.999), sure(y, np.arange(0, 20, 2), 0.6))["model"] == NETWORK
    # a linear model that knows no more than the class frequencies settles nothing: the network stays, even where
    # the network's log-loss is worse still
    flat = np.full((20, 2), 0.5)
    assert choose_labels_model(y, sure(y, [0, 1, 2, 10, 11], 0.99), flat)["model"] == NETWORK
    # exact ties go to the network
    assert choose_labels_model(y, p_lin, p_lin.copy())["model"] == NETWORK
    assert prior_log_loss(np.array([0, 0, 0, 1]), 3) == pytest.approx(-(3 * np.log(0.75) + np.log(0.25)) / 4)


def test_a_linear_model_on_the_labels_settles_a_close_route_by_log_loss():
    y = np.repeat([0, 1], 10)
    p_lin = sure(y, [0, 10], 0.8)  # 18 right, log-loss 0.34
    p_clusters = sure(y, [1, 11, 12], 0.99)  # 17 right, 0.99 sure of three mistakes: log-loss 0.70
    # neither clearly more accurate: by accuracy alone the propagated labels are taken
    assert choose_route(y, p_lin, p_clusters, how="test")["route"] != LABELS_ALONE
    record = choose_route(y, p_lin, p_clusters, how="test", settle_by_log_loss=True)
    assert record["route"] == LABELS_ALONE and record["settled_by"] == "log-loss" and record["second"] is None
    assert record["scores"][LABELS_ALONE]["log_loss"] < record["scores"][record["compared"]["propagated"]]["log_loss"]
    # propagated labels of the smaller log-loss keep the route
    record = choose_route(y, p_lin, sure(y, [1], 0.9), how="test", settle_by_log_loss=True)
    assert record["route"] in (CLUSTERS, PRODUCT) and "settled_by" not in record
    # and so do propagated labels right on more rows, however sure of their mistakes: 18 right, log-loss 0.69,
    # against a linear model right on 17 with a log-loss of 0.57
    unsure = sure(y, [0, 10, 5], 0.6)
    record = choose_route(y, unsure, sure(y, [1, 11], 0.999), how="test", settle_by_log_loss=True)
    assert record["scores"][LABELS_ALONE]["log_loss"] < record["scores"][record["compared"]["propagated"]]["log_loss"]
    assert record["route"] in (CLUSTERS, PRODUCT) and "settled_by" not in record
    # a model on the labels no better than the class frequencies does not settle it, whatever the clusters' loss
    record = choose_route(y, np.full((20, 2), 0.5), p_clusters, how="test", settle_by_log_loss=True)
    assert record["route"] != LABELS_ALONE and record["prior_log_loss"] == pytest.approx(np.log(2), abs=1e-4)


def test_a_class_with_one_labeled_row_does_not_decide_the_log_losses():
    from fewlabel.tasks.estimate import stratified_folds

    # three classes, the third labeled once: the fold that holds that row out learned from no row of its class
    y_part = np.array([0] * 10 + [1] * 9 + [2] + [-1] * 5)
    folds = stratified_folds(y_part, 3, 0)
    scored = known_to_other_folds(y_part, folds)
    assert scored.tolist() == [True] * 19 + [False]
    y = y_part[:20]
    # the linear model right on 17, 0.8 sure, and zero on the class it never saw (as linear_probabilities gives);
    # the network right on 16, 0.95 sure of its mistakes, and 0.01 on the unseen class
    p_lin = np.full((20, 3), 0.1)
    p_lin[np.arange(20), y] = 0.8
    p_lin[[0, 10], :2] = p_lin[[0, 10], 1::-1]
    p_lin[19] = [0.6, 0.4, 0.0]
    p_net = np.full((20, 3), 0.025)
    p_net[np.arange(20), y] = 0.95
    p_net[[0, 1, 10], :2] = p_net[[0, 1, 10], 1::-1]
    p_net[19] = [0.5, 0.49, 0.01]
    # over every row, the one unseen class costs the linear model -log(1e-12) / 20 = 1.38 of log-loss and decides
    record = choose_labels_model(y, p_net, p_lin)
    assert record["model"] == NETWORK and record[LINEAR]["log_loss"] > record["prior_log_loss"]
    # over the rows whose class the other folds hold, the linear model's answers are the better ones
    record = choose_labels_model(y, p_net, p_lin, scored=scored)
    assert record["model"] == LINEAR and record["log_loss_rows"] == 19
    assert record[LINEAR]["log_loss"] == pytest.approx(log_loss(y[:19], p_lin[:19]), abs=1e-4)
    assert record[LINEAR]["right"] == 17 and record[NETWORK]["right"] == 16  # accuracy still counts every row
    # the route settled the same way: the clusters right on 16 and sure of their mistakes
    p_clusters = np.full((20, 3), 0.005)
    p_clusters[np.arange(20), y] = 0.99
    p_clusters[[2, 3, 11], :2] = p_clusters[[2, 3, 11], 1::-1]
    p_clusters[19] = [0.99, 0.005, 0.005]
    assert choose_route(y, p_lin, p_clusters, how="test", settle_by_log_loss=True)["route"] != LABELS_ALONE
    record = choose_route(y, p_lin, p_clusters, how="test", settle_by_log_loss=True, scored=scored)
    assert record["route"] == LABELS_ALONE and record["settled_by"] == "log-loss" and record["log_loss_rows"] == 19


def test_clearly_better_is_mcnemars_comparison():
    a = np.array([True] * 20 + [False] * 80)
    assert clearly_better(a, np.zeros(100, bool)) == 1  # 20 against 0: beyond 2 * sqrt(20)
    assert clearly_better(np.zeros(100, bool), a) == -1
    b = np.array([True] * 10 + [False] * 90)
    assert clearly_better(a, b) == 1  # right alone on 10 rows against 0: beyond 2 * sqrt(10) = 6.3
    c = np.zeros(100, bool)
    c[10:26] = True
    assert clearly_better(a, c) == 0  # 10 against 6: 4, within 2 * sqrt(16) = 8
    assert clearly_better(a, a) == 0


def _stage(**kw):
    from fewlabel.nets.dense import MLP
    from fewlabel.tasks.network import NetworkStage
    from fewlabel.train import Trainer

    def make_trainer(epochs, max_steps, seed_offset=0, **overrides):
        return Trainer(epochs=epochs, max_steps=max_steps, seed=seed_offset, device="cpu", progress=False, lr=1e-2,
                       **overrides)

    body = MLP([16, 32, 8], activations="relu", input_shape=(16,))
    spec = {"body": {"type": "MLP", "config": body.config()}, "code": "flatten", "image_shape": None}
    return NetworkStage(spec, 2, make_trainer=make_trainer, input_shape=(16,), dropout=0.0, epochs=4, **kw)


def test_the_network_stage_follows_row_weights_and_starts_from_a_given_network():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 300)
    X = (rng.normal(size=(600, 16)) + 1.5 * (2 * y[:, None] - 1)).astype(np.float32)
    noisy = y.copy()
    noisy[::2] = 1 - noisy[::2]  # half the labels wrong
    weight = np.where(np.arange(600) % 2 == 0, 0.0, 1.0)
    stage = _stage()
    net, history = stage.fit(X, noisy, weight, batch_size=64, epoch_rows=600)
    p = stage.probabilities(net, history, X)
    assert (p.argmax(1) == y).mean() > 0.95  # the zero-weight wrong labels taught nothing
    # without the weights the wrong half pulls the answers to chance
    net_flat, h_flat = stage.fit(X, noisy, batch_size=64, epoch_rows=600)
    assert (stage.probabilities(net_flat, h_flat, X).argmax(1) == y).mean() < 0.9
    # from the trained network, the first epoch's loss is already that network's last
    net2, h2 = stage.fit(X, y, init=net, batch_size=64, epoch_rows=600, budget=5)
    assert h2.history["loss"][0] < 0.5 * history.history["loss"][0]
    assert h2.info["steps"] == 5


def test_the_fixmatch_stage_alone():
    """FixMatch's loss on a batch of unlabeled images: the labeled rows it draws, the mask of confident
    pseudo-labels (none with a threshold above 1, all with a threshold of 0), and its settings checked."""
    import torch

    from fewlabel.tasks.consistency import FixMatch
    from fewlabel.tasks.network import supervised_loss

    rng = np.random.default_rng(0)
    X_lab = rng.integers(0, 255, (20, 12, 12), dtype=np.uint8)
    y_lab = np.repeat(np.arange(2), 10).astype(np.int64)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 2))
    batch = (torch.from_numpy(rng.integers(0, 255, (24, 12, 12), dtype=np.uint8)),)
    stage = FixMatch(threshold=0.95, unlabeled_weight=1.0, unlabeled_ratio=3)
    assert stage.labeled_per_batch(32) == 8 and FixMatch(unlabeled_ratio=7).labeled_per_batch(4) == 1
    sup = supervised_loss(1 / 255, (12, 12), augment=False)
    for threshold, mask in ((1.01, 0.0), (0.0, 1.0)):
        out = FixMatch(threshold=threshold, unlabeled_ratio=3).loss(X_lab, y_lab, supervised=sup, scale=1 / 255,
                                                                     input_shape=(12, 12), batch_size=32)(net, batch)
        assert float(out["mask_rate"]) == mask
        assert torch.isclose(out["loss"], out["supervised"] + out["unlabeled"])
    for bad, message in (({"threshold": 2}, "threshold"), ({"unlabeled_ratio": 0}, "unlabeled_ratio"),
                         ({"unlabeled_weight": -1}, "unlabeled_weight")):
        with pytest.raises(InputError, match=message):
            FixMatch(**bad).check()


def test_route_params_reach_the_route_and_come_back_with_the_model(tmp_path):
    """route_params={'pool': True} on a real table (breast cancer, 40 labels): the measured route records the
    pool's weight, and the final network's labels are pooled with it; the settings come back with the model."""
    from sklearn.datasets import load_breast_cancer

    import fewlabel
    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    data = load_breast_cancer()
    y = labeled_subset(data.target, 40, seed=0)
    params = {"pool": True, "z_fresh": 3.0}
    t0 = time.perf_counter()
    clf = SemiSupervisedClassifier(route_params=params, max_steps=40, random_state=0).fit(data.data, y)
    wall = time.perf_counter() - t0
    record = clf.route_
    assert record["scores"] is not None and record["pool"] is True and record["compared"]["z_fresh"] == 3.0
    assert 0.0 <= record["network_weight"] <= 1.0
    # where the fit's time went, phase by phase, in the order they ran: they make up most of the fit
    phases = list(clf.times_)
    assert phases[:2] == ["map and mixture", "route"] and set(phases) <= {
        "map and mixture", "route", "linear model", "first network", "final network"}, clf.times_
    spent = sum(t["seconds"] for t in clf.times_.values())
    # each phase is recorded to 0.01 s: the linear model on 40 rows may take under 5 ms and read 0.0; so their
    # sum may pass the wall time by half of that per phase
    assert all(t["seconds"] >= 0 and t["cpu_seconds"] >= 0 for t in clf.times_.values()), clf.times_
    assert clf.times_["map and mixture"]["seconds"] > 0 and clf.times_["final network"]["seconds"] > 0, clf.times_
    assert 0.5 * wall < spent <= wall + 0.005 * len(phases), (spent, wall, clf.times_)
    fewlabel.save(clf, tmp_path / "m")
    back = fewlabel.load(tmp_path / "m")
    assert back.route_params == params and back.route_ == record and back.times_ == clf.times_
    supervised = SemiSupervisedClassifier(propagate=None, max_steps=5).fit(data.data, y)
    assert list(supervised.times_) == ["network"]


@pytest.mark.real_step_floor
@pytest.mark.parametrize("table, labels, seed, gain, route", [("wine", 15, 1, 0.03, LABELS_ALONE),
                                                               ("digits", 50, 3, 0.05, PRODUCT)])
def test_where_a_linear_model_predicts_a_tables_held_out_labels_better_the_route_is_built_on_it(table, labels, seed,
                                                                                                 gain, route):
    """Real tables, every unlabeled row scored, the defaults against the same classifier with the network as the
    only model on the labels (``route_params={'linear': False}``, the route as it was). Measured on one core of a
    first-generation Zen: wine (15 labels, seed 1) 0.951 against 0.908, the logistic regression's labels teaching
    the final network (the labels alone, settled by log-loss); digits as a table of 64 columns (50 labels, seed 3)
    0.927 against 0.841, the clusters x the logistic regression's labels teaching the network on the labels on."""
    from sklearn import datasets as sk

    from fewlabel import SemiSupervisedClassifier
    from fewlabel.datasets import labeled_subset

    X, y = getattr(sk, f"load_{table}")(return_X_y=True)
    X = X.astype(np.float32)
    few = labeled_subset(y, labels, seed=seed)
    unl = few < 0
    clf = SemiSupervisedClassifier(random_state=seed, device="cpu").fit(X, few)
    before = SemiSupervisedClassifier(random_state=seed, device="cpu", route_params={"linear": False}).fit(X, few)
    accuracy, accuracy_before = np.mean(clf.predict(X[unl]) == y[unl]), np.mean(before.predict(X[unl]) == y[unl])
    assert accuracy > accuracy_before + gain, (accuracy, accuracy_before, clf.route_)
    record = clf.route_
    assert record["labels_model"] == LINEAR and record["labels_models"]["model"] == LINEAR
    assert record["labels_models"][LINEAR]["log_loss"] < record["labels_models"][NETWORK]["log_loss"]
    assert record["route"] == route and "labels_model" not in before.route_ and "linear model" in clf.times_
    if route == LABELS_ALONE:
        # the final network learned the linear model's labels; no network on the labels was trained, so the
        # estimate of `fewlabel classify` trains its own twin for the 'labels alone' baseline
        assert record["settled_by"] == "log-loss" and clf.labels_alone_proba_ is None
        assert clf.propagation_["second"] == "a fresh network on the labels of the linear model"
        assert "first network" not in clf.times_
    else:  # the network on the labels continues on the product of the clusters and the linear model
        assert record["second"] == "continue" and clf.propagation_["second"].startswith("fine-tuned")
        assert clf.labels_alone_proba_ is not None and "first network" in clf.times_
