"""The variational autoencoder on real MNIST: it learns (dense and convolutional), its KL term is
weighted by beta, it generates digits, it interpolates, it saves, it refuses bad input, it is a
scikit-learn estimator, and its figures are written."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

import fewlabel
from fewlabel import plots
from fewlabel.errors import InputError
from fewlabel.nets.variational import LOGVAR_RANGE, VariationalAutoencoderNet
from fewlabel.pretrain.variational import VariationalAutoencoder, kl_divergence

FAST = dict(batch_size=64, lr=3e-3, device="cpu")

# name -> estimator. Each learns real MNIST in a few seconds on one core.
VARIANTS = {
    "dense-2": VariationalAutoencoder(hidden=(256,), latent=2, epochs=12, **FAST),
    "dense-8": VariationalAutoencoder(hidden=(256,), latent=8, epochs=12, **FAST),
    "conv": VariationalAutoencoder(architecture="conv", channels=(8, 16), latent=8, epochs=6, **FAST),
    # the same model and data, only the KL term's weight differs (with a validation split)
    "beta-0": VariationalAutoencoder(hidden=(128,), latent=8, beta=0.0, epochs=6, validation_fraction=0.2, **FAST),
    "beta-4": VariationalAutoencoder(hidden=(128,), latent=8, beta=4.0, epochs=6, validation_fraction=0.2, **FAST),
}


@pytest.fixture(scope="module")
def digits(mnist_small):
    X, y, Xt, yt = mnist_small
    return X[:1500], Xt[:500]


@pytest.fixture(scope="module")
def fitted(digits):
    X, _ = digits
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = clone(VARIANTS[name]).fit(X)
        return cache[name]

    return get


def _untrained(est, X):
    return clone(est).set_params(epochs=1, optimizer="sgd", lr=1e-12).fit(X[:64])


@pytest.mark.parametrize("name", ["dense-2", "dense-8", "conv"])
def test_vae_learns_real_mnist(name, digits, fitted):
    X, Xt = digits
    est = fitted(name)
    assert est.loss_ == "bce" and est.get_params()["loss"] == "auto"  # uint8 images: Bernoulli likelihood
    err = est.reconstruction_error(Xt)
    assert err.shape == (len(Xt),) and np.isfinite(err).all()
    untrained = _untrained(est, X).reconstruction_error(Xt).mean()
    # measured: dense-2 0.22 vs 0.70, dense-8 0.15 vs 0.69, conv 0.22 vs 0.65 (BCE cannot reach 0 on gray pixels)
    assert err.mean() < 0.4 * untrained, (name, err.mean(), untrained)
    h = est.history_.history
    assert {"loss", "reconstruction", "kl"} <= set(h)
    assert all(k > 0 for k in h["kl"])  # the codes carry information: the posterior is not the prior
    assert h["reconstruction"][-1] < 0.7 * h["reconstruction"][0]
    np.testing.assert_allclose(h["loss"], np.add(h["reconstruction"], h["kl"]), rtol=1e-4)  # beta = 1
    codes = est.transform(Xt)
    assert codes.shape == (len(Xt), est.latent) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, est.transform(Xt))  # the mean code: deterministic
    np.testing.assert_allclose(est.inverse_transform(codes), est.reconstruct(Xt), atol=1e-3)
    # the negative ELBO is the summed reconstruction (784 x the mean) plus the KL, which is > 0
    neg_elbo = est.elbo(Xt)
    assert neg_elbo.shape == (len(Xt),) and (neg_elbo > 784 * err).all()
    assert est.score(Xt) == pytest.approx(-neg_elbo.mean())
    assert est.score(Xt) > _untrained(est, X).score(Xt)


def test_beta_weights_the_kl_term(fitted):
    """Without the KL term the codes drift far from the prior; with beta=4 they are pulled onto it."""
    h0, h4 = fitted("beta-0").history_.history, fitted("beta-4").history_.history
    # measured after 6 epochs: KL 70 (beta=0) against 3 (beta=4), on the validation rows 73 against 3
    assert h0["kl"][-1] > 5 * h4["kl"][-1]
    assert h0["val_kl"][-1] > 5 * h4["val_kl"][-1]
    assert h0["reconstruction"][-1] < h4["reconstruction"][-1]  # the price beta=4 pays
    np.testing.assert_allclose(h4["loss"], np.add(h4["reconstruction"], np.multiply(4.0, h4["kl"])), rtol=1e-4)
    np.testing.assert_allclose(h0["loss"], h0["reconstruction"], rtol=1e-5)


def _nearest_real_distance(images, real):
    """Mean Euclidean distance (on the [0, 1] scale) from each image to its nearest real digit."""
    A = images.reshape(len(images), -1).astype(np.float64) / 255
    R = real.reshape(len(real), -1).astype(np.float64) / 255
    d2 = (A**2).sum(1)[:, None] + (R**2).sum(1)[None] - 2 * A @ R.T
    return float(np.sqrt(np.maximum(d2, 0).min(1)).mean())


def test_samples_look_like_digits(digits, fitted):
    X, Xt = digits
    est = fitted("dense-8")
    s = est.sample(200, random_state=0)
    assert s.shape == (200, 28, 28) and s.dtype == np.float32 and np.isfinite(s).all()
    assert s.min() >= 0 and s.max() <= 255 and s.max() > 200  # the input's 0..255 scale, with ink
    np.testing.assert_array_equal(s, est.sample(200, random_state=0))
    assert not np.allclose(s, est.sample(200, random_state=1))
    assert not np.allclose(est.sample(5), est.sample(5))  # random_state=None: fresh draws
    # Pixel-shuffled real digits have exactly the digits' pixel histogram but no shape; samples from the
    # untrained decoder are what the architecture gives for free. Measured: samples 5.2, real training
    # digits 5.9, shuffled 10.0, untrained 13.3.
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(x.ravel()).reshape(28, 28) for x in Xt[:200]])
    d_samples = _nearest_real_distance(s, Xt)
    assert d_samples < 0.7 * _nearest_real_distance(shuffled, Xt)
    assert d_samples < 0.5 * _nearest_real_distance(_untrained(est, X).sample(200, random_state=0), Xt)
    # MNIST digits are centred with an empty border; so are the samples (shuffled digits: about 33/255)
    border = np.concatenate([s[:, :3].ravel(), s[:, -3:].ravel(), s[:, :, :3].ravel(), s[:, :, -3:].ravel()])
    assert border.mean() < 5
    assert 0.5 * Xt.mean() < s.mean() < 1.5 * Xt.mean()  # as much ink as real digits (measured 27 vs 33)


def test_interpolation_walks_the_segment_between_codes(digits, fitted):
    _, Xt = digits
    est = fitted("dense-8")
    a, b = Xt[0], Xt[1][None]  # one example each: a row, or a batch of one
    images, codes = est.interpolate(a, b, steps=7, return_codes=True)
    assert images.shape == (7, 28, 28) and codes.shape == (7, 8)
    np.testing.assert_array_equal(images, est.interpolate(a, b, steps=7))
    ends = est.reconstruct(Xt[:2])
    np.testing.assert_allclose(images[0], ends[0], atol=1e-3)
    np.testing.assert_allclose(images[-1], ends[1], atol=1e-3)
    za, zb = est.transform(Xt[:2])
    t = np.linspace(0, 1, 7)[:, None]
    np.testing.assert_allclose(codes, (1 - t) * za + t * zb, atol=1e-5)  # on the segment, evenly spaced
    np.testing.assert_allclose(np.linalg.norm(np.diff(codes, axis=0), axis=1), np.linalg.norm(zb - za) / 6, rtol=1e-4)
    np.testing.assert_allclose(images, est.inverse_transform(codes), atol=1e-4)
    assert np.abs(images[3] - images[0]).mean() > 1 and np.abs(images[3] - images[-1]).mean() > 1
    with pytest.raises(InputError, match="x_end must be one example of shape \\(28, 28\\)"):
        est.interpolate(a, Xt[:2])
    with pytest.raises(InputError, match="steps must be an integer >= 2"):
        est.interpolate(a, b, steps=1)


def test_training_samples_codes_but_evaluation_uses_the_mean(digits, fitted):
    _, Xt = digits
    est = fitted("dense-8")
    loss_fn, net = est._make_loss(), est.module_
    batch = (torch.from_numpy(Xt[:64]),)
    with torch.no_grad():
        net.train()
        torch.manual_seed(5)
        first = loss_fn(net, batch)["reconstruction"]
        torch.manual_seed(5)
        again = loss_fn(net, batch)["reconstruction"]
        other = loss_fn(net, batch)["reconstruction"]
        net.eval()
        at_mean = loss_fn(net, batch)
    assert first == again and first != other  # the reparameterisation draws come from torch's seeded RNG
    expected = est.elbo(Xt[:64]).mean()
    assert float(at_mean["loss"]) == pytest.approx(expected, rel=1e-5)
    # The closed-form KL agrees with torch.distributions, and log-variances are clamped.
    mean, logvar = torch.randn(10, 3), torch.randn(10, 3)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(kl_divergence(mean, logvar), torch.distributions.kl_divergence(q, p).sum(1))
    bias = net.encoder.linears[-1].bias  # its second half gives the log-variances
    kept = bias.detach().clone()
    with torch.no_grad():
        bias[8:] = 1e4
        mean, lv = net.encode_distribution(torch.from_numpy(Xt[:4]).float() / 255)
        bias.copy_(kept)  # the model is shared by later tests
        assert float(lv.max()) == LOGVAR_RANGE[1] and torch.isfinite(kl_divergence(mean, lv)).all()
        bias[8:] = -1e4
        assert float(net.encode_distribution(torch.from_numpy(Xt[:4]).float() / 255)[1].min()) == LOGVAR_RANGE[0]
        bias.copy_(kept)


def test_save_load_gives_identical_codes_and_samples(tmp_path, digits, fitted):
    _, Xt = digits
    for name in ("dense-8", "conv"):
        est = fitted(name)
        again = fewlabel.load(fewlabel.save(est, tmp_path / name))
        assert type(again) is VariationalAutoencoder and again.get_params() == est.get_params()
        assert again.loss_ == est.loss_
        np.testing.assert_array_equal(again.transform(Xt), est.transform(Xt))
        np.testing.assert_array_equal(again.sample(16, random_state=3), est.sample(16, random_state=3))
        np.testing.assert_array_equal(again.elbo(Xt), est.elbo(Xt))
    net = fitted("conv").module_
    copy = fewlabel.load(fewlabel.save(net, tmp_path / "net"))  # the bare network saves too
    assert isinstance(copy, VariationalAutoencoderNet) and copy.config() == net.config()
    x = torch.from_numpy(Xt[:5]).float() / 255
    torch.testing.assert_close(copy.encode(x), net.eval().encode(x))


def test_loss_auto_follows_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    est = VariationalAutoencoder(hidden=(8,), latent=2, epochs=2, device="cpu").fit(X)
    assert est.loss_ == "mse" and est.output_activation_ == "linear" and est.get_params()["loss"] == "auto"
    est = VariationalAutoencoder(hidden=(8,), latent=2, epochs=2, device="cpu").fit(rng.random((40, 6)))
    assert est.loss_ == "bce" and est.output_activation_ == "sigmoid"
    with pytest.raises(InputError, match="loss='bce' needs inputs in \\[0, 1\\]"):
        VariationalAutoencoder(loss="bce", epochs=1).fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(hinge=0.01), "hinge cut-off is not defined for the ELBO"),
    (dict(beta=-1.0), "beta \\(the weight of the KL term\\) must be a finite number >= 0"),
    (dict(beta=float("nan")), "beta"),
    (dict(architecture="recurrent"), "unknown architecture 'recurrent'"),
    (dict(latent=0), "latent must be an integer of at least 1"),
    (dict(loss="hinge"), "unknown loss"),
    (dict(activation="swishy"), "unknown activation"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(InputError, match=message):
        VariationalAutoencoder(epochs=1, **params).fit(np.random.rand(20, 16).astype(np.float32))


def test_bad_input_is_named(digits, fitted):
    X, Xt = digits
    est = fitted("dense-8")
    with pytest.raises(InputError, match="architecture='conv' needs image rows \\(H, W\\) or \\(H, W, C\\); X has rows "
                                         "of shape \\(784,\\)"):
        VariationalAutoencoder(architecture="conv", epochs=1).fit(X[:20].reshape(20, -1))
    with pytest.raises(InputError, match="too small for 3 stages"):
        VariationalAutoencoder(architecture="conv", epochs=1).fit(np.random.rand(8, 4, 4))
    for model in (est, fitted("conv")):
        with pytest.raises(InputError, match="rows have shape \\(27, 27\\), but VariationalAutoencoder was fitted on "
                                             "rows of shape \\(28, 28\\)"):
            model.transform(np.zeros((3, 27, 27), np.uint8))
    bad = Xt[:10].astype(np.float32)
    bad[3, 4, 5] = np.nan
    for method in (est.transform, est.elbo, est.reconstruction_error):
        with pytest.raises(InputError, match="X contains NaN"):
            method(bad)
    with pytest.raises(InputError, match="x_start contains NaN"):
        est.interpolate(bad[3], Xt[0])
    with pytest.raises(InputError, match="n \\(how many examples to sample\\) must be a positive integer"):
        est.sample(0)
    with pytest.raises(InputError, match="Z has 3 features, but VariationalAutoencoder is expecting 8"):
        est.inverse_transform(np.zeros((2, 3)))


def test_vae_passes_scikit_learn_checks():
    check_estimator(VariationalAutoencoder(hidden=(8,), latent=2, epochs=2, batch_size=16, device="cpu"))


def _png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_plots_write_pngs(tmp_path, digits, fitted):
    _, Xt = digits
    est = fitted("dense-2")
    fig = plots.vae_samples(est, n=16, path=tmp_path / "samples.png")
    assert _png_size(tmp_path / "samples.png")[0] > 300 and len(fig.axes) == 16
    pairs = [(Xt[0], Xt[1]), (Xt[2], Xt[3]), (Xt[4], Xt[5])]
    fig = plots.interpolation_grid(est, pairs, steps=6, path=tmp_path / "interp.png")
    assert _png_size(tmp_path / "interp.png")[0] > 300 and len(fig.axes) == 18
    assert [fig.axes[6 * r].get_ylabel() for r in range(3)] == ["pair 1", "pair 2", "pair 3"]
    shown = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(shown, np.clip(est.interpolate(Xt[0], Xt[1], steps=6)[0] / 255, 0, 1), atol=1e-6)
    fig = plots.image_grid(Xt[:10].reshape(10, -1), ncols=4, path=tmp_path / "grid.png", title="real digits",
                           row_labels=["a", "b", "c"])  # flat rows, 3 rows of 4 (2 cells empty)
    assert _png_size(tmp_path / "grid.png")[0] > 300 and len(fig.axes) == 12
    assert sum(bool(ax.get_images()) for ax in fig.axes) == 10
    with pytest.raises(InputError, match="2 row_labels for 3 rows"):
        plots.image_grid(Xt[:10], ncols=4, row_labels=["a", "b"])
    with pytest.raises(InputError, match="not square images"):
        plots.image_grid(np.zeros((2, 10)))
