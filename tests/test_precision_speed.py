"""Training at the CPU's speed without training worse: bf16 against fp32 on real digits, the automatic
choice of precision, fused optimizers, channels-last convolutions, step budgets, epochs over cycled
rows, the loss read every few steps, plain progress lines in logs, compilation's fallback."""

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch import nn

from fewlabel.errors import InputError
from fewlabel.nets import MLP
from fewlabel.train import Batches, Trainer
from fewlabel.train.loop import make_optimizer
import fewlabel.train.precision as precision_module
from fewlabel.train.precision import (BF16_MIN_FLOPS, cpu_has_native_bf16, forward_flops, native_bf16_flags,
                                     resolve_precision)

CPU = torch.device("cpu")


def autoencoder(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(MLP([784, 512, 256, 32], activations="relu"), MLP([32, 256, 512, 784], activations="relu"))


def mse(net, batch):
    x = batch[0].float().reshape(len(batch[0]), -1) / 255
    return F.mse_loss(torch.sigmoid(net(x)), x)


def ce(net, batch):
    x = batch[0].float().reshape(len(batch[0]), -1) / 255
    logits = net(x)
    return {"loss": F.cross_entropy(logits.float(), batch[1]), "accuracy": (logits.argmax(1) == batch[1]).float().mean()}


def test_bf16_trains_as_well_as_fp32_on_real_digits(mnist_small):
    """Same steps, same seed: the held-out reconstruction loss within 2%, the test accuracy within 1.5 points."""
    X, y, Xt, yt = mnist_small
    test = torch.from_numpy(Xt.reshape(len(Xt), -1).astype(np.float32) / 255)
    losses, accuracies = {}, {}
    for precision in ("fp32", "bf16"):
        net = autoencoder()
        Trainer(max_steps=120, batch_size=128, lr=1e-3, device="cpu", precision=precision, progress=False).fit(
            net, mse, X)
        with torch.no_grad():
            losses[precision] = float(F.mse_loss(torch.sigmoid(net(test)), test))
        torch.manual_seed(0)
        clf = MLP([784, 256, 10], activations="relu")
        Trainer(max_steps=200, batch_size=128, lr=1e-3, device="cpu", precision=precision, progress=False).fit(
            clf, ce, (X, y))
        with torch.no_grad():
            accuracies[precision] = float((clf(test).argmax(1).numpy() == yt).mean())
    assert losses["fp32"] < 0.07  # it learned: an untrained net's loss is about 0.23
    assert abs(losses["bf16"] - losses["fp32"]) <= 0.02 * losses["fp32"], losses
    assert accuracies["fp32"] > 0.85
    assert abs(accuracies["bf16"] - accuracies["fp32"]) <= 0.015, accuracies


def test_auto_precision_counts_the_models_work():
    """Tiny products stay in fp32 (bf16's conversions would cost more than they save); a large
    autoencoder step gets bf16 where the CPU has it natively, fp32 elsewhere."""
    small = MLP([8, 6, 4], activations="sigmoid")
    x = torch.rand(32, 8)
    flops_small = forward_flops(lambda: small(x), small)
    assert flops_small == 2 * 32 * (8 * 6 + 6 * 4)  # the matrix products, counted exactly
    assert resolve_precision("auto", CPU, lambda: flops_small) == "fp32"
    big = autoencoder()
    xb = torch.rand(256, 784)
    flops_big = forward_flops(lambda: big(xb), big)
    assert flops_big > BF16_MIN_FLOPS
    assert resolve_precision("auto", CPU, lambda: flops_big) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("fp32", CPU, lambda: flops_big) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(InputError, match="precision"):
        resolve_precision("fp16", CPU)
    with pytest.raises(InputError, match="mps"):
        resolve_precision("bf16", torch.device("mps"))


#: /proc/cpuinfo flags (the ones that matter, with their usual neighbours) of the kinds of CPU users have.
CPU_KINDS = {
    "AMD Zen 5 (AVX-512 with bf16)": "sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni",
    "AMD Zen 4 (AVX-512 with bf16, half width)": "sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16",
    "Intel Sapphire Rapids (AMX)": "sse4_2 avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8",
    "Intel Ice Lake (AVX-512, no bf16)": "sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni",
    "AMD Zen 3 (AVX2 only)": "sse4_2 avx avx2 fma",
    "AMD Zen 1, family 23 model 1 (AVX2 only)": "sse4_2 avx avx2 fma",
    "no flags readable (not Linux)": "",
}
NATIVE = {"AMD Zen 5 (AVX-512 with bf16)", "AMD Zen 4 (AVX-512 with bf16, half width)", "Intel Sapphire Rapids (AMX)"}


@pytest.mark.parametrize("kind", sorted(CPU_KINDS))
def test_auto_precision_on_each_kind_of_cpu(kind, monkeypatch, mnist_small):
    """bf16 only where the CPU computes it in hardware and the model is large enough; everywhere else, and for
    every small model, fp32: emulated bf16 on an AVX2-only CPU is several times slower than fp32."""
    flags = CPU_KINDS[kind].split()
    assert native_bf16_flags(flags) == (kind in NATIVE)
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: native_bf16_flags(flags))
    big, small = autoencoder(), MLP([784, 8, 784])
    xb = torch.rand(256, 784)
    expected_big = "bf16" if kind in NATIVE else "fp32"
    assert resolve_precision("auto", CPU, lambda: forward_flops(lambda: big(xb), big)) == expected_big
    assert resolve_precision("auto", CPU, lambda: forward_flops(lambda: small(xb), small)) == "fp32"
    # the training loop asks the same question and records the answer
    X = mnist_small[0][:256]
    h = Trainer(max_steps=1, batch_size=256, device="cpu", progress=False).fit(big, mse, X)
    assert h.info["precision"] == expected_big
    # what the user sets is what runs, whatever the CPU
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_this_cpus_flags_are_read():
    flags = precision_module.cpu_flags()
    if precision_module.platform.system() == "Linux" and precision_module.platform.machine() == "x86_64":
        assert {"fpu", "sse2"} <= flags  # every x86-64 CPU lists them
    assert cpu_has_native_bf16() == native_bf16_flags(flags)


