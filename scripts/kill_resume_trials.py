"""kill -9 a small training run at random moments, resume it, and check that nothing was lost.

    python scripts/kill_resume_trials.py --trials 40

The run is a tiny MLP (64-32-10, dropout, cosine schedule, Adam) trained on scikit-learn's digits in
fp32 on the CPU by fewlabel's Trainer, with a checkpoint written after every epoch. First one run goes
through uninterrupted. Then each trial starts the same run in a fresh folder and kills it with SIGKILL
at a random moment (``--kills`` times, each resumed run killed again: a random epoch of what is left of
the run, a random time into it), and after each kill:

* the checkpoint on disk, when there is one, must load, and hold an epoch of the run;
* a kill that left a ``.NAME.*.partial`` file beside the checkpoint landed inside a checkpoint write.

Then the run is resumed to its end, and it must end with the uninterrupted run's weights, bit for bit,
with no partial file left beside the checkpoint (the first write after a kill removes them).

To make kills land inside writes often, each checkpoint write is slowed (``--write-seconds``): the
child process writes the file in four pieces with pauses between them, so the file is half written for
most of that time, as a large checkpoint on a slow disk would be. The script prints one line per trial,
then the trials, the kills, the kills that landed inside a write and the failures; it exits 1 on any
failure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r'''
import sys, time
import numpy as np, torch
from safetensors.torch import save, save_file
from sklearn.datasets import load_digits
import fewlabel.train.state as state
from fewlabel.train import Trainer

ck, out, epochs, write_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
real_save_file = state.save_file

def slow_save_file(tensors, filename, metadata=None):
    # The checkpoint's bytes, written in four pieces with a pause after each: a slow write to kill.
    data = save(tensors, metadata=metadata)
    with open(filename, "wb") as f:
        for i in range(4):
            f.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
            f.flush()
            time.sleep(write_seconds / 4)

if write_seconds > 0:
    state.save_file = slow_save_file
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
y = y.astype(np.int64)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 10))
trainer = Trainer(epochs=epochs, batch_size=64, lr=3e-3, device="cpu", precision="fp32", progress=False,
                  checkpoint=ck, resume=True, schedule="cosine", seed=11)
trainer.on_epoch_end.append(lambda epoch, logs: print("epoch", epoch, flush=True))  # after its checkpoint
print("ready", flush=True)
trainer.fit(net, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), (X, y))
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)
'''


def start(ck: Path, out: Path, epochs: int, write_seconds: float) -> subprocess.Popen:
    """Start the child; return once it has imported everything and is about to train."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(ck), str(out), str(epochs), str(write_seconds)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise RuntimeError(f"the training child did not start: {line!r} {p.stderr.read()[-2000:]}")
    return p


def finish(p: subprocess.Popen, timeout: float = 600) -> None:
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise RuntimeError(f"the training child took longer than {timeout} s") from None
    if rc != 0:
        raise RuntimeError(f"the training child exited with {rc}: {p.stderr.read()[-2000:]}")


