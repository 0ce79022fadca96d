"""The one training loop, on real data (scikit-learn's digits, MNIST): learning, resume, NaN, early
stopping, schedules, streaming, DDP."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from sklearn.datasets import load_digits

from fewlabel.errors import InputError, TrainingDivergedError
from fewlabel.nets import MLP
from fewlabel.train import Trainer
from fewlabel.train.state import load_state_file

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def ce_loss(net, batch):
    logits = net(batch[0])
    return {"loss": F.cross_entropy(logits, batch[1]), "accuracy": (logits.argmax(1) == batch[1]).float().mean()}


def make_net(seed=0, dropout=0.2):
    torch.manual_seed(seed)
    return MLP([64, 32, 10], dropout=dropout)


def weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_training_learns_digits_and_records_history(digits):
    X, y = digits
    net = make_net()
    h = Trainer(epochs=10, batch_size=64, lr=3e-3, device="cpu", progress=False).fit(
        net, ce_loss, (X[:1400], y[:1400]), (X[1400:], y[1400:]))
    assert h.epochs == list(range(1, 11))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(h.history)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["val_accuracy"][-1] > 0.85  # held-out writers, 10 epochs
    assert not net.training  # left in eval mode


def test_same_seed_same_weights_other_seed_differs(digits):
    X, y = digits
    a, b, c = make_net(), make_net(), make_net()
    for net, seed in ((a, 1), (b, 1), (c, 2)):
        Trainer(epochs=2, batch_size=64, device="cpu", seed=seed, progress=False).fit(net, ce_loss, (X, y))
    for k in weights(a):
        assert torch.equal(weights(a)[k], weights(b)[k])
    assert any(not torch.equal(weights(a)[k], weights(c)[k]) for k in weights(a))


RESUME_JOB = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch, torch.nn.functional as F
    from sklearn.datasets import load_digits
    from fewlabel.nets import MLP
    from fewlabel.train import Trainer
    from fewlabel.io import save
    ckpt, out, epochs, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    def loss(net, b):
        return F.cross_entropy(net(b[0]), b[1])
    torch.manual_seed(0)
    net = MLP([64, 32, 10], dropout=0.2)
    t = Trainer(epochs=epochs, batch_size=64, lr=3e-3, schedule="cosine", device="cpu", seed=7,
                checkpoint=ckpt, resume=True, progress=False)
    if kill_after:
        # Die abruptly, as a killed job would: no cleanup, no exception handling.
        t.on_epoch_end.append(lambda e, logs: os.kill(os.getpid(), signal.SIGKILL) if e == kill_after else None)
    t.fit(net, loss, (X, y.astype(np.int64)))
    save(net, out)
""")


def test_resume_after_kill_gives_the_same_weights(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(RESUME_JOB)
    run = lambda *a: subprocess.run([sys.executable, str(job), *map(str, a)], capture_output=True, text=True)
    full = run(tmp_path / "full.ckpt", tmp_path / "full", 5, 0)
    assert full.returncode == 0, full.stderr
    killed = run(tmp_path / "part.ckpt", tmp_path / "part", 5, 3)
    assert killed.returncode == -signal.SIGKILL
    assert load_state_file(tmp_path / "part.ckpt", "checkpoint")["epoch"] == 3
    assert not (tmp_path / "part").exists()
    resumed = run(tmp_path / "part.ckpt", tmp_path / "part", 5, 0)
    assert resumed.returncode == 0, resumed.stderr
    from fewlabel import load
    a, b = load(tmp_path / "full"), load(tmp_path / "part")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    hist = load_state_file(tmp_path / "part.ckpt", "checkpoint")["history"]
    assert hist["epochs"] == [1, 2, 3, 4, 5]
    # No partial files left beside the checkpoint.
    assert not list(tmp_path.glob(".*partial"))


def test_checkpoint_is_safetensors_not_pickle(tmp_path, digits):
    X, y = digits
    ckpt = tmp_path / "c.safetensors"
    Trainer(epochs=1, device="cpu", checkpoint=ckpt, progress=False).fit(make_net(), ce_loss, (X, y))
    with safe_open(str(ckpt), framework="pt") as f:
        assert "fewlabel" in f.metadata()
        assert any(k.startswith("s.") for k in f.keys())
    assert ckpt.read_bytes()[:2] != b"\x80\x04"  # not a pickle stream


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_weights(digits):
    X, y = digits
    net = make_net(dropout=0.0)
    poisoned = X.copy()
    trainer = Trainer(epochs=3, batch_size=64, device="cpu", progress=False)
    calls = []
    trainer.on_epoch_end.append(lambda e, logs: calls.append(e))
    trainer.fit(net, ce_loss, (X, y))  # three good epochs first
    good = weights(net)
    poisoned[100, 5] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"nan in epoch 1.*keeps the weights"):
        Trainer(epochs=3, batch_size=64, device="cpu", progress=False).fit(net, ce_loss, (poisoned, y))
    for k, v in weights(net).items():
        assert torch.isfinite(v).all()
        assert torch.equal(v, good[k])


