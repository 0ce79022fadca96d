"""kill -9 during training (and during checkpoint writes): the checkpoint always loads and a resumed run
ends with the same weights as an uninterrupted one (CPU, fp32). Same seed, same data: same weights."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fewlabel.train.state import load_state_file

TRAIN = r'''
import sys, numpy as np, torch
from fewlabel.train import Trainer
from safetensors.torch import save_file
ck, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(64, 16))
X = np.random.default_rng(0).normal(size=(1024, 16)).astype(np.float32)
Trainer(epochs=epochs, batch_size=32, device="cpu", precision="fp32", progress=False, checkpoint=ck, resume=True,
        schedule="cosine", seed=3).fit(net, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[0]), X)
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)
'''


def _run(ck, out, epochs, kill_after=None):
    """Run TRAIN; return (finished, seconds from 'ready' to the end). kill_after: SIGKILL that long after."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", TRAIN, str(ck), str(out), str(epochs)], env=env,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    try:
        assert p.wait(timeout=kill_after if kill_after is not None else 300) == 0
        return True, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return False, time.perf_counter() - t0


def test_kill_9_and_resume_ends_with_the_uninterrupted_weights(tmp_path, trials=3, seed=0):
    from safetensors.torch import load_file

    epochs = 20
    _, duration = _run(tmp_path / "ref.ck", tmp_path / "ref.safetensors", epochs)
    reference = load_file(str(tmp_path / "ref.safetensors"))
    rng = random.Random(seed)
    ck, out = tmp_path / "run.ck", tmp_path / "run.safetensors"
    landed = 0
    for _ in range(trials):  # each kill at a random moment of what is left of the run
        finished, _ = _run(ck, out, epochs, kill_after=rng.uniform(0.0, duration * 0.8))
        if finished:
            break
        landed += 1
        if ck.exists():  # whatever moment the kill came, the checkpoint on disk loads
            assert 1 <= load_state_file(ck, "checkpoint")["epoch"] <= epochs
    if not out.exists():
        assert _run(ck, out, epochs)[0]
    assert landed >= 1
    resumed = load_file(str(out))
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_same_seed_same_weights_autoencoder_fp32_and_trainer_bf16():
    import fewlabel
    from fewlabel.train import Trainer

    X = np.random.default_rng(0).integers(0, 256, (200, 8, 8), dtype=np.uint8)
    runs = []
    for _ in range(2):
        ae = fewlabel.Autoencoder(hidden=(32,), latent=4, epochs=2, device="cpu", random_state=5, verbose=False).fit(X)
        runs.append(({k: v.clone() for k, v in ae.module_.state_dict().items()}, ae.transform(X)))
    (w1, c1), (w2, c2) = runs
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    np.testing.assert_array_equal(c1, c2)

    Xf = (X.reshape(200, -1) / 255.0).astype(np.float32)
    bf16 = []
    for _ in range(2):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(32, 64))
        Trainer(epochs=2, batch_size=32, device="cpu", precision="bf16", progress=False, seed=7).fit(
            net, lambda m, b: torch.nn.functional.mse_loss(m(b[0]).float(), b[0]), Xf)
        bf16.append(net.state_dict())
    assert all(torch.equal(bf16[0][k], bf16[1][k]) for k in bf16[0])
