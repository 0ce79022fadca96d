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
import pytest
import torch

from fewlabel.train.state import load_state_file, remove_stale_partials, save_state_file

TRAIN = r'''
import sys, time, numpy as np, torch
import fewlabel.train.state as state
from fewlabel.train import Trainer
from safetensors.torch import save, save_file
ck, out, epochs, pause_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
writes = 0
real_save_file = state.save_file

def paused_save_file(tensors, filename, metadata=None):
    # Checkpoint write number pause_at stops half way through the file (inside atomic_write, its
    # .partial file half written), says so, and waits there for the kill.
    global writes
    writes += 1
    if writes == pause_at:
        data = save(tensors, metadata=metadata)
        with open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
        print("in-write", filename, flush=True)
        time.sleep(600)
    real_save_file(tensors, filename, metadata=metadata)

state.save_file = paused_save_file
print("ready", flush=True)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(64, 16))
X = np.random.default_rng(0).normal(size=(1024, 16)).astype(np.float32)
Trainer(epochs=epochs, batch_size=32, device="cpu", precision="fp32", progress=False, checkpoint=ck, resume=True,
        schedule="cosine", seed=3).fit(net, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[0]), X)
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)
'''
EPOCHS = 20


def _start(ck, out, epochs, pause_at=0):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", TRAIN, str(ck), str(out), str(epochs), str(pause_at)], env=env,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _run(ck, out, epochs, kill_after=None):
    """Run TRAIN; return (finished, seconds from 'ready' to the end).

    kill_after: (epoch, delay): SIGKILL ``delay`` seconds after the checkpoint on disk first holds ``epoch``
    finished epochs. Counting epochs, not seconds since the start, keeps the kill inside the run however fast
    or slow this machine is at the moment (another test may share the cores)."""
    p = _start(ck, out, epochs)
    t0 = time.perf_counter()
    try:
        if kill_after is not None:
            epoch, delay = kill_after
            while p.poll() is None and _checkpoint_epoch(ck) < epoch:
                time.sleep(0.002)
            time.sleep(delay)
        if kill_after is None or p.poll() is not None:
            assert p.wait(timeout=300) == 0
            return True, time.perf_counter() - t0
        p.send_signal(signal.SIGKILL)
        p.wait()
        return False, time.perf_counter() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _checkpoint_epoch(ck):
    """Finished epochs in the checkpoint on disk (0 when there is none yet)."""
    if not ck.exists():
        return 0
    return int(load_state_file(ck, "checkpoint")["epoch"])


def _kill_inside_write(ck, out, pause_at):
    """Run TRAIN until it is half way through checkpoint write ``pause_at``, kill -9 it; return the partial."""
    p = _start(ck, out, EPOCHS, pause_at)
    try:
        line = p.stdout.readline().split()
        assert line[0] == "in-write", line
        partial = Path(line[1])
        assert partial.name.startswith(f".{ck.name}.") and partial.name.endswith(".partial")
        assert partial.stat().st_size > 0  # the kill lands with the file half written
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert partial.exists()  # a kill -9 leaves it: nothing in the killed process can remove it
    return partial


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its final weights and how long it took."""
    from safetensors.torch import load_file

    folder = tmp_path_factory.mktemp("reference")
    _, duration = _run(folder / "ref.ck", folder / "ref.safetensors", EPOCHS)
    return load_file(str(folder / "ref.safetensors")), duration


def test_kill_9_and_resume_ends_with_the_uninterrupted_weights(tmp_path, reference, trials=3, seed=0):
    from safetensors.torch import load_file

    epochs = EPOCHS
    reference, duration = reference
    rng = random.Random(seed)
    ck, out = tmp_path / "run.ck", tmp_path / "run.safetensors"
    landed = 0
    for _ in range(trials):  # each kill at a random moment of a random epoch of what is left of the run
        done = _checkpoint_epoch(ck)
        if done >= epochs - 3:
            break
        # A random epoch to reach, then up to half of an epoch's time more: the kill falls inside an epoch or
        # inside a checkpoint write, with at least two epochs still to run.
        kill_after = (rng.randint(done + 1, epochs - 3), rng.uniform(0.0, 0.5) * duration / epochs)
        finished, _ = _run(ck, out, epochs, kill_after=kill_after)
        if finished:
            break
        landed += 1
        if ck.exists():  # whatever moment the kill came, the checkpoint on disk loads
            assert kill_after[0] <= load_state_file(ck, "checkpoint")["epoch"] <= epochs
    if not out.exists():
        assert _run(ck, out, epochs)[0]
    assert landed >= 1
    resumed = load_file(str(out))
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_kill_9_inside_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, reference):
    from safetensors.torch import load_file

    ck, out = tmp_path / "run.ck", tmp_path / "run.safetensors"
    # Killed inside the very first write: no checkpoint yet, only the half-written partial file.
    first = _kill_inside_write(ck, out, pause_at=1)
    assert not ck.exists()
    # Resumed (from scratch) and killed inside its third write: its first write removed the stale partial
    # file of the killed one, and the checkpoint on disk is the previous one, whole.
    second = _kill_inside_write(ck, out, pause_at=3)
    assert not first.exists() and second.exists()
    assert load_state_file(ck, "checkpoint")["epoch"] == 2
    # Resumed again, to the end: the uninterrupted run's weights, and no partial file left.
    assert _run(ck, out, EPOCHS)[0]
    resumed = load_file(str(out))
    assert all(torch.equal(reference[0][k], resumed[k]) for k in reference[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ck", "run.safetensors"]


def test_a_write_removes_only_the_stale_partial_files_of_its_own_file(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(done.stdout), os.getppid()  # a process that has ended, one that runs
    ck = tmp_path / "model.ck"
    old = time.time() - 3600
    files = {
        "stale": tmp_path / f".model.ck.{dead}.0123456789ab.partial",  # a killed write of this file
        "writer alive": tmp_path / f".model.ck.{alive}.0123456789ab.partial",
        "other file": tmp_path / f".other.ck.{dead}.0123456789ab.partial",
        "prefix only": tmp_path / f".model.ck.x.{dead}.0123456789ab.partial",  # another file, "model.ck.x"
        "not ours": tmp_path / ".model.ck.notes.partial",
        "new": tmp_path / f".model.ck.{dead}.fedcba987654.partial",  # modified after this process started
    }
    for name, path in files.items():
        path.write_bytes(b"half a checkpoint")
        if name != "new":
            os.utime(path, (old, old))
    save_state_file(ck, "checkpoint", {"epoch": 1, "w": torch.ones(3)})
    assert [n for n, p in files.items() if not p.exists()] == ["stale"]
    assert load_state_file(ck, "checkpoint")["epoch"] == 1
    assert remove_stale_partials(ck) == []


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


def test_kill_resume_trials_script_runs_a_trial(load_script, capsys):
    trials = load_script("scripts", "kill_resume_trials")
    # Seed 1 draws a kill in epoch 2 of 4: it comes well before the run ends.
    assert trials.main(["--trials", "1", "--kills", "1", "--epochs", "4", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 trials, 1 kills -9" in out and "0 failed trials" in out, out
