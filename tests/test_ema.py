"""The weights' moving average (fewlabel.train.ema) against torch's AveragedModel, and in the training loop:
what it returns, what it validates, exact resume, bad settings."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fewlabel.errors import InputError
from fewlabel.train import Trainer
from fewlabel.train.ema import WeightEMA


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y.astype(np.int64)


def make_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(8 * 64, 10))


def ce_loss(net, batch):
    logits = net(batch[0])
    return {"loss": F.cross_entropy(logits, batch[1]), "accuracy": (logits.argmax(1) == batch[1]).float().mean()}


def test_matches_torch_averaged_model_parameters_and_batchnorm_statistics(digits):
    X, y = map(torch.from_numpy, digits)
    net = make_net()
    ours = WeightEMA(net, 0.9, warmup=False)
    reference = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    reference.update_parameters(net)  # its first update copies the weights, as our copy at construction
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.train()
    for step in range(30):
        idx = torch.arange(step * 50, step * 50 + 50) % len(X)
        opt.zero_grad()
        F.cross_entropy(net(X[idx]), y[idx]).backward()
        opt.step()
        ours.update(net)
        reference.update_parameters(net)
    mine, theirs = ours.module.state_dict(), reference.module.state_dict()
    assert mine.keys() == theirs.keys()
    for k, v in mine.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, theirs[k], rtol=1e-5, atol=1e-6, msg=k)
    assert mine["1.num_batches_tracked"] == 30  # integer buffers follow the model
    # ... and the average is not the model itself: it lags behind the trained weights
    assert not torch.allclose(mine["5.weight"], net.state_dict()["5.weight"])


def test_warmup_follows_the_weights_early_and_reaches_the_decay():
    ema = WeightEMA(nn.Linear(2, 2), 0.999)
    assert ema.decay_at(1) == pytest.approx(2 / 11)
    assert ema.decay_at(100) == pytest.approx(101 / 110)
    assert ema.decay_at(10**6) == 0.999
    assert WeightEMA(nn.Linear(2, 2), 0.999, warmup=False).decay_at(1) == 0.999
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_trainer_validates_and_returns_the_average(digits):
    X, y = digits
    tr, va = (X[:1400], y[:1400]), (X[1400:], y[1400:])
    plain, averaged, shadow = make_net(), make_net(), None

    def follow(model, step):  # the same average, kept beside an un-averaged run of the same steps
        shadow.update(model)

    shadow = WeightEMA(plain, 0.99)
    Trainer(epochs=4, batch_size=64, lr=3e-3, device="cpu", seed=3, progress=False).fit(
        plain, ce_loss, tr, va, after_step=follow)
    trainer = Trainer(epochs=4, batch_size=64, lr=3e-3, device="cpu", seed=3, ema=0.99, progress=False)
    h = trainer.fit(averaged, ce_loss, tr, va)
    for k, v in averaged.state_dict().items():
        torch.testing.assert_close(v, shadow.module.state_dict()[k], msg=k)
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in averaged.state_dict().items())
    # the last epoch's validation figures are those of the returned (averaged) weights
    val = trainer.evaluate(averaged, ce_loss, _batches(va))
    assert h.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-5)
    assert h.history["val_accuracy"][-1] > 0.85


def _batches(data):
    from fewlabel.train import Batches
    return Batches(data, 1024, torch.device("cpu"), shuffle=False)


class Crash(Exception):
    pass


def test_resume_with_ema_gives_the_same_weights(tmp_path, digits):
    X, y = digits
    settings = dict(epochs=4, batch_size=64, lr=3e-3, schedule="cosine", device="cpu", seed=5, ema=0.95,
                    progress=False)
    full = make_net()
    Trainer(**settings).fit(full, ce_loss, (X, y))

    part, ckpt = make_net(), tmp_path / "run.ckpt"
    first = Trainer(**settings, checkpoint=ckpt, resume=True)

    def crash(epoch, logs):
        if epoch == 2:
            raise Crash

    first.on_epoch_end.append(crash)
    with pytest.raises(Crash):
        first.fit(part, ce_loss, (X, y))
    part = make_net(seed=9)  # a fresh process would start from other weights: the checkpoint must restore them
    Trainer(**settings, checkpoint=ckpt, resume=True).fit(part, ce_loss, (X, y))
    for k, v in full.state_dict().items():
        assert torch.equal(v, part.state_dict()[k]), k

    # a checkpoint written without the average cannot be resumed with one
    plain = tmp_path / "plain.ckpt"
    Trainer(epochs=1, device="cpu", checkpoint=plain, progress=False).fit(make_net(), ce_loss, (X, y))
    with pytest.raises(InputError, match="written without ema"):
        Trainer(epochs=2, device="cpu", checkpoint=plain, resume=True, ema=0.9, progress=False).fit(
            make_net(), ce_loss, (X, y))


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, float("nan"), True, "0.999"])
def test_bad_decay_is_named(decay):
    with pytest.raises(InputError, match="ema is the decay"):
        Trainer(ema=decay)
