"""Every semi-supervised report carries its baselines: the runner and ``fewlabel classify``."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fewlabel import SemiSupervisedClassifier, datasets
from fewlabel.cli import main
from fewlabel.errors import InputError
from fewlabel.tasks.compare import ALL, BASE, SEMI, baseline_params, compare, verdict


def test_baseline_is_the_same_network_without_the_unlabeled_data():
    semi = dict(encoder="conv", channels=(8, 16), pretrain="autoencoder", consistency="fixmatch",
                freeze_encoder="then_unfreeze", epochs=5)
    base = baseline_params(semi)
    # a pretrainer's conv encoder has one convolution per stage, whatever convs asks of the classifier's own
    assert base == dict(encoder="conv", channels=(8, 16), convs=1, pretrain=None, propagate=None, consistency=None,
                        augment=True, freeze_encoder=False, epochs=5)
    with pytest.raises(InputError, match="same architecture from scratch"):
        baseline_params(dict(encoder="runs/ae/model"))


@pytest.mark.parametrize("pretrain", ["autoencoder", "byol"])
def test_twin_of_a_pretrained_conv_encoder_is_built_with_its_architecture(pretrain):
    """The supervised twin must be the pretrained network from scratch: the same encoder, layer for layer
    (the classifier's own conv encoder may have several convolutions a stage, a pretrainer's has one)."""
    from fewlabel.tasks.classify_encoder import fresh_spec

    X = np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8)
    semi = dict(encoder="conv", channels=(4, 8), convs=2, pretrain=pretrain, pretrain_epochs=1, batch_size=32,
                device="cpu")
    spec = SemiSupervisedClassifier(**semi).pretrainer_for(X.shape[1:]).fit(X).export_encoder("auto")
    twin = SemiSupervisedClassifier(**baseline_params(semi))
    twin.encoder_kind_ = "conv"
    built = fresh_spec(twin, X.shape[1:])["body"]
    assert built == spec.config["body"]
    twin.convs = 2  # the architecture asked for, without the pretrainer: two a stage
    assert fresh_spec(twin, X.shape[1:])["body"]["config"]["convs"] == [2, 2]


@pytest.mark.real_step_floor
def test_baseline_gets_as_many_steps_as_the_semi_supervised_method(mnist_small):
    """An epoch is ceil(len(X) / batch_size) steps for every method, however many rows carry labels: equal
    epochs are equal work (FixMatch's epoch used to be 268 steps on MNIST, a 100-label epoch one step)."""
    X, y = mnist_small[0][:600], datasets.labeled_subset(mnist_small[1][:600], 20, seed=0)
    common = dict(encoder="conv", channels=(4,), pretrain=None, epochs=2, batch_size=64, device="cpu")
    semi = SemiSupervisedClassifier(consistency="fixmatch", **common).fit(X, y)
    base = SemiSupervisedClassifier(**baseline_params(dict(consistency="fixmatch", **common))).fit(X, y)
    # ceil(600 / 64) = 10 steps an epoch, raised to the classifier's floor of min_steps (200) in all
    assert semi.history_.info["steps"] == base.history_.info["steps"] == max(2 * 10, semi.min_steps) == 200


def test_pretraining_runs_once_per_seed_for_every_label_count(monkeypatch):
    from fewlabel.pretrain.autoencoder import Autoencoder

    fits = []
    real_fit = Autoencoder.fit

    def counting_fit(self, X, *args, **kwargs):
        fits.append(len(X))
        return real_fit(self, X, *args, **kwargs)

    monkeypatch.setattr(Autoencoder, "fit", counting_fit)
    X, y = datasets.load("digits", split="train")
    Xt, yt = datasets.load("digits", split="test")
    params = dict(encoder="dense", hidden=(16,), latent=4, pretrain="autoencoder", pretrain_epochs=1, max_steps=10,
                  propagate="pca", batch_size=128, device="cpu")
    result = compare(X, y, Xt, yt, n_labels=[30, 60, 90], seeds=2, params=params, all_labels=False,
                     log=lambda line: None)
    assert fits == [len(X), len(X)]  # 2 seeds, not 3 counts x 2 seeds
    assert result["pretrain_seconds"] >= 0 and len(result["runs"]) == 6


def test_verdict_says_plainly_what_happened():
    assert verdict([0.9, 0.91, 0.92], [0.8, 0.81, 0.79]).startswith("the semi-supervised method helped")
    assert "did NOT help" in verdict([0.7, 0.71, 0.69], [0.8, 0.81, 0.79])
    assert verdict([0.80, 0.82, 0.78], [0.81, 0.79, 0.80]).startswith("no clear difference")
    # the bundled digits, 50 labels, 3 draws: +4.9, +2.9, +2.7 points on draws 3 points apart among themselves
    assert verdict([0.9711, 0.9444, 0.9756], [0.9222, 0.9156, 0.9489]).startswith("the semi-supervised method helped")


def test_compare_on_real_digits_writes_everything(tmp_path):
    X, y = datasets.load("digits", split="train")
    Xt, yt = datasets.load("digits", split="test")
    # step budgets and PCA for the propagation keep the 9 fits to seconds (the default route is test_semi_default's);
    # a constant rate, since a cosine decaying over 150 steps leaves the network on every label underfitted
    params = dict(encoder="dense", hidden=(64,), latent=16, pretrain="autoencoder", pretrain_epochs=40, max_steps=150,
                  propagate="pca", batch_size=64, device="cpu", schedule=None)
    lines = []
    result = compare(X, y, Xt, yt, n_labels=[50, 200], seeds=2, params=params, out=tmp_path, log=lines.append)
    print("\n".join(lines))
    assert [(r["n_labels"], r["seed"]) for r in result["runs"]] == [(50, 0), (50, 1), (200, 0), (200, 1)]
    for n in ("50", "200"):
        for name in (SEMI, BASE):
            assert 0.5 < result["summary"][n][name]["mean"] <= 1.0  # 10 classes: chance is 0.1
    # more labels, better: the learning curve rises for both methods
    assert result["summary"]["200"][BASE]["mean"] > result["summary"]["50"][BASE]["mean"]
    assert result[ALL]["accuracy"] > result["summary"]["50"][BASE]["mean"]
    assert any("over 2 draw(s)" in line for line in lines)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["summary"] == result["summary"] and len(saved["report_first_run"]["per_class"]) == 10
    assert np.sum(saved["report_first_run"]["confusion_matrix"]) == len(yt)
    for f in ("learning_curves.png", "confusion_matrix.png", "training.png"):
        assert (tmp_path / f).stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_classify_and_its_errors(tmp_path, capsys):
    assert main(["classify", "--data", "digits", "--labels", "100", "--seeds", "1", "--max-steps", "60",
                 "--propagate", "pca", "--batch-size", "64", "--device", "cpu", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["n_labels"] == [100] and "verdict" in saved["summary"]["100"]
    assert "metrics.json" in capsys.readouterr().out
    r = subprocess.run([sys.executable, "-m", "fewlabel.cli", "classify", "--data", "digits", "--labels", "5",
                        "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "5" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_cli_classify_passes_the_weight_average_and_schedule_on():
    from fewlabel.cli import build_parser, classifier_params
    base = ["classify", "--data", "mnist", "--labels", "100", "--out", "x"]
    default = classifier_params(build_parser().parse_args(base))
    # the command's defaults are the classifier's own (ten epochs, the rate decaying along a cosine)
    assert default["ema"] is None and default["schedule"] == "cosine" and default["epochs"] == 10
    assert {k: SemiSupervisedClassifier().get_params()[k] for k in ("schedule", "epochs")} == {"schedule": "cosine",
                                                                                            "epochs": 10}
    tuned = classifier_params(build_parser().parse_args(base + ["--ema", "0.999", "--schedule", "constant"]))
    assert tuned["ema"] == 0.999 and tuned["schedule"] is None
    # the conv encoder's architecture, as the classifier's own defaults and as asked (one depth or one a stage)
    assert (default["channels"], default["convs"]) == (SemiSupervisedClassifier().channels,
                                                       SemiSupervisedClassifier().convs) == ((32, 64, 128), 1)
    deep = classifier_params(build_parser().parse_args(base + ["--convs", "2"]))
    assert deep["convs"] == 2 and classifier_params(build_parser().parse_args(base + ["--convs", "1,2,2"]))["convs"] \
        == (1, 2, 2)
    SemiSupervisedClassifier(**tuned).set_params()  # every key is a parameter of the classifier


def test_compare_in_parallel_processes_gives_the_same_figures():
    X, y = datasets.load("digits", split="train")
    Xt, yt = datasets.load("digits", split="test")
    params = dict(encoder="dense", hidden=(32,), latent=8, pretrain="autoencoder", pretrain_epochs=5, max_steps=40,
                  propagate="pca", batch_size=64, device="cpu")
    kw = dict(n_labels=50, seeds=2, params=params, log=lambda line: None)
    one = compare(X, y, Xt, yt, **kw)
    two = compare(X, y, Xt, yt, jobs=2, **kw)
    # each fit is seeded on its own; only the CPU threads per fit differ (2 vs 1), which may move a float
    for a, b in zip(one["runs"], two["runs"]):
        assert (a["n_labels"], a["seed"]) == (b["n_labels"], b["seed"])
        for name in (SEMI, BASE):
            assert a[name]["accuracy"] == pytest.approx(b[name]["accuracy"], abs=0.01)
    assert one[ALL]["accuracy"] == pytest.approx(two[ALL]["accuracy"], abs=0.01)
    assert one["report_first_run"]["classes"] == two["report_first_run"]["classes"]
    with pytest.raises(InputError, match="jobs must be a positive integer"):
        compare(X, y, Xt, yt, jobs=0, **kw)


def test_one_seeding_rule_for_compare_and_the_runner(tmp_path, monkeypatch):
    """Draw d of a run seeded s: its labels and every model fitted on them seeded s + d, the ceiling s; the same
    models (the network from scratch, the logistic regression) beside the semi-supervised one, in compare and in
    each classify step of fewlabel run."""
    import fewlabel.tasks.compare as engine
    from fewlabel.experiment import read_experiment
    from fewlabel.runner import Runner
    from fewlabel.tasks.compare import LOGREG

    fits = []

    def recording(X, y, X_test, y_test, name, params, n, seed, encoder=None, keep=False):
        fits.append((name, n, seed, None if params is None else params.get("propagate")))
        out = {"accuracy": 0.5, "seconds": 0.0}
        if keep:
            out.update(model=None, predictions=np.asarray(y_test), history=None)
        return out

    monkeypatch.setattr(engine, "fit_and_score", recording)
    X, y = datasets.load("digits", split="train")
    Xt, yt = datasets.load("digits", split="test")
    compare(X, y, Xt, yt, n_labels=20, seeds=2, seed=3, params=dict(propagate="pca"), log=lambda line: None)
    assert fits == [(SEMI, 20, 3, "pca"), (BASE, 20, 3, None), (LOGREG, 20, 3, None),
                    (SEMI, 20, 4, "pca"), (BASE, 20, 4, None), (LOGREG, 20, 4, None), (ALL, None, 3, None)]
    fits.clear()
    cfg = tmp_path / "exp.toml"
    cfg.write_text('seed = 3\n[data]\nname = "digits"\n[tasks.classify]\nlabels = [20, 50]\nseeds = 2\n'
                   'propagate = "pca"\n')
    step = Runner(read_experiment(cfg), tmp_path / "state", verbose=False).classify_draw(20, 1)
    assert step["seed"] == 4 and set(step) >= {SEMI, BASE, LOGREG}
    assert fits == [(SEMI, 20, 4, "pca"), (BASE, 20, 4, None), (LOGREG, 20, 4, None)]
