"""The parts of the own-data job, each alone: the partly labeled readers, the streaming rows, the estimate's
statistics, the classifier's class names, standardised tables and unfamiliarity score, and the saved
clusterer's map (umap-learn's ``transform`` kept as the reference)."""

import csv
import warnings

import numpy as np
import pytest
from PIL import Image

import fewlabel
from fewlabel.datasets.partial import DataQualityWarning, encode_labels, read_partly_labeled, unlabeled_mask
from fewlabel.datasets.stream import open_rows
from fewlabel.errors import InputError
from fewlabel.tasks.estimate import paired_verdict, stratified_folds, wilson_interval


# -- labels ------------------------------------------------------------------------------------------------
def test_unlabeled_markings():
    assert unlabeled_mask(np.array([0, -1, 2])).tolist() == [False, True, False]
    assert unlabeled_mask(np.array([0.0, np.nan, 1.0])).tolist() == [False, True, False]
    assert unlabeled_mask(np.array(["a", " ", "b"])).tolist() == [False, True, False]
    assert unlabeled_mask(np.array(["a", None, "b"], dtype=object)).tolist() == [False, True, False]
    assert unlabeled_mask(np.array(["a", "N/A", "?x"])).tolist() == [False, True, False]  # "?x" is a class
    with pytest.raises(InputError, match="2 ways: NaN .* -1"):
        unlabeled_mask(np.array([0.0, np.nan, -1.0]))
    codes, names = encode_labels(np.array([" cat", "dog ", "", "cat"]))
    assert names == ["cat", "dog"] and codes.tolist() == [0, 1, -1, 0]  # stripped, as written
    with pytest.raises(InputError, match="whole numbers"):
        encode_labels(np.array([0.5, 1.0, -1.0]))


def test_a_folder_with_loose_and_unlabeled_images_and_what_reading_says(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat/1.png", "cat/2.png", "dog/3.png", "dog/4.png", "unlabeled/5.png", "6.png", "notes.txt"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        if path.suffix == ".png":
            Image.fromarray(rng.integers(0, 255, (9, 9), dtype=np.uint8)).save(path)
        else:
            path.write_text("not an image")
    Image.open(tmp_path / "cat" / "1.png").save(tmp_path / "dog" / "copy.png")  # the same image, two labels
    with pytest.warns(DataQualityWarning) as caught:
        data = read_partly_labeled(tmp_path)
    assert data.class_names == ["cat", "dog"] and data.row_names[-2:] == ["6.png", "unlabeled/5.png"]
    assert data.y.tolist() == [0, 0, 1, 1, 1, -1, -1] and data.X.shape == (7, 9, 9)
    text = " ".join(str(w.message) for w in caught)
    assert "two different labels" in text and "fewer than 5 labeled rows" in text
    assert any("ignored 1 file(s) that are not images (.txt)" in n for n in data.notes)
    assert data.summary().endswith("5 labeled in 2 classes (cat 2, dog 3), 2 unlabeled")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = read_partly_labeled(tmp_path, unlabeled_folder="dog")  # "dog" is then the unlabeled folder
    assert other.class_names == ["cat", "unlabeled"] and other.row_names[-4:] == ["6.png", "dog/3.png", "dog/4.png",
                                                                                  "dog/copy.png"]


def test_a_table_names_its_rows_by_an_id_column_and_keeps_its_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,x,y,kind\na1,1,2,red\na2,3,4,\na3,5,6,blue\na4,7,8,\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_partly_labeled(path, label_column="kind", id_column="id")
    assert data.row_names == ["a1", "a2", "a3", "a4"] and data.feature_names == ["x", "y"]
    assert data.X.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]] and data.y.tolist() == [1, -1, 0, -1]
    path.write_text("id,x,y,kind\na1,1,2,red\na1,3,4,\n")
    with pytest.raises(InputError, match="name more than one row"):
        read_partly_labeled(path, label_column="kind", id_column="id")
    with pytest.raises(InputError, match="--label-column"):
        read_partly_labeled(path)


