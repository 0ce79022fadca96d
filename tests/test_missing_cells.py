"""A table of the user's with missing cells (empty, NaN, NA, ?): refused by default, the first cell named with the
remedy; with ``--missing fill`` each is filled with its column's median over the file's rows, said in a note, and the
saved model keeps the medians, so that ``fewlabel predict --missing fill`` fills next week's missing cells the same
way. scikit-learn's wine table, one row in five labeled, a few cells blanked."""

import csv
import json

import numpy as np
import pytest

import fewlabel
from fewlabel.cli import main
from fewlabel.datasets.partial import read_partly_labeled
from fewlabel.datasets.partial import DataQualityWarning
from fewlabel.datasets.tables import read_table_parts
from fewlabel.errors import InputError

COLUMNS = [f"c{j}" for j in range(13)]
BLANKS = {(5, 3): "", (9, 3): "?", (20, 7): "NA", (6, 1): "nan"}  # (row, column): how the cell is left empty


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    from sklearn.datasets import load_wine

    d = load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])[d.target]
    rows = [[f"w{i:03d}", *[repr(float(v)) for v in x], name if i % 5 == 0 else ""]
            for i, (x, name) in enumerate(zip(d.data, names))]
    for (i, j), cell in BLANKS.items():
        rows[i][1 + j] = cell
    folder = tmp_path_factory.mktemp("wine")
    X = d.data.astype(np.float32).copy()
    for i, j in BLANKS:
        X[i, j] = np.nan
    new = [[f"n{i}", *[repr(float(v)) for v in x]] for i, x in enumerate(d.data[:20])]
    new[2][1 + 4] = ""  # next week's file: one cell empty
    return {"path": _write(folder / "wine.csv", ["id", *COLUMNS, "cultivar"], rows), "X": X, "y": d.target,
            "medians": np.nanmedian(X, axis=0), "new": _write(folder / "new.csv", ["id", *COLUMNS], new),
            "X_new": d.data[:20].astype(np.float32)}


def _error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_reading_refuses_or_fills_and_keeps_the_medians(wine):
    with pytest.raises(InputError, match=r"row 7 \(line 8\), column 3 \('c1'\): missing value.*--missing fill"):
        read_partly_labeled(wine["path"], label_column="cultivar", id_column="id")
    with pytest.warns(DataQualityWarning, match=r"filled 4 missing cell\(s\) in 3 column\(s\).*'c3' 2"):
        data = read_partly_labeled(wine["path"], label_column="cultivar", id_column="id", missing="fill")
    medians = wine["medians"]
    np.testing.assert_allclose(data.record()["fill"]["values"], medians, rtol=1e-6)
    expected = np.where(np.isnan(wine["X"]), medians, wine["X"])
    np.testing.assert_allclose(data.X, expected, rtol=1e-6)
    assert any("filled 4 missing cell(s)" in note for note in data.notes)

    # where nothing is missing, the medians are kept all the same: a model can fill new rows with them
    path = _write(wine["path"].parent / "clean.csv", ["a", "b"], [["1", "10"], ["2", "30"], ["4", "20"]])
    parts = read_table_parts(path, missing="refuse")
    assert parts["fill"] == {"how": "median", "values": [2.0, 20.0], "filled": {}}
    with pytest.raises(InputError, match="missing must be one of 'refuse', 'fill'"):
        read_partly_labeled(wine["path"], label_column="cultivar", missing="median")


def test_an_npz_is_filled_and_its_columns_counted_as_its_refusal_counts_them(wine, tmp_path):
    y = np.where(np.arange(len(wine["y"])) % 5 == 0, wine["y"], -1)
    np.savez(tmp_path / "w.npz", X=wine["X"], y=y)
    with pytest.raises(InputError, match=r"row 7, column 2: missing value"):
        read_partly_labeled(tmp_path / "w.npz")
    with pytest.warns(DataQualityWarning, match=r"\('column 2' 1, 'column 4' 2, 'column 8' 1\)"):
        data = read_partly_labeled(tmp_path / "w.npz", missing="fill")
    np.testing.assert_allclose(data.X, np.where(np.isnan(wine["X"]), wine["medians"], wine["X"]), rtol=1e-6)


def test_a_column_with_no_value_is_named(tmp_path):
    path = _write(tmp_path / "t.csv", ["a", "b", "y"], [["1", "", "x"], ["2", "", "z"], ["3", "?", ""]])
    with pytest.raises(InputError, match=r"column\(s\) 'b' hold no value in any row"):
        read_partly_labeled(path, label_column="y", missing="fill")


