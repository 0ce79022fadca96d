"""`fewlabel run EXPERIMENT.toml`: the file checked whole before training, a run end to end on the bundled
digits, Ctrl-C leaving a report of what finished, and --resume skipping it."""

import json
import textwrap

import numpy as np
import pytest

import fewlabel
from fewlabel.cli import main
from fewlabel.report import render

DIGITS = """
title = "Digits: autoencoder codes with few labels"
seed = 0

[data]
name = "digits"
max_rows = 1000

[pretrain]
method = "autoencoder"
hidden = [64]
latent = 16
epochs = 30
batch_size = 64

[tasks.classify]
labels = [20, 50]
seeds = 2
epochs = 30
batch_size = 64
max_steps = 150          # a step budget (no 200-step floor) and PCA for the propagation (no UMAP): the run is
propagate = "pca"        #   what is tested here; test_semi_default tests the default route

[tasks.cluster]

[tasks.map]
method = "pca"
max_points = 300

[tasks.detect]
classes = [0, 1, 2, 3, 4]
epochs = 30
"""

TINY = DIGITS.replace("epochs = 30", "epochs = 3").replace("max_rows = 1000", "max_rows = 400") \
    .replace("labels = [20, 50]", "labels = [30]").replace("max_steps = 150", "max_steps = 20")


