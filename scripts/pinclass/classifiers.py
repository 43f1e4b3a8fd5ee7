"""Phase 3: grid search on predefined folds, refit on all of train, score once on test.

`evaluate()` is the whole step for one (backbone, classifier) pair; the Snakemake rule only reads
the features and the sample table, calls it, and writes the JSON and the predictions around it.

- Folds: exactly the `fold` column of the sample table (sklearn PredefinedSplit over the train
  rows), so every backbone and classifier sees the same folds. CV score: macro F1 over all classes
  (`scoring.score_predictions`' definition). Best grid point: highest mean CV macro F1, ties to
  the first in grid order (GridSearchCV's rule). Then one refit on all train rows, one test score.
- Scaling (`scaling`: "none" | "l2" | "standard") is the first step of the pipeline, so inside
  cross-validation it is fitted on the training folds only.
- Warnings raised while fitting are never just printed: every fit runs in a pipeline that records
  them, and they end up in `result["warnings"]`. From CV fits (which may run in worker processes)
  the count per warning category comes back, tagged with the grid point and fold; from the refit
  and from the parent process the messages too.
- Classifiers are looked up in `REGISTRY` (name → ClassifierSpec); `register()` adds more. The
  grid may name any parameter of the final estimator.
- `n_jobs` (the rule's threads): KNN and the LSVM run grid points in worker processes; the NN
  gives them to TensorFlow.
- TensorFlow is imported only when the NN is fitted, so KNN/LSVM jobs never pay for it.
"""

import copy
import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from .scoring import score_predictions

SCALINGS = ("none", "l2", "standard")

# Warning categories counted separately for CV fits (only numbers come back from worker processes).
WARNING_CATEGORIES = ("ConvergenceWarning", "RuntimeWarning", "UserWarning", "FutureWarning",
                      "DeprecationWarning")
OTHER_WARNINGS = "other"


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class ClassifierSpec:
    """How to build one classifier.

    build(settings, seed) returns the unfitted final estimator from the effective settings.
    defaults: every setting the classifier accepts, with its default; must include "grid",
    "scaling" and "n_jobs". Settings not listed here are refused (a typo must not pass silently).
    fit_info(fitted final estimator) returns numbers worth keeping per fit (iterations, epochs);
    its keys are fit_info_keys.
    threads_inside: the estimator uses `n_jobs` threads itself (the NN: TensorFlow's thread
    pool), so the grid runs its fits one after another instead of in worker processes — every
    fit, the refit included, then uses all the job's cores.
    """

    build: Callable[[dict, int], BaseEstimator]
    defaults: dict
    fit_info: Callable[[BaseEstimator], dict] | None = None
    fit_info_keys: tuple = ()
    threads_inside: bool = False
    description: str = ""


REGISTRY: dict[str, ClassifierSpec] = {}


def register(name: str, spec: ClassifierSpec) -> None:
    missing = {"grid", "scaling", "n_jobs"} - set(spec.defaults)
    if missing:
        raise ValueError(f"classifier '{name}': defaults lack {sorted(missing)}")
    REGISTRY[name] = spec


def _build_knn(s: dict, seed: int) -> BaseEstimator:
    return KNeighborsClassifier(metric=s["metric"], weights=s["weights"])


def _build_lsvm(s: dict, seed: int) -> BaseEstimator:
    return OvRLinearSVC(max_iter=s["max_iter"], tol=s["tol"], dual=s["dual"], random_state=seed)


def _lsvm_fit_info(estimator) -> dict:
    return {"n_iter": int(np.max(estimator.n_iter_)), "dual": int(estimator.dual_)}


def _build_nn(s: dict, seed: int) -> BaseEstimator:
    return KerasMLPClassifier(
        hidden_units=s["hidden_units"], activation=s["activation"], dropout=s["dropout"],
        learning_rate=s["learning_rate"], max_epochs=s["max_epochs"],
        validation_fraction=s["validation_fraction"], patience=s["patience"],
        random_state=seed, n_threads=s["n_jobs"])


def _nn_fit_info(estimator) -> dict:
    return {"epochs": int(estimator.n_epochs_), "best_epoch": int(estimator.best_epoch_)}


register("knn", ClassifierSpec(
    build=_build_knn,
    defaults={"grid": {"n_neighbors": [1, 5, 10, 20, 50]}, "scaling": "none",
              "metric": "euclidean", "weights": "uniform", "n_jobs": 1},
    description="k-nearest neighbours (scikit-learn KNeighborsClassifier)"))