def test_parquet_nulls_are_unlabeled(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", None, "b", None]}), tmp_path / "t.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_partly_labeled(tmp_path / "t.parquet", label_column="label")
    assert data.y.tolist() == [0, -1, 1, -1]


# -- rows in batches ---------------------------------------------------------------------------------------
def test_a_csv_read_in_batches_matches_the_whole_file_and_checks_columns(tmp_path):
    path = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 3)).astype(np.float32)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "c", "a", "b", "label"])
        for i, row in enumerate(X):
            w.writerow([f"n{i}", *row[[2, 0, 1]], ""])
    rows = open_rows(path, columns=["a", "b", "c"], id_column="name", label_column="label")
    parts = list(rows.batches(10))
    assert [len(p[0]) for p in parts] == [10, 10, 5] and rows.n_rows == 25 and rows.name_column == "name"
    np.testing.assert_allclose(np.concatenate([p[0] for p in parts]), X, rtol=1e-6)
    assert parts[0][1][:2] == ["n0", "n1"]
    with pytest.raises(InputError, match="lacks the model's column"):
        open_rows(path, columns=["a", "b", "d"], id_column="name", label_column="label")
    with pytest.raises(InputError, match="not trained on: 'name'"):
        open_rows(path, columns=["a", "b", "c"], label_column="label")


def test_a_memory_mapped_npy_is_not_read_whole(tmp_path):
    X = np.arange(40 * 6, dtype=np.float32).reshape(40, 6)
    np.save(tmp_path / "x.npy", X)
    rows = open_rows(tmp_path / "x.npy")
    first, names = next(rows.batches(16))
    assert first.shape == (16, 6) and names[0] == "1" and rows.n_rows == 40


# -- the estimate --------------------------------------------------------------------------------------------
def test_wilson_interval_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 10), (7, 10), (270, 300), (20, 20)):
        ref = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ref.low, ref.high), abs=1e-3)


def test_folds_hold_out_every_labeled_row_once():
    y = np.array([0] * 10 + [1] * 7 + [2] * 1 + [-1] * 30)
    folds = stratified_folds(y, 3, seed=0)
    held = np.concatenate(folds)
    assert len(folds) == 3 and sorted(held.tolist()) == list(range(18))
    assert all(set(np.unique(y[f])) >= {0, 1} for f in folds)


def test_the_verdict_counts_the_rows_the_two_got_differently():
    y = np.array([0, 1] * 50)
    better = y.copy()
    worse = y.copy()
    worse[:20] = 1 - worse[:20]  # the baseline misses 20 rows the method gets
    assert "helped: +20.0 points" in paired_verdict(y, better, worse)["text"]
    assert "did NOT help" in paired_verdict(y, worse, better)["text"]
    same = paired_verdict(y, better, better)["text"]
    assert "no clear difference" in same and "the same answer" in same