def test_counting_work_leaves_batch_norm_statistics_and_randomness_alone():
    net = nn.Sequential(nn.Linear(10, 20), nn.BatchNorm1d(20), nn.Dropout(0.5)).train()
    before = [b.clone() for b in net.buffers()]
    torch.manual_seed(3)
    forward_flops(lambda: net(torch.randn(16, 10) * 5 + 2), net)
    after_rng = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after_rng, torch.rand(1))
    assert all(torch.equal(a, b) for a, b in zip(before, net.buffers()))


def test_the_choice_is_recorded_in_the_history(mnist_small):
    X = mnist_small[0][:512]
    h = Trainer(max_steps=2, batch_size=256, device="cpu", progress=False).fit(autoencoder(), mse, X)
    assert h.info["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert h.info["steps"] == 2 and h.info["compiled"] is False
    h = Trainer(max_steps=2, batch_size=16, device="cpu", progress=False).fit(MLP([784, 8, 784]), mse, X)
    assert h.info["precision"] == "fp32"


def test_optimizers_are_fused_on_the_cpu():
    params = list(MLP([4, 3, 2]).parameters())
    for name in ("adam", "adamw", "sgd"):
        opt = make_optimizer(name, params, lr=0.1, device=CPU)
        assert opt.defaults.get("fused") is True, name
    assert make_optimizer("sgd", params, lr=0.1).defaults.get("fused") in (None, False)  # no device: plain
    with pytest.raises(InputError, match="optimizer"):
        make_optimizer("lbfgs", params, lr=0.1)


def test_fused_adam_follows_torchs_reference_adam():
    """The fused kernel is the same algorithm as torch's plain Adam (the reference), to float rounding."""
    torch.manual_seed(0)
    a = MLP([20, 16, 3])
    b = MLP([20, 16, 3])
    b.load_state_dict(a.state_dict())
    fused = make_optimizer("adam", a.parameters(), lr=1e-2, weight_decay=1e-3, device=CPU)
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-3)
    x, y = torch.randn(64, 20), torch.randint(0, 3, (64,))
    for _ in range(20):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        return self.head(self.conv(x.float().unsqueeze(1) / 255).flatten(1))


def test_convolutions_train_channels_last_and_end_contiguous(mnist_small, tmp_path):
    """During training the conv weights are NHWC (faster); afterwards contiguous again, so the model
    saves as safetensors and predicts as before."""
    X, y = mnist_small[0][:600], mnist_small[1][:600]
    net = SmallCNN()
    seen = []
    trainer = Trainer(max_steps=3, batch_size=64, device="cpu", precision="fp32", progress=False)
    trainer.fit(net, lambda n, b: (seen.append(n.conv[0].weight.is_contiguous(memory_format=torch.channels_last))
                                   or F.cross_entropy(n(b[0]), b[1])), (X, y))
    assert seen and all(seen)
    assert net.conv[0].weight.is_contiguous()
    from safetensors.torch import save_file

    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))  # refuses non-contiguous tensors