def test_diverging_learning_rate_is_caught(digits):
    X, y = digits

    def exploding(net, batch):
        return (net(batch[0]) ** 2).mean() * 1e30

    net = make_net()
    with pytest.raises(TrainingDivergedError, match="Lower the learning rate"):
        Trainer(epochs=5, batch_size=64, lr=1e6, optimizer="sgd", device="cpu", progress=False).fit(
            net, exploding, (X, y))
    assert all(torch.isfinite(v).all() for v in weights(net).values())


def test_early_stopping_restores_best_weights(digits):
    X, y = digits
    # 40 labeled rows and a large net over-fit quickly: validation loss turns up.
    torch.manual_seed(0)
    net = MLP([64, 256, 10])
    trainer = Trainer(epochs=200, batch_size=40, lr=1e-2, device="cpu", early_stopping=3, progress=False)
    h = trainer.fit(net, ce_loss, (X[:40], y[:40]), (X[500:], y[500:]))
    assert h.stopped_early and len(h.epochs) < 200
    best = min(h.history["val_loss"])
    assert h.history["val_loss"][h.best_epoch - 1] == best
    from fewlabel.train import Batches
    again = trainer.evaluate(net, ce_loss, Batches((X[500:], y[500:]), 1024, torch.device("cpu"), shuffle=False))
    assert again["loss"] == pytest.approx(best, rel=1e-5)


def test_schedules_shape_the_learning_rate(digits):
    X, y = digits
    h = Trainer(epochs=4, schedule="cosine", lr=0.1, optimizer="sgd", device="cpu", progress=False).fit(
        make_net(), ce_loss, (X, y))
    lrs = h.history["lr"]
    assert lrs[0] > lrs[1] > lrs[2] > lrs[3] and lrs[3] < 0.01
    h = Trainer(epochs=4, schedule="step", step_epochs=2, gamma=0.5, lr=0.1, optimizer="sgd", device="cpu",
                progress=False).fit(make_net(), ce_loss, (X, y))
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05])
    h = Trainer(epochs=3, optimizer="adamw", weight_decay=0.1, lr=1e-3, warmup_epochs=2, device="cpu",
                progress=False).fit(make_net(), ce_loss, (X, y))
    assert h.history["lr"][0] < h.history["lr"][1] <= 1e-3


def test_streamed_memmap_matches_resident_arrays(tmp_path, digits):
    X, y = digits
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    assert isinstance(Xm, np.memmap)
    a, b = make_net(), make_net()
    Trainer(epochs=2, batch_size=64, device="cpu", progress=False).fit(a, ce_loss, (X, y))
    Trainer(epochs=2, batch_size=64, device="cpu", progress=False).fit(b, ce_loss, (Xm, y))
    for k, v in weights(a).items():
        torch.testing.assert_close(v, weights(b)[k])




def test_an_index_into_the_rows_trains_as_their_copy_and_shares_the_array(tmp_path, digits):
    """The rows a network is taught, given as ``RowsOf(X, rows)`` (some repeated, as the classifier repeats its
    labeled rows): the same weights as on ``X[rows]``, from the array itself in memory (no copy of it), and read
    batch by batch from a memory-mapped file."""
    from fewlabel.train.data import Batches, RowsOf

    X, y = digits
    rows = np.concatenate([np.arange(0, 1500, 2), np.tile(np.arange(1, 60, 2), 5)])
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    nets = [make_net() for _ in range(3)]
    for net, data in zip(nets, [(X[rows], y[rows]), (RowsOf(X, rows), y[rows]), (RowsOf(Xm, rows), y[rows])]):
        Trainer(epochs=2, batch_size=64, device="cpu", progress=False).fit(net, ce_loss, data, (X[1500:], y[1500:]))
    for other in nets[1:]:
        for k, v in weights(nets[0]).items():
            torch.testing.assert_close(v, weights(other)[k])
    shared = Batches((RowsOf(X, rows), y[rows]), 64, torch.device("cpu"))
    assert not shared.stream and shared.tensors[0].data_ptr() == X.ctypes.data  # the caller's array, not a copy
    assert Batches((RowsOf(Xm, rows), y[rows]), 64, torch.device("cpu")).stream
    first = shared.first(3)
    np.testing.assert_array_equal(first[0].numpy(), X[rows[:3]])
    np.testing.assert_array_equal(RowsOf(X, rows)[2:5], X[rows[2:5]])
