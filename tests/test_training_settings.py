"""One training configuration: every estimator takes the same training settings, declared once, checked
in one place, and a step budget of N makes exactly N optimizer steps, whatever the estimator."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch.optim.optimizer import register_optimizer_step_post_hook

from fewlabel import (BYOL, Autoencoder, ConvAutoencoder, DeepClustering, SemiSupervisedClassifier,
                      StackedAutoencoder, VariationalAutoencoder, datasets)
from fewlabel.errors import InputError
from fewlabel.tasks.detect import ClassAutoencoderClassifier, ReconstructionDetector
from fewlabel.train.config import SETTINGS, split_budget

CPU = dict(device="cpu")
TRAINED = [Autoencoder, ConvAutoencoder, VariationalAutoencoder, StackedAutoencoder, BYOL, SemiSupervisedClassifier,
           DeepClustering]


@pytest.fixture(scope="module")
def rows(mnist_small):
    X, y = mnist_small[0][:300], mnist_small[1][:300]
    return X, y, datasets.labeled_subset(y, 30, seed=0)


class StepCounter:
    """Counts real optimizer steps (torch's global hook), whoever makes them."""

    def __enter__(self):
        self.n = 0
        self.handle = register_optimizer_step_post_hook(self._count)
        return self

    def _count(self, opt, args, kwargs):
        self.n += 1

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("cls", TRAINED, ids=lambda c: c.__name__)
def test_every_estimator_takes_the_same_training_settings(cls):
    params = inspect.signature(cls.__init__).parameters
    assert set(SETTINGS) <= set(params)
    est = cls()
    assert set(SETTINGS) <= set(est.get_params())
    twin = clone(est.set_params(max_steps=7, precision="fp32", compile=False))
    assert (twin.max_steps, twin.precision, twin.compile) == (7, "fp32", False)
    assert "Training settings" in cls.__doc__ and "max_steps" in cls.__doc__


@pytest.mark.parametrize("cls", TRAINED, ids=lambda c: c.__name__)
@pytest.mark.parametrize("setting, bad, message", [
    ("epochs", 0, "epochs must be a positive integer"),
    ("max_steps", -3, "max_steps must be a positive integer"),
    ("batch_size", 2.5, "batch_size must be a positive integer"),
    ("lr", float("nan"), "lr must be a positive finite number"),
    ("weight_decay", -1.0, "weight_decay must be a finite number >= 0"),
    ("optimizer", "rmsprop", "unknown optimizer"),
    ("precision", "fp16", "unknown precision"),
    ("compile", "sometimes", "unknown compile"),
])
def test_bad_settings_are_refused_the_same_way_everywhere(cls, setting, bad, message, rows):
    X, y, y_few = rows
    est = cls(**CPU).set_params(**{setting: bad})
    if cls is DeepClustering:
        est.set_params(autoencoder=Autoencoder(hidden=(8,), latent=2, max_steps=1, **CPU).fit(X))
    with pytest.raises(InputError, match=message):
        est.fit(X, y_few) if cls is SemiSupervisedClassifier else est.fit(X)


PRETRAINED = {}


def small(cls, **kw):
    nets = {Autoencoder: dict(hidden=(16,), latent=4), ConvAutoencoder: dict(channels=(4,)),
            VariationalAutoencoder: dict(hidden=(16,), latent=2),
            StackedAutoencoder: dict(hidden=(16,), latent=4, layer_epochs=1, finetune_epochs=1),
            BYOL: dict(encoder="conv", channels=(4,), hidden_dim=16, projection_dim=8)}
    return cls(**nets.get(cls, {}), batch_size=64, **CPU, **kw)


@pytest.mark.parametrize("n", [1, 9])
@pytest.mark.parametrize("make, fit_args, steps", [
    (lambda n: small(Autoencoder, max_steps=n), "X", lambda n: n),
    (lambda n: small(ConvAutoencoder, max_steps=n), "X", lambda n: n),
    (lambda n: small(VariationalAutoencoder, max_steps=n), "X", lambda n: n),
    (lambda n: small(VariationalAutoencoder, architecture="conv", channels=(4,), max_steps=n), "X", lambda n: n),
    # 3 stages (two levels and the fine-tuning) share the budget: at least one step each
    (lambda n: small(StackedAutoencoder, max_steps=n + 2), "X", lambda n: n + 2),
    (lambda n: small(BYOL, max_steps=n), "X", lambda n: n),
    (lambda n: SemiSupervisedClassifier(encoder="dense", propagate=None, pretrain=None, hidden=(16,), latent=4, max_steps=n, **CPU), "Xy",
     lambda n: n),
    (lambda n: SemiSupervisedClassifier(encoder="dense", propagate=None, pretrain="autoencoder", hidden=(16,), latent=4, max_steps=n,
                                        pretrain_params={"max_steps": 3}, **CPU), "Xy", lambda n: n + 3),
    (lambda n: SemiSupervisedClassifier(encoder="dense", propagate=None, pretrain=None, hidden=(16,), latent=4, freeze_encoder=True, max_steps=n,
                                        **CPU), "Xy", lambda n: n),
    (lambda n: SemiSupervisedClassifier(encoder="dense", propagate=None, pretrain=None, hidden=(16,), latent=4, freeze_encoder="then_unfreeze",
                                        freeze_epochs=1, epochs=3, max_steps=n + 1, **CPU), "Xy", lambda n: n + 1),
    (lambda n: SemiSupervisedClassifier(encoder="conv", channels=(4,), pretrain=None, consistency="fixmatch",
                                        batch_size=32, max_steps=n, **CPU), "Xy", lambda n: n),
    # the default route (labels propagated; a first network too where the clusters mix classes) shares it
    (lambda n: SemiSupervisedClassifier(channels=(4,), max_steps=n, **CPU), "Xy", lambda n: n),
    (lambda n: DeepClustering(PRETRAINED["ae"], n_clusters=3, max_steps=n, update_interval=1, tol=0.0,
                              batch_size=64, **CPU), "X", lambda n: n),
    (lambda n: ReconstructionDetector(small(Autoencoder, max_steps=n)), "X", lambda n: n),
    (lambda n: ClassAutoencoderClassifier(small(Autoencoder, max_steps=n)), "Xy3", lambda n: 3 * n),
], ids=["ae", "conv-ae", "vae", "conv-vae", "stacked", "byol", "classifier", "classifier+pretrain",
        "frozen-head", "then-unfreeze", "fixmatch", "default-classifier", "deep-clustering", "detector", "per-class"])
def test_a_step_budget_makes_exactly_that_many_optimizer_steps(make, fit_args, steps, n, rows):
    X, y, y_few = rows
    if "ae" not in PRETRAINED:  # deep clustering starts from a fitted autoencoder (its steps not counted)
        PRETRAINED["ae"] = Autoencoder(hidden=(16,), latent=4, max_steps=2, **CPU).fit(X)
    est = make(n)
    args = {"X": (X,), "Xy": (X, y_few), "Xy3": (X[y < 3], y[y < 3])}[fit_args]
    with StepCounter() as counter:
        est.fit(*args)
    assert counter.n == steps(n)


def test_an_epoch_is_a_pass_over_all_rows_however_few_are_labeled(rows):
    """30 labels among 300 rows, batch 64: 5 steps an epoch (ceil(300 / 64)), not 1 (40 epochs: the
    classifier's floor of min_steps = 200 steps in all does not bind)."""
    X, _, y_few = rows
    with StepCounter() as counter:
        clf = SemiSupervisedClassifier(encoder="dense", propagate=None, pretrain=None, hidden=(16,), latent=4,
                                       epochs=40, batch_size=64, **CPU)
        clf.fit(X, y_few)
    assert counter.n == 200 == clf.history_.info["steps"] and len(clf.history_.epochs) == 40


@pytest.mark.real_step_floor
def test_few_rows_still_get_the_classifiers_floor_of_steps(rows):
    """2 epochs of 300 rows at batch 64 would be 10 steps; the classifier makes min_steps = 200 (in epochs of
    100 steps), unless a max_steps budget is given."""
    X, _, y_few = rows
    with StepCounter() as counter:
        clf = SemiSupervisedClassifier(encoder="dense", propagate=None, hidden=(16,), latent=4, epochs=2,
                                       batch_size=64, **CPU).fit(X, y_few)
    assert counter.n == 200 == clf.history_.info["steps"] and len(clf.history_.epochs) == 2
    with StepCounter() as counter:
        SemiSupervisedClassifier(encoder="dense", propagate=None, hidden=(16,), latent=4, epochs=2, batch_size=64,
                                 min_steps=60, **CPU).fit(X, y_few)
    assert counter.n == 60


def test_a_budget_shared_by_phases_adds_up_and_follows_their_lengths():
    assert split_budget(None, [3, 1]) == [None, None]
    assert split_budget(10, [3, 1]) == [7, 3] or split_budget(10, [3, 1]) == [8, 2]
    assert sum(split_budget(10, [3, 1])) == 10
    assert split_budget(3, [10, 10, 10]) == [1, 1, 1]
    for total in range(4, 40):
        shares = split_budget(total, [5, 5, 5, 2])
        assert sum(shares) == total and min(shares) >= 1 and shares[3] <= shares[0]
    with pytest.raises(InputError, match="cannot be shared by 3"):
        split_budget(2, [1, 1, 1])


def test_training_settings_reach_the_trainer(rows):
    X = rows[0]
    ae = Autoencoder(hidden=(16,), latent=4, max_steps=2, precision="fp32", **CPU).fit(X)
    assert ae.history_.info == {"precision": "fp32", "compiled": False, "steps": 2}
    assert np.isfinite(ae.transform(X[:3])).all()
    torch.manual_seed(0)