# -- the classifier ------------------------------------------------------------------------------------------
def test_string_class_names_survive_saving_and_tables_are_standardised(tmp_path):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    names = np.array(["benign", "malignant"], dtype=object)[y]
    partial = names.copy()
    partial[np.random.default_rng(0).random(len(y)) > 0.1] = None
    clf = fewlabel.SemiSupervisedClassifier(max_steps=60, propagate=None, verbose=False).fit(X, partial)
    assert "unfamiliar" not in clf.predict_details(X[:5])  # no detector until it is fitted
    clf.fit_unfamiliarity(X)
    assert clf.standardize_ is not None and np.allclose(clf.standardize_[0], X.mean(axis=0), rtol=1e-4)
    assert clf.score(X, names) > 0.85
    fewlabel.save(clf, tmp_path / "m")
    again = fewlabel.load(tmp_path / "m")
    assert list(again.classes_) == ["benign", "malignant"]
    assert (again.predict(X) == clf.predict(X)).all()
    details = again.predict_details(X[:20])
    assert set(details) == {"label", "confidence", "margin", "unfamiliar", "flagged"}
    np.testing.assert_allclose(details["confidence"], clf.predict_proba(X[:20]).max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(details["unfamiliar"], clf.unfamiliarity(X[:20]), rtol=1e-5)
    raw = fewlabel.SemiSupervisedClassifier(max_steps=4, propagate=None, standardize=False, verbose=False)
    assert raw.fit(X, partial).standardize_ is None


# -- the saved clusterer -------------------------------------------------------------------------------------
def test_the_saved_umap_map_places_rows_where_umap_learn_does(tmp_path):
    pytest.importorskip("umap")
    from sklearn.datasets import load_digits

    from fewlabel.tasks.clusterer import ClusterModel

    X, _ = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ClusterModel(n_clusters=10, encoder=None, manifold="umap", refine=None).fit(X[:1000])
        fewlabel.save(model, tmp_path / "c")
        loaded = fewlabel.load(tmp_path / "c")
        # umap-learn's own transform of the fitted map is the reference
        expected = model.clustering_.reducer_.umap_.transform(X[1000:])
        np.testing.assert_allclose(loaded.clustering_.reducer_.transform(X[1000:]), expected, atol=1e-5)
    assert (loaded.predict(X[1000:]) == model.predict(X[1000:])).all()
    assert np.mean(loaded.predict(X[:1000]) == model.labels_) > 0.95


# -- fewlabel predict for every kind of model -----------------------------------------------------------------
def test_predict_writes_an_encoders_codes_and_a_detectors_scores(tmp_path):
    from sklearn.datasets import load_digits

    from fewlabel.cli import main

    X = load_digits().data.astype(np.float32)
    np.save(tmp_path / "rows.npy", X[:300])
    ae = fewlabel.Autoencoder(hidden=(32,), latent=4, max_steps=30, verbose=False).fit(X)
    fewlabel.save(ae, tmp_path / "ae")
    assert main(["predict", "--model", str(tmp_path / "ae"), "--data", str(tmp_path / "rows.npy"), "--out",
                 str(tmp_path / "codes.npy"), "--batch-size", "128", "--quiet"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), ae.transform(X[:300]), rtol=1e-5, atol=1e-6)
    if __import__("importlib").util.find_spec("pyarrow") is not None:
        import pyarrow.parquet as pq

        assert main(["predict", "--model", str(tmp_path / "ae"), "--data", str(tmp_path / "rows.npy"), "--out",
                     str(tmp_path / "codes.parquet"), "--quiet"]) == 0
        table = pq.read_table(tmp_path / "codes.parquet")
        assert table.column_names == ["row", "code_0", "code_1", "code_2", "code_3"] and table.num_rows == 300
    detector = fewlabel.ReconstructionDetector(fewlabel.Autoencoder(hidden=(32,), latent=4, max_steps=30,
                                                                    verbose=False)).fit(X)
    fewlabel.save(detector, tmp_path / "det")
    assert main(["predict", "--model", str(tmp_path / "det"), "--data", str(tmp_path / "rows.npy"), "--out",
                 str(tmp_path / "scores.csv"), "--quiet"]) == 0
    with open(tmp_path / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "score", "outlier"] and len(rows) == 300
    expected = detector.anomaly_score(X[:300])
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-4)
    assert [r["outlier"] == "yes" for r in rows] == list(detector.predict(X[:300]) == -1)