register("lsvm", ClassifierSpec(
    build=_build_lsvm,
    defaults={"grid": {"C": [0.01, 0.1, 1, 10, 100]}, "scaling": "l2",
              "max_iter": 1000, "tol": 1e-4, "dual": "adaptive", "n_jobs": 1},
    fit_info=_lsvm_fit_info, fit_info_keys=("n_iter", "dual"),
    description="linear SVM, one-vs-rest: one liblinear binary problem per class (scikit-learn LinearSVC)"))

register("nn", ClassifierSpec(
    build=_build_nn,
    defaults={"grid": {"batch_size": [32, 64, 128]}, "scaling": "standard",
              "hidden_units": 512, "activation": "relu", "dropout": 0.5, "learning_rate": 1e-3,
              "max_epochs": 50, "validation_fraction": 0.1, "patience": 5, "n_jobs": 1},
    fit_info=_nn_fit_info, fit_info_keys=("epochs", "best_epoch"), threads_inside=True,
    description="input → Dense(hidden_units) → dropout → softmax, Keras on TensorFlow"))


# ---------------------------------------------------------------- settings and pipeline

def effective_settings(classifier: str, settings: dict | None, n_jobs: int | None = None) -> dict:
    """Defaults overlaid with `settings` (a given grid replaces the default grid as a whole)."""
    if classifier not in REGISTRY:
        raise ValueError(f"unknown classifier '{classifier}'; known: {sorted(REGISTRY)}")
    spec = REGISTRY[classifier]
    result = copy.deepcopy(spec.defaults)
    settings = dict(settings or {})
    unknown = set(settings) - set(result)
    if unknown:
        raise ValueError(f"classifiers.{classifier}: unknown setting(s) {sorted(unknown)}; "
                         f"known: {sorted(result)}")
    for key, value in settings.items():
        result[key] = copy.deepcopy(value)
    if n_jobs is not None:
        result["n_jobs"] = n_jobs
    if result["scaling"] not in SCALINGS:
        raise ValueError(f"classifiers.{classifier}.scaling: '{result['scaling']}' is not one of {SCALINGS}")
    if classifier == "lsvm" and result["dual"] not in LSVM_DUALS:
        raise ValueError(f"classifiers.lsvm.dual: expected one of {LSVM_DUALS}, got {result['dual']!r}")
    if not isinstance(result["n_jobs"], int) or result["n_jobs"] < 1:
        raise ValueError(f"classifiers.{classifier}.n_jobs: expected an integer >= 1, got {result['n_jobs']!r}")
    grid = result["grid"]
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"classifiers.{classifier}.grid: expected a mapping parameter → list of values")
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ValueError(f"classifiers.{classifier}.grid.{name}: expected a non-empty list")
    result["grid"] = {name: list(values) for name, values in grid.items()}
    return _plain(result)


class RecordingPipeline(Pipeline):
    """A Pipeline whose fit records every warning into `fit_warnings_` instead of printing it."""

    def fit(self, X, y=None, **params):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            super().fit(X, y, **params)
        self.fit_warnings_ = _summarise_warnings(caught)
        return self


def _scaler(scaling: str):
    return {"none": "passthrough", "l2": Normalizer(norm="l2"), "standard": StandardScaler()}[scaling]


def build_pipeline(classifier: str, settings: dict, seed: int) -> RecordingPipeline:
    """scale → final estimator, from effective settings (see effective_settings)."""
    estimator = REGISTRY[classifier].build(settings, seed)
    valid = estimator.get_params(deep=False)
    for name in settings["grid"]:
        if name not in valid:
            raise ValueError(f"classifiers.{classifier}.grid: '{name}' is not a parameter of "
                             f"{type(estimator).__name__}; valid: {sorted(valid)}")
    return RecordingPipeline([("scale", _scaler(settings["scaling"])), ("clf", estimator)])


# ---------------------------------------------------------------- CV scorers (picklable)

def _summarise_warnings(caught) -> list:
    """[{category, message, count}] in order of first occurrence."""
    summary: dict = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        summary[key] = summary.get(key, 0) + 1
    return [{"category": c, "message": m, "count": n} for (c, m), n in summary.items()]


def _category_key(category: str) -> str:
    return category if category in WARNING_CATEGORIES else OTHER_WARNINGS


class _WarningCount:
    """Scorer that returns how many warnings of one category the fit recorded."""

    def __init__(self, category: str):
        self.category = category

    def __call__(self, estimator, X, y):
        return float(sum(w["count"] for w in getattr(estimator, "fit_warnings_", [])
                         if _category_key(w["category"]) == self.category))


