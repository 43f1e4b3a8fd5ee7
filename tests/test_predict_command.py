"""`python -m pinclass.predict`: a saved model on an image, a folder or a crawl, without Snakemake —
the workflow's cleaning, the model's own feature extraction, one clear error for a bad model."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import SMALL_CATEGORIES
from pinclass.cleaning import check_rows
from pinclass.demo_crawl import make_demo_crawl
from pinclass.extraction import extract_features, extraction_entry
from pinclass.grid_search import evaluate
from pinclass.ingest import ingest
from pinclass.saved_models import ARRAYS_FILE, MODEL_FILE, cell_description, save_model

SPEC = {"model": "EfficientNetV2B0", "preprocess": "none", "input_size": 32, "batch_size": 16}


def run_predict(*args, cwd):
    """The command as a user runs it: the installed package, from another folder."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "pinclass.predict", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=environment)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A KNN cell trained on a crawl's features made with seeded random weights, saved."""
    from pinclass.backbones import build_backbone

    folder = tmp_path_factory.mktemp("command")
    crawl = folder / "crawl"
    make_demo_crawl(crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=10, seed=3, size=48)
    raw, _, _ = ingest({"root": str(crawl)})
    checks = check_rows(raw, crawl, SMALL_CATEGORIES, ["none", "other"], 32, 20_000_000)
    rows = raw[checks["reason"].isna().to_numpy()].reset_index(drop=True)
    network = build_backbone(SPEC, SPEC["input_size"], None, seed=0)
    X = extract_features([crawl / p for p in rows["path"]], network, SPEC["input_size"], SPEC["batch_size"], 2)
    y = rows["category"].map(SMALL_CATEGORIES.index).to_numpy()
    split = np.where(np.arange(len(y)) % 4 == 0, "test", "train")
    fold = np.where(split == "test", -1, np.arange(len(y)) % 3)
    result, _, fitted = evaluate("knn", X, y, split, fold, SMALL_CATEGORIES, {"grid": {"n_neighbors": [1, 3]}}, 0,
                                 return_fitted=True)
    entry = extraction_entry("efficientnetv2_b0", SPEC, {"source": "random", "seed": 0}, X.shape[1], "tensorflow",
                             "f32", False)
    save_model(folder / "model", fitted, cell_description("efficientnetv2_b0", result, [entry], {}))
    return folder, crawl, rows, np.asarray(fitted.predict(X))


def test_a_crawl_is_predicted_as_the_model_predicts_its_features(trained):
    folder, crawl, rows, expected = trained
    done = run_predict(folder / "model", crawl, "--top", "2", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    pins = pd.read_csv(io.StringIO(done.stdout)).set_index("image_id")
    # the crawl's two re-pinned copies are rejected as duplicates (the fixture's features kept them)
    copies = rows["image_id"].isin(pins.index[pins["reason"] == "duplicate"]).to_numpy()
    assert copies.sum() == 2
    predicted = pins.loc[rows["image_id"][~copies], "predicted"]
    assert list(predicted) == [SMALL_CATEGORIES[i] for i in expected[~copies]]
    pins = pins.reset_index()
    assert {"category_1", "probability_2", "user", "board"} <= set(pins.columns) and "category_3" not in pins
    # every file found is a row: the hostile ones with their reasons, never skipped
    rejected = pins[pins["reason"].notna()]
    assert {"unreadable", "too_small", "duplicate"} <= set(rejected["reason"]) and rejected["predicted"].isna().all()
    assert "images predicted" in done.stderr and f"{len(rejected)} rejected" in done.stderr


def test_a_new_crawl_gives_its_boards_with_their_agreement(trained, tmp_path):
    folder, _, _, _ = trained
    new = tmp_path / "new"
    make_demo_crawl(new, SMALL_CATEGORIES, ["none", "other"], images_per_category=5, seed=9, size=48)
    out = tmp_path / "boards.csv"
    done = run_predict(folder / "model", new, "--boards", "--out", out, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    boards = pd.read_csv(out)
    known = boards[boards["known_category"]]
    assert set(known["category"]) == set(SMALL_CATEGORIES)
    assert (known["agrees"] == (known["predicted"] == known["category"])).all()
    assert boards.loc[~boards["known_category"], "agrees"].isna().all()


def test_one_image_and_a_file_that_is_no_image(trained, tmp_path):
    folder, crawl, rows, expected = trained
    image = crawl / rows["path"].iloc[0]
    note = tmp_path / "notes.txt"
    note.write_text("not an image")
    done = run_predict(folder / "model", image, note, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    pins = pd.read_csv(io.StringIO(done.stdout))
    assert list(pins["predicted"].fillna("")) == [SMALL_CATEGORIES[expected[0]], ""]
    assert list(pins["reason"].fillna("")) == ["", "not_image_name"]


def test_weights_other_than_the_models_stop_naming_both_hashes(trained, tmp_path):
    folder, crawl, _, _ = trained
    model = tmp_path / "model"
    model.mkdir()
    document = json.loads((folder / "model" / MODEL_FILE).read_text())
    document["features"]["extraction"][0]["weights"] = {"source": "imagenet", "file": "b0.h5", "sha256": "a" * 64}
    (model / MODEL_FILE).write_text(json.dumps(document))
    (model / ARRAYS_FILE).write_bytes((folder / "model" / ARRAYS_FILE).read_bytes())
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "b0.h5").write_bytes(b"other weights")
    done = run_predict(model, crawl, "--weights", weights, cwd=folder)
    assert done.returncode == 1
    import hashlib

    actual = hashlib.sha256(b"other weights").hexdigest()
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert f"expected {'a' * 64}, actual {actual}" in done.stderr


def test_a_model_folder_missing_a_file_stops_with_one_line(trained, tmp_path):
    folder, crawl, _, _ = trained
    model = tmp_path / "model"
    model.mkdir()
    (model / MODEL_FILE).write_bytes((folder / "model" / MODEL_FILE).read_bytes())
    done = run_predict(model, crawl, cwd=folder)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"error: model folder {model}: {ARRAYS_FILE} is missing "
                                                f"(a model is {MODEL_FILE} + {ARRAYS_FILE})"]