@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer="rmsprop"), "unknown optimizer"),
    (dict(schedule="linear"), "unknown schedule"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(lr=-1.0), "lr must be a positive"),
    (dict(resume=True), "resume=True needs checkpoint"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        Trainer(**kwargs)


def test_bad_data_is_named(digits):
    X, y = digits
    with pytest.raises(InputError, match="different lengths"):
        Trainer(epochs=1, device="cpu", progress=False).fit(make_net(), ce_loss, (X, y[:10]))
    with pytest.raises(InputError, match="empty"):
        Trainer(epochs=1, device="cpu", progress=False).fit(make_net(), ce_loss, (X[:0], y[:0]))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            Trainer(epochs=1, device="cuda", progress=False).fit(make_net(), ce_loss, (X, y))


DDP_JOB = textwrap.dedent("""
    import os, sys, numpy as np, torch, torch.nn.functional as F
    from sklearn.datasets import load_digits
    from fewlabel.nets import MLP
    from fewlabel.train import Trainer
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    torch.manual_seed(0)
    net = MLP([64, 32, 10])
    h = Trainer(epochs=3, batch_size=32, lr=3e-3, device="cpu", checkpoint=sys.argv[1], progress=False).fit(
        net, lambda n, b: F.cross_entropy(n(b[0]), b[1]), (X, y.astype(np.int64)))
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    np.save(sys.argv[2] + f"/rank{os.environ['RANK']}.npy", flat.numpy())
    np.save(sys.argv[2] + f"/loss{os.environ['RANK']}.npy", np.array(h.history["loss"]))
""")


@pytest.mark.timeout(300)
def test_distributed_data_parallel_under_torchrun(tmp_path):
    job = tmp_path / "ddp.py"
    job.write_text(DDP_JOB)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(job), str(tmp_path / "ck"),
                        str(tmp_path)], capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    w0, w1 = np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy")
    np.testing.assert_array_equal(w0, w1)  # gradients were averaged: both replicas stayed identical
    l0, l1 = np.load(tmp_path / "loss0.npy"), np.load(tmp_path / "loss1.npy")
    np.testing.assert_allclose(l0, l1)  # metrics are averaged over processes
    assert l0[-1] < 0.5 * l0[0]
    assert load_state_file(tmp_path / "ck", "checkpoint")["epoch"] == 3


def test_weighted_cross_entropy_weighs_rows_and_survives_zero_weights():
    """The weighted loss is the weighted mean of torch's per-row cross-entropy; weights of 1 give the plain
    mean; a batch of zero-weight rows gives 0, not NaN."""
    import torch
    import torch.nn.functional as F

    from fewlabel.train.losses import weighted_cross_entropy

    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(6, 3, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([1.0, 0.5, 0.0, 2.0, 1.0, 0.25])
    per_row = F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(weighted_cross_entropy(logits, target, w), (per_row * w).sum() / w.sum())
    assert torch.allclose(weighted_cross_entropy(logits, target, torch.ones(6)), F.cross_entropy(logits, target))
    assert torch.allclose(weighted_cross_entropy(logits, target), F.cross_entropy(logits, target))
    zero = weighted_cross_entropy(logits, target, torch.zeros(6))
    assert torch.isfinite(zero) and float(zero) == 0.0


def test_predict_batches_names_a_model_that_answers_for_fewer_rows_than_it_was_given():
    import numpy as np

    from fewlabel.errors import InputError
    from fewlabel.train import predict_batches

    X = np.zeros((10, 3), np.float32)
    assert predict_batches(lambda x: x * 2, X, batch_size=4).shape == (10, 3)
    with pytest.raises(InputError, match="gave 1 answers for a batch of 4 rows"):
        predict_batches(lambda x: x[:1], X, batch_size=4)
