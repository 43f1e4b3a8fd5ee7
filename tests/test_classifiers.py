"""Classifier library: grid search on the given folds, refit, test scores, warnings, determinism.

Small synthetic features only; the NN tests train tiny networks for a few epochs.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC, LinearSVC

from pinclass import classifiers
from pinclass.config import classifier_settings
from pinclass.estimators import KerasMLPClassifier, OvRLinearSVC
from pinclass.knn import TieBreakingKNN
from pinclass.grid_search import evaluate, warm_chains
from pinclass.probabilities import fit_temperature, softmax
from pinclass.scoring import score_predictions

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
NAMES4 = ["animals", "art", "food_drink", "travel"]
TINY_NN = {"grid": {"batch_size": [16, 32]}, "hidden_units": 32, "max_epochs": 6, "patience": 2,
           "learning_rate": 0.01,
           "validation_fraction": 0.2}


def make_data(centers, n_train, n_test, noise=1.0, folds=3, seed=0):
    """Gaussian blobs around `centers`, n_train + n_test rows per class, train folds stratified
    (fold = position within the class modulo `folds`), rows in a random order."""
    rng = np.random.default_rng(seed)
    n_classes, dim = centers.shape
    per = n_train + n_test
    X = np.concatenate([c + rng.normal(0, noise, (per, dim)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(n_classes), per)
    position = np.tile(np.arange(per), n_classes)
    split = np.where(position < n_train, "train", "test")
    fold = np.where(split == "train", position % folds, -1)
    order = rng.permutation(len(y))
    return X[order], y[order], split[order], fold[order]


def blobs(seed=0, n_classes=4, n_train=30, n_test=25, dim=16):
    centers = np.random.default_rng(seed + 100).normal(0, 10, (n_classes, dim))
    return make_data(centers, n_train, n_test, seed=seed)


def shuffled(data, seed=1):
    X, y, split, fold = data
    return X, np.random.default_rng(seed).permutation(y), split, fold


def assert_plain(value, where="result"):
    """Only JSON types, exactly (no numpy scalars, tuples, NaN)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r}"
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{where}: {type(value)}"
        if type(value) is float:
            assert np.isfinite(value), where


def without_timings(result):
    return {key: value for key, value in result.items() if key != "timings"}