def partials(ck: Path) -> list[Path]:
    return sorted(ck.parent.glob(f".{ck.name}.*.partial"))


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def run_trial(folder: Path, rng: random.Random, epoch_seconds: float, reference: dict, args) -> dict:
    """Kill the run ``args.kills`` times at random moments, then resume it to the end; check each step."""
    from fewlabel.errors import FewlabelError
    from fewlabel.train.state import load_state_file

    ck, out = folder / "run.ck", folder / "run.safetensors"
    result = dict(kills=0, in_write=0, before_first_checkpoint=0, epochs=[], failures=[])
    done = 0  # epochs the checkpoint on disk holds
    for _ in range(args.kills):
        left_before = set(partials(ck))  # by an earlier kill, removed by this run's first write
        p = start(ck, out, args.epochs, args.write_seconds)
        # A random moment of what is left of the run: a random epoch of it, a random time into that epoch
        # (its training steps, then its checkpoint write). Counting epochs as the child reports them keeps
        # the moments spread over the run however loaded the machine is.
        # Kill in epoch target + 1 (counted from 1); once every epoch is done, in what is left (writing out).
        target = rng.randrange(done, args.epochs) if done < args.epochs else done
        if target > done:  # wait for the end of epoch target (this run's first epoch is done + 1)
            for line in p.stdout:
                if line.split() == ["epoch", str(target)]:
                    break
        try:
            p.wait(timeout=rng.uniform(0.0, epoch_seconds))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
        p.wait()
        if p.returncode == 0:
            break  # the run ended before the kill came
        if p.returncode != -signal.SIGKILL:
            result["failures"].append(f"the run exited with {p.returncode}: {p.stderr.read()[-500:]}")
            return result
        result["kills"] += 1
        result["in_write"] += bool(set(partials(ck)) - left_before)
        if not ck.exists():
            result["before_first_checkpoint"] += 1
            continue
        try:
            done = load_state_file(ck, "checkpoint")["epoch"]
        except FewlabelError as e:
            result["failures"].append(f"the checkpoint on disk does not load after a kill: {e}")
            return result
        result["epochs"].append(done)
        if not 1 <= done <= args.epochs:
            result["failures"].append(f"the checkpoint holds epoch {done}, not one of 1..{args.epochs}")
            return result
    if not out.exists():
        try:
            finish(start(ck, out, args.epochs, args.write_seconds))
        except RuntimeError as e:
            result["failures"].append(f"the resumed run failed: {e}")
            return result
    resumed = weights(out)
    differ = [k for k in reference if k not in resumed or not reference[k].equal(resumed[k])]
    if differ:
        result["failures"].append(f"the resumed run ends with other weights than the uninterrupted one: {differ}")
    if partials(ck):
        result["failures"].append(f"partial files left after the resumed run: {[p.name for p in partials(ck)]}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial before the run is resumed to its end")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--write-seconds", type=float, default=0.03,
                        help="how long each checkpoint write takes (0: as fast as the disk)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.trials < 1 or args.kills < 1 or args.epochs < 1 or args.write_seconds < 0:
        parser.error("--trials, --kills and --epochs must be positive, --write-seconds at least 0")

    sys.path.insert(0, str(REPO / "src"))
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as tmp:
        tmp = Path(tmp)
        (tmp / "reference").mkdir()
        p = start(tmp / "reference" / "ck", tmp / "reference" / "w.safetensors", args.epochs, args.write_seconds)
        t0 = time.perf_counter()
        ends = [time.perf_counter() for line in p.stdout if line.startswith("epoch ")]
        finish(p)
        duration = time.perf_counter() - t0
        reference = weights(tmp / "reference" / "w.safetensors")
        # One epoch, its checkpoint write included (the first epoch also pays for setting up the run).
        epoch_seconds = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else duration
        print(f"uninterrupted run: {args.epochs} epochs in {duration:.1f} s (from the start of training), "
              f"{epoch_seconds:.2f} s an epoch with its checkpoint write of {args.write_seconds} s", flush=True)

        totals = dict(trials=0, kills=0, in_write=0, before_first_checkpoint=0, failed_trials=0)
        for t in range(args.trials):
            folder = tmp / f"trial{t}"
            folder.mkdir()
            r = run_trial(folder, rng, epoch_seconds, reference, args)
            totals["trials"] += 1
            for k in ("kills", "in_write", "before_first_checkpoint"):
                totals[k] += r[k]
            totals["failed_trials"] += bool(r["failures"])
            verdict = "FAILED: " + "; ".join(r["failures"]) if r["failures"] else "ok"
            print(f"trial {t + 1:3d}: {r['kills']} kills ({r['in_write']} inside a checkpoint write, "
                  f"{r['before_first_checkpoint']} before the first checkpoint), checkpoints loaded at epochs "
                  f"{r['epochs']}, {verdict}", flush=True)

    print(f"\n{totals['trials']} trials, {totals['kills']} kills -9, {totals['in_write']} of them inside a "
          f"checkpoint write, {totals['before_first_checkpoint']} before the first checkpoint; "
          f"{totals['failed_trials']} failed trials")
    return 1 if totals["failed_trials"] else 0


if __name__ == "__main__":
    sys.exit(main())