def test_classify_refuses_then_fills_and_predict_fills_next_weeks_file_the_same_way(wine, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["classify", "--data", str(wine["path"]), "--label-column", "cultivar", "--id-column", "id",
                 "--folds", "0", "--out", str(out)]) == 2
    _error(capsys, "row 7 (line 8), column 3 ('c1'): missing value", "give --missing fill")
    assert not out.exists()
    assert main(["classify", "--data", str(wine["path"]), "--label-column", "cultivar", "--id-column", "id",
                 "--folds", "0", "--missing", "fill", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "note: " in said and "filled 4 missing cell(s) in 3 column(s) with each column's median" in said
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 178 - 36 and all(r["label"] in ("barolo", "grignolino", "barbera") for r in rows)
    model = fewlabel.load(out / "model")
    np.testing.assert_allclose(model.training_data_["fill"]["values"], wine["medians"], rtol=1e-6)
    # next week's file with an empty cell: refused, naming the option; filled with the training rows' medians
    target = tmp_path / "next.csv"
    assert main(["predict", "--model", str(out / "model"), "--data", str(wine["new"]), "--id-column", "id",
                 "--out", str(target)]) == 2
    _error(capsys, "row 3, column 'c4': missing value", "--missing fill")
    assert not target.exists()
    assert main(["predict", "--model", str(out / "model"), "--data", str(wine["new"]), "--id-column", "id",
                 "--missing", "fill", "--out", str(target)]) == 0
    assert "filled 1 missing cell(s) in 1 column(s) with each column's median over the model's training rows ('c4' 1)" \
        in capsys.readouterr().out
    X_new = wine["X_new"].copy()
    X_new[2, 4] = wine["medians"][4]
    with open(target, newline="") as f:
        labels = [r["label"] for r in csv.DictReader(f)]
    assert labels == list(model.predict(X_new))
    assert main(["info", str(out / "model")]) == 0
    assert "missing cells: each column's median over the training rows kept" in capsys.readouterr().out


def test_cluster_fills_and_its_clusterer_fills_new_rows(wine, tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["cluster", "--data", str(wine["path"]), "--label-column", "cultivar", "--id-column", "id",
                 "--encoder", "raw", "--manifold", "none", "--method", "kmeans", "--missing", "fill",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "filled 4 missing cell(s)" in captured.err + captured.out
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_rows"] == 178 and m["nmi"] > 0.8  # as the table without blanks: measured 0.909 on 36 labeled rows
    model = fewlabel.load(out / "model")
    np.testing.assert_allclose(model.training_data_["fill"]["values"], wine["medians"], rtol=1e-6)
    target = tmp_path / "next.csv"
    assert main(["predict", "--model", str(out / "model"), "--data", str(wine["new"]), "--id-column", "id",
                 "--missing", "fill", "--out", str(target)]) == 0
    X_new = wine["X_new"].copy()
    X_new[2, 4] = wine["medians"][4]
    with open(target, newline="") as f:
        clusters = [int(r["cluster"]) for r in csv.DictReader(f)]
    assert clusters == model.predict(X_new).tolist()


def test_predict_fills_a_parquet_and_an_npy_table(wine, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "c"
    assert main(["cluster", "--data", str(wine["path"]), "--label-column", "cultivar", "--id-column", "id",
                 "--encoder", "raw", "--manifold", "none", "--method", "kmeans", "--missing", "fill", "--quiet",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    model = fewlabel.load(out / "model")
    X_new = wine["X_new"].copy()
    X_new[2, 4] = np.nan
    table = pa.table({c: pa.array([None if np.isnan(v) else float(v) for v in X_new[:, j]])
                      for j, c in enumerate(COLUMNS)})
    pq.write_table(table, tmp_path / "new.parquet")
    assert main(["predict", "--model", str(out / "model"), "--data", str(tmp_path / "new.parquet"),
                 "--out", str(tmp_path / "p.csv")]) == 2
    _error(capsys, "row 3, column 'c4': missing", "--missing fill")
    assert main(["predict", "--model", str(out / "model"), "--data", str(tmp_path / "new.parquet"),
                 "--missing", "fill", "--out", str(tmp_path / "p.csv")]) == 0
    filled = np.where(np.isnan(X_new), wine["medians"], X_new)
    with open(tmp_path / "p.csv", newline="") as f:
        assert [int(r["cluster"]) for r in csv.DictReader(f)] == model.predict(filled).tolist()
    capsys.readouterr()
    np.save(tmp_path / "new.npy", X_new)
    assert main(["predict", "--model", str(out / "model"), "--data", str(tmp_path / "new.npy"),
                 "--out", str(tmp_path / "n.csv")]) == 2
    _error(capsys, "row 3: NaN or infinite values", "--missing fill")
    assert main(["predict", "--model", str(out / "model"), "--data", str(tmp_path / "new.npy"),
                 "--missing", "fill", "--out", str(tmp_path / "n.csv")]) == 0
    with open(tmp_path / "n.csv", newline="") as f:
        assert [int(r["cluster"]) for r in csv.DictReader(f)] == model.predict(filled).tolist()


def test_missing_is_refused_where_there_are_no_cells_to_fill(wine, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "photos" / "a"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    assert main(["cluster", "--data", str(folder.parent), "--missing", "fill", "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "--missing applies to a table", "image folder")
    assert main(["classify", "--data", str(folder.parent), "--missing", "fill", "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "--missing applies to a table's cells")
    assert main(["cluster", "--data", "digits", "--missing", "fill", "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "--missing applies to your own files")
    assert main(["classify", "--data", "digits", "--labels", "20", "--missing", "fill", "--out",
                 str(tmp_path / "o")]) == 2
    _error(capsys, "--missing", "your own partly labeled data")
    assert not (tmp_path / "o").exists()
    # the benchmark mode scores a labeled table as it is: its missing cells are refused, and the option named is
    # the own-data mode's
    labeled = _write(tmp_path / "labeled.csv", ["a", "b", "kind"], [["1", "2", "x"], ["", "3", "y"], ["2", "4", "x"]])
    assert main(["classify", "--data", str(labeled), "--label-column", "kind", "--labels", "2",
                 "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "missing value", "fill it or drop the row (--missing fill applies to your own partly labeled data")
    # a model that was not trained on a table keeps no medians to fill with
    assert main(["cluster", "--data", "digits", "--encoder", "raw", "--manifold", "none", "--method", "kmeans",
                 "--quiet", "--out", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "d" / "model"), "--data", str(wine["new"]), "--missing", "fill",
                 "--out", str(tmp_path / "p.csv")]) == 2
    _error(capsys, "keeps no column medians to fill with")
    assert main(["predict", "--model", str(tmp_path / "d" / "model"), "--data", str(folder.parent), "--missing",
                 "fill", "--out", str(tmp_path / "p.csv")]) == 2
    _error(capsys, "--missing applies to a table's cells")
