"""Does ``precision="auto"`` (bf16 on a CPU with native bf16) cost ``fewlabel cluster`` its quality?

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/cluster_precision.py --seeds 0 1 2 3 4 5

Runs the default ``fewlabel cluster --data mnist --max-rows 3000 --seed S`` (a few thousand images: the short
runs, where rounding has the fewest steps to average out) in three ways, paired by seed:

  default   the encoder in the precision ``auto`` picks (bf16 where the CPU has it natively)
  fp32      ``--precision fp32``
  output    ``auto``, but the decoder's output layer computed in fp32 (the reconstruction's logits unrounded)

and records NMI after and before self-labelling and the encoder's seconds. On a CPU without native bf16 the
three are the same run. Writes benchmarks/results/cluster_precision-<cpu>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _timing import cpu_record  # benchmarks/_timing.py (the script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("default", "fp32", "output")


def _output_layer_in_fp32():
    """Patch the default Autoencoder so that its decoder's last Linear runs outside autocast."""
    import torch

    from fewlabel.pretrain import autoencoder as A

    build = A.Autoencoder._build

    def _build(self, input_shape, output_activation):
        net = build(self, input_shape, output_activation)
        layer = net.decoder.linears[-1]
        forward = layer.forward

        def fp32_forward(x):
            with torch.autocast("cpu", enabled=False):
                return forward(x.float())

        layer.forward = fp32_forward
        return net

    A.Autoencoder._build = _build
    return lambda: setattr(A.Autoencoder, "_build", build)


def run(mode: str, seed: int, rows: int) -> dict:
    from fewlabel.cli import main

    undo = _output_layer_in_fp32() if mode == "output" else None
    try:
        with tempfile.TemporaryDirectory() as folder:
            argv = ["cluster", "--data", "mnist", "--max-rows", str(rows), "--seed", str(seed), "--out", folder,
                    "--quiet", "--force"]
            if mode == "fp32":
                argv += ["--precision", "fp32"]
            if main(argv) != 0:
                raise SystemExit(f"fewlabel cluster failed ({mode}, seed {seed})")
            m = json.loads((Path(folder) / "metrics.json").read_text())
    finally:
        if undo is not None:
            undo()
    return {"nmi": round(m["nmi"], 4), "accuracy": round(m["accuracy"], 4),
            "nmi_before_self_labelling": round(m["before_refine"]["nmi"], 4),
            "encoder_seconds": m["encoder_trained"]["seconds"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cpu = cpu_record()
    name = f"cluster_precision-{cpu.get('model_name', 'cpu').split()[0].lower()}-f{cpu.get('family')}-m{cpu.get('model')}"
    out = Path(args.out) if args.out else RESULTS / f"{name}.json"
    runs = {m: {} for m in args.modes}
    for seed in args.seeds:
        for mode in args.modes:
            runs[mode][seed] = run(mode, seed, args.rows)
            print(json.dumps({"mode": mode, "seed": seed, **runs[mode][seed]}), flush=True)
    summary = {m: {"nmi_mean": float(np.mean([r["nmi"] for r in runs[m].values()])),
                   "encoder_seconds_mean": float(np.mean([r["encoder_seconds"] for r in runs[m].values()]))}
               for m in args.modes}
    if "default" in runs:
        for m in args.modes:
            if m != "default":
                summary[m]["paired_nmi_minus_default"] = [round(runs[m][s]["nmi"] - runs["default"][s]["nmi"], 4)
                                                          for s in args.seeds]
    result = {"rows": args.rows, "seeds": args.seeds, "cpu": cpu, "runs": runs, "summary": summary}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))
    return result


if __name__ == "__main__":
    main()