def count_optimizer_steps():
    counter = {"n": 0}

    def hook(opt, args, kwargs):
        counter["n"] += 1

    return counter, register_optimizer_step_post_hook(hook)


@pytest.mark.parametrize("max_steps", [1, 7, 40])
def test_a_step_budget_makes_exactly_that_many_steps(max_steps):
    X = torch.rand(300, 784)
    counter, handle = count_optimizer_steps()
    try:
        h = Trainer(max_steps=max_steps, epochs=1, batch_size=32, device="cpu", progress=False).fit(
            MLP([784, 16, 784]), lambda n, b: F.mse_loss(n(b[0]), b[0]), X)
    finally:
        handle.remove()
    assert counter["n"] == max_steps == h.info["steps"]
    assert len(h.epochs) == math.ceil(max_steps / math.ceil(300 / 32))


def test_an_epoch_of_cycled_rows_draws_every_row_equally():
    """100 labeled rows over an epoch of 1,000: each row 10 times, in shuffled passes, reproducibly."""
    rows = torch.arange(100)
    b = Batches(rows, 64, CPU, epoch_rows=1000, seed=1)
    assert len(b) == math.ceil(1000 / 64)
    drawn = torch.cat([t[0] for t in b.epoch(0)])
    assert len(drawn) == 1000 and torch.equal(torch.bincount(drawn), torch.full((100,), 10))
    assert not torch.equal(drawn[:100], drawn[100:200])  # each pass its own order
    assert torch.equal(drawn, torch.cat([t[0] for t in b.epoch(0)]))
    assert not torch.equal(drawn, torch.cat([t[0] for t in b.epoch(1)]))
    with pytest.raises(InputError, match="epoch_rows"):
        Batches(rows, 64, CPU, epoch_rows=0)


def test_the_loss_is_read_every_few_steps_and_nan_still_stops(digits_like=None):
    X = torch.rand(640, 10)
    reads = {"n": 0}
    original = torch.Tensor.item

    def counting_item(self):
        reads["n"] += 1
        return original(self)

    torch.Tensor.item = counting_item
    try:
        Trainer(epochs=1, batch_size=10, device="cpu", log_every=16, progress=False).fit(
            MLP([10, 4, 10]), lambda n, b: F.mse_loss(n(b[0]), b[0]), X)
    finally:
        torch.Tensor.item = original
    assert reads["n"] <= 64 // 16 + 8  # 64 steps: every 16th, plus the epoch's totals, not 64 reads
    from fewlabel.errors import TrainingDivergedError

    bad = X.clone()
    bad[300] = float("nan")
    with pytest.raises(TrainingDivergedError):
        Trainer(epochs=1, batch_size=10, device="cpu", log_every=16, progress=False).fit(
            MLP([10, 4, 10]), lambda n, b: F.mse_loss(n(b[0]), b[0]), bad)


def test_progress_in_a_log_is_one_plain_line_per_epoch(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    X = torch.rand(200, 10)
    Trainer(epochs=3, batch_size=20, device="cpu", progress=True, description="ae").fit(
        MLP([10, 4, 10]), lambda n, b: F.mse_loss(n(b[0]), b[0]), X)
    lines = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["ae epoch 1/3", "ae epoch 2/3", "ae epoch 3/3"]
    assert "\r" not in err.getvalue() and all("loss=" in line for line in lines)


def test_a_failed_compilation_falls_back_to_training_uncompiled(monkeypatch):
    class Broken(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, batch):
            raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", lambda module, **kw: Broken(module))
    X = torch.rand(100, 10)
    net = MLP([10, 4, 10])
    before = [p.clone() for p in net.parameters()]
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        h = Trainer(epochs=2, batch_size=20, device="cpu", compile=True, progress=False).fit(
            net, lambda n, b: F.mse_loss(n(b[0]), b[0]), X)
    assert h.info["compiled"] is False and h.info["steps"] == 10
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(InputError, match="compile"):
        Trainer(compile="yes")


def test_a_checkpoint_missing_its_fields_is_refused_by_name(tmp_path):
    from fewlabel.errors import CorruptFileError
    from fewlabel.train.state import save_state_file

    ckpt = tmp_path / "ck.safetensors"
    save_state_file(ckpt, "checkpoint", {"model": MLP([10, 4, 10]).state_dict(), "epoch": 1})
    with pytest.raises(CorruptFileError, match="lacks optimizer, history"):
        Trainer(epochs=2, device="cpu", checkpoint=ckpt, resume=True, progress=False).fit(
            MLP([10, 4, 10]), lambda n, b: F.mse_loss(n(b[0]), b[0]), torch.rand(20, 10))
