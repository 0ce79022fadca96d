"""Reading the user's own files in ``fewlabel cluster``, ``detect``, ``pretrain`` and ``map``: a table's
``--label-column`` scores the result and is never a feature (scikit-learn's iris measurements, a CSV with a header
and a column of species names); a folder of photos of two sizes is read at one size (their median shape, or
``--size``); the saved model reads next week's file the same way (its columns by name, its images at that size)."""

import csv
import json

import numpy as np
import pytest

import fewlabel
from fewlabel.cli import main
from table_files import command_error as _error
from table_files import write_csv as _write

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    from sklearn.datasets import load_iris

    d = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[d.target]
    folder = tmp_path_factory.mktemp("iris")
    rows = [[*x, name] for x, name in zip(d.data.tolist(), names)]
    return {"path": _write(folder / "iris.csv", rows, [*COLUMNS, "species"]), "rows": rows, "labels": names,
            "folder": folder}


def test_a_column_of_words_is_named_as_labels_to_give(iris, tmp_path, capsys):
    assert main(["cluster", "--data", str(iris["path"]), "--encoder", "raw", "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "'species'", "'setosa' is not a number", "--label-column")
    assert not (tmp_path / "o").exists()


def test_cluster_scores_against_the_label_column_and_predict_reads_new_files_by_name(iris, tmp_path, capsys):
    out = tmp_path / "clusters"
    assert main(["cluster", "--data", str(iris["path"]), "--label-column", "species", "--encoder", "raw",
                 "--manifold", "none", "--k", "3", "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # the four measurements only (the species column would make it five), scored against the species
    assert m["n_features"] == 4 and m["n_rows"] == 150
    assert m["nmi"] > 0.8 and m["accuracy"] > 0.9  # measured 0.900 and 0.967; chance about 0.01 and 0.4
    model = fewlabel.load(out / "model")
    assert model.training_data_["columns"] == COLUMNS and model.training_data_["label_column"] == "species"

    # next week's file: the columns in another order, the labels still there, or gone
    folder = iris["folder"]
    order = [4, 3, 0, 2, 1]
    header = [*COLUMNS, "species"]
    reordered = _write(folder / "reordered.csv", [[r[i] for i in order] for r in iris["rows"]],
                       [header[i] for i in order])
    unlabeled = _write(folder / "unlabeled.csv", [r[:4] for r in iris["rows"]], COLUMNS)
    answers = []
    for i, path in enumerate((iris["path"], reordered, unlabeled)):
        target = tmp_path / f"p{i}.csv"
        assert main(["predict", "--model", str(out / "model"), "--data", str(path), "--out", str(target),
                     "--quiet"]) == 0
        with open(target) as f:
            answers.append([row["cluster"] for row in csv.DictReader(f)])
    assert answers[0] == answers[1] == answers[2]
    X = np.array([r[:4] for r in iris["rows"]], np.float32)
    assert answers[0] == [str(c) for c in model.predict(X)]

    missing = _write(folder / "missing.csv", [r[:3] + r[4:] for r in iris["rows"]], [*COLUMNS[:3], "species"])
    assert main(["predict", "--model", str(out / "model"), "--data", str(missing), "--out",
                 str(tmp_path / "p.csv"), "--quiet"]) == 2
    _error(capsys, "lacks the model's column(s) 'petal_width'")
    assert not (tmp_path / "p.csv").exists()


def test_detect_per_class_answers_unknown_in_the_labels_own_words(iris, tmp_path):
    out = tmp_path / "detect"
    assert main(["detect", "--data", str(iris["path"]), "--label-column", "species", "--per-class", "--epochs", "30",
                 "--quiet", "--out", str(out)]) == 0
    model = fewlabel.load(out / "model")
    assert model.unknown_label == "unknown" and model.training_data_["label_column"] == "species"
    target = tmp_path / "p.csv"
    assert main(["predict", "--model", str(out / "model"), "--data", str(iris["path"]), "--out", str(target),
                 "--quiet"]) == 0
    with open(target) as f:
        labels = [row["label"] for row in csv.DictReader(f)]
    assert set(labels) <= {"setosa", "versicolor", "virginica", "unknown"}
    known = np.array([lab != "unknown" for lab in labels])
    # setosa is apart from the other two: its rows go to its own autoencoder
    setosa = iris["labels"] == "setosa"
    assert np.mean(np.array(labels)[setosa & known] == "setosa") > 0.9


@pytest.mark.parametrize("command", [["pretrain", "--epochs", "2", "--no-plots"], ["map", "--epochs", "2"]])
def test_pretrain_and_map_leave_the_labels_out_of_the_encoder(iris, tmp_path, command):
    out = tmp_path / command[0]
    assert main([command[0], "--data", str(iris["path"]), "--label-column", "species", *command[1:], "--quiet",
                 "--out", str(out)]) == 0
    model = fewlabel.load(out / "model")
    assert model.input_shape_ == (4,) and model.training_data_["columns"] == COLUMNS


@pytest.mark.parametrize("data, words", [("digits", ["digits has its own labels"]),
                                         ("FOLDER", ["is an image folder", "sub-folders"])])
def test_a_label_column_where_there_is_no_table(tmp_path, capsys, data, words):
    if data == "FOLDER":
        from PIL import Image

        folder = tmp_path / "images" / "a"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
        data = str(tmp_path / "images")
    assert main(["cluster", "--data", data, "--label-column", "y", "--encoder", "raw", "--out",
                 str(tmp_path / "o")]) == 2
    _error(capsys, "--label-column", *words)
    assert not (tmp_path / "o").exists()


def test_a_folder_of_photos_of_two_sizes_is_clustered_at_the_size_given(tmp_path, capsys):
    """Real photographs (scikit-learn's two sample images) cut into tiles of two sizes: by default read at their
    median shape (said in one warning line), or at --size; the saved clusterer reads new images, of yet another
    size, at the size it was trained on."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from fewlabel.datasets import read_image_folder

    folder, new = tmp_path / "tiles", tmp_path / "next_week"
    folder.mkdir()
    new.mkdir()
    for p, photo in enumerate(load_sample_images().images):
        for i in range(12):
            side = 40 if i % 2 else 32
            top, left = 30 * i, 40 * i
            Image.fromarray(photo[top:top + side, left:left + side]).save(folder / f"{p}-{i}.png")
            Image.fromarray(photo[top:top + 50, left:left + 50]).save(new / f"{p}-{i}.png")
    argv = ["cluster", "--data", str(folder), "--encoder", "raw", "--manifold", "pca", "--k", "2", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fewlabel cluster: warning: ") and \
        "images of 2 sizes, from 32x32 to 40x40 (width x height), read at 36x36" in err, err
    model = fewlabel.load(tmp_path / "auto" / "model")
    assert model.training_data_["read"] == {"size": [36, 36], "color": None, "max_side": 64}
    assert main(["info", str(tmp_path / "auto" / "model")]) == 0
    assert "images read at 36x36 (width x height), the size chosen from theirs (longest side at most 64)" in \
        capsys.readouterr().out
    assert model.training_data_["shape"] == [36, 36, 3]

    def predicts_at(model_dir, size):
        """fewlabel predict on next week's images gives what the model gives them resized to ``size`` by the
        library's own reader."""
        target = tmp_path / f"p{size[0]}.csv"
        assert main(["predict", "--model", str(model_dir), "--data", str(new), "--out", str(target), "--quiet"]) == 0
        rows = _read(target)
        X, _, _ = read_image_folder(new, size=size)
        assert len(rows) == 24 and [r["cluster"] for r in rows] == [str(c) for c in fewlabel.load(model_dir).predict(X)]

    predicts_at(tmp_path / "auto" / "model", (36, 36))

    assert main([*argv, "--size", "16x16", "--out", str(tmp_path / "o")]) == 0
    assert "warning" not in capsys.readouterr().err  # the size given: nothing to say
    model = fewlabel.load(tmp_path / "o" / "model")
    assert model.training_data_["read"] == {"size": [16, 16], "color": None}
    assert model.training_data_["shape"] == [16, 16, 3]
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["n_rows"] == 24 and m["n_features"] == 16 * 16 * 3
    # each image's cluster, named by its file as fewlabel predict names it
    own = _read(tmp_path / "o" / "clusters.csv")
    assert sorted(r["file"] for r in own) == sorted(f"{p}-{i}.png" for p in range(2) for i in range(12))
    assert [int(r["cluster"]) for r in own] == model.labels_.tolist()
    predicts_at(tmp_path / "o" / "model", (16, 16))


@pytest.mark.parametrize("argv, words", [(["--data", "digits", "--size", "8x8"], ["--size applies", "digits"]),
                                         (["--data", "IRIS", "--color", "L"], ["--color applies to an image folder"]),
                                         (["--data", "IRIS", "--unlabeled-folder", "todo"],
                                          ["--unlabeled-folder applies to an image folder"]),
                                         (["--data", "digits", "--unlabeled-folder", "todo"],
                                          ["--unlabeled-folder applies", "digits"])])
def test_image_options_where_there_are_no_images(iris, tmp_path, capsys, argv, words):
    argv = [str(iris["path"]) if a == "IRIS" else a for a in argv]
    assert main(["pretrain", *argv, "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    _error(capsys, *words)
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """scikit-learn's wine table: 13 measurements in their own units (proline in the hundreds to thousands, hue
    below 2), three cultivars."""
    from sklearn.datasets import load_wine

    d = load_wine()
    path = tmp_path_factory.mktemp("wine") / "wine.csv"
    _write(path, [[*x, d.target_names[t]] for x, t in zip(d.data.tolist(), d.target)], [*d.feature_names, "cultivar"])
    return {"path": path, "X": d.data.astype(np.float32), "y": d.target}


def test_a_tables_columns_are_scaled_before_they_are_clustered(wine, tmp_path, capsys):
    """Unscaled, proline alone decides the clusters (the raw columns through the default map and mixture: NMI
    0.395, like k-means on them, 0.429); scaled by default, 0.79-0.83 over seeds 0-2 (the encoder cut to 200 steps
    here). The saved clusterer scales new rows the same way."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi

    scores = {}
    for name, options in (("scaled", ["--max-steps", "200"]),
                          ("unscaled", ["--encoder", "raw", "--standardize", "no"])):
        out = tmp_path / name
        assert main(["cluster", "--data", str(wine["path"]), "--label-column", "cultivar", "--k", "3", *options,
                     "--quiet", "--out", str(out)]) == 0
        scores[name] = json.loads((out / "metrics.json").read_text())
    assert scores["scaled"]["standardized"] and not scores["unscaled"]["standardized"]
    raw_kmeans = nmi(wine["y"], KMeans(3, n_init=10, random_state=0).fit_predict(wine["X"]))
    assert scores["unscaled"]["nmi"] < raw_kmeans + 0.1  # measured 0.395 and 0.429
    assert scores["scaled"]["nmi"] > raw_kmeans + 0.25 and scores["scaled"]["accuracy"] > 0.85  # 0.796, 0.933
    model = fewlabel.load(tmp_path / "scaled" / "model")
    mean, spread = model.standardize_
    np.testing.assert_allclose(mean, wine["X"].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(spread, wine["X"].std(axis=0), rtol=1e-4)
    # the codes of the raw rows are those of the scaled rows through the encoder alone
    np.testing.assert_allclose(model.transform(wine["X"]),
                               model.encoder_.transform((wine["X"] - mean) / spread), rtol=1e-4, atol=1e-5)
    # fewlabel info says so, beside the label column left out
    assert main(["info", str(tmp_path / "scaled" / "model")]) == 0
    shown = capsys.readouterr().out
    assert "label column: cultivar" in shown and "centred and scaled" in shown
    assert main(["info", str(tmp_path / "unscaled" / "model")]) == 0
    assert "centred and scaled" not in capsys.readouterr().out
    # its encoder is lent with the clusterer's scaling: another clusterer gives it the columns as they are
    assert main(["cluster", "--data", str(wine["path"]), "--label-column", "cultivar", "--k", "3", "--encoder",
                 str(tmp_path / "scaled" / "model"), "--out", str(tmp_path / "lent"), "--quiet"]) == 0
    lent = json.loads((tmp_path / "lent" / "metrics.json").read_text())
    assert not lent["standardized"] and lent["nmi"] > 0.6, lent["nmi"]
    np.testing.assert_allclose(model.lend_encoder().transform(wine["X"]),
                               model.encoder_.transform((wine["X"] - mean) / spread), rtol=1e-4, atol=1e-5)


def test_cluster_model_scales_a_float_table_but_not_images_or_a_given_encoders_rows(wine):
    from fewlabel.tasks.clusterer import ClusterModel

    raw = ClusterModel(3, encoder=None, manifold="pca", manifold_dim=3, refine=None).fit(wine["X"])
    assert raw.standardize_ is not None
    kept = ClusterModel(3, encoder=None, manifold="pca", manifold_dim=3, refine=None, standardize=False).fit(wine["X"])
    assert kept.standardize_ is None
    images = (np.random.default_rng(0).random((60, 8, 8)) * 255).astype(np.uint8)
    assert ClusterModel(3, encoder=None, manifold="pca", manifold_dim=3, refine=None).fit(images).standardize_ is None
    with pytest.raises(fewlabel.InputError, match="standardize must be True, False or 'auto'"):
        ClusterModel(3, encoder=None, standardize="yes").fit(wine["X"])
    # saved and loaded, the scaling comes back and places the rows where it did
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        fewlabel.save(raw, folder + "/m")
        again = fewlabel.load(folder + "/m")
    np.testing.assert_array_equal(again.predict(wine["X"]), raw.predict(wine["X"]))
    np.testing.assert_array_equal(again.standardize_[1], raw.standardize_[1])


def test_a_partly_labeled_table_is_clustered_whole_and_scored_on_its_labels(wine, tmp_path, capsys):
    """One wine in five keeps its cultivar, the others an empty cell: every row is clustered, the labeled ones
    score it (measured: NMI 0.909 on the 36 labeled rows, scaled columns, k-means). Without --k, as many clusters
    as the labeled rows have cultivars: three (ten, the default where nothing is labeled, gave NMI 0.572 and
    accuracy 0.417 here)."""
    rows = [[*x, name if i % 5 == 0 else ""] for i, (x, name) in
            enumerate(zip(wine["X"].tolist(), np.array(["a", "b", "c"])[wine["y"]]))]
    path = _write(tmp_path / "partly.csv", rows, [f"c{j}" for j in range(13)] + ["cultivar"])
    out = tmp_path / "o"
    assert main(["cluster", "--data", str(path), "--label-column", "cultivar", "--encoder", "raw",
                 "--manifold", "none", "--method", "kmeans", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_rows"] == 178 and m["scored_rows"] == 36 and m["nmi"] > 0.7
    assert "route_choice" not in m  # the route given: nothing for the labeled rows to choose
    assert m["k_from"] == "labels" and fewlabel.load(out / "model").n_clusters == 3
    said = capsys.readouterr().out
    assert "k=3 (the labels' classes)" in said and "on its 36 labeled rows" in said
    # the same rows without their labels: the default ten, said so
    unlabeled = _write(tmp_path / "rows.csv", [r[:13] for r in rows], [f"c{j}" for j in range(13)])
    assert main(["cluster", "--data", str(unlabeled), "--encoder", "raw", "--manifold", "none", "--method", "kmeans",
                 "--out", str(tmp_path / "u")]) == 0
    assert json.loads((tmp_path / "u" / "metrics.json").read_text())["k_from"] == "default"
    assert fewlabel.load(tmp_path / "u" / "model").n_clusters == 10
    assert "k=10 (no labels to count classes in; --k to choose)" in capsys.readouterr().out
    # a column of one value a row (an id given as the labels) sets no k: 36 clusters of about a row each would
    # follow from it; the default ten, and the reason said
    ids = [[*r[:13], f"w{i}" if r[13] else ""] for i, r in enumerate(rows)]
    id_path = _write(tmp_path / "ids.csv", ids, [f"c{j}" for j in range(13)] + ["cultivar"])
    assert main(["cluster", "--data", str(id_path), "--label-column", "cultivar", "--encoder", "raw", "--manifold",
                 "none", "--method", "kmeans", "--out", str(tmp_path / "ids")]) == 0
    assert json.loads((tmp_path / "ids" / "metrics.json").read_text())["k_from"] == "not classes"
    assert fewlabel.load(tmp_path / "ids" / "model").n_clusters == 10
    assert "k=10 (the labels have 36 values over 36 labeled rows, too many to be classes" in capsys.readouterr().out
    # fewer rows drawn than the labels have classes: the labels, not an --k never given, are named
    assert main(["cluster", "--data", str(path), "--label-column", "cultivar", "--max-rows", "2", "--encoder", "raw",
                 "--manifold", "none", "--out", str(tmp_path / "few")]) == 2
    _error(capsys, "its labels have 3 classes, more clusters than the 2 rows", "give --k")
    assert not (tmp_path / "few").exists()


def test_a_partly_labeled_tables_labeled_rows_choose_the_route(wine, tmp_path, capsys):
    """With its defaults, ``fewlabel cluster`` on a partly labeled file also clusters it as a user would with
    scikit-learn and umap-learn (k-means and UMAP + GMM on the scaled columns, k-means on the columns as they
    are) and keeps the route whose clusters match the labeled rows best. On wine, one row in five labeled, the
    default route's clusters score NMI 0.76-0.83 on every row (seeds 0-2: benchmarks/cluster_route_choice.py),
    k-means on the scaled columns 0.876: the labeled rows choose k-means, and every row gains. The saved
    clusterer is the chosen one."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    path, ids, names = _partly_labeled_wine(wine, tmp_path)
    out = tmp_path / "o"
    assert main(["cluster", "--data", str(path), "--label-column", "cultivar", "--id-column", "id", "--out",
                 str(out)]) == 0
    assert "the route that matched those rows best of: default " in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    choice = m["route_choice"]
    assert choice["chosen"] == "k-means on the scaled columns" and set(choice["nmi_on_labeled_rows"]) == {
        "default", "k-means on the scaled columns", "UMAP + GMM on the scaled columns",
        "k-means on the columns as they are"}
    assert m["nmi"] == choice["nmi_on_labeled_rows"]["k-means on the scaled columns"] > \
        choice["nmi_on_labeled_rows"]["default"]
    assert m["method"] == "kmeans" and m["encoder"] is None and m["encoder_trained_not_kept"]["rows"] == 178
    clusters = np.array([int(r["cluster"]) for r in _read(out / "clusters.csv")])
    assert nmi(names, clusters) > 0.85  # every row, the unlabeled ones' truth included
    model = fewlabel.load(out / "model")
    assert model.encoder_ is None and model.method == "kmeans" and model.standardize_ is not None
    np.testing.assert_array_equal(model.labels_, clusters)


@pytest.mark.parametrize("options, chooses", [([], True), (["--route", "default"], False),
                                              (["--encoder", "raw"], False), (["--method", "kmeans"], False),
                                              (["--manifold", "pca"], False), (["--standardize", "no"], False),
                                              (["--n-maps", "3"], False), (["--k", "3", "--seed", "1"], True)])
def test_the_labeled_rows_choose_only_where_the_default_route_runs_on_a_users_file(tmp_path, options, chooses):
    """Any option that sets the route (or --route default) keeps it as given; a named dataset's labels are its
    benchmark truth, never a chooser."""
    from fewlabel.cli import build_parser
    from fewlabel.cli.cluster import chooses_route

    table = tmp_path / "rows.csv"
    table.write_text("a,b\n1,2\n")
    args = build_parser().parse_args(["cluster", "--data", str(table), *options, "--out", str(tmp_path / "o")])
    assert chooses_route(args) is chooses
    assert chooses_route(args, labels_are_classes=False) is False  # an id column's values choose nothing
    named = build_parser().parse_args(["cluster", "--data", "digits", *options, "--out", str(tmp_path / "o")])
    assert chooses_route(named) is False


def _partly_labeled_wine(wine, folder, every=5):
    """wine.csv with an id column of words and one cultivar in ``every`` kept (the others an empty cell)."""
    ids = [f"w{i:03d}" for i in range(len(wine["y"]))]
    names = np.array(["barolo", "grignolino", "barbera"])[wine["y"]]
    rows = [[ids[i], *x, name if i % every == 0 else ""] for i, (x, name) in
            enumerate(zip(wine["X"].tolist(), names))]
    path = _write(folder / "wine_partly.csv", rows, ["id", *[f"c{j}" for j in range(13)], "cultivar"])
    return path, ids, names


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_cluster_writes_each_rows_cluster_named_by_the_id_column(wine, tmp_path, capsys):
    """A user's table names its rows in a column of words: without --id-column it is refused with the option
    named (it is no feature); with it, clusters.csv gives every row's cluster under its id, the clusters the
    metrics were scored on and the ones fewlabel predict gives the same file."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    path, ids, names = _partly_labeled_wine(wine, tmp_path)
    argv = ["cluster", "--data", str(path), "--label-column", "cultivar", "--k", "3", "--encoder", "raw",
            "--manifold", "none", "--method", "kmeans", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "refused")]) == 2
    _error(capsys, "'w000' is not a number", "--id-column")
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "o"
    assert main([*argv, "--id-column", "id", "--out", str(out)]) == 0
    assert "each row's cluster in" in capsys.readouterr().out
    rows = _read(out / "clusters.csv")
    assert list(rows[0]) == ["id", "cluster", "probability"] and [r["id"] for r in rows] == ids
    clusters = np.array([int(r["cluster"]) for r in rows])
    model = fewlabel.load(out / "model")
    np.testing.assert_array_equal(clusters, model.labels_)
    assert model.training_data_["columns"] == [f"c{j}" for j in range(13)]  # the id column is no feature
    assert "row_names" not in model.training_data_
    labeled = np.arange(len(ids)) % 5 == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["nmi"] == pytest.approx(nmi(names[labeled], clusters[labeled]), abs=1e-9) and m["nmi"] > 0.7
    assert "clusters.csv" in m["files"]
    # k-means places each row at its nearest centre: predict on the same file answers every row the same way
    assert main(["predict", "--model", str(out / "model"), "--data", str(path), "--id-column", "id", "--out",
                 str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert _read(tmp_path / "p.csv") == rows


def test_detect_on_a_partly_labeled_table_answers_every_row(wine, tmp_path):
    """A detector learns from every row (the labels only pick rows); one autoencoder per class learns from the
    labeled rows (12 a cultivar) and answers every row with a cultivar or 'unknown'. Measured on the unlabeled
    rows, seeds 0-2: 0.95-0.97 right where it answers a cultivar, 4-32% unknown."""
    path, ids, names = _partly_labeled_wine(wine, tmp_path)
    out = tmp_path / "detector"
    assert main(["detect", "--data", str(path), "--label-column", "cultivar", "--id-column", "id",
                 "--contamination", "0.05", "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    rows = _read(out / "scores.csv")
    assert m["rows"] == 178 and [r["id"] for r in rows] == ids and list(rows[0]) == ["id", "score", "outlier"]
    flagged = sum(r["outlier"] == "yes" for r in rows)
    assert m["rows_scored"]["outlier"] == flagged and 0 < flagged < 30
    out = tmp_path / "classes"
    assert main(["detect", "--data", str(path), "--label-column", "cultivar", "--id-column", "id", "--per-class",
                 "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["rows"] == 36  # the labeled rows train the classes' autoencoders
    rows = _read(out / "scores.csv")
    assert [r["id"] for r in rows] == ids
    unlabeled = np.arange(len(ids)) % 5 != 0
    given = np.array([r["label"] for r in rows])
    assert set(given) <= {"barolo", "grignolino", "barbera", "unknown"}
    known = unlabeled & (given != "unknown")
    assert known.sum() > 0.6 * unlabeled.sum() and np.mean(given[known] == names[known]) > 0.85
    assert fewlabel.load(out / "model").training_data_["label_column"] == "cultivar"


def test_pretrain_and_map_take_a_partly_labeled_table(wine, tmp_path):
    """Labels only colour the figures: the unlabeled rows of a partly labeled table are drawn in grey. The
    autoencoder learns the columns centred and scaled (unscaled, proline alone decides its codes: 5-NN accuracy
    about 0.68 against 0.94-0.96), and so does the map's raw panel."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    path, _, _ = _partly_labeled_wine(wine, tmp_path)
    own = ["--label-column", "cultivar", "--id-column", "id", "--quiet"]
    # 200 steps, not the default's 600 (the codes' 5-NN accuracy is 0.93 with either)
    assert main(["pretrain", "--data", str(path), *own, "--epochs", "200", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "latent.png").exists()
    ae = fewlabel.load(tmp_path / "p" / "model")
    assert ae.training_data_["columns"] == [f"c{j}" for j in range(13)]
    np.testing.assert_allclose(ae.standardize_[1], wine["X"].std(axis=0), rtol=1e-4)
    codes = ae.transform(wine["X"])
    assert cross_val_score(KNeighborsClassifier(5), codes, wine["y"], cv=5).mean() > 0.9
    assert main(["map", "--data", str(path), *own, "--encoder", "raw", "--method", "pca",
                 "--out", str(tmp_path / "m")]) == 0
    m = json.loads((tmp_path / "m" / "map.json").read_text())
    assert m["n_points"] == 178 and m["raw_columns_scaled"] is True


@pytest.mark.parametrize("unlabeled_folder", ["unlabeled", "Unlabelled", "todo"])
def test_a_partly_labeled_image_folder_is_clustered_and_detected_on_its_class_folders(tmp_path, capsys,
                                                                                      unlabeled_folder):
    """scikit-learn's handwritten digits as PNGs, the way the own-data mode takes them: 20 of each digit in a
    folder named after it, the rest unlabeled (in ``unlabeled/``, however spelled, or in a folder named by
    ``--unlabeled-folder``, and 100 loose beside the class folders; a folder that spells "unlabeled" another way is
    refused without the option, as ``fewlabel classify`` refuses it). ``fewlabel cluster`` clusters every image
    and scores the 200 labeled ones only (measured: NMI 0.85 on them with raw pixels, PCA and k-means; the same
    clusters score 0.15 over all rows with the unlabeled images taken as an eleventh class, as they were read
    before); ``detect --per-class`` learns the ten digits, not a class named after the folder, and answers every
    image (measured: a digit for 61% of the unlabeled images, 83% of them right)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.metrics import normalized_mutual_info_score as nmi

    d = load_digits()
    images = np.round(d.images * 255 / 16).astype(np.uint8)
    folder = tmp_path / "digits"
    labeled = np.zeros(len(images), bool)
    for digit in range(10):
        labeled[np.flatnonzero(d.target == digit)[:20]] = True
    files = []
    for i, image in enumerate(images):
        where = (folder / str(d.target[i]) if labeled[i] else
                 folder if i % 16 == 1 else folder / unlabeled_folder)
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(where / f"{i:04d}.png")
        files.append(str((where / f"{i:04d}.png").relative_to(folder)))
    named = [] if unlabeled_folder == "unlabeled" else ["--unlabeled-folder", unlabeled_folder]
    if unlabeled_folder == "Unlabelled":  # meant as the unlabeled images, it would be a class: refused
        assert main(["cluster", "--data", str(folder), "--encoder", "raw", "--out", str(tmp_path / "spelled")]) == 2
        _error(capsys, "would be read as a class named 'Unlabelled'", "--unlabeled-folder 'Unlabelled'")
    if unlabeled_folder == "todo":  # a name that is no sub-folder is refused, naming those there
        assert main(["cluster", "--data", str(folder), "--unlabeled-folder", "to-do", "--encoder", "raw",
                     "--out", str(tmp_path / "typo")]) == 2
        _error(capsys, f"unlabeled images {folder / 'to-do'} does not exist", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, todo")
    assert not (tmp_path / "spelled").exists() and not (tmp_path / "typo").exists()
    out = tmp_path / "clusters"
    assert main(["cluster", "--data", str(folder), *named, "--encoder", "raw", "--manifold", "pca", "--method",
                 "kmeans", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "on its 200 labeled rows" in said and "k=10 (the labels' classes)" in said  # the ten class folders
    m = json.loads((out / "metrics.json").read_text())
    rows = {r["file"]: int(r["cluster"]) for r in _read(out / "clusters.csv")}
    assert m["n_rows"] == len(images) and m["scored_rows"] == 200 and sorted(rows) == sorted(files)
    clusters = np.array([rows[f] for f in files])
    assert m["nmi"] == pytest.approx(nmi(d.target[labeled], clusters[labeled]), abs=1e-9) and m["nmi"] > 0.6
    assert fewlabel.load(out / "model").training_data_["unlabeled_rows"] == len(images) - 200

    out = tmp_path / "classes"
    assert main(["detect", "--data", str(folder), *named, "--per-class", "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["rows"] == 200  # the labeled images train the digits' autoencoders
    model = fewlabel.load(out / "model")
    assert sorted(str(c) for c in model.classes_) == [str(k) for k in range(10)]
    given = {r["file"]: r["label"] for r in _read(out / "scores.csv")}
    assert sorted(given) == sorted(files)
    answered = np.array([given[f] for f in files])
    known = ~labeled & (answered != "unknown")
    assert known.sum() > 0.4 * (~labeled).sum() and np.mean(answered[known] == d.target[known].astype(str)) > 0.7
