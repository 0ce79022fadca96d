"""``fewlabel detect`` on real MNIST, with Fashion-MNIST images as the known outliers (CPU)."""

import csv
import json

import numpy as np
import pytest

from fewlabel import datasets, load
from fewlabel.cli import main


@pytest.fixture
def data_env(monkeypatch, real_data_root):
    monkeypatch.setenv("FEWLABEL_DATA", str(real_data_root))


def test_detect_flags_fashion_images_among_digits(tmp_path, data_env, capsys):
    out = tmp_path / "det"
    assert main(["detect", "--data", "mnist", "--max-rows", "3000", "--outliers", "fashion-mnist",
                 "--contamination", "0.05", "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "ReconstructionDetector" and m["rows"] == 3000 and m["threshold"] > 0
    assert m["autoencoder"] == "Autoencoder" and m["score"] == "combined" and m["contamination"] == 0.05
    assert m["test"]["rows"] == 10_000 and 0.01 < m["test"]["flagged_share"] < 0.12
    # measured on this subset in the API test: AUROC 0.99 against Fashion-MNIST images
    assert m["outlier_rows"]["rows"] == 10_000 and m["outlier_rows"]["auroc"] > 0.96
    assert m["outlier_rows"]["flagged_share"] > 0.5
    assert {p.name for p in out.iterdir()} == {"model", "metrics.json", "errors.png"}
    assert (out / "errors.png").stat().st_size > 10_000
    assert load(out / "model").threshold_ == pytest.approx(m["threshold"])
    assert "wrote" in capsys.readouterr().out


def test_detect_per_class_answers_unknown_for_classes_it_never_saw(tmp_path, data_env):
    out = tmp_path / "per_class"
    assert main(["detect", "--data", "mnist", "--per-class", "--classes", "0,1,2,3,4", "--max-rows", "1500",
                 "--unknown", "0.95", "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "ClassAutoencoderClassifier" and m["classes"] == [0, 1, 2, 3, 4]
    seen, unseen = m["test"], m["unseen_classes"]
    assert seen["rows"] + unseen["rows"] == 10_000 and seen["accuracy"] > 0.8
    assert unseen["unknown_share"] > 2 * seen["unknown_share"] and unseen["auroc"] > 0.7
    model = load(out / "model")
    assert list(model.classes_) == [0, 1, 2, 3, 4] and len(model.thresholds_) == 5


def test_detect_refuses_bad_requests_in_one_line(tmp_path, data_env, capsys):
    assert main(["detect", "--data", "mnist", "--classes", "3,11", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no rows of class [11]" in err and "\n" not in err and "Traceback" not in err
    assert main(["detect", "--data", "mnist", "--contamination", "0.9", "--max-rows", "200", "--epochs", "1",
                 "--out", str(tmp_path / "b")]) == 2
    assert "contamination must be" in capsys.readouterr().err
    assert main(["detect", "--data", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "c")]) == 2
    assert "missing.npy" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    rows = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    np.save(tmp_path / "table.npy", rows)
    assert main(["detect", "--data", str(tmp_path / "table.npy"), "--per-class", "--out", str(tmp_path / "d")]) == 2
    assert "no labels" in capsys.readouterr().err


def test_detect_on_a_table_file_scores_no_test_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(400, 6)).astype(np.float32)
    np.save(tmp_path / "table.npy", rows)
    out = tmp_path / "table"
    assert main(["detect", "--data", str(tmp_path / "table.npy"), "--contamination", "0.1", "--epochs", "20",
                 "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["rows"] == 400 and "test" not in m and "outlier_rows" not in m  # a file has no test split
    model = load(out / "model")
    far = rows[:50] * 6  # the same rows blown far out of the training distribution
    assert np.mean(model.predict(far) == -1) > 0.8 and np.mean(model.predict(rows) == -1) < 0.3
    assert {p.name for p in out.iterdir()} == {"model", "metrics.json", "scores.csv"}
    # the file's own rows, each answered as fewlabel predict answers it: named by number, scored, flagged
    with open(out / "scores.csv", newline="") as f:
        answered = list(csv.DictReader(f))
    assert [r["row"] for r in answered] == [str(i + 1) for i in range(400)]
    assert np.allclose([float(r["score"]) for r in answered], model.anomaly_score(rows), rtol=1e-4)
    assert [r["outlier"] == "yes" for r in answered] == list(model.predict(rows) == -1)
    assert m["rows_scored"] == {"file": "scores.csv", "rows": 400, "outlier": int(np.sum(model.predict(rows) == -1))}


@pytest.mark.parametrize(("model", "autoencoder"), [("conv", "ConvAutoencoder"), ("vae", "VariationalAutoencoder")])
def test_detect_builds_the_conv_autoencoder_and_the_vae(tmp_path, data_env, model, autoencoder):
    out = tmp_path / model
    F, _ = datasets.load("fashion-mnist", split="test")
    D, _ = datasets.load("mnist", split="test")
    np.save(tmp_path / "clothes.npy", F[:500])  # a few outliers: a conv net scores 10,000 images slowly on 2 cores
    epochs = {"conv": "3", "vae": "10"}[model]
    assert main(["detect", "--data", "mnist", "--model", model, "--max-rows", "1500", "--epochs", epochs,
                 "--test-split", "none", "--outliers", str(tmp_path / "clothes.npy"), "--quiet", "--device", "cpu",
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["autoencoder"] == autoencoder and m["score"] == "combined" and m["contamination"] == "auto"
    assert "test" not in m and m["outlier_rows"]["rows"] == 500
    det = load(out / "model")
    assert type(det.autoencoder_).__name__ == autoencoder and det.autoencoder_.latent == 16
    # trained on digits, it flags most clothes at the automatic cut-off and few new digits
    assert m["outlier_rows"]["flagged_share"] > 0.5
    assert np.mean(det.predict(D[:500]) == -1) < 0.05


def test_detect_model_options_that_do_not_apply_are_refused(tmp_path, data_env, capsys):
    assert main(["detect", "--data", "mnist", "--model", "conv", "--hidden", "64", "--out", str(tmp_path / "a")]) == 2
    assert "--model conv has convolution stages: use --channels" in capsys.readouterr().err
    assert main(["detect", "--data", "mnist", "--channels", "8,16", "--out", str(tmp_path / "b")]) == 2
    assert "--channels applies to --model conv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["detect", "--data", "mnist", "--contamination", "lots", "--out", str(tmp_path / "c")])
    assert "expected 'auto' or a number" in capsys.readouterr().err