class _FitInfo:
    """Scorer that returns one number of the classifier's fit_info (iterations, epochs)."""

    def __init__(self, function, key: str):
        self.function, self.key = function, key

    def __call__(self, estimator, X, y):
        return float(self.function(estimator[-1])[self.key])


def _scorers(spec: ClassifierSpec, n_classes: int) -> dict:
    scorers = {"macro_f1": make_scorer(f1_score, average="macro", labels=list(range(n_classes)),
                                       zero_division=0)}
    for category in WARNING_CATEGORIES + (OTHER_WARNINGS,):
        scorers[f"warn_{category}"] = _WarningCount(category)
    for key in spec.fit_info_keys:
        scorers[f"info_{key}"] = _FitInfo(spec.fit_info, key)
    return scorers


# ---------------------------------------------------------------- evaluate

def _check_inputs(features, labels, split, fold, n_classes):
    X = np.asarray(features)
    if X.ndim != 2:
        raise ValueError(f"features: expected a 2-d array (n, d), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise ValueError(f"features: expected floats, got {X.dtype}")
    n = X.shape[0]
    y = np.asarray(labels)
    split = np.asarray(split).astype(str)
    fold = np.asarray(fold)
    for name, array in (("labels", y), ("split", split), ("fold", fold)):
        if array.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},) to match features, got {array.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels: expected integer label indices, got {y.dtype}")
    if not np.issubdtype(fold.dtype, np.integer):
        raise ValueError(f"fold: expected integers, got {fold.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels: must lie in 0..{n_classes - 1} (one per label name)")
    bad = sorted(set(np.unique(split)) - {"train", "test"})
    if bad:
        raise ValueError(f"split: unexpected value(s) {bad}; expected 'train' or 'test'")
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError("split: need both train and test rows")
    if np.any(fold[test] != -1):
        raise ValueError("fold: test rows must have fold -1")
    train_folds = np.unique(fold[train])
    k = len(train_folds)
    if k < 2 or not np.array_equal(train_folds, np.arange(k)):
        raise ValueError(f"fold: train rows must use folds 0..k-1 (k >= 2), each at least once; "
                         f"found {train_folds.tolist()}")
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise ValueError(f"features: {int((~finite).sum())} row(s) contain NaN or infinity, "
                         f"first at row {int(np.flatnonzero(~finite)[0])}")
    return X, y.astype(np.int64), train, test, fold[train].astype(np.int64), k


def evaluate(classifier: str, features, labels, split, fold, label_names, settings: dict | None,
             seed: int, *, n_jobs: int | None = None):
    """Grid search on the given folds, refit on all train rows, score on the test rows.

    Returns (result, predicted): the JSON-ready result dict and the predicted label index of each
    test row, in the order the test rows appear in the inputs. `n_jobs` (e.g. the rule's threads)
    overrides settings["n_jobs"]; default 1.
    """
    started = time.perf_counter()
    label_names = [str(name) for name in label_names]
    s = effective_settings(classifier, settings, n_jobs)
    spec = REGISTRY[classifier]
    X, y, train, test, train_fold, k = _check_inputs(features, labels, split, fold, len(label_names))
    pipeline = build_pipeline(classifier, s, seed)
    grid = {f"clf__{name}": values for name, values in s["grid"].items()}
    grid_jobs = 1 if spec.threads_inside else s["n_jobs"]
    search = GridSearchCV(pipeline, grid, scoring=_scorers(spec, len(label_names)), refit=False,
                          cv=PredefinedSplit(train_fold), n_jobs=grid_jobs, error_score="raise")
    X_train, y_train = X[train], y[train]
    warning_log: list = []
    timings: dict = {}

    with threadpool_limits(limits=s["n_jobs"]):
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            search.fit(X_train, y_train)
        timings["grid_search_s"] = time.perf_counter() - t
        warning_log += [{"stage": "grid_search", **w} for w in _summarise_warnings(caught)]

        cv = search.cv_results_
        results = []
        for i, params in enumerate(cv["params"]):
            bare = _plain({name.removeprefix("clf__"): value for name, value in params.items()})
            entry = {"params": bare,
                     "mean_macro_f1": float(cv["mean_test_macro_f1"][i]),
                     "std_macro_f1": float(cv["std_test_macro_f1"][i]),
                     "fold_macro_f1": [float(cv[f"split{f}_test_macro_f1"][i]) for f in range(k)]}
            for key in spec.fit_info_keys:
                entry[f"fold_{key}"] = [_number(cv[f"split{f}_test_info_{key}"][i]) for f in range(k)]
            results.append(entry)
            for f in range(k):
                for category in WARNING_CATEGORIES + (OTHER_WARNINGS,):
                    count = int(cv[f"split{f}_test_warn_{category}"][i])
                    if count:
                        warning_log.append({"stage": "cv", "params": bare, "fold": f,
                                            "category": category, "count": count})
        best = int(np.argmin(cv["rank_test_macro_f1"]))  # GridSearchCV's rule: ties → first
        best_params = results[best]["params"]

        final = clone(pipeline).set_params(**{f"clf__{n}": v for n, v in best_params.items()})
        t = time.perf_counter()
        final.fit(X_train, y_train)
        timings["refit_s"] = time.perf_counter() - t
        warning_log += [{"stage": "refit", "params": best_params, **w} for w in final.fit_warnings_]

        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predicted = np.asarray(final.predict(X[test])).astype(np.int64)
        timings["predict_s"] = time.perf_counter() - t
        warning_log += [{"stage": "predict", **w} for w in _summarise_warnings(caught)]

    scores = score_predictions(y[test], predicted, label_names)
    timings["total_s"] = time.perf_counter() - started
    result = {
        "classifier": classifier,
        "macro_f1": scores["macro_f1"],
        "accuracy": scores["accuracy"],
        "best_params": best_params,
        "cv": {"grid": s["grid"], "n_folds": k, "scoring": "macro_f1", "best_index": best,
               "results": results},
        "labels": label_names,
        "per_class": scores["per_class"],
        "confusion_matrix": scores["confusion_matrix"],
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "settings": s,
        "seed": int(seed),
        "refit": spec.fit_info(final[-1]) if spec.fit_info else {},
        "warnings": warning_log,
        "timings": {name: round(float(value), 3) for name, value in timings.items()},
    }
    return _plain(result), predicted


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def _plain(value):
    """Nested numpy scalars/arrays/tuples → plain Python, so json.dumps takes the result as is."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value} in a result")
        return value
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a result: {value!r}")


# ---------------------------------------------------------------- the linear SVM

LSVM_DUALS = ("adaptive", "auto", True, False)


class OvRLinearSVC(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM (squared hinge, L2 penalty): one binary scikit-learn LinearSVC per class.

    The same model as LinearSVC(multi_class="ovr") — liblinear solves exactly these binary
    problems one after another — with the choice of solver made per fit. The classes are solved
    in sequence on purpose: liblinear's random generator is process-global, so classes solved in
    threads would draw from it in a racing order and two runs would differ.

    dual: True (coordinate descent on the dual), False (Newton on the primal), "auto"
    (scikit-learn's rule: dual only when rows < features), or "adaptive": dual when
    C × mean squared row norm <= 1, else primal. Dual coordinate descent is fastest when that
    product is small (L2-normalised rows with C <= 1: about 3× faster than primal) and
    converges poorly when it is large (C=100), where the primal solver is the reliable one.
    `dual_` records the choice, `n_iter_` the iterations per class.
    """

    def __init__(self, C=1.0, tol=1e-4, max_iter=1000, dual="adaptive", random_state=None):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.dual = dual
        self.random_state = random_state

    def _use_dual(self, X) -> bool:
        if self.dual == "adaptive":
            # (1 + 1e-3: rows L2-normalised in float32 have squared norms of 1 ± 1e-7)
            return bool(self.C * float(np.mean(np.einsum("ij,ij->i", X, X))) <= 1.0 + 1e-3)
        if self.dual == "auto":
            return X.shape[0] < X.shape[1]
        if isinstance(self.dual, (bool, np.bool_)):
            return bool(self.dual)
        raise ValueError(f"dual: expected one of {LSVM_DUALS}, got {self.dual!r}")

    def fit(self, X, y):
        X = np.ascontiguousarray(X, dtype=np.float64)  # once, not once per class
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("the linear SVM needs at least two classes in its training rows")
        self.n_features_in_ = X.shape[1]
        self.dual_ = self._use_dual(X)
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        models = [LinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, dual=self.dual_,
                            random_state=self.random_state).fit(X, (y == positive).astype(np.int8))
                  for positive in positives]
        self.coef_ = np.vstack([m.coef_ for m in models])
        self.intercept_ = np.concatenate([m.intercept_ for m in models])
        self.n_iter_ = np.array([int(m.n_iter_) for m in models])
        return self

    def decision_function(self, X):
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