def test_an_npz_with_minus_one_labels_runs_the_whole_job_quickly(tmp_path, capsys):
    """The own-data job on an .npz (a few optimizer steps: what is written, not how well)."""
    import json

    from sklearn.datasets import load_digits

    from fewlabel.cli import main

    digits = load_digits()
    y = digits.target.copy()
    y[np.random.default_rng(0).random(len(y)) > 0.1] = -1
    np.savez(tmp_path / "d.npz", X=digits.data.astype(np.float32), y=y)
    out = tmp_path / "out"
    assert main(["classify", "--data", str(tmp_path / "d.npz"), "--max-steps", "6", "--folds", "2", "--quiet",
                 "--out", str(out)]) == 0
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "row,label,confidence,margin,unfamiliar,flagged" and len(lines) == 1 + int((y < 0).sum())
    assert lines[1].split(",")[0] == str(int(np.flatnonzero(y < 0)[0]) + 1)  # rows are numbered from 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["estimates"]["folds"] == 2 and metrics["data"]["labeled"] == int((y >= 0).sum())
    model = fewlabel.load(out / "model")
    assert list(model.classes_) == [str(c) for c in range(10)] and model.estimates_["folds"] == 2
    assert (out / "report.html").stat().st_size > 10_000 and (out / "figures" / "map.png").exists()
    # the route was measured on the plain product, and the product (if it teaches) is not pooled by default
    record = metrics["route_record"]
    assert record["scores"] is not None and record["pool"] is False and record["network_weight"] == 0.5
    assert "(0.50: their plain product" not in (out / "report.html").read_text()
    # each class's held-out labels and how many the method got right with them hidden (the folds' confusion
    # matrix), in the report beside the class's counts
    per_class, est = metrics["estimates"]["per_class"], metrics["estimates"]
    assert list(per_class) == [str(c) for c in range(10)]
    assert sum(c["labeled"] for c in per_class.values()) == est["labeled_rows"] == int((y >= 0).sum())
    assert sum(c["right"] for c in per_class.values()) == round(est["methods"]["default"]["accuracy"] *
                                                                est["labeled_rows"])
    assert "right when its label was hidden" in (out / "report.html").read_text()
    # the product counts the labeled rows' class frequencies once, and the report says so where they differ
    assert record["prior_once"] is True and len(set(metrics["data"]["class_counts"].values())) > 1
    assert "divided once by how common each class is" in (out / "report.html").read_text()
    # the confidences are taken at the temperature the estimate's held-out labels gave, unless asked not to
    assert model.temperature_ == metrics["temperature"] == metrics["estimates"]["temperature"] > 0
    raw = tmp_path / "raw"
    assert main(["classify", "--data", str(tmp_path / "d.npz"), "--max-steps", "6", "--folds", "2", "--quiet",
                 "--no-calibrate", "--out", str(raw)]) == 0
    assert fewlabel.load(raw / "model").temperature_ is None and json.loads((raw / "metrics.json").read_text())[
        "temperature"] is None
    rows, raw_rows = (list(csv.DictReader(open(d / "predictions.csv"))) for d in (out, raw))
    assert [r["label"] for r in rows] == [r["label"] for r in raw_rows]
    confidence = np.array([float(r["confidence"]) for r in rows])
    raw_confidence = np.array([float(r["confidence"]) for r in raw_rows])
    t = model.temperature_
    assert np.all(confidence < raw_confidence + 1e-6) if t > 1 else np.all(confidence > raw_confidence - 1e-6)
    assert main(["classify", "--data", "digits", "--labels", "50", "--no-calibrate", "--out", str(tmp_path / "b")]) != 0
    assert "--no-calibrate apply to your own partly labeled data" in capsys.readouterr().err


def test_the_classes_the_held_out_labels_found_hardest_are_named():
    from fewlabel.tasks.own_data import hardest_classes_text

    per_class = {"cat": {"labeled": 40, "right": 38}, "dog": {"labeled": 40, "right": 36},
                 "fox": {"labeled": 5, "right": 1}, "owl": {"labeled": 2, "right": 0},
                 "yak": {"labeled": 0, "right": 0}}
    est = {"methods": {"default": {"accuracy": 75 / 87}}, "per_class": per_class}
    text = hardest_classes_text(est)
    # the classes below the overall estimate, the hardest first; a class with no held-out label is not judged
    assert text.startswith("the classes the held-out labels found hardest: owl 0 of 2 right, fox 1 of 5 right")
    assert "dog" not in text and "cat" not in text and "yak" not in text
    # no class below the estimate: nothing to name
    even = {"cat": {"labeled": 40, "right": 36}, "dog": {"labeled": 10, "right": 9}}
    assert hardest_classes_text({"methods": {"default": {"accuracy": 0.9}}, "per_class": even}) is None
    assert hardest_classes_text(None) is None and hardest_classes_text({"methods": {}}) is None
