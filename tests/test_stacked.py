"""The greedily stacked autoencoder on real MNIST: greedy training learns, fine-tuning improves on it,
levels train in order and lower ones really stay frozen, it saves, refuses bad input, is a scikit-learn
estimator and works in a Pipeline."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

import fewlabel
from fewlabel.errors import InputError
from fewlabel.nets.autoencoder import DenseAutoencoderNet
from fewlabel.pretrain.stacked import StackedAutoencoder

# Small enough to train on 1,500 real digits in a couple of seconds on one core.
SMALL = dict(hidden=(128, 64), latent=10, batch_size=64, lr=3e-3, device="cpu", layer_epochs=5)
ORDER = ["encoder.0+decoder.2", "encoder.1+decoder.1", "encoder.2+decoder.0"]


@pytest.fixture(scope="module")
def digits(mnist_small):
    X, y, Xt, yt = mnist_small
    return X[:1500], y[:1500], Xt[:500], yt[:500]


@pytest.fixture(scope="module")
def greedy(digits):
    return StackedAutoencoder(**SMALL, finetune_epochs=0).fit(digits[0])


@pytest.fixture(scope="module")
def finetuned(digits):
    return StackedAutoencoder(**SMALL, finetune_epochs=10).fit(digits[0])


def test_greedy_stacking_learns_and_finetuning_improves_it(digits, greedy, finetuned):
    X, _, Xt, _ = digits
    untrained = clone(greedy).set_params(optimizer="sgd", lr=1e-12, layer_epochs=1, finetune_epochs=0).fit(X[:64])
    e_untrained, e_greedy, e_fine = (float(m.reconstruction_error(Xt).mean()) for m in (untrained, greedy, finetuned))
    # measured: untrained 0.232, greedy 0.064, fine-tuned 0.029 (MSE per pixel on [0, 1])
    assert e_greedy < 0.4 * e_untrained
    assert e_fine < 0.7 * e_greedy
    # The fine-tuned model went through the very same greedy stage first (same seed): same level histories.
    losses = [h.history["loss"] for h in greedy.layer_histories_]
    assert [h.history["loss"] for h in finetuned.layer_histories_] == losses
    assert greedy.training_order_ == ORDER and finetuned.training_order_ == ORDER + ["all"]
    assert greedy.history_ is greedy.layer_histories_[-1]
    assert finetuned.history_.epochs == list(range(1, 11)) and finetuned.history_ is not finetuned.layer_histories_[-1]
    # One history per level, each with layer_epochs epochs and a falling loss.
    for est in (greedy, finetuned):
        assert len(est.layer_histories_) == 3
        for h in est.layer_histories_:
            loss = h.history["loss"]
            assert len(loss) == 5 and loss[-1] < 0.7 * loss[0], loss
    # The final network is a plain mirrored, untied dense autoencoder.
    net = finetuned.module_
    assert type(net) is DenseAutoencoderNet and not net.tied
    assert [lin.out_features for lin in net.encoder.linears] == [128, 64, 10]
    assert [lin.out_features for lin in net.decoder.linears] == [64, 128, 784]
    codes = finetuned.transform(Xt)
    assert codes.shape == (500, 10) and codes.dtype == np.float32
    back = finetuned.inverse_transform(codes)
    assert back.shape == Xt.shape
    np.testing.assert_allclose(back, finetuned.reconstruct(Xt), atol=1e-3)


def _level_params(net):
    """Per level: (encoder Linear i, mirror decoder Linear) weights and biases, copied."""
    enc, dec = net.encoder.linears, net.decoder.linears
    n = len(enc)
    return [[t.detach().clone() for t in (enc[i].weight, enc[i].bias, dec[n - 1 - i].weight, dec[n - 1 - i].bias)]
            for i in range(n)]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_levels_train_in_order_and_lower_levels_stay_frozen(digits):
    X = digits[0][:300]
    est = StackedAutoencoder(hidden=(32, 16), latent=4, batch_size=64, lr=3e-3, device="cpu", layer_epochs=2,
                             finetune_epochs=0)
    snapshots = []  # (stage description, epoch: 0 before training, per-level params)
    make_trainer = est._trainer

    def spy(**kw):  # every stage asks the estimator for its trainer: snapshot then and after each epoch
        trainer = make_trainer(**kw)
        desc = kw["description"]
        snapshots.append((desc, 0, _level_params(est.module_)))
        trainer.on_epoch_end.append(lambda epoch, logs: snapshots.append((desc, epoch, _level_params(est.module_))))
        return trainer

    est._trainer = spy
    est.fit(X)
    assert [(d, e) for d, e, _ in snapshots] == [(f"layer {i}/3", e) for i in (1, 2, 3) for e in (0, 1, 2)]
    assert est.training_order_ == ORDER
    initial = snapshots[0][2]
    trained = [snapshots[3 * i + 2][2][i] for i in range(3)]  # level i at the end of its own stage
    for k, (desc, epoch, levels) in enumerate(snapshots):
        stage = k // 3
        for i, params in enumerate(levels):
            if i < stage:  # trained earlier: frozen since
                assert _same(params, trained[i]), (desc, epoch, i)
            elif i > stage:  # not trained yet: untouched
                assert _same(params, initial[i]), (desc, epoch, i)
            elif epoch > 0:  # the level being trained moves, all four of its tensors
                before = snapshots[k - 1][2][i]
                assert not any(torch.equal(a, b) for a, b in zip(params, before)), (desc, epoch, i)
    assert all(_same(a, b) for a, b in zip(_level_params(est.module_), trained))
    # Without fine-tuning the history is the last level's; with it, fine-tuning moves every level.
    assert est.history_ is est.layer_histories_[-1]
    tuned = clone(est).set_params(finetune_epochs=1).fit(X)
    assert tuned.training_order_ == ORDER + ["all"]
    for a, b in zip(_level_params(tuned.module_), trained):
        assert not any(torch.equal(x, y) for x, y in zip(a, b))


def test_level_zero_uses_the_estimators_loss_and_every_level_validates(digits):
    X = digits[0][:300]
    est = StackedAutoencoder(hidden=(32,), latent=8, batch_size=64, device="cpu", layer_epochs=2, finetune_epochs=1,
                             hinge=0.01, loss="bce", validation_fraction=0.2).fit(X)
    first, second = est.layer_histories_
    assert "above_cutoff" in first.history and "above_cutoff" not in second.history  # hinge on the data only
    assert "above_cutoff" in est.history_.history
    for h in (first, second, est.history_):
        assert len(h.history["val_loss"]) == len(h.epochs) and np.isfinite(h.history["val_loss"]).all()
    # Level 0 trained with BCE on the data (~0.2-0.7 per pixel), level 1 with MSE on the codes.
    assert first.history["loss"][0] > 0.1
    # Validation rows given explicitly: validated at every stage, early stopping watches them.
    given = StackedAutoencoder(hidden=(32,), latent=8, batch_size=64, device="cpu", layer_epochs=2, finetune_epochs=1,
                               early_stopping=5).fit(X, validation_data=digits[2][:100])
    assert all(len(h.history["val_loss"]) == len(h.epochs) for h in [*given.layer_histories_, given.history_])


def test_save_load_gives_identical_codes_and_keeps_the_level_histories(tmp_path, digits, finetuned):
    _, _, Xt, _ = digits
    again = fewlabel.load(fewlabel.save(finetuned, tmp_path / "stacked"))
    assert type(again) is StackedAutoencoder and again.get_params() == finetuned.get_params()
    np.testing.assert_array_equal(again.transform(Xt), finetuned.transform(Xt))
    np.testing.assert_array_equal(again.reconstruction_error(Xt), finetuned.reconstruction_error(Xt))
    assert [h.to_dict() for h in again.layer_histories_] == [h.to_dict() for h in finetuned.layer_histories_]
    assert again.history_.to_dict() == finetuned.history_.to_dict()
    assert again.training_order_ == finetuned.training_order_


@pytest.mark.parametrize("params, message", [
    (dict(tied=True), "does not support tied=True: greedy stacking trains each encoder layer with a decoder layer "
                      "of its own"),
    (dict(decoder_hidden=(16,)), "does not support decoder_hidden .* the decoder must mirror the encoder"),
    (dict(layer_epochs=0), "layer_epochs must be a positive integer"),
    (dict(layer_epochs=2.5), "layer_epochs must be a positive integer"),
    (dict(finetune_epochs=-1), "finetune_epochs must be an integer >= 0"),
    (dict(latent=0), "latent must be an integer of at least 1"),
    (dict(loss="hinge"), "unknown loss"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(InputError, match=message):
        StackedAutoencoder(**{**dict(hidden=(8,), latent=2, layer_epochs=1, finetune_epochs=0, device="cpu"),
                              **params}).fit(np.random.rand(20, 5).astype(np.float32))


def test_bad_input_is_named(digits, greedy):
    _, _, Xt, _ = digits
    with pytest.raises(InputError, match="X has 10 features, but StackedAutoencoder is expecting 5"):
        StackedAutoencoder(hidden=(4,), latent=2, layer_epochs=1, finetune_epochs=0, device="cpu").fit(
            np.random.rand(8, 5)).transform(np.random.rand(2, 10))
    with pytest.raises(InputError, match="rows have shape \\(27, 27\\), but StackedAutoencoder was fitted on rows "
                                         "of shape \\(28, 28\\)"):
        greedy.transform(np.zeros((3, 27, 27), np.uint8))
    bad = Xt[:10].astype(np.float32)
    bad[3, 4, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        greedy.transform(bad)
    with pytest.raises(InputError, match="NaN"):
        clone(greedy).fit(bad)
    with pytest.raises(InputError, match="Z has 3 features, but StackedAutoencoder is expecting 10"):
        greedy.inverse_transform(np.zeros((2, 3)))


def test_passes_scikit_learn_checks():
    check_estimator(StackedAutoencoder(hidden=(8,), latent=2, layer_epochs=1, finetune_epochs=1, batch_size=16,
                                       device="cpu"))


def test_works_in_a_pipeline_before_nearest_neighbours(digits):
    X, y, Xt, yt = digits
    pipe = Pipeline([("ae", StackedAutoencoder(**SMALL, finetune_epochs=10)), ("knn", KNeighborsClassifier(5))])
    accuracy = pipe.fit(X, y).score(Xt, yt)
    assert accuracy > 0.6, accuracy  # chance is 0.1; measured 0.86
