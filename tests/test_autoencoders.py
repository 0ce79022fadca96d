"""Every autoencoder variant on real MNIST: it learns, it saves, it refuses bad input, it is a
scikit-learn estimator. Then what is particular to each: tied weights, denoising, the hinge cut-off."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

import fewlabel
from fewlabel import Autoencoder, ConvAutoencoder
from fewlabel.augment import corrupt, gaussian_blur
from fewlabel.errors import InputError
from fewlabel.nets.autoencoder import DenseAutoencoderNet
from fewlabel.pretrain.autoencoder import reconstruction_loss

FAST = dict(epochs=20, batch_size=64, lr=3e-3, device="cpu")
WIDE = dict(hidden=(256,), latent=64, **FAST)  # wide enough to pass noise through unless trained not to

# name -> (estimator, how its input is shaped). Each must learn real MNIST in a few seconds on 2 cores.
VARIANTS = {
    "dense": Autoencoder(hidden=(128,), latent=16, **FAST),
    "dense-wide": Autoencoder(**WIDE),
    "dense-bce-sgd": Autoencoder(hidden=(128,), latent=16, **dict(FAST, loss="bce", optimizer="sgd", lr=1.0)),
    "dense-tied": Autoencoder(hidden=(128,), latent=16, tied=True, activation="sigmoid", **FAST),
    "denoising-gaussian": Autoencoder(noise="gaussian", noise_level=0.5, **WIDE),
    "denoising-mask": Autoencoder(noise="mask", noise_level=0.5, **WIDE),
    "denoising-salt-pepper": Autoencoder(noise="salt_pepper", noise_level=0.2, **WIDE),
    "deblurring": Autoencoder(noise="blur", noise_level=1.5, **WIDE),
    "hinge": Autoencoder(hidden=(128,), latent=16, hinge=0.01, **FAST),
    "conv": ConvAutoencoder(channels=(8, 16), batch_norm=True, **dict(FAST, epochs=4)),
    "conv-latent-denoising": ConvAutoencoder(channels=(8, 16), latent=16, noise="gaussian", noise_level=0.3,
                                             **dict(FAST, epochs=4)),
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


def _untrained_error(est, X, Xt):
    frozen = clone(est).set_params(epochs=1, optimizer="sgd", lr=1e-12)
    return frozen.fit(X[:64]).reconstruction_error(Xt).mean()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_learns_real_mnist(name, digits, fitted):
    X, Xt = digits
    est = fitted(name)
    err = est.reconstruction_error(Xt)
    assert err.shape == (len(Xt),) and np.isfinite(err).all()
    assert err.mean() < 0.5 * _untrained_error(est, X, Xt), name
    codes = est.transform(Xt)
    width = est.latent if est.latent is not None else 16 * 7 * 7  # (8, 16) channels: 28 -> 14 -> 7
    assert codes.shape == (len(Xt), width) and codes.dtype == np.float32
    back = est.inverse_transform(codes)
    assert back.shape == Xt.shape
    np.testing.assert_allclose(back, est.reconstruct(Xt), atol=1e-3)


@pytest.mark.parametrize("name", ["dense-tied", "denoising-mask", "hinge", "conv"])
def test_variant_save_load_gives_identical_codes(name, tmp_path, digits, fitted):
    _, Xt = digits
    est = fitted(name)
    again = fewlabel.load(fewlabel.save(est, tmp_path / name))
    assert type(again) is type(est) and again.get_params() == est.get_params()
    np.testing.assert_array_equal(again.transform(Xt), est.transform(Xt))
    np.testing.assert_array_equal(again.reconstruction_error(Xt), est.reconstruction_error(Xt))


def test_tied_weights_are_shared_not_copied(digits, fitted):
    est = fitted("dense-tied")
    net = est.module_
    enc = net.encoder.linears
    for w, lin in zip(net.decoder.weights(), reversed(enc)):
        assert w is lin.weight  # the very same Parameter
    untied = DenseAutoencoderNet((28, 28), hidden=(128,), latent=16)
    n_tied, n_untied = (sum(p.numel() for p in m.parameters()) for m in (net, untied))
    assert n_untied - n_tied == sum(lin.weight.numel() for lin in enc)  # only the biases are the decoder's own
    # Every weight appears once in the saved state; a change to the encoder changes the decoder.
    assert not [k for k in net.state_dict() if k.startswith("decoder") and "weight" in k]
    z = torch.randn(4, 16)
    before = net.decode(z).detach().clone()
    with torch.no_grad():
        enc[-1].weight.mul_(2.0)
    assert not torch.allclose(before, net.decode(z))
    with torch.no_grad():
        enc[-1].weight.div_(2.0)


def test_explicit_decoder_and_per_layer_activations():
    net = DenseAutoencoderNet((20,), hidden=(16, 8), latent=2, activation=["selu", "tanh"], latent_activation="tanh",
                              decoder_hidden=(12,), decoder_activation="sigmoid")
    assert [lin.out_features for lin in net.encoder.linears] == [16, 8, 2]
    assert [lin.out_features for lin in net.decoder.linears] == [12, 20]
    kinds = [type(m).__name__ for m in net.encoder.layers]
    assert kinds == ["Linear", "SELU", "Linear", "Tanh", "Linear", "Tanh"]
    assert [type(m).__name__ for m in net.decoder.layers] == ["Linear", "Sigmoid", "Linear", "Identity"]
    mirrored = DenseAutoencoderNet((20,), hidden=(16, 8), latent=2, activation=["selu", "tanh"])
    assert [type(m).__name__ for m in mirrored.decoder.layers] == ["Linear", "Tanh", "Linear", "SELU", "Linear", "Identity"]
    with pytest.raises(InputError, match="activation: 3 given for 2 layers"):
        DenseAutoencoderNet((20,), hidden=(16, 8), activation=["relu"] * 3)
    with pytest.raises(InputError, match="tied=True"):
        DenseAutoencoderNet((20,), hidden=(16,), decoder_hidden=(16,), tied=True)


def test_denoising_autoencoder_cleans_noise_better_than_a_plain_one(digits, fitted):
    """The target is the clean input: given corrupted digits, the denoising model gets closer to the clean ones."""
    _, Xt = digits
    clean = torch.from_numpy(Xt.astype(np.float32) / 255)
    torch.manual_seed(1)
    for name, bound in [("denoising-gaussian", 0.8), ("denoising-mask", 0.85), ("denoising-salt-pepper", 0.8),
                        ("deblurring", 0.9)]:  # measured: 0.58, 0.68, 0.60, 0.78
        kind, level = fitted(name).noise, fitted(name).noise_level
        noisy = corrupt(clean, kind, level, (28, 28)).clamp(0, 1).numpy() * 255  # the models' 0..255 scale

        def error_vs_clean(est):
            return float(np.mean((est.reconstruct(noisy) / 255 - clean.numpy()) ** 2))

        assert error_vs_clean(fitted(name)) < bound * error_vs_clean(fitted("dense-wide")), name


def test_corruptions_do_what_they_say():
    torch.manual_seed(0)
    x = torch.rand(64, 28, 28)
    masked = corrupt(x, "mask", 0.25)
    assert 0.2 < (masked == 0).float().mean() < 0.3 and torch.equal(masked[masked != 0], x[masked != 0])
    sp = corrupt(x, "salt_pepper", 0.2)
    changed = sp != x
    assert 0.15 < changed.float().mean() < 0.25 and set(sp[changed].unique().tolist()) <= {0.0, 1.0}
    g = corrupt(x, "gaussian", 0.1)
    assert abs(float((g - x).std()) - 0.1) < 0.01
    blurred = gaussian_blur(x, 1.0, (28, 28))
    assert blurred.shape == x.shape and blurred.std() < x.std()  # blur smooths
    assert torch.allclose(gaussian_blur(torch.full((2, 784), 0.5), 2.0, (784,)), torch.full((2, 784), 0.5))
    with pytest.raises(InputError, match="blur needs images"):
        Autoencoder(noise="blur").fit(np.random.rand(10, 7))


def test_hinge_ignores_examples_below_the_cutoff(fitted, digits):
    """Examples already reconstructed better than the cut-off contribute no gradient at all."""
    _, Xt = digits
    est = fitted("hinge")
    h = est.history_.history
    assert "above_cutoff" in h and 0 < h["above_cutoff"][-1] < h["above_cutoff"][0] <= 1
    net = est.module_.train()
    x = torch.from_numpy(Xt[:200].astype(np.float32) / 255)
    err = reconstruction_loss(net, x, "mse", reduction="none").detach()
    cut = float(err.median())
    easy, hard = x[err < cut], x[err > cut]
    for batch, expect_zero in [(easy, True), (hard, False)]:
        net.zero_grad()
        reconstruction_loss(net, batch, "mse", hinge=cut).backward()
        grad = sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None)
        assert (grad == 0) == expect_zero


@pytest.mark.parametrize("params, message", [
    (dict(loss="hinge"), "unknown loss"),
    (dict(hinge=-1.0), "hinge must be None or a cut-off"),
    (dict(noise="speckle"), "unknown noise"),
    (dict(noise="mask", noise_level=1.5), "must be below 1"),
    (dict(noise="gaussian", noise_level=0), "noise_level must be a positive number"),
    (dict(latent=0), "latent must be an integer of at least 1"),
    (dict(activation="swishy"), "unknown activation"),
    (dict(output_activation="swishy"), "unknown activation"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(InputError, match=message):
        Autoencoder(epochs=1, **params).fit(np.random.rand(20, 5).astype(np.float32))


def test_bad_input_is_named(digits, fitted):
    _, Xt = digits
    est = fitted("dense")
    with pytest.raises(InputError, match="rows have shape \\(27, 27\\), but Autoencoder was fitted on rows of shape \\(28, 28\\)"):
        est.transform(np.zeros((3, 27, 27), np.uint8))
    with pytest.raises(InputError, match="X has 10 features, but Autoencoder is expecting"):
        Autoencoder(epochs=1).fit(np.random.rand(8, 5)).transform(np.random.rand(2, 10))
    X = Xt[:10].astype(np.float32)
    X[3, 4, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        est.transform(X)
    with pytest.raises(InputError, match="empty"):
        Autoencoder(epochs=1).fit(np.zeros((0, 5)))
    with pytest.raises(InputError, match="loss='bce' needs inputs in \\[0, 1\\]"):
        Autoencoder(loss="bce", epochs=1).fit(np.random.randn(10, 4))
    with pytest.raises(InputError, match="Z has 3 features, but Autoencoder is expecting 16"):
        est.inverse_transform(np.zeros((2, 3)))


def test_autoencoder_passes_scikit_learn_checks():
    check_estimator(Autoencoder(hidden=(8,), latent=2, epochs=2, batch_size=16, device="cpu"))


def test_conv_autoencoder_default_is_the_classic_design():
    X = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    ae = ConvAutoencoder(epochs=1, device="cpu").fit(X)
    convs = [m for m in ae.module_.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64]
    assert ae.transform(X).shape == (40, 3 * 3 * 64)  # the 3x3x64 code, flattened
    assert ae.inverse_transform(ae.transform(X)).shape == (40, 28, 28)
    ae.set_params(code="pool")
    assert ae.transform(X).shape == (40, 64)  # global average pooling: a 64-d code
    with pytest.raises(InputError, match="pooled codes .* cannot be decoded"):
        ae.inverse_transform(np.zeros((2, 64)))
    rgb = ConvAutoencoder(channels=(4, 8), epochs=1, device="cpu").fit(np.random.rand(10, 32, 32, 3).astype(np.float32))
    assert rgb.reconstruct(np.random.rand(2, 32, 32, 3)).shape == (2, 32, 32, 3)


def test_conv_autoencoder_in_a_pipeline_on_flat_rows(mnist_small):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    X, y, Xt, yt = mnist_small
    pipe = make_pipeline(ConvAutoencoder(channels=(8, 16), latent=32, batch_norm=True, image_shape=(28, 28),
                                         **dict(FAST, epochs=10)),
                         KNeighborsClassifier(5))
    pipe.fit(X[:1500].reshape(1500, -1), y[:1500])
    assert pipe.score(Xt[:500].reshape(500, -1), yt[:500]) > 0.8


def test_conv_autoencoder_refuses_what_is_not_an_image():
    with pytest.raises(InputError, match="ConvAutoencoder needs images"):
        ConvAutoencoder(epochs=1).fit(np.random.rand(10, 30))
    with pytest.raises(InputError, match="image_shape \\(5, 5\\) holds 25 values, but the rows have 30"):
        ConvAutoencoder(epochs=1, image_shape=(5, 5)).fit(np.random.rand(10, 30))
    with pytest.raises(InputError, match="too small"):
        ConvAutoencoder(epochs=1).fit(np.random.rand(10, 4, 4))
    with pytest.raises(InputError, match="code='pool'"):
        ConvAutoencoder(epochs=1, latent=8, code="pool").fit(np.random.rand(10, 28, 28))
    ae = ConvAutoencoder(channels=(4,), epochs=1, device="cpu").fit(np.random.rand(10, 28, 28))
    with pytest.raises(InputError, match="rows have shape \\(32, 32\\), but ConvAutoencoder was fitted on rows of shape \\(28, 28\\)"):
        ae.transform(np.random.rand(3, 32, 32))


# scikit-learn's checks feed tabular rows of 1 to 10 features: a convolutional autoencoder needs images,
# and says so; these checks cannot apply to it. Every other check must pass.
_TABULAR_ONLY = "feeds tabular rows of a few features; a ConvAutoencoder needs images (H, W[, C]) and says so"
CONV_EXPECTED_FAILURES = {name: _TABULAR_ONLY for name in [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d", "check_fit2d_1sample",
]}


def test_conv_autoencoder_passes_the_scikit_learn_checks_that_apply():
    check_estimator(ConvAutoencoder(channels=(4,), epochs=2, batch_size=16, device="cpu"),
                    expected_failed_checks=CONV_EXPECTED_FAILURES)


def test_augmented_variants_learn_real_mnist(digits):
    """``augment='shift'`` (training on randomly shifted and rotated digits, each its own target; see
    tests/test_augmented_autoencoder.py) still learns: dense on images and on flat rows, convolutional."""
    X, Xt = digits
    for est, shape in [(Autoencoder(hidden=(128,), latent=16, augment="shift", **dict(FAST, epochs=10)), (784,)),
                       (ConvAutoencoder(channels=(8, 16), augment="shift", **dict(FAST, epochs=3)), (28, 28))]:
        Xs, Xts = X.reshape(len(X), *shape), Xt.reshape(len(Xt), *shape)
        est.fit(Xs)
        assert est.reconstruction_error(Xts).mean() < 0.6 * _untrained_error(est, Xs, Xts), type(est).__name__
        assert est.transform(Xts).shape[0] == len(Xt)


def test_default_codes_cluster_better_than_the_pixels(mnist_small):
    """Autoencoder() as a new user runs it: k-means on its codes beats k-means on the raw pixels (3,000
    real digits; measured NMI 0.55-0.58 over three seeds against 0.49-0.50 for the pixels)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi

    X, y = mnist_small[0], mnist_small[1]
    codes = Autoencoder(random_state=0).fit(X).transform(X)
    assert codes.shape == (3000, 10)
    score = lambda Z: nmi(y, KMeans(10, n_init=10, random_state=0).fit_predict(Z))  # noqa: E731
    assert score(codes) > score(X.reshape(len(X), -1) / 255.0) + 0.03