def write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(args, capsys):
    code = main(["run", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# -- config errors: each names the file, the key and what was expected, before anything is written ------------

BAD = [
    # (what is wrong, the change to DIGITS, words the message must hold)
    ("unknown top-level key", ("seed = 0", "seed = 0\nsed = 1"), ["sed", "unknown key", "seed"]),
    ("unknown data key", ('name = "digits"', 'name = "digits"\nmax_row = 5'), ["data.max_row", "did you mean 'max_rows'"]),
    ("unknown estimator parameter", ("hidden = [64]", "hiden = [64]"), ["pretrain.hiden", "did you mean 'hidden'"]),
    ("unknown classifier parameter", ("seeds = 2", "seeds = 2\nfreeze = true"), ["tasks.classify.freeze"]),
    ("unknown task", ("[tasks.map]", "[tasks.mapp]"), ["tasks.mapp", "unknown key"]),
    ("wrong type: labels", ("labels = [20, 50]", 'labels = "many"'), ["tasks.classify.labels", "expected an integer"]),
    ("wrong type: seed", ("seed = 0", 'seed = "zero"'), ["seed", "expected an integer", "'zero'"]),
    ("wrong type: flag", ("[tasks.cluster]", "[tasks.cluster]\nraw = 1"), ["tasks.cluster.raw", "true or false"]),
    ("bad value: method", ('method = "autoencoder"', 'method = "gan"'), ["pretrain.method", "'autoencoder'", "'gan'"]),
    ("bad value: dataset", ('name = "digits"', 'name = "digitz"'), ["data.name", "did you mean 'digits'"]),
    ("bad value: same split", ('name = "digits"', 'name = "digits"\ntest_split = "train"'),
     ["data.test_split", "other than the one trained on"]),
    ("bad value: estimator check", ("latent = 16", "latent = 16\nactivation = \"swish\""), ["pretrain", "swish"]),
    ("bad value: too many labels", ("labels = [20, 50]", "labels = [20, 5000]"), ["tasks.classify.labels", "5000"]),
    ("bad value: k", ("[tasks.cluster]", "[tasks.cluster]\nk = 1"), ["tasks.cluster.k", "at least 2"]),
    ("bad value: classes", ("classes = [0, 1, 2, 3, 4]", "classes = [0, 11]"), ["tasks.detect.classes", "[11]"]),
    ("missing data", ('[data]\nname = "digits"\nmax_rows = 1000', ""), ["data", "missing"]),
    ("missing data file", ('name = "digits"', 'table = "nowhere.csv"'), ["data.table", "no such file"]),
    ("two data sources", ('name = "digits"', 'name = "digits"\nfolder = "."'), ["data", "exactly one of"]),
    ("file option on a named dataset", ('name = "digits"', 'name = "digits"\nlabel_column = "y"'),
     ["data.label_column", "built-in dataset"]),
    ("missing labels", ("labels = [20, 50]\n", ""), ["tasks.classify.labels", "missing"]),
    ("bad value: rotate", ('name = "digits"', 'name = "digits"\nrotate = [0, 45]'), ["data.rotate", "multiple of 90"]),
    ("bad value: data classes", ('name = "digits"', 'name = "digits"\nclasses = [3, 12]'),
     ["data.classes", "no rows of class [12]"]),
    ("bad value: contamination", ("classes = [0, 1, 2, 3, 4]", 'classes = [0, 1, 2, 3, 4]\ncontamination = "high"'),
     ["tasks.detect.contamination", "expected a number"]),
    ("bad value: score_by", ("classes = [0, 1, 2, 3, 4]", 'classes = [0, 1, 2, 3, 4]\nscore_by = "vibes"'),
     ["tasks.detect.score_by", "'vibes'"]),
]


@pytest.mark.parametrize("what,change,words", BAD, ids=[b[0] for b in BAD])
def test_a_bad_experiment_file_is_refused_before_anything_runs(tmp_path, capsys, what, change, words):
    old, new = change
    assert old in DIGITS
    cfg = write(tmp_path, DIGITS.replace(old, new, 1))
    code, out, err = run([cfg, "--out", tmp_path / "out"], capsys)
    assert code == 2, (what, out, err)
    assert str(cfg) in err  # the file
    for word in words:
        assert word in err, (what, err)
    assert not (tmp_path / "out").exists()  # nothing written, nothing trained
    assert "[1/" not in out


def test_data_classes_and_rotations(tmp_path):
    from fewlabel.experiment import read_experiment

    cfg = write(tmp_path, """
        [data]
        name = "digits"
        classes = [6]
        rotate = [0, 90, 180, 270]

        [tasks.cluster]
        k = 4
    """)
    exp = read_experiment(cfg)
    X, y = exp.arrays["X"], exp.arrays["y"]
    sixes = fewlabel.datasets.load("digits")[0][fewlabel.datasets.load("digits")[1] == 6]
    assert len(X) == 4 * len(sixes) and sorted(np.unique(y)) == [0, 90, 180, 270]
    np.testing.assert_array_equal(X[y == 90], np.rot90(sixes, 1, axes=(1, 2)))
    np.testing.assert_array_equal(X[y == 0], sixes)
    assert sorted(np.unique(exp.arrays["y_test"])) == [0, 90, 180, 270]
    assert exp.arrays["class_names"] is None


def test_not_toml_and_bad_set_options_are_named(tmp_path, capsys):
    cfg = write(tmp_path, "[data\nname = 1")
    code, _, err = run([cfg, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "is not valid TOML" in err and str(cfg) in err
    cfg = write(tmp_path, DIGITS)
    code, _, err = run([cfg, "--out", tmp_path / "o", "--set", "pretrain.epochs"], capsys)
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run([cfg, "--out", tmp_path / "o", "--set", "pretrain.epochs=-3"], capsys)
    assert code == 2 and "pretrain" in err and "epochs" in err
    code, _, err = run([tmp_path / "missing.toml", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "no such experiment file" in err
    (tmp_path / "file").write_text("x")
    code, _, err = run([cfg, "--out", tmp_path / "file"], capsys)
    assert code == 2 and "not a folder" in err


def test_report_escapes_what_the_user_wrote():
    metrics = {"title": "<script>alert(1)</script> & co", "status": "complete", "steps": {},
               "data": {"where": "<b>x</b>", "rows": 1, "shape": [2], "test_rows": 1, "classes": 2},
               "settings": {"title": "\"'><img src=x onerror=alert(1)>"}, "config_file": "a<b>.toml"}
    page = render(metrics, "/nonexistent")
    assert "<script>" not in page and "<b>x</b>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


# -- a whole run on the bundled digits --------------------------------------------------------------------------


def test_digits_experiment_end_to_end(tmp_path, capsys):
    cfg = write(tmp_path, DIGITS)
    out = tmp_path / "run"
    code, stdout, err = run([cfg, "--out", out, "--json"], capsys)
    assert code == 0, err
    metrics = json.loads(stdout)  # --json: stdout is the metrics alone; progress went to stderr
    assert "[1/" in err
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["pending"] == []
    assert {p.name for p in out.iterdir()} == {"report.html", "metrics.json", "figures", "models", "experiment.toml",
                                               "steps"}
    assert (out / "experiment.toml").read_text() == cfg.read_text()
    # classification: every draw's three models, on the same labels; pretraining beats nothing by fiat, but all
    # of them learn far above chance (0.1) and the ceiling sees all labels
    by = metrics["classify"]["by_labels"]
    assert set(by) == {"20", "50"}
    for row in by.values():
        for name in ("semi-supervised", "supervised, same labels",
                     "logistic regression on the raw input, same labels"):
            assert len(row[name]["draws"]) == 2 and row[name]["mean"] > 0.5, (name, row)
        assert "verdict" in row
    assert metrics["classify"]["supervised, all labels"]["n_labels"] == 1000
    assert len(metrics["classify"]["report_draw_0"]["confusion_matrix"]) == 10
    # clustering: codes beside the raw pixels, both far from random
    scores = metrics["steps"]["cluster"]["scores"]
    assert set(scores) == {"codes", "raw input"} and all(s["nmi"] > 0.4 for s in scores.values())
    assert metrics["steps"]["cluster"]["k"] == 10  # the number of classes, when k is not given
    # detection: trained on digits 0-4, the others are flagged far more often
    groups = metrics["steps"]["detect"]["groups"]
    seen, unseen = groups["test rows (seen classes)"], groups["test rows (other classes)"]
    assert unseen["share"] > 3 * seen["share"] and unseen["auroc"] > 0.8
    # every figure the report names exists, and the models load and work
    for names in metrics["figures"].values():
        for name in names:
            assert (out / "figures" / name).stat().st_size > 1000, name
    for name in ("loss.png", "reconstructions.png", "latent.png"):
        assert (out / "figures" / "pretrain" / name).exists()
    X, _ = fewlabel.datasets.load("digits", split="test")
    assert fewlabel.load(out / "models" / "pretrain").transform(X[:5]).shape == (5, 16)
    assert set(np.unique(fewlabel.load(out / "models" / "classifier").predict(X))) <= set(range(10))
    assert fewlabel.load(out / "models" / "detector").predict(X[:5]).shape == (5,)
    page = (out / "report.html").read_text()
    for heading in ("Pretraining", "Classification with few labels", "Clustering", "2-D map",
                    "Outliers and unknown inputs", "Settings and times", "Complete"):
        assert heading in page
    assert page.count("data:image/png;base64,") == sum(len(v) for v in metrics["figures"].values())
    assert "http://" not in page and "https://" not in page and "<script" not in page
    # the same --out again: refused, not overwritten
    code, _, err = run([cfg, "--out", out], capsys)
    assert code == 2 and "--resume" in err and "--force" in err


# -- Ctrl-C, then --resume ------------------------------------------------------------------------------------


def test_interrupt_leaves_a_report_and_resume_skips_what_finished(tmp_path, capsys, monkeypatch):
    from fewlabel.runner import Runner

    cfg = write(tmp_path, TINY)
    out = tmp_path / "run"
    real_cluster = Runner.cluster

    def ctrl_c(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "cluster", ctrl_c)
    code, stdout, _ = run([cfg, "--out", out], capsys)
    assert code == 130
    assert "interrupted in cluster" in stdout and "--resume" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["interrupted_in"] == "cluster"
    assert metrics["pending"] == ["cluster", "map", "detect"]
    assert "cluster" not in metrics["steps"] and "pretrain" in metrics["steps"]
    page = (out / "report.html").read_text()
    assert "Interrupted" in page and "Clustering" not in page and "Pretraining" in page
    pretrain_file = out / "steps" / "pretrain.json"
    before = pretrain_file.stat().st_mtime_ns
    # plain rerun: refused; a resume with other settings: refused, naming what changed
    code, _, err = run([cfg, "--out", out], capsys)
    assert code == 2 and "--resume" in err
    code, _, err = run([cfg, "--out", out, "--resume", "--set", "seed=1"], capsys)
    assert code == 2 and "settings changed" in err and "seed" in err

    monkeypatch.setattr(Runner, "cluster", real_cluster)
    code, stdout, err = run([cfg, "--out", out, "--resume"], capsys)
    assert code == 0, err
    assert "pretrain: done in an earlier run, skipped" in stdout
    assert "classify-30-labels-draw-0: done in an earlier run, skipped" in stdout
    assert "[1/" in stdout and "pretrain ..." not in stdout  # the pretraining did not run again
    assert pretrain_file.stat().st_mtime_ns == before
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["resumed"] is True
    assert metrics["skipped"][0] == "pretrain" and set(metrics["steps"]) >= {"cluster", "map", "detect"}
    page = (out / "report.html").read_text()
    assert "Interrupted" not in page and "Clustering" in page and "resumed" in page
    # --force starts over
    code, stdout, err = run([cfg, "--out", out, "--force", "--quiet"], capsys)
    assert code == 0 and stdout == "", err
    assert pretrain_file.stat().st_mtime_ns != before


def test_a_real_ctrl_c_during_training_leaves_the_report_of_what_finished(tmp_path):
    """SIGINT to the command while a classifier trains: exit 130, the pretraining kept and reported."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = write(tmp_path, TINY.replace("labels = [30]", "labels = [30]\nepochs = 3000").replace(
        "seeds = 2\nepochs = 3", "seeds = 1").replace("max_steps = 20", "max_steps = 100000"))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # SIGINT back to its default in the child: a shell that starts jobs in the background (nohup, `&`) leaves
    # it ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([sys.executable, "-m", "fewlabel.cli", "run", str(cfg), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "steps" / "pretrain.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # into the classifier's training (100,000 steps: it is still training)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)  # seconds on an idle machine; a loaded one is far slower
    assert proc.returncode == 130, (stdout, stderr)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["interrupted_in"] == "classify-30-labels-draw-0"
    assert list(metrics["steps"]) == ["pretrain"]
    assert "Interrupted" in (out / "report.html").read_text()
    assert not list(out.parent.glob(".*partial"))  # no staging left behind


def test_demo_report_shows_the_three_models_and_the_verdict(tmp_path):
    """What `fewlabel demo --out` adds beside demo.json (the demo itself runs in test_io_estimators_cli)."""
    from fewlabel.demo import NETWORK, write_demo_report

    result = {"dataset": "digits", "labels": 50, "seeds": 3, "network": NETWORK, "seconds": 35.2, "cpu_seconds": 30.1,
              "accuracy": {"default": [0.85, 0.83, 0.86], "baseline": [0.80, 0.81, 0.79],
                           "logreg": [0.84, 0.86, 0.85]},
              "ceiling_all_labels": 0.973, "verdict": "pretraining helped: +4.7 points over the supervised baseline"}
    write_demo_report(result, 1347, 450, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert (tmp_path / "figures" / "learning_curves.png").stat().st_size > 10_000
    assert page.count("data:image/png;base64,") == 1 and "Classification with few labels" in page
    assert "0.8467 ± 0.0125 (3 draws)" in page and "0.8000 ± 0.0082 (3 draws)" in page
    assert "pretraining helped: +4.7 points" in page and "all 1347 labels scores 0.9730" in page


@pytest.mark.parametrize("pooling", ["global", "flatten"])
def test_the_supervised_twin_of_a_byol_encoder_reads_the_same_code(tmp_path, pooling):
    """BYOL's classifier reads its encoder's pooled code (128 values for 32/64/128 channels): its supervised
    twin must be that network from scratch, not the flattened 3x3x128 map (a different, stronger network)."""
    from fewlabel.experiment import classifier_params, read_experiment
    from fewlabel.tasks.classify import SemiSupervisedClassifier

    exp = read_experiment(write(tmp_path, f"""
        [data]
        name = "digits"

        [pretrain]
        method = "byol"
        encoder = "conv"
        channels = [8, 16]
        pooling = "{pooling}"
        epochs = 1

        [tasks.classify]
        labels = 50
    """))
    _, base = classifier_params(exp)
    assert base["pooling"] == pooling and base["encoder"] == "conv" and tuple(base["channels"]) == (8, 16)
    X, y = exp.arrays["X"][:200], exp.arrays["y"][:200]
    twin = SemiSupervisedClassifier(**{**base, "max_steps": 2}).fit(X, y)
    byol = fewlabel.BYOL(encoder="conv", channels=(8, 16), pooling=pooling, epochs=1, max_steps=2).fit(X)
    assert twin.transform(X[:5]).shape == byol.transform(X[:5]).shape


def test_the_cluster_step_takes_the_command_lines_defaults(tmp_path):
    """One definition of the clustering route: fewlabel cluster's options, ClusterModel() and an empty
    [tasks.cluster] all read it; CodeClustering shares the map's size and neighbours."""
    from fewlabel.cli import build_parser
    from fewlabel.cluster_defaults import CLUSTER_DEFAULTS
    from fewlabel.experiment import read_experiment
    from fewlabel.tasks.cluster import CodeClustering, default_manifold
    from fewlabel.tasks.clusterer import ClusterModel

    cli = vars(build_parser().parse_args(["cluster", "--data", "digits", "--out", str(tmp_path / "o")]))
    model = ClusterModel().get_params()
    step = read_experiment(write(tmp_path, '[data]\nname = "digits"\n\n[tasks.cluster]\n'), load_data=False)
    step = step.tasks["cluster"]
    for key, value in CLUSTER_DEFAULTS.items():
        assert cli[key] == model[key] == value, key
        assert step[key] == (default_manifold() if key == "manifold" else value), key
    codes = CodeClustering().get_params()
    assert (codes["manifold_dim"], codes["n_neighbors"]) == (CLUSTER_DEFAULTS["manifold_dim"],
                                                             CLUSTER_DEFAULTS["n_neighbors"])
    cfg = write(tmp_path, '[data]\ntable = "rows.csv"\nlabel_column = "y"\n\n[tasks.cluster]\nk = 2\n'
                          'refine = "network"\n', "table.toml")
    (tmp_path / "rows.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(fewlabel.InputError, match="tasks.cluster.refine"):
        read_experiment(cfg)


def test_a_partly_labeled_folder_is_read_as_the_commands_read_it(tmp_path, capsys):
    """An experiment's folder with unlabeled/ (or images loose beside the class folders): those images are the
    unlabeled ones, as in fewlabel classify and cluster, not a class named after the folder; an experiment, which
    draws its own labels, names them and the command that labels them."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    root = tmp_path / "photos"
    for i, image in enumerate(np.round(d.images[:60] * 255 / 16).astype(np.uint8)):
        where = root / (str(d.target[i]) if i < 40 else "unlabeled")
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(where / f"{i:03d}.png")
    cfg = write(tmp_path, TINY.replace('name = "digits"', f'folder = "{root}"').replace("max_rows = 400", ""))
    code, _, err = run([cfg, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "holds 20 unlabeled images (in unlabeled/ or loose beside the class folders)" in err, err
    assert f"fewlabel classify --data {root} labels them" in err and not (tmp_path / "o").exists()


def test_a_table_with_missing_cells_is_refused_or_filled_and_its_classes_keep_their_names(tmp_path, capsys):
    """A labeled table of the user's in an experiment: a missing cell is refused by default, naming the key that
    fills it (data.missing = "fill", each cell its column's median); the classes are named by the label column's
    values in the report (not by the table's feature columns)."""
    from sklearn.datasets import load_wine

    from fewlabel.datasets.partial import DataQualityWarning

    d = load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])[d.target]
    rows = [[*map(str, x), name] for x, name in zip(d.data.tolist(), names)]
    rows[4][2], rows[30][5] = "", "?"
    (tmp_path / "wine.csv").write_text("\n".join(",".join(r) for r in [[f"c{j}" for j in range(13)] + ["cultivar"],
                                                                        *rows]) + "\n")
    text = ('[data]\ntable = "wine.csv"\nlabel_column = "cultivar"\n\n[pretrain]\nmethod = "none"\n\n'
            '[tasks.classify]\nlabels = [15]\nseeds = 1\nbatch_size = 32\nmax_steps = 20\npropagate = "pca"\n')
    cfg = write(tmp_path, text)
    code, _, err = run([cfg, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "data.table" in err and "row 5 (line 6), column 3 ('c2'): missing value" in err, err
    assert 'set data.missing = "fill"' in err and not (tmp_path / "o").exists()
    cfg = write(tmp_path, text.replace('label_column = "cultivar"', 'label_column = "cultivar"\nmissing = "fill"'))
    code, _, err = run([cfg, "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert "filled 2 missing cell(s) in 2 column(s) with each column's median" in err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert set(metrics["classify"]["report_draw_0"]["per_class"]) == {"barbera", "barolo", "grignolino"}
    # classes kept by the names the file gives them
    from fewlabel.experiment import read_experiment

    cfg = write(tmp_path, text.replace('label_column = "cultivar"', 'label_column = "cultivar"\nmissing = "fill"\n'
                                       'classes = ["barolo", "barbera"]'))
    with pytest.warns(DataQualityWarning):
        exp = read_experiment(cfg)
    assert exp.arrays["class_names"] == ["barbera", "barolo", "grignolino"]
    kept = np.concatenate([exp.arrays["y"], exp.arrays["y_test"]])
    assert sorted(set(kept.tolist())) == [0, 1] and len(kept) == int((names != "grignolino").sum())


def test_a_folders_classes_are_kept_by_their_folders_names(tmp_path):
    """data.classes names an image folder's classes as its sub-folders are named (the rows hold their codes): it
    found no rows of class ['zero', 'one'] before."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from fewlabel.experiment import read_experiment

    d = load_digits()
    words = ["zero", "one", "two"]
    for i in np.flatnonzero(d.target[:90] < 3):
        where = tmp_path / "photos" / words[d.target[i]]
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(d.images[i] * 255 / 16).astype(np.uint8)).save(where / f"{i:03d}.png")
    exp = read_experiment(write(tmp_path, '[data]\nfolder = "photos"\nclasses = ["zero", "two"]\n\n[tasks.map]\n'
                                          'method = "pca"\n'))
    assert exp.arrays["class_names"] == ["one", "two", "zero"]  # the folders, sorted
    kept = np.concatenate([exp.arrays["y"], exp.arrays["y_test"]])
    assert sorted(set(kept.tolist())) == [1, 2] and len(kept) == int(np.isin(d.target[:90], [0, 2]).sum())