# ---------------------------------------------------------------- the NN

_TF_STATE: dict = {}


def _import_keras(n_threads: int | None):
    """Import TensorFlow/Keras once, deterministic ops, thread pools of n_threads if still possible."""
    if "keras" not in _TF_STATE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ INFO lines only; warnings stay
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import tensorflow as tf
        if n_threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(n_threads)
                tf.config.threading.set_inter_op_parallelism_threads(n_threads)
                _TF_STATE["threads"] = n_threads
            except RuntimeError:  # TensorFlow already started in this process
                _TF_STATE["threads"] = None
        tf.config.experimental.enable_op_determinism()
        import keras
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"the NN needs the Keras TensorFlow backend, got '{keras.backend.backend()}' "
                               "(KERAS_BACKEND)")
        _TF_STATE["keras"] = keras
    elif n_threads and _TF_STATE.get("threads") not in (None, n_threads):
        warnings.warn(f"TensorFlow already runs with {_TF_STATE['threads']} threads in this process; "
                      f"n_threads={n_threads} is not applied", RuntimeWarning)
    return _TF_STATE["keras"]


class KerasMLPClassifier(ClassifierMixin, BaseEstimator):
    """Input → Dense(hidden_units, activation) → Dropout → Dense(n_classes, softmax), as an sklearn estimator.

    Adam(learning_rate) on sparse categorical cross-entropy, shuffled mini-batches of batch_size,
    at most max_epochs epochs. Early stopping: a stratified, seeded validation_fraction of the rows
    given to fit (so in CV: of the training folds only) is held out; training stops after `patience`
    epochs without a lower validation loss and the weights of the best epoch are restored.
    validation_fraction=0 trains max_epochs epochs on all rows. Seeded by random_state, with
    TensorFlow's deterministic ops: the same inputs give the same predictions.
    """

    def __init__(self, hidden_units=512, activation="relu", dropout=0.5, learning_rate=1e-3,
                 batch_size=32, max_epochs=50, validation_fraction=0.1, patience=5,
                 random_state=0, n_threads=None, verbose=0):
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose

    def _check_params(self):
        checks = [("hidden_units", int, 1), ("batch_size", int, 1), ("max_epochs", int, 1),
                  ("patience", int, 0)]
        for name, kind, low in checks:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {self.dropout!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction: expected 0 <= value < 1, got {self.validation_fraction!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate!r}")

    def _validation_split(self, y_index):
        rows = np.arange(len(y_index))
        if not self.validation_fraction:
            return rows, None
        try:
            return train_test_split(rows, test_size=self.validation_fraction, stratify=y_index,
                                    random_state=self.random_state)
        except ValueError as error:  # a class too small to appear on both sides
            warnings.warn(f"validation split not stratified ({error}); using a random seeded split",
                          UserWarning)
            return train_test_split(rows, test_size=self.validation_fraction,
                                    random_state=self.random_state)

    def fit(self, X, y):
        self._check_params()
        keras = _import_keras(self.n_threads)
        X = np.asarray(X, dtype=np.float32)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("the NN needs at least two classes in its training rows")
        self.n_features_in_ = X.shape[1]
        fit_rows, val_rows = self._validation_split(y_index)

        keras.backend.clear_session()
        keras.utils.set_random_seed(int(self.random_state))
        model = keras.Sequential([
            keras.Input(shape=(X.shape[1],)),
            keras.layers.Dense(self.hidden_units, activation=self.activation),
            keras.layers.Dropout(self.dropout),
            keras.layers.Dense(len(self.classes_), activation="softmax"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
                      loss="sparse_categorical_crossentropy", jit_compile=False)
        callbacks, validation = [], None
        if val_rows is not None:
            validation = (X[val_rows], y_index[val_rows])
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                           restore_best_weights=True))
        history = model.fit(X[fit_rows], y_index[fit_rows], batch_size=int(self.batch_size),
                            epochs=int(self.max_epochs), validation_data=validation, shuffle=True,
                            callbacks=callbacks, verbose=self.verbose)
        self.model_ = model
        self.validation_rows_ = val_rows
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        self.n_epochs_ = len(history.history["loss"])
        self.best_epoch_ = (int(np.argmin(history.history["val_loss"])) + 1 if val_rows is not None
                            else self.n_epochs_)
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float32)
        # Eager calls in fixed chunks: no tf.function to (re)trace for every fitted model.
        chunks = [np.asarray(self.model_(X[i:i + 4096], training=False)) for i in range(0, len(X), 4096)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
