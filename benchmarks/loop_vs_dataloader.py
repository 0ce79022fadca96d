"""Seconds per epoch: fewlabel's training loop against a plain PyTorch DataLoader loop, same model.

The model is the 784-500-500-2000-10 dense autoencoder on MNIST's training
images, batch 256, Adam, MSE. Both loops run the same number of epochs after one warm-up epoch each;
the figure is the median epoch time. Writes benchmarks/results/loop_vs_dataloader-<device>.json.

    python benchmarks/loop_vs_dataloader.py                 # all 60,000 images, auto device
    python benchmarks/loop_vs_dataloader.py --rows 20000 --epochs 3 --device cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from fewlabel import datasets
from fewlabel.pretrain.autoencoder import DenseAutoencoderNet
from fewlabel.train import Trainer, resolve_device

HIDDEN, LATENT, BATCH = (500, 500, 2000), 10, 256


def make_net(seed=0):
    torch.manual_seed(seed)
    return DenseAutoencoderNet((28, 28), HIDDEN, LATENT, "relu", "linear", "linear")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(X: np.ndarray, device, epochs: int, workers: int) -> list[float]:
    """What a PyTorch user writes first: float32 TensorDataset, DataLoader, per-batch copy to the device."""
    net = make_net().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = TensorDataset(torch.from_numpy(X.astype(np.float32) / 255.0))
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    times = []
    for _ in range(epochs + 1):
        sync(device)
        t0 = time.perf_counter()
        for (x,) in loader:
            x = x.to(device, non_blocking=True)
            loss = F.mse_loss(net(x), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[1:]


def fewlabel_loop(X: np.ndarray, device, epochs: int, precision: str) -> list[float]:
    net = make_net()

    def loss_fn(model, batch):
        x = batch[0].float() / 255.0
        return F.mse_loss(model(x).float(), x)

    trainer = Trainer(epochs=epochs + 1, batch_size=BATCH, lr=1e-3, device=device, precision=precision,
                      progress=False)
    history = trainer.fit(net, loss_fn, X)
    return history.history["seconds"][1:]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers for the plain loop")
    p.add_argument("--root", help="folder holding mnist/ (else the usual search)")
    args = p.parse_args()
    device = resolve_device(args.device)
    X, _ = datasets.load("mnist", root=args.root)
    X = X[: args.rows]
    results = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
               else platform.processor() or platform.machine(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "plain_workers": args.workers, "rows": len(X), "batch": BATCH, "model": "784-500-500-2000-10 AE"}
    plain = plain_loop(X, device, args.epochs, args.workers)
    results["plain_dataloader_s_per_epoch"] = statistics.median(plain)
    ours = fewlabel_loop(X, device, args.epochs, "fp32")
    results["fewlabel_fp32_s_per_epoch"] = statistics.median(ours)
    if device.type == "cuda":
        results["fewlabel_bf16_s_per_epoch"] = statistics.median(fewlabel_loop(X, device, args.epochs, "bf16"))
    results["speedup_fp32_vs_plain"] = results["plain_dataloader_s_per_epoch"] / results["fewlabel_fp32_s_per_epoch"]
    out = Path(__file__).parent / "results" / f"loop_vs_dataloader-{device.type}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for k, v in results.items():
        print(f"{k:32} {v:.3f}" if isinstance(v, float) else f"{k:32} {v}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