def test_score_predictions_by_hand():
    # class d never occurs; rows of the confusion matrix are the true labels
    scores = score_predictions([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c", "d"])
    assert scores["confusion_matrix"] == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0 + 0) / 4)
    assert scores["accuracy"] == 0.5
    assert scores["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert scores["per_class"]["b"] == pytest.approx({"precision": 1 / 3, "recall": 1.0, "f1": 0.5, "support": 1})
    assert scores["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert_plain(scores)
    with pytest.raises(ValueError):
        score_predictions([0, 4], [0, 1], ["a", "b", "c", "d"])


@pytest.mark.parametrize("name", ["knn", "lsvm"])
def test_separable_classes_are_classified_perfectly(name):
    X, y, split, fold = blobs()
    result, predicted = evaluate(name, X, y, split, fold, NAMES4, {}, seed=0)
    assert result["macro_f1"] == 1.0 and result["accuracy"] == 1.0
    assert np.array_equal(predicted, y[split == "test"])
    assert result["n_train"] == 120 and result["n_test"] == 100
    assert result["labels"] == NAMES4 and result["classifier"] == name
    assert result["confusion_matrix"] == (np.eye(4, dtype=int) * 25).tolist()
    assert result["warnings"] == []
    assert_plain(result)
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("name", ["knn", "lsvm"])
def test_shuffled_labels_score_near_chance(name):
    # 100 test rows, 4 classes: chance macro F1 is about 0.25 with a spread of about 0.05.
    # A pipeline that lets test rows (or their labels) into training scores far higher (k=1: 1.0).
    result, _ = evaluate(name, *shuffled(blobs()), NAMES4, {}, seed=0)
    assert result["macro_f1"] < 0.5
    assert max(r["mean_macro_f1"] for r in result["cv"]["results"]) < 0.5


def test_grid_search_picks_small_k_when_small_k_is_best():
    # 40 tiny clusters of 3 points (one per fold), each of a random class: a point's nearest
    # neighbour lies in its own cluster (k=1 perfect), a large k votes over many clusters.
    rng = np.random.default_rng(3)
    cluster_labels = np.arange(40) % 4
    centers = rng.normal(0, 10, (40, 8))
    X = np.repeat(centers, 3, axis=0) + rng.normal(0, 0.05, (120, 8))
    y = np.repeat(cluster_labels, 3)
    fold = np.tile(np.arange(3), 40)
    split = np.full(120, "train")
    X_test = centers[:20] + rng.normal(0, 0.05, (20, 8))
    X = np.concatenate([X, X_test]).astype(np.float32)
    y = np.concatenate([y, cluster_labels[:20]])
    split = np.concatenate([split, np.full(20, "test")])
    fold = np.concatenate([fold, np.full(20, -1)])
    grid = [20, 5, 1, 10]
    result, _ = evaluate("knn", X, y, split, fold, NAMES4, {"grid": {"n_neighbors": grid}}, seed=0)
    rows = result["cv"]["results"]
    assert [r["params"] for r in rows] == [{"n_neighbors": k} for k in grid]
    assert result["best_params"] == {"n_neighbors": 1}
    assert result["cv"]["best_index"] == 2
    means = [r["mean_macro_f1"] for r in rows]
    assert means[2] == 1.0 and max(means[:2] + means[3:]) < 0.8
    assert result["macro_f1"] == 1.0
    for r in rows:
        assert r["mean_macro_f1"] == pytest.approx(np.mean(r["fold_macro_f1"]))
        assert r["std_macro_f1"] == pytest.approx(np.std(r["fold_macro_f1"]))
        assert len(r["fold_macro_f1"]) == 3


def test_grid_search_picks_large_k_when_large_k_is_best():
    # Two far-apart blobs with 25% of labels flipped: k=1 copies the noise (≈ 0.62 accuracy on
    # noisy validation labels), a large k recovers the blob's majority label (≈ 0.75).
    centers = np.array([[0.0] * 4, [20.0] * 4])
    X, y, split, fold = make_data(centers, 200, 50, seed=4)
    flip = np.random.default_rng(5).random(len(y)) < 0.25
    y = np.where(flip, 1 - y, y)
    result, _ = evaluate("knn", X, y, split, fold, ["a", "b"],
                         {"grid": {"n_neighbors": [1, 41, 3]}}, seed=0)
    means = {r["params"]["n_neighbors"]: r["mean_macro_f1"] for r in result["cv"]["results"]}
    assert result["best_params"] == {"n_neighbors": 41}
    assert means[41] > max(means[1], means[3]) + 0.05


def _noisy_data(seed=6):
    centers = np.random.default_rng(seed).normal(0, 1.5, (4, 8))
    return make_data(centers, 40, 30, seed=seed)


def test_macro_f1_and_confusion_matrix_match_sklearn_on_returned_predictions():
    X, y, split, fold = _noisy_data()
    names = NAMES4 + ["unused_class"]  # a fifth class with no rows at all still counts
    result, predicted = evaluate("knn", X, y, split, fold, names, {"grid": {"n_neighbors": [1, 5]}}, seed=0)
    y_test = y[split == "test"]
    assert 0.3 < result["macro_f1"] < 1.0  # imperfect, so the comparison means something
    expected = f1_score(y_test, predicted, average="macro", labels=list(range(5)), zero_division=0)
    assert result["macro_f1"] == expected
    assert result["accuracy"] == np.mean(y_test == predicted)
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (5, 5)
    assert np.array_equal(cm, confusion_matrix(y_test, predicted, labels=list(range(5))))
    manual = np.zeros((5, 5), int)
    np.add.at(manual, (y_test, predicted), 1)  # row = true label, column = prediction
    assert np.array_equal(cm, manual)
    assert [result["per_class"][n]["support"] for n in names] == cm.sum(axis=1).tolist()
    assert result["per_class"]["unused_class"]["support"] == 0
    # and the predictions are those of the best model refitted on all train rows, in test-row order
    k = result["best_params"]["n_neighbors"]
    model = KNeighborsClassifier(n_neighbors=k).fit(X[split == "train"], y[split == "train"])
    assert np.array_equal(predicted, model.predict(X[split == "test"]))


@pytest.mark.parametrize("name, settings, reference", [
    ("knn", {"grid": {"n_neighbors": [1, 7]}}, lambda p: KNeighborsClassifier(**p)),
    ("lsvm", {"grid": {"C": [0.1, 10]}, "scaling": "standard"},
     lambda p: Pipeline([("s", StandardScaler()), ("c", OvRLinearSVC(random_state=0, **p))])),
])
def test_cv_uses_exactly_the_given_folds(name, settings, reference):
    # Recompute every fold score by hand from the fold column: random or re-stratified folds,
    # a scaler fitted on all train rows, or fold scores in another order would not match exactly.
    X, y, split, fold = _noisy_data()
    fold = fold.copy()
    train = np.flatnonzero(split == "train")
    fold[train] = np.random.default_rng(7).permutation(fold[train])  # not stratified, unequal per class
    # a fifth, empty class: CV scores must count it like the test score does (F1 0)
    result, _ = evaluate(name, X, y, split, fold, NAMES4 + ["unused"], settings, seed=0)
    for row in result["cv"]["results"]:
        manual = []
        for f in range(3):
            fit, val = (split == "train") & (fold != f), fold == f
            model = reference(row["params"]).fit(X[fit], y[fit])
            manual.append(f1_score(y[val], model.predict(X[val]), average="macro",
                                   labels=list(range(5)), zero_division=0))
        assert row["fold_macro_f1"] == manual
    fold_scores = np.array([r["fold_macro_f1"] for r in result["cv"]["results"]])
    assert fold_scores.std() > 0  # the case is not degenerate


def test_scaling_is_fitted_on_the_training_folds_only():
    # One noise dimension is 100× wider on fold 0's rows. Scaled on folds 1+2 only, it swamps the
    # distances when fold 0 is validated; scaled on all train rows it would not — other fold scores.
    X, y, split, fold = _noisy_data()
    X = X.copy()
    X[:, 0] = np.random.default_rng(9).normal(0, 1, len(X)) * np.where(fold == 0, 100, 1)
    settings = {"grid": {"n_neighbors": [1]}, "scaling": "standard"}
    result, _ = evaluate("knn", X, y, split, fold, NAMES4, settings, seed=0)

    def fold_scores(scale_on_all_train):
        scores = []
        for f in range(3):
            fit, val = (split == "train") & (fold != f), fold == f
            scaler = StandardScaler().fit(X[split == "train"] if scale_on_all_train else X[fit])
            model = KNeighborsClassifier(n_neighbors=1).fit(scaler.transform(X[fit]), y[fit])
            scores.append(f1_score(y[val], model.predict(scaler.transform(X[val])), average="macro",
                                   labels=list(range(4)), zero_division=0))
        return scores

    assert result["cv"]["results"][0]["fold_macro_f1"] == fold_scores(False)
    assert fold_scores(True)[0] > fold_scores(False)[0] + 0.1  # the case tells the two apart


def test_scaling_switch_is_applied_and_recorded():
    # Classes are nearby directions (angle ≈ 0.07 rad, noise ≈ 0.02 rad); row norms spread over
    # three decades. Raw euclidean k=1 then finds a neighbour of similar norm, of any class.
    rng = np.random.default_rng(8)
    directions = 3 + 0.6 * np.eye(4, 16)
    X, y, split, fold = make_data(directions, 30, 25, noise=0.05, seed=8)
    X = X * (10 ** rng.uniform(-1, 2, (len(X), 1))).astype(np.float32)
    knn = {"grid": {"n_neighbors": [1]}}
    raw, _ = evaluate("knn", X, y, split, fold, NAMES4, {**knn, "scaling": "none"}, seed=0)
    l2, _ = evaluate("knn", X, y, split, fold, NAMES4, {**knn, "scaling": "l2"}, seed=0)
    assert raw["settings"]["scaling"] == "none" and l2["settings"]["scaling"] == "l2"
    assert l2["macro_f1"] == 1.0 and raw["macro_f1"] < 0.75  # about 0.5 over seeds


def test_default_settings_and_pipeline_order():
    assert classifier_settings("lsvm")["scaling"] == "l2"
    assert classifier_settings("nn")["scaling"] == "standard"
    assert classifier_settings("knn")["scaling"] == "none"
    assert classifier_settings("lsvm")["grid"] == {"C": [0.01, 0.1, 1, 10, 100]}
    assert classifier_settings("knn")["grid"] == {"n_neighbors": [1, 5, 10, 20, 50]}
    assert classifier_settings("nn")["grid"] == {"batch_size": [32, 64, 128]}
    assert classifier_settings("knn", {"grid": {"n_neighbors": [3]}})["grid"] == {"n_neighbors": [3]}
    pipe = classifiers.build_pipeline("lsvm", classifier_settings("lsvm"), 0)
    assert isinstance(pipe.steps[0][1], Normalizer) and isinstance(pipe.steps[1][1], OvRLinearSVC)
    pipe = classifiers.build_pipeline("nn", classifier_settings("nn"), 0, n_jobs=3)
    assert isinstance(pipe.steps[0][1], StandardScaler) and pipe[-1].n_threads == 3


def test_every_registered_classifier_has_a_schema_entry_and_back():
    schema = yaml.safe_load((SCRIPTS.parent / "schemas/config.schema.yaml").read_text())
    assert set(schema["properties"]["classifiers"]["properties"]) == set(classifiers.REGISTRY)
    for name in classifiers.REGISTRY:  # the defaults build a pipeline whose grid names real parameters
        classifiers.build_pipeline(name, classifier_settings(name), 0)


@pytest.mark.parametrize("name, settings", [("knn", {"grid": {"n_neighbors": [1, 3, 9]}, "scaling": "standard"}),
                                            ("lsvm", {"grid": {"C": [0.01, 1, 100]}})])
def test_the_grid_loop_gives_scikit_learns_grid_search_numbers(name, settings):
    """GridSearchCV over the same pipeline and folds is the oracle: same fold scores, same choice."""
    X, y, split, fold = _noisy_data()
    result, _ = evaluate(name, X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    pipeline = classifiers.build_pipeline(name, classifier_settings(name, settings), 0)
    train = split == "train"
    search = GridSearchCV(pipeline, {f"clf__{k}": v for k, v in settings["grid"].items()}, refit=False,
                          cv=PredefinedSplit(fold[train]),
                          scoring=make_scorer(f1_score, average="macro", labels=list(range(4)), zero_division=0))
    search.fit(X[train], y[train])
    for i, row in enumerate(result["cv"]["results"]):
        assert row["params"] == {k.removeprefix("clf__"): v for k, v in search.cv_results_["params"][i].items()}
        assert row["fold_macro_f1"] == [search.cv_results_[f"split{f}_test_score"][i] for f in range(3)]
        assert row["mean_macro_f1"] == pytest.approx(search.cv_results_["mean_test_score"][i], abs=1e-15)
    assert result["cv"]["best_index"] == int(np.argmin(search.cv_results_["rank_test_score"]))


def tied_votes(seed=0):
    """Four classes mixed on a line: with k = 2, most queries get one vote from each of two classes."""
    rng = np.random.default_rng(seed)
    X_train, y_train = rng.uniform(0, 40, (40, 1)), np.arange(40) % 4
    X_query = rng.uniform(0, 40, (200, 1))
    return X_train, y_train, X_query


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn_lowest_label_is_scikit_learns_rule_and_ties_are_counted(weights):
    X_train, y_train, X_query = tied_votes()
    ours = TieBreakingKNN(n_neighbors=2, weights=weights).fit(X_train, y_train)
    theirs = KNeighborsClassifier(n_neighbors=2, weights=weights).fit(X_train, y_train)
    np.testing.assert_array_equal(ours.predict(X_query), theirs.predict(X_query))
    _, neighbours = theirs.kneighbors(X_query)
    split_votes = y_train[neighbours[:, 0]] != y_train[neighbours[:, 1]]
    expected = int(split_votes.sum()) if weights == "uniform" else 0  # distances differ: no tie
    assert ours.n_ties_ == expected and (weights == "distance" or expected > 100)


def test_knn_nearest_gives_a_tie_to_the_nearest_neighbours_class():
    X_train, y_train, X_query = tied_votes()
    nearest = TieBreakingKNN(n_neighbors=2, tie_break="nearest").fit(X_train, y_train).predict(X_query)
    lowest = TieBreakingKNN(n_neighbors=2).fit(X_train, y_train).predict(X_query)
    one_nn = KNeighborsClassifier(n_neighbors=1).fit(X_train, y_train).predict(X_query)
    np.testing.assert_array_equal(nearest, one_nn)  # with k = 2 a tie is a split vote: the nearest wins
    assert (nearest != lowest).any()
    with pytest.raises(ValueError, match="tie_break"):
        TieBreakingKNN(tie_break="random").fit(X_train, y_train).predict(X_query)


def test_knn_ties_reach_the_score_json_per_fold_and_for_the_test_rows():
    X, y, split, fold = blobs()
    result, _ = evaluate("knn", X, y, split, fold, NAMES4, {"grid": {"n_neighbors": [2, 4]}, "tie_break": "nearest"},
                         seed=0)
    assert all(len(row["fold_ties"]) == 3 for row in result["cv"]["results"])
    assert isinstance(result["refit"]["ties"], int) and result["settings"]["tie_break"] == "nearest"


def test_knn_and_lsvm_do_not_import_tensorflow():
    code = textwrap.dedent("""
        import sys, numpy as np
        from pinclass.grid_search import evaluate
        X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
        y = np.arange(40) % 2
        split = np.where(np.arange(40) < 30, "train", "test")
        fold = np.where(split == "train", np.arange(40) % 3, -1)
        evaluate("knn", X, y, split, fold, ["a", "b"], {"grid": {"n_neighbors": [1]}}, seed=0)
        evaluate("lsvm", X, y, split, fold, ["a", "b"], {}, seed=0)
        print("tensorflow" in sys.modules, "keras" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(SCRIPTS)})
    assert out.stdout.split() == ["False", "False"]


def test_invalid_settings_and_inputs_are_refused():
    X, y, split, fold = blobs()
    ok = dict(features=X, labels=y, split=split, fold=fold, label_names=NAMES4, seed=0)
    with pytest.raises(ValueError, match="'scalling' was unexpected"):
        evaluate("lsvm", settings={"scalling": "l2"}, **ok)
    with pytest.raises(ValueError, match="classifiers.lsvm.scaling"):
        evaluate("lsvm", settings={"scaling": "minmax"}, **ok)
    with pytest.raises(ValueError, match="not a parameter"):
        evaluate("knn", settings={"grid": {"k": [1]}}, **ok)
    with pytest.raises(ValueError, match="unknown classifier"):
        evaluate("svm_poly", settings={}, **ok)
    bad_fold = fold.copy()
    bad_fold[np.flatnonzero(split == "train")[0]] = -1
    with pytest.raises(ValueError, match="fold"):
        evaluate("knn", **{**ok, "fold": bad_fold}, settings={})
    bad_fold = fold.copy()
    bad_fold[np.flatnonzero(split == "test")[0]] = 0
    with pytest.raises(ValueError, match="test rows"):
        evaluate("knn", **{**ok, "fold": bad_fold}, settings={})
    with pytest.raises(ValueError, match="labels"):
        evaluate("knn", **{**ok, "label_names": NAMES4[:3]}, settings={})
    bad_X = X.copy()
    bad_X[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate("knn", **{**ok, "features": bad_X}, settings={})


@pytest.mark.parametrize("solver", ["batched", "liblinear"])
def test_lsvm_convergence_warnings_are_recorded_not_printed(solver):
    X, y, split, fold = blobs()
    settings = {"grid": {"C": [1, 10]}, "max_iter": 1, "solver": solver}
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        result, _ = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0)
    assert [w for w in escaped if "converge" in str(w.message)] == []
    cv = [w for w in result["warnings"] if w["stage"] == "cv"]
    assert {(w["params"]["C"], w["fold"], w["category"]) for w in cv} == \
        {(c, f, "ConvergenceWarning") for c in (1, 10) for f in range(3)}
    refit = [w for w in result["warnings"] if w["stage"] == "refit"]
    assert len(refit) == 1 and refit[0]["category"] == "ConvergenceWarning"
    assert "converge" in refit[0]["message"] and refit[0]["params"] == result["best_params"]
    assert result["refit"]["n_iter"] == 1
    assert all(r["fold_n_iter"] == [1, 1, 1] for r in result["cv"]["results"])
    assert result["settings"]["max_iter"] == 1
    assert_plain(result)
    # the same record when the grid points run in two worker processes
    parallel, _ = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    assert parallel["warnings"] == result["warnings"]
    assert parallel["cv"] == result["cv"]


def test_lsvm_with_the_dual_solver_gives_identical_results_twice():
    """liblinear's dual solver draws random coordinate orders from one process-global generator."""
    X, y, split, fold = _noisy_data()
    settings = {"grid": {"C": [0.1, 1.0]}, "dual": True, "solver": "liblinear"}
    first, predicted_first = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    second, predicted_second = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    del first["timings"], second["timings"]
    assert first == second and np.array_equal(predicted_first, predicted_second)


@pytest.mark.parametrize("dual", [True, False])
def test_ovr_linear_svc_is_liblinears_one_vs_rest(dual):
    X, y, _, _ = _noisy_data()
    X = Normalizer().fit_transform(X)
    ours = OvRLinearSVC(C=1.0, solver="liblinear", dual=dual, random_state=0).fit(X, y)
    theirs = LinearSVC(C=1.0, dual=dual, multi_class="ovr", random_state=0).fit(X, y)
    # primal: the same computation; dual: liblinear draws its coordinate order from one random
    # stream across classes, so the two agree to the solver's tolerance only
    atol = 1e-4 if dual else 1e-8
    assert np.allclose(ours.coef_, theirs.coef_, atol=atol)
    assert np.allclose(ours.intercept_, theirs.intercept_, atol=atol)
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    if not dual:
        assert ours.n_iter_.max() == theirs.n_iter_
    two = y < 2  # two classes: one binary problem, as in LinearSVC
    binary = OvRLinearSVC(C=1.0, solver="liblinear", dual=dual, random_state=0).fit(X[two], y[two])
    assert np.array_equal(binary.predict(X[two]),
                          LinearSVC(C=1.0, dual=dual, random_state=0).fit(X[two], y[two]).predict(X[two]))


def _squared_hinge_objective(X, y, classes, C, coef, intercept):
    """f_k = ½(‖w_k‖² + b_k²) + C Σ max(0, 1 − y_ik(x_i·w_k + b_k))², per class."""
    Y = np.where(y[:, None] == classes[None, :], 1.0, -1.0)
    slack = np.maximum(0.0, 1.0 - Y * (X @ coef.T + intercept))
    return 0.5 * ((coef ** 2).sum(axis=1) + intercept ** 2) + C * (slack ** 2).sum(axis=0)


@pytest.mark.parametrize("shape", ["more rows than columns", "fewer rows than columns"])
@pytest.mark.parametrize("C", [0.01, 0.1, 1, 10, 100])
def test_the_batched_lsvm_solver_reaches_linearsvcs_optimum_at_every_c_of_the_grid(C, shape):
    X, y, _, _ = _noisy_data()
    if shape == "fewer rows than columns":  # the kernel-side preconditioners (like the demo's features)
        X = np.hstack([X, np.random.default_rng(1).normal(0, 0.3, (len(X), 400))])
    X = Normalizer().fit_transform(X)
    classes = np.unique(y)
    ours = OvRLinearSVC(C=C, solver="batched").fit(X, y)
    # both converged far beyond the default rule, so they must agree on the one optimum
    tight = OvRLinearSVC(C=C, solver="batched", tol=1e-10).fit(X, y)
    theirs = LinearSVC(C=C, dual=False, tol=1e-10, max_iter=100000).fit(X, y)
    assert np.allclose(tight.coef_, theirs.coef_, atol=1e-6, rtol=1e-6)
    assert np.allclose(tight.intercept_, theirs.intercept_, atol=1e-6, rtol=1e-6)
    optimum = _squared_hinge_objective(X, y, classes, C, theirs.coef_, theirs.intercept_)
    at_default = _squared_hinge_objective(X, y, classes, C, ours.coef_, ours.intercept_)
    assert np.all((at_default - optimum) / optimum <= 1e-4)
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    two = y < 2  # one binary problem, class 1 positive, as in LinearSVC
    binary = OvRLinearSVC(C=C, solver="batched", tol=1e-10).fit(X[two], y[two])
    reference = LinearSVC(C=C, dual=False, tol=1e-10, max_iter=100000).fit(X[two], y[two])
    assert np.allclose(binary.coef_, reference.coef_, atol=1e-6, rtol=1e-6)
    assert np.allclose(binary.decision_function(X[two]), reference.decision_function(X[two]), atol=1e-5)


def test_a_warm_started_lsvm_fit_reaches_the_cold_optimum_and_only_warm_starts_on_the_same_rows():
    X, y, _, _ = _noisy_data()
    X = Normalizer().fit_transform(X)
    warm = OvRLinearSVC(C=0.1, warm_start=True, tol=1e-10).fit(X, y)
    cold_iterations = OvRLinearSVC(C=10, tol=1e-10).fit(X, y).n_iter_
    warm.set_params(C=10).fit(X, y)
    cold = OvRLinearSVC(C=10, tol=1e-10).fit(X, y)
    assert np.allclose(warm.coef_, cold.coef_, atol=1e-7) and np.allclose(warm.intercept_, cold.intercept_, atol=1e-7)
    assert not np.array_equal(warm.n_iter_, cold_iterations)  # the start was used: another path
    other = X[::-1].copy()  # other rows: the previous solution is no start for them
    warm.fit(other, y[::-1])
    fresh = OvRLinearSVC(C=10, tol=1e-10).fit(other, y[::-1])
    assert np.array_equal(warm.n_iter_, fresh.n_iter_)


@pytest.mark.parametrize("C", [0.01, 1, 100])
def test_the_duality_gap_bounds_the_distance_to_the_optimum_and_vanishes_there(C):
    from pinclass import linear_svm

    X, y, _, _ = _noisy_data()
    X = Normalizer().fit_transform(X)
    Y = np.where(y[:, None] == np.arange(4)[None, :], 1.0, -1.0)
    problem = linear_svm._Problem(X, Y, C)

    def gap_and_objective(W):
        Z = problem.margins(W)
        G = problem.gradient(W, Z, (Y * Z < 1.0).astype(float))
        return problem.relative_duality_gap(W, Z, G) * problem.objective(W, Z), problem.objective(W, Z)

    optimum = linear_svm.solve(X, y, 4, C, tol=1e-12, max_gap=1e-14)
    W_star = np.vstack([optimum.coef.T, optimum.intercept])
    gap, best = gap_and_objective(W_star)
    assert np.all(np.abs(gap) <= 1e-9 * best)
    for scale in (1e-3, 1e-1, 1.0):
        W = W_star + scale * np.random.default_rng(0).normal(size=W_star.shape)
        gap, value = gap_and_objective(W)
        assert np.all(gap >= value - best - 1e-9 * best) and np.all(value - best > 0)
    # a tighter max_gap is honoured: more iterations, a smaller gap
    loose = linear_svm.solve(X, y, 4, C, tol=1.0, max_gap=1e-2)
    tight = linear_svm.solve(X, y, 4, C, tol=1.0, max_gap=1e-10)
    assert tight.n_iter.sum() > loose.n_iter.sum() and np.all(tight.objective <= loose.objective)


def test_a_batched_lsvm_grid_without_c_fits_every_point_cold():
    X, y, split, fold = _noisy_data()
    result, _ = evaluate("lsvm", X, y, split, fold, NAMES4, {"grid": {"max_gap": [1e-2, 1e-6]}}, seed=0)
    assert [r["params"] for r in result["cv"]["results"]] == [{"max_gap": 1e-2}, {"max_gap": 1e-6}]


def test_warm_chains_run_each_folds_grid_in_ascending_path_order():
    points = [{"C": 10, "loss": "a"}, {"C": 0.1, "loss": "a"}, {"C": 1, "loss": "b"}, {"C": 0.01, "loss": "b"}]
    assert warm_chains(points, 2, "C") == [[(1, 0), (0, 0)], [(1, 1), (0, 1)], [(3, 0), (2, 0)], [(3, 1), (2, 1)]]
    assert warm_chains(points, 2, None) == [[(i, f)] for i in range(4) for f in range(2)]


def test_the_batched_lsvm_gives_the_same_results_as_liblinear_through_the_grid_search_and_twice():
    X, y, split, fold = _noisy_data()
    settings = {"grid": {"C": [0.01, 0.1, 1, 10, 100]}}
    batched, predicted = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    again, predicted_again = evaluate("lsvm", X, y, split, fold, NAMES4, settings, seed=0, n_jobs=2)
    del batched["timings"], again["timings"]
    assert batched == again and np.array_equal(predicted, predicted_again)
    liblinear, predicted_liblinear = evaluate("lsvm", X, y, split, fold, NAMES4, {**settings, "solver": "liblinear"},
                                              seed=0, n_jobs=2)
    assert batched["settings"]["solver"] == "batched" and liblinear["settings"]["solver"] == "liblinear"
    assert np.mean(predicted == predicted_liblinear) >= 0.95
    assert np.allclose([r["mean_macro_f1"] for r in batched["cv"]["results"]],
                       [r["mean_macro_f1"] for r in liblinear["cv"]["results"]], atol=0.02)


def test_lsvm_adaptive_solver_choice_is_recorded():
    # liblinear: dual coordinate descent when C × mean squared row norm <= 1, else the primal Newton solver
    X, y, split, fold = blobs()
    l2, _ = evaluate("lsvm", X, y, split, fold, NAMES4, {"grid": {"C": [1, 10]}, "solver": "liblinear"}, seed=0)
    assert [r["fold_dual"] for r in l2["cv"]["results"]] == [[1, 1, 1], [0, 0, 0]]
    standard, _ = evaluate("lsvm", X, y, split, fold, NAMES4, {"grid": {"C": [0.01, 1]}, "scaling": "standard",
                                                                "solver": "liblinear"}, seed=0)  # 16 standardised dims: mean squared norm 16
    assert [r["fold_dual"] for r in standard["cv"]["results"]] == [[1, 1, 1], [0, 0, 0]]
    assert standard["refit"]["dual"] in (0, 1)
    with pytest.raises(ValueError, match="dual"):
        evaluate("lsvm", X, y, split, fold, NAMES4, {"dual": "sometimes", "solver": "liblinear"}, seed=0)


def test_logreg_is_a_multinomial_linear_probe_on_standardised_features():
    X, y, split, fold = blobs()
    result, predicted = evaluate("logreg", X, y, split, fold, NAMES4, {"grid": {"C": [0.1, 1.0]}}, seed=0)
    assert result["macro_f1"] == 1.0 and result["settings"]["scaling"] == "standard"
    assert [r["params"] for r in result["cv"]["results"]] == [{"C": 0.1}, {"C": 1.0}]
    assert result["refit"]["n_iter"] > 0
    train = split == "train"
    scaler = StandardScaler().fit(X[train])
    reference = LogisticRegression(C=result["best_params"]["C"], max_iter=1000).fit(scaler.transform(X[train]), y[train])
    assert np.array_equal(predicted, reference.predict(scaler.transform(X[~train])))


def test_nn_estimator_is_an_sklearn_estimator():
    nn = KerasMLPClassifier(hidden_units=8, batch_size=16)
    copy = clone(nn).set_params(batch_size=64)
    assert copy.get_params()["batch_size"] == 64 and nn.get_params()["batch_size"] == 16
    assert copy.get_params()["hidden_units"] == 8


# ---------------------------------------------------------------- NN (TensorFlow)

@pytest.fixture(scope="module")
def nn_separable():
    X, y, split, fold = blobs()
    return evaluate("nn", X, y, split, fold, NAMES4, TINY_NN, seed=0), y[split == "test"]


def test_nn_separable_classes_are_classified_perfectly(nn_separable):
    (result, predicted), y_test = nn_separable
    assert result["macro_f1"] == 1.0 and np.array_equal(predicted, y_test)
    assert [r["params"] for r in result["cv"]["results"]] == [{"batch_size": 16}, {"batch_size": 32}]
    assert result["settings"]["scaling"] == "standard" and result["settings"]["hidden_units"] == 32
    assert_plain(result)


def test_nn_refit_trains_on_every_training_row_for_the_median_best_epoch_of_the_winning_folds(nn_separable):
    (result, _), _ = nn_separable
    winner = result["cv"]["results"][result["cv"]["best_index"]]
    median = int(np.median(winner["fold_best_epoch"]) + 0.5)
    assert result["refit_params"] == {"validation_fraction": 0.0, "max_epochs": median}
    assert result["refit"]["rows"] == result["n_train"]  # no validation part held out
    assert result["refit"]["epochs"] == result["refit"]["best_epoch"] == median
    # the folds' fits did hold a validation part out of their training folds
    _, _, split, fold = blobs()
    fold_train_rows = [result["n_train"] - n for n in np.bincount(fold[split == "train"])]
    assert all(rows < train for rows, train in zip(winner["fold_rows"], fold_train_rows))


NN_NOISE = {"grid": {"batch_size": [16]}, "hidden_units": 64, "max_epochs": 5, "patience": 2,
            "validation_fraction": 0.2, "learning_rate": 0.01}


def test_nn_shuffled_labels_near_chance_and_deterministic(tmp_path):
    # On random labels the network's predictions hinge on every random choice (initialisation,
    # dropout, batch order, validation split), so any non-determinism shows up here. The workflow
    # runs each job in a fresh process: compare this process with a fresh one. (Repeated fits in
    # one process: test_nn_seed_matters_so_the_determinism_check_can_fail.)
    data = shuffled(blobs())
    first, p1 = evaluate("nn", *data, NAMES4, NN_NOISE, seed=0)
    assert first["macro_f1"] < 0.5
    np.savez(tmp_path / "data.npz", *data)
    code = textwrap.dedent(f"""
        import json, numpy as np
        from pinclass.grid_search import evaluate
        d = np.load({str(tmp_path / 'data.npz')!r})
        result, predicted = evaluate("nn", *[d[f"arr_{{i}}"] for i in range(4)], {NAMES4!r},
                                     {NN_NOISE!r}, seed=0)
        result.pop("timings")
        print(json.dumps({{"result": result, "predicted": predicted.tolist()}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(SCRIPTS)})
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert fresh["predicted"] == p1.tolist()
    assert fresh["result"] == without_timings(first)


def test_nn_seed_matters_so_the_determinism_check_can_fail():
    X, y, split, _ = shuffled(blobs())
    params = dict(hidden_units=64, max_epochs=4, patience=2, validation_fraction=0.2, batch_size=16)
    a = KerasMLPClassifier(random_state=0, **params).fit(X, y).predict_proba(X)
    b = KerasMLPClassifier(random_state=0, **params).fit(X, y).predict_proba(X)
    c = KerasMLPClassifier(random_state=1, **params).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_nn_fits_sharing_one_trainer_do_not_depend_on_each_other():
    """Fits of one architecture share a compiled trainer: a fit must start from its own seed's state
    (weights, dropout generator, optimizer), whatever ran before, and keep its own model."""
    X, y, _, _ = shuffled(blobs())
    params = dict(hidden_units=32, max_epochs=3, patience=1, validation_fraction=0.2)
    first = KerasMLPClassifier(random_state=5, batch_size=16, **params).fit(X, y)
    before = first.predict_proba(X)
    other = KerasMLPClassifier(random_state=6, batch_size=8, **params).fit(X, y)
    assert np.array_equal(first.predict_proba(X), before)  # the later fit left this model alone
    again = KerasMLPClassifier(random_state=5, batch_size=16, **params).fit(X, y)
    assert np.array_equal(again.predict_proba(X), before) and again.history_ == first.history_
    assert not np.allclose(other.predict_proba(X), before)
    # another architecture gets a trainer of its own, built from its own values
    first.set_params(hidden_units=8)
    wider = KerasMLPClassifier(random_state=5, batch_size=16, **{**params, "hidden_units": 48}).fit(X, y)
    assert wider.model_.layers[0].units == 48
    assert np.array_equal(KerasMLPClassifier(random_state=5, batch_size=16, **params).fit(X, y).predict_proba(X),
                          before)


def test_nn_training_loop_follows_keras_fit_step_for_step():
    """With full-batch steps and no dropout the shuffling draws cannot matter, so the compiled loop
    and Keras' own `fit` + EarlyStopping must trace the same losses and end at the same weights."""
    from pinclass.estimators import MLPTrainer, import_keras

    keras = import_keras(None)
    X, y, _, _ = shuffled(blobs())  # random labels: the validation loss soon rises
    X, y = X.astype(np.float32) / 10, y.astype(np.int64)
    fit_rows, val_rows = np.arange(len(y)) % 5 != 0, np.arange(len(y)) % 5 == 0

    def build():
        return keras.Sequential([keras.Input(shape=(X.shape[1],)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dropout(0.0), keras.layers.Dense(4, activation="softmax")])

    keras.utils.set_random_seed(3)
    reference = build()
    reference.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    history = reference.fit(X[fit_rows], y[fit_rows], batch_size=int(fit_rows.sum()), epochs=30, verbose=0,
                            validation_data=(X[val_rows], y[val_rows]), shuffle=True,
                            callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)])
    ours, losses, best_epoch = MLPTrainer(keras, build, 0.05, X.shape[1]).fit(
        X[fit_rows], y[fit_rows], (X[val_rows], y[val_rows]), batch_size=int(fit_rows.sum()), max_epochs=30,
        patience=2, seed=3)
    assert np.allclose(losses["loss"], history.history["loss"], rtol=1e-4)
    assert np.allclose(losses["val_loss"], history.history["val_loss"], rtol=1e-4)
    assert best_epoch == int(np.argmin(history.history["val_loss"])) + 1
    assert len(losses["loss"]) < 30  # early stopping happened, at the same epoch (the losses above)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights(), strict=True):
        assert np.allclose(mine, theirs, atol=1e-5)


def test_fused_adam_steps_as_keras_adam():
    """The trainer's one-kernel Adam against Keras' own, step for step on the same gradients, at
    gradient scales from 1e-6 (where epsilon matters) to 10, and after a reset as a new optimizer:
    bit for bit Keras' Adam with the betas rounded to float32 (the kernel's 1 - beta), and within
    float32 rounding of Keras' defaults."""
    from pinclass.estimators import FusedAdam, import_keras

    keras = import_keras(None)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    shapes = [(64, 16), (16,), (16, 4), (4,)]
    start = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    steps = [[tf.constant(rng.normal(size=shape).astype(np.float32) * 10 ** rng.uniform(-6, 1)) for shape in shapes]
             for _ in range(40)]

    def keras_adam(**betas):
        weights = [keras.Variable(w) for w in start]
        adam = keras.optimizers.Adam(learning_rate=0.01, **betas)
        adam.build(weights)
        for gradients in steps:
            adam.apply(gradients, weights)
        return [w.numpy() for w in weights]

    weights = [keras.Variable(w) for w in start]
    fused = FusedAdam(weights, 0.01)
    for gradients in steps[:7]:  # a run to be forgotten
        fused.apply(gradients)
    for weight, value in zip(weights, start, strict=True):
        weight.assign(value)
    fused.reset()
    for gradients in steps:
        fused.apply(gradients)
    float32_betas = keras_adam(beta_1=float(np.float32(0.9)), beta_2=float(np.float32(0.999)))
    for mine, theirs, first in zip(weights, float32_betas, start, strict=True):
        assert np.array_equal(mine.numpy(), theirs)
        assert not np.allclose(theirs, first, atol=1e-3)  # the steps moved the weights
    for mine, theirs in zip(weights, keras_adam(), strict=True):
        assert np.allclose(mine.numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_nn_validation_part_is_stratified_and_seeded():
    y = np.repeat(np.arange(4), 30)
    nn = KerasMLPClassifier(validation_fraction=0.2, random_state=3)
    fit_rows, val_rows = nn._validation_split(y, None)
    assert np.bincount(y[val_rows]).tolist() == [6, 6, 6, 6]
    assert sorted(np.concatenate([fit_rows, val_rows]).tolist()) == list(range(120))
    assert np.array_equal(val_rows, KerasMLPClassifier(validation_fraction=0.2, random_state=3)._validation_split(y, None)[1])
    assert not np.array_equal(val_rows, KerasMLPClassifier(validation_fraction=0.2, random_state=4)._validation_split(y, None)[1])


def test_nn_early_stopping_restores_the_best_epoch():
    # Random labels: validation loss soon rises, so training stops `patience` epochs after its best
    # epoch, and the weights kept are those of the best epoch.
    X, y, _, _ = shuffled(blobs())
    nn = KerasMLPClassifier(hidden_units=64, max_epochs=40, patience=2, validation_fraction=0.2,
                            learning_rate=0.01, batch_size=16).fit(X, y)
    assert nn.n_epochs_ < 40 and nn.n_epochs_ == nn.best_epoch_ + 2
    val = nn.validation_rows_
    proba = nn.predict_proba(X[val])
    loss = -np.mean(np.log(proba[np.arange(len(val)), np.searchsorted(nn.classes_, y[val])]))
    assert loss == pytest.approx(min(nn.history_["val_loss"]), rel=1e-4)
    assert loss < nn.history_["val_loss"][-1]


def rings(seed=0, per_class=60):
    """Four concentric rings in the plane, plus noise dimensions: no linear boundary separates them."""
    rng = np.random.default_rng(seed)
    radius = np.repeat(np.arange(1, 5), per_class) + rng.normal(0, 0.08, 4 * per_class)
    angle = rng.uniform(0, 2 * np.pi, 4 * per_class)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle), rng.normal(0, 0.05, (4 * per_class, 4))])
    y = np.repeat(np.arange(4), per_class)
    position = np.tile(np.arange(per_class), 4)
    split = np.where(position < 40, "train", "test")
    fold = np.where(split == "train", position % 3, -1)
    return X.astype(np.float32), y, split, fold


@pytest.mark.parametrize("method", ["nystroem", "exact"])
def test_svm_rbf_separates_what_no_linear_model_can(method):
    X, y, split, fold = rings()
    settings = {"grid": {"C": [10], "gamma": [1.0]}, "scaling": "none", "method": method, "n_components": 100}
    rbf, predicted = evaluate("svm_rbf", X, y, split, fold, NAMES4, settings, seed=0)
    linear, _ = evaluate("lsvm", X, y, split, fold, NAMES4, {"grid": {"C": [10]}, "scaling": "none"}, seed=0)
    assert rbf["macro_f1"] > 0.95 and linear["macro_f1"] < 0.6
    if method == "exact":  # libsvm itself, nothing in between
        train = split == "train"
        reference = SVC(C=10, gamma=1.0, kernel="rbf").fit(X[train], y[train])
        assert np.array_equal(predicted, reference.predict(X[~train]))
        assert rbf["refit"]["n_support"] == int(reference.n_support_.sum())
    else:
        assert rbf["refit"]["n_iter"] > 0


def test_temperature_scaling_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    margins = rng.normal(0, 3, (4000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(margins, 2.5)])
    assert fit_temperature(margins, labels) == pytest.approx(2.5, rel=0.1)


@pytest.mark.parametrize("name, source", [("lsvm", "decision_function"), ("knn", "predict_proba"),
                                          ("logreg", "predict_proba")])
def test_every_cell_gives_class_probabilities_of_its_test_rows(name, source):
    X, y, split, fold = _noisy_data()
    result, predicted, probabilities = evaluate(name, X, y, split, fold, NAMES4 + ["unused"], {}, seed=0,
                                                return_probabilities=True)
    assert probabilities.shape == ((split == "test").sum(), 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert (probabilities[:, 4] == 0).all()  # a label without training rows gets no probability
    assert result["probabilities"]["source"] == source
    if name == "lsvm":  # a monotone map of the margins: the same decisions
        assert np.array_equal(probabilities.argmax(axis=1), predicted)
        assert result["probabilities"]["temperature"] > 0


def test_the_nn_validation_part_holds_whole_groups_stratified():
    X, y, split, fold = blobs(n_train=60)
    X, y = X[split == "train"], y[split == "train"]
    groups = np.array([f"board-{label}-{i % 6}" for i, label in enumerate(y)])  # 6 boards per category
    nn = KerasMLPClassifier(hidden_units=8, max_epochs=2, validation_fraction=0.2, random_state=3)
    nn.fit(X, y, groups=groups)
    held, kept = set(groups[nn.validation_rows_]), set(np.delete(groups, nn.validation_rows_))
    assert held and held.isdisjoint(kept)  # no board on both sides
    assert set(y[nn.validation_rows_]) == set(y)  # every category validated
    plain = KerasMLPClassifier(hidden_units=8, max_epochs=2, validation_fraction=0.2, random_state=3).fit(X, y)
    assert not set(groups[plain.validation_rows_]).isdisjoint(np.delete(groups, plain.validation_rows_))


def test_evaluate_hands_the_groups_of_the_training_rows_to_the_nn_and_to_no_other(monkeypatch):
    seen = []
    original = KerasMLPClassifier._validation_split
    monkeypatch.setattr(KerasMLPClassifier, "_validation_split",
                        lambda self, y_index, groups: seen.append(groups) or original(self, y_index, groups))
    X, y, split, fold = blobs()
    groups = np.array([f"g{i % 9}" for i in range(len(y))])
    evaluate("nn", X, y, split, fold, NAMES4, TINY_NN | {"grid": {"batch_size": [16]}}, seed=0, groups=groups)
    train_groups = groups[split == "train"]
    assert [list(g) for g in seen[:3]] == [list(train_groups[fold[split == "train"] != f]) for f in range(3)]
    evaluate("knn", X, y, split, fold, NAMES4, {"grid": {"n_neighbors": [1]}}, seed=0, groups=groups)  # takes none
