"""Saved models: every classifier's refit model, written without pickle, reproduces its cell in a
fresh process; damaged, foreign or pickled model folders are refused with one clear message."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pinclass.classifiers import REGISTRY
from pinclass.estimator_state import StateError, export
from pinclass.grid_search import evaluate
from pinclass.pin_predictions import check_extraction
from pinclass.saved_models import (ARRAYS_FILE, MODEL_FILE, ModelError, cell_description, load_model, save_ensemble,
                                   save_model)

LABELS = ["a", "b", "c", "d", "e"]
WIDTH = 24
# Each registered classifier, and the variants whose saved state differs (another scaling, solver or method).
CELLS = {
    "knn": ("knn", {"grid": {"n_neighbors": [1, 4]}, "tie_break": "nearest", "weights": "uniform"}),
    "knn_l2": ("knn", {"grid": {"n_neighbors": [4]}, "scaling": "l2", "metric": "cosine"}),
    "lsvm": ("lsvm", {"grid": {"C": [0.1, 1.0]}, "scaling": "standard"}),
    "lsvm_liblinear": ("lsvm", {"grid": {"C": [1.0]}, "solver": "liblinear", "scaling": "none"}),
    "nn": ("nn", {"grid": {"batch_size": [16]}, "hidden_units": 16, "max_epochs": 4}),
    "logreg": ("logreg", {"grid": {"C": [1.0]}}),
    "svm_rbf": ("svm_rbf", {"grid": {"C": [1.0], "gamma": [0.01]}}),
    "svm_rbf_nystroem": ("svm_rbf", {"grid": {"C": [1.0], "gamma": [0.01]}, "method": "nystroem",
                                     "n_components": 40}),
}
EXTRACTION = [{"backbone": "tiny", "model": "EfficientNetV2B0", "preprocess": "none", "input_size": 32,
               "batch_size": 8, "width": WIDTH, "weights": {"source": "random", "seed": 0}, "runtime": "tensorflow",
               "precision": "f32", "mixed_precision": False}]


def synthetic_cell_data(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(LABELS)), 24)
    X = (rng.normal(size=(len(y), WIDTH)) + 0.6 * np.eye(len(LABELS), WIDTH)[y]).astype(np.float32)
    split = np.where(rng.random(len(y)) < 0.25, "test", "train")
    fold = np.full(len(y), -1)
    fold[split == "train"] = np.arange((split == "train").sum()) % 3
    return X, y, split, fold


@pytest.fixture(scope="module")
def saved_cells(tmp_path_factory):
    """Every cell fitted as `classify` fits it and saved; with its test predictions and probabilities."""
    folder = tmp_path_factory.mktemp("models")
    X, y, split, fold = synthetic_cell_data()
    expected = {}
    for name, (classifier, settings) in CELLS.items():
        result, predicted, probabilities, fitted = evaluate(classifier, X, y, split, fold, LABELS, settings, 0,
                                                            return_probabilities=True, return_fitted=True)
        save_model(folder / name, fitted, cell_description("tiny", result, EXTRACTION, {"test": True}))
        expected[name] = (predicted, probabilities)
    np.save(folder / "X_test.npy", X[split == "test"])
    return folder, expected


def test_the_cells_cover_every_registered_classifier():
    assert {classifier for classifier, _ in CELLS.values()} == set(REGISTRY)


def test_every_saved_cell_reproduces_its_test_predictions_in_a_fresh_process(saved_cells):
    folder, expected = saved_cells
    members = [folder / "knn", folder / "lsvm"]
    save_ensemble(folder / "vote", members, {"cell": "vote/ensemble", "labels": LABELS, "scores": {}})
    script = (
        "import sys, numpy as np\n"
        "from pinclass.saved_models import load_model\n"
        "folder = sys.argv[1]\n"
        "X = np.load(f'{folder}/X_test.npy')\n"
        "for name in sys.argv[2:]:\n"
        "    predicted, probabilities = load_model(f'{folder}/{name}').predict({'tiny': X})\n"
        "    np.save(f'{folder}/{name}.predicted.npy', predicted)\n"
        "    np.save(f'{folder}/{name}.probabilities.npy', probabilities)\n")
    names = [*CELLS, "vote"]
    done = subprocess.run([sys.executable, "-c", script, str(folder), *names], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    vote = np.mean([expected[name][1] for name in ("knn", "lsvm")], axis=0)
    expected = expected | {"vote": (vote.argmax(axis=1), vote)}
    for name in names:
        predicted = np.load(folder / f"{name}.predicted.npy")
        probabilities = np.load(folder / f"{name}.probabilities.npy")
        np.testing.assert_array_equal(predicted, expected[name][0], err_msg=name)
        np.testing.assert_allclose(probabilities, expected[name][1], atol=1e-6, rtol=0, err_msg=name)


def test_a_model_records_what_it_needs_and_its_arrays_hash(saved_cells):
    folder, _ = saved_cells
    document = json.loads((folder / "lsvm" / MODEL_FILE).read_text())
    assert document["labels"] == LABELS and document["features"]["width"] == WIDTH
    assert document["features"]["extraction"] == EXTRACTION
    assert document["best_params"] == {"C": document["best_params"]["C"]} and "cv_macro_f1" in document["scores"]
    assert document["probabilities"]["source"] == "decision_function" and document["probabilities"]["temperature"] > 0
    assert set(np.load(folder / "lsvm" / ARRAYS_FILE)) == {"scale.mean_", "scale.scale_", "scale.var_",
                                                           "clf.coef_", "clf.intercept_", "clf.classes_",
                                                           "clf.n_iter_"}


def copy_model(source, target):
    target.mkdir()
    for name in (MODEL_FILE, ARRAYS_FILE):
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.mark.parametrize("missing", [MODEL_FILE, ARRAYS_FILE])
def test_a_model_folder_missing_a_file_is_refused(saved_cells, tmp_path, missing):
    model = copy_model(saved_cells[0] / "logreg", tmp_path / "model")
    (model / missing).unlink()
    with pytest.raises(ModelError, match=f"{missing} is missing"):
        load_model(model)


def test_damaged_arrays_are_refused_by_their_hash(saved_cells, tmp_path):
    model = copy_model(saved_cells[0] / "logreg", tmp_path / "model")
    data = bytearray((model / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged or not this model's: sha256"):
        load_model(model)


def test_a_damaged_description_is_refused(saved_cells, tmp_path):
    model = copy_model(saved_cells[0] / "logreg", tmp_path / "model")
    text = (model / MODEL_FILE).read_text()
    (model / MODEL_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(model)


def rehash(model):
    from pinclass.provenance import sha256_file

    document = json.loads((model / MODEL_FILE).read_text())
    document["arrays"]["sha256"] = sha256_file(model / ARRAYS_FILE)
    (model / MODEL_FILE).write_text(json.dumps(document))


def test_a_model_carrying_a_pickle_is_refused(saved_cells, tmp_path):
    model = copy_model(saved_cells[0] / "logreg", tmp_path / "model")
    with np.load(model / ARRAYS_FILE) as stored:
        arrays = dict(stored)
    arrays["clf.classes_"] = np.array([print, 1], dtype=object)  # unpickling would import a callable
    with open(model / ARRAYS_FILE, "wb") as f:
        np.savez(f, **arrays)
    rehash(model)  # its hash matches: the pickle itself must be refused
    with pytest.raises(ModelError, match="holds Python objects"):
        load_model(model)


def test_a_description_naming_a_type_outside_the_list_is_refused(saved_cells, tmp_path):
    model = copy_model(saved_cells[0] / "logreg", tmp_path / "model")
    document = json.loads((model / MODEL_FILE).read_text())
    document["pipeline"][1][1]["type"] = "Popen"
    (model / MODEL_FILE).write_text(json.dumps(document))
    with pytest.raises(ModelError, match="unknown estimator type 'Popen'"):
        load_model(model)


def test_features_of_another_width_are_refused(saved_cells):
    model = load_model(saved_cells[0] / "knn")
    with pytest.raises(ModelError, match=f"built for features of width {WIDTH}; the features given have width 7"):
        model.predict({"tiny": np.zeros((3, 7), np.float32)})


def test_features_from_other_weights_are_refused_naming_both(saved_cells):
    model = load_model(saved_cells[0] / "knn")
    made = dict(EXTRACTION[0], weights={"source": "random", "seed": 5})
    with pytest.raises(ModelError, match="model random weights of seed 0, features random weights of seed 5"):
        check_extraction(model, {"tiny": made})
    imagenet = dict(EXTRACTION[0], weights={"source": "imagenet", "file": "w.h5", "sha256": "a" * 64})
    model.members[0][0]["features"]["extraction"][0]["weights"] = dict(imagenet["weights"], sha256="b" * 64)
    with pytest.raises(ModelError, match=f"model w.h5 sha256 {'b' * 64}, features w.h5 sha256 {'a' * 64}"):
        check_extraction(model, {"tiny": imagenet})
    with pytest.raises(ModelError, match="input_size 32 \\(model\\) vs 64 \\(features\\)"):
        check_extraction(model, {"tiny": dict(EXTRACTION[0], input_size=64,
                                              weights=model.extraction["tiny"]["weights"])})


def test_saving_refuses_state_it_cannot_write_rather_than_drop_it():
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.eye(3))
    scaler.note_ = {"a": object()}
    with pytest.raises(StateError, match="StandardScaler.note_"):
        export(scaler, {})
