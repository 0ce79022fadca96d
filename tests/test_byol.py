"""BYOL: ResNet-18, the EMA target, the symmetric loss, real training on MNIST, the classifier on top, the CLI."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fewlabel
from fewlabel import BYOL, InputError, SemiSupervisedClassifier
from fewlabel.cli import main
from fewlabel.nets.resnet import ResNet, resnet18
from fewlabel.nets.byol import BYOLNet, regression_loss
from fewlabel.pretrain.byol import ema_momentum
from fewlabel.train.ema import ema_update_

SMALL = dict(encoder="conv", channels=(8, 16), hidden_dim=64, projection_dim=16, batch_size=64, device="cpu")


def conv_spec(shape=(28, 28), channels=(8, 16), code="global"):
    from fewlabel.nets.conv import ConvEncoder

    body = ConvEncoder(shape, channels=channels, batch_norm=True)
    return {"body": {"type": "ConvEncoder", "config": body.config()}, "code": code, "image_shape": None}


# -- ResNet-18 ----------------------------------------------------------------------------------------------
def test_resnet18_is_torchvisions_without_the_classifier():
    net = resnet18((224, 224, 3), stem="imagenet")
    # torchvision documents resnet18 at 11,689,512 parameters; its fc layer has 512 * 1000 + 1000.
    assert sum(p.numel() for p in net.parameters()) == 11_689_512 - 513_000
    keys = net.state_dict().keys()
    assert len(keys) == 122 - 2  # torchvision's state dict without fc.weight and fc.bias
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
            "layer4.1.bn2.bias"} <= set(keys)
    assert not any(k.startswith("fc.") for k in keys)
    assert net(torch.rand(2, 224, 224, 3)).shape == (2, 512, 7, 7)


@pytest.mark.parametrize("shape, stem, fmap", [((96, 96, 3), "auto", (512, 3, 3)), ((32, 32, 3), "auto", (512, 4, 4)),
                                               ((28, 28), "auto", (512, 4, 4)), ((28, 28), "imagenet", (512, 1, 1))])
def test_resnet_stems_and_feature_maps(shape, stem, fmap):
    net = ResNet(shape, stem=stem)
    assert net.feature_map_shape == fmap
    assert net.stem == ("cifar" if min(shape[:2]) < 64 and stem == "auto" else "imagenet" if stem == "auto" else stem)
    out = net(torch.rand(3, *shape))
    assert out.shape == (3, *fmap)
    assert net.pool(out).shape == (3, 512)
    assert torch.allclose(net.pool(out), out.mean(dim=(2, 3)))


def test_resnet_refuses_bad_arguments():
    with pytest.raises(InputError, match="unknown stem"):
        ResNet((32, 32, 3), stem="vgg")
    with pytest.raises(InputError, match="blocks must be"):
        ResNet((32, 32, 3), blocks=(2, 0))
    assert ResNet((4, 4), stem="imagenet").feature_map_shape == (512, 1, 1)  # padded strides never reach 0
    with pytest.raises(InputError, match=r"expected inputs of shape \(N, 32, 32, 3\)"):
        ResNet((32, 32, 3))(torch.rand(2, 3, 32, 32))


# -- the pieces of BYOL -------------------------------------------------------------------------------------
def test_regression_loss_is_the_mse_of_normalised_vectors():
    p, z = torch.randn(50, 16), torch.randn(50, 16)
    reference = F.mse_loss(F.normalize(p, dim=1), F.normalize(z, dim=1), reduction="none").sum(1)
    assert torch.allclose(regression_loss(p, z), reference, atol=1e-5)
    assert torch.allclose(regression_loss(p, 3 * p), torch.zeros(50), atol=1e-5)  # same direction: no loss
    assert torch.allclose(regression_loss(p, -p), torch.full((50,), 4.0), atol=1e-5)


def test_ema_schedule_rises_from_tau_base_to_one_along_a_cosine():
    assert ema_momentum(0, 100, 0.996) == pytest.approx(0.996)
    assert ema_momentum(50, 100, 0.996) == pytest.approx(0.998)
    assert ema_momentum(100, 100, 0.996) == pytest.approx(1.0)
    values = [ema_momentum(k, 100, 0.99) for k in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_target_update_is_the_moving_average_and_takes_no_gradient():
    torch.manual_seed(0)
    net = BYOLNet(conv_spec(), projection_dim=16, hidden_dim=32)
    target0 = [p.detach().clone() for p in net.target_parameters()]
    online0 = [p.detach().clone() for p in net.online_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(target0, online0))  # the target starts as a copy
    assert not any(p.requires_grad for p in net.target_parameters())
    with torch.no_grad():
        for p in net.online_parameters():
            p.add_(torch.randn_like(p))
    net.update_target(0.9)
    for t, t0, o in zip(net.target_parameters(), target0, net.online_parameters()):
        assert torch.allclose(t, 0.9 * t0 + 0.1 * o, atol=1e-6)
    x = torch.rand(6, 28, 28)
    net.loss(x, x.flip(2)).mean().backward()
    assert all(p.grad is None for p in net.target_parameters())
    assert all(p.grad is not None for p in net.predictor.parameters())


def test_target_update_is_the_shared_moving_average_step_bit_for_bit():
    torch.manual_seed(1)
    net = BYOLNet(conv_spec(), projection_dim=16, hidden_dim=32)
    with torch.no_grad():
        for p in net.online_parameters():
            p.add_(torch.randn_like(p))
    expected = [p.detach().clone() for p in net.target_parameters()]
    ema_update_(expected, [p.detach().clone() for p in net.online_parameters()], 0.99)
    net.update_target(0.99)
    assert all(torch.equal(t, e) for t, e in zip(net.target_parameters(), expected))


def test_loss_is_symmetric_in_the_views():
    torch.manual_seed(0)
    net = BYOLNet(conv_spec(), projection_dim=16, hidden_dim=32)
    v1, v2 = torch.rand(8, 28, 28), torch.rand(8, 28, 28)
    assert torch.allclose(net.loss(v1, v2), net.loss(v2, v1), atol=1e-5)


def test_fit_moves_the_target_with_the_schedule(mnist_small):
    X = mnist_small[0][:128]
    b = BYOL(epochs=2, tau=0.9, **SMALL).fit(X)
    net = b.module_
    online = torch.cat([p.detach().flatten() for p in net.online_parameters()])
    target = torch.cat([p.detach().flatten() for p in net.target_parameters()])
    assert not torch.equal(online, target)  # the target lags behind ...
    assert (online - target).norm() < 0.5 * online.norm()  # ... but follows
    taus = b.history_.history["tau"]
    assert 0.9 - 1e-6 <= taus[0] < taus[1] < 1.0  # (logged in float32)
    frozen = BYOL(epochs=1, tau=1.0, **SMALL).fit(X)  # tau = 1: the target never moves
    torch.manual_seed(0)
    fresh = BYOLNet(frozen.module_.config()["encoder"], 16, 64)
    for a, b_ in zip(frozen.module_.target_parameters(), fresh.target_parameters()):
        assert torch.equal(a, b_)


def test_byol_lowers_its_held_out_loss_without_collapse_on_real_digits(mnist_small):
    """The objective, measured on held-out real digits: training brings the online prediction of one view
    close to the target's projection of the other (the loss falls from ~2.3 to ~1.5), and not by the
    trivial way out: the representations still spread over many directions (a collapsed encoder gives
    every digit the same vector, spread ~ 0)."""
    from fewlabel.augment import byol_augment

    X, _, Xt, _ = mnist_small
    params = dict(encoder="conv", channels=(16, 32, 64), hidden_dim=256, projection_dim=64, batch_size=128,
                  crop_scale=(0.3, 1.0), device="cpu")

    def measure(est):
        net = est.module_.eval()
        x = torch.from_numpy(Xt[:400]).float() / 255
        torch.manual_seed(1)
        with torch.no_grad():
            v1 = byol_augment(x, (28, 28), view=1, crop_scale=(0.3, 1.0))
            v2 = byol_augment(x, (28, 28), view=2, crop_scale=(0.3, 1.0))
            loss = net.loss(v1, v2).mean().item()
            a = net(v1)
        a = F.normalize(a - a.mean(0), dim=1)
        return loss, a.std(0).sum().item()

    loss0, spread0 = measure(BYOL(epochs=1, lr=1e-12, **params).fit(X[:128]))  # the untrained network
    loss1, spread1 = measure(BYOL(epochs=4, lr=1e-3, **params).fit(X[:1500]))
    assert loss1 < 0.8 * loss0, (loss0, loss1)
    assert spread1 > 0.5 * spread0, (spread0, spread1)


# -- the estimator ------------------------------------------------------------------------------------------
def test_save_load_round_trip_and_continue_as_classifier_encoder(tmp_path, mnist_small):
    X, y, Xt, yt = mnist_small
    b = BYOL(epochs=1, **SMALL).fit(X[:300])
    fewlabel.save(b, tmp_path / "byol")
    config = json.loads((tmp_path / "byol" / "config.json").read_text())
    assert config["type"] == "BYOL"
    loaded = fewlabel.load(tmp_path / "byol")
    np.testing.assert_array_equal(loaded.transform(Xt[:20]), b.transform(Xt[:20]))
    assert b.transform(Xt[:20]).shape == (20, 16)  # the pooled map of the last conv stage

    y_semi = np.full(300, -1)
    y_semi[:100] = y[:100]
    # BYOL predicts in the precision it trained in (bf16 where the CPU has it and the work pays): its codes
    # then carry bf16's rounding, about 3 significant digits
    bf16 = b.history_.info.get("precision") == "bf16"
    tol = dict(rtol=1e-2, atol=1e-3) if bf16 else dict(atol=1e-5)
    for encoder in (b, tmp_path / "byol", str(tmp_path / "byol")):
        clf = SemiSupervisedClassifier(encoder=encoder, freeze_encoder=True, max_steps=2, batch_size=64,
                                       device="cpu").fit(X[:300], y_semi)
        np.testing.assert_allclose(clf.transform(Xt[:20]), b.transform(Xt[:20]), **tol)


def test_classifier_pretrains_with_byol_and_its_baseline_has_the_same_network(mnist_small):
    X, y, Xt, yt = mnist_small
    y_semi = np.full(200, -1)
    y_semi[:60] = y[:60]
    common = dict(encoder="resnet18", width=8, max_steps=4, pretrain_epochs=1, batch_size=64, device="cpu",
                  pretrain_params={"hidden_dim": 64, "projection_dim": 16, "crop_scale": [0.3, 1.0]})
    semi = SemiSupervisedClassifier(pretrain="byol", **common).fit(X[:200], y_semi)
    base = SemiSupervisedClassifier(pretrain=None, **common).fit(X[:200], y_semi)
    assert semi.pretrain_history_ is not None and len(semi.pretrain_history_.epochs) == 1
    assert base.pretrain_history_ is None
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.module_.state_dict().items()}  # noqa: E731
    assert shapes(semi) == shapes(base)
    assert semi.transform(Xt[:5]).shape == (5, 64)  # ResNet-18 at width 8: 8 * 8 pooled channels
    assert semi.predict(Xt[:50]).shape == (50,)


@pytest.mark.parametrize("params, X, message", [
    (dict(encoder="dense"), None, "BYOL trains one of"),
    (dict(stem="vgg"), None, "unknown stem"),
    (dict(pooling="max"), None, "unknown pooling"),
    (dict(tau=1.5), None, "tau"),
    (dict(crop_scale=(0.5, 0.2)), None, "crop_scale must satisfy"),
    (dict(crop_scale=0.5), None, "crop_scale must be a pair"),
    (dict(hidden_dim=0), None, "hidden_dim must be a positive integer"),
    (dict(warmup_epochs=5, epochs=2), None, "warmup_epochs"),
    ({}, np.zeros((10, 784), np.float32), "BYOL needs images"),
    ({}, np.full((10, 8, 8), 3.0, np.float32), r"pixel values in \[0, 1\]"),
    ({}, np.zeros((1, 8, 8), np.uint8), "at least 2 images"),
    ({}, np.full((4, 8, 8), np.nan, np.float32), "NaN"),
    ({}, np.zeros((4, 8, 8, 5), np.uint8), "1 or 3 channels"),
    ({}, np.zeros((0, 8, 8), np.uint8), "X is empty"),
])
def test_bad_input_is_refused_clearly(params, X, message):
    X = np.zeros((10, 8, 8), np.uint8) if X is None else X
    with pytest.raises(InputError, match=message):
        BYOL(**{**SMALL, "channels": (4,), "epochs": 1, **params}).fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(encoder="dense", pretrain="byol"), "use encoder='conv' or 'resnet18'"),
    (dict(encoder="resnet18", pretrain="autoencoder"), "pretrain='byol' for a ResNet-18"),
    (dict(encoder="conv", pretrain="byol", pretrain_params={"epochz": 3}), r"pretrain_params has \['epochz'\]"),
    (dict(encoder="conv", pretrain="byol", pretrain_params=[1]), "pretrain_params must be None or a dict"),
])
def test_classifier_refuses_byol_misuse(params, message):
    X = np.zeros((20, 16, 16), np.uint8)
    y = np.array([0, 1] * 10)
    with pytest.raises(InputError, match=message):
        SemiSupervisedClassifier(epochs=1, pretrain_epochs=1, device="cpu", **params).fit(X, y)


def test_cli_pretrain_byol_writes_model_history_and_map(tmp_path):
    out = tmp_path / "run"
    rc = main(["pretrain", "--data", "digits", "--model", "byol", "--backbone", "resnet18", "--width", "8",
               "--hidden-dim", "64", "--projection-dim", "16", "--crop-scale", "0.3,1", "--epochs", "1",
               "--batch-size", "128", "--device", "cpu", "--out", str(out), "--quiet"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"model", "history.json", "loss.png", "latent.png"}
    model = fewlabel.load(out / "model")
    assert isinstance(model, BYOL) and model.lr == pytest.approx(3e-4)
    summary = json.loads((out / "history.json").read_text())
    assert summary["model"] == "byol" and math.isfinite(summary["loss"])


def test_cli_pretrain_byol_refuses_autoencoder_options(tmp_path, capsys):
    rc = main(["pretrain", "--data", "digits", "--model", "byol", "--noise", "mask", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "--noise do(es) not apply to --model byol" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_compare_gives_byol_a_resnet_baseline_without_pretraining():
    from fewlabel.tasks.compare import baseline_params

    params = dict(encoder="resnet18", pretrain="byol", consistency="fixmatch", pretrain_params={"lr": 1e-3}, width=8)
    base = baseline_params(params)
    assert base["encoder"] == "resnet18" and base["width"] == 8  # the same network ...
    assert base["pretrain"] is None and base["consistency"] is None and "pretrain_params" not in base  # ... alone
    assert params["pretrain"] == "byol"  # the caller's settings are not changed
