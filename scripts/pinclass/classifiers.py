"""The classifiers by name: how each one's final estimator is built from its settings, and what is
kept from a fitted one. Settings — their names, types and defaults — live in the config schema
(schemas/config.schema.yaml, `classifiers.<name>`); a classifier is a `register()` call here plus
that schema entry. The grid may name any parameter of the final estimator.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from pinclass.estimators import RBFSVC, KerasMLPClassifier, OvRLinearSVC
from pinclass.knn import TieBreakingKNN


@dataclass(frozen=True)
class Classifier:
    """build(settings, seed, n_jobs) → the unfitted final estimator.
    fit_info(fitted final estimator) → numbers worth keeping per fit (iterations, epochs; KNN's vote
    ties), read after the fit's predictions: its fold's, or for the refit the test rows'.
    threads_inside(settings): the estimator uses the job's threads itself (the NN: TensorFlow's
    thread pool; the batched LSVM: BLAS), so its fits run one after another in the job's process
    instead of in worker processes.
    warm_path(settings): the grid parameter along which a fold's fits warm-start each other (the
    estimator's warm_start), fitted in ascending order of it on one estimator; None: every fit
    starts cold.
    fold_shared(settings): a fold's grid points are fitted one after another on one estimator, so
    what they have in common is computed once (KNN: one neighbour search for the grid's largest k).
    refit_params(settings, infos): parameters the refit on all training rows takes from the
    cross-validation, given the fit info of the winning grid point's folds (the NN: the epochs)."""

    build: Callable[[dict, int, int], BaseEstimator]
    fit_info: Callable[[BaseEstimator], dict] | None = None
    threads_inside: Callable[[dict], bool] = lambda settings: False
    warm_path: Callable[[dict], str | None] = lambda settings: None
    fold_shared: Callable[[dict], bool] = lambda settings: False
    refit_params: Callable[[dict, list[dict]], dict] = lambda settings, infos: {}


REGISTRY: dict[str, Classifier] = {}


def register(name: str, classifier: Classifier) -> None:
    REGISTRY[name] = classifier


# Its neighbour search runs on the job's threads (BLAS and OpenMP), once per fold for the grid's
# largest k (docs/benchmarks.md).
register("knn", Classifier(
    build=lambda s, seed, n_jobs: TieBreakingKNN(metric=s["metric"], weights=s["weights"], n_jobs=n_jobs,
                                                 tie_break=s["tie_break"],
                                                 search_k=max(s["grid"].get("n_neighbors", [0])) or None),
    fit_info=lambda e: {"ties": int(e.n_ties_)},
    threads_inside=lambda s: True,
    fold_shared=lambda s: True))

register("lsvm", Classifier(
    build=lambda s, seed, n_jobs: OvRLinearSVC(max_iter=s["max_iter"], tol=s["tol"], max_gap=s["max_gap"],
                                               solver=s["solver"], dual=s["dual"],
                                               warm_start=s["solver"] == "batched", random_state=seed),
    fit_info=lambda e: {"n_iter": int(np.max(e.n_iter_)), "dual": int(e.dual_)},
    threads_inside=lambda s: s["solver"] == "batched",
    warm_path=lambda s: "C" if s["solver"] == "batched" and "C" in s["grid"] else None))

register("nn", Classifier(
    build=lambda s, seed, n_jobs: KerasMLPClassifier(
        hidden_units=s["hidden_units"], activation=s["activation"], dropout=s["dropout"],
        learning_rate=s["learning_rate"], max_epochs=s["max_epochs"],
        validation_fraction=s["validation_fraction"], patience=s["patience"], random_state=seed,
        n_threads=n_jobs),
    fit_info=lambda e: {"epochs": int(e.n_epochs_), "best_epoch": int(e.best_epoch_), "rows": int(e.n_fit_rows_)},
    threads_inside=lambda s: True,
    # The refit trains on every training row — no validation part held out — for the epochs the
    # folds of the winning batch size chose: the median of their best epochs (halves rounded up).
    refit_params=lambda s, infos: {"validation_fraction": 0.0,
                                   "max_epochs": int(np.median([i["best_epoch"] for i in infos]) + 0.5)}))

# The usual linear probe of frozen features: multinomial logistic regression (lbfgs).
register("logreg", Classifier(
    build=lambda s, seed, n_jobs: LogisticRegression(max_iter=s["max_iter"], tol=s["tol"], random_state=seed),
    fit_info=lambda e: {"n_iter": int(np.max(e.n_iter_))}))

# Beyond the paper (its future work): a non-linear SVM; see docs/methods.md "Classifiers and scores" for exact vs Nyström.
register("svm_rbf", Classifier(
    build=lambda s, seed, n_jobs: RBFSVC(method=s["method"], n_components=s["n_components"], tol=s["tol"],
                                         max_iter=s["max_iter"], random_state=seed),
    fit_info=lambda e: e.fit_info()))


def summarise_warnings(caught) -> list:
    """[{category, message, count}] in order of first occurrence."""
    summary: dict = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        summary[key] = summary.get(key, 0) + 1
    return [{"category": c, "message": m, "count": n} for (c, m), n in summary.items()]


class RecordingPipeline(Pipeline):
    """A Pipeline whose fit records every warning into `fit_warnings_` instead of printing it."""

    def fit(self, X, y=None, **params):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            super().fit(X, y, **params)
        self.fit_warnings_ = summarise_warnings(caught)
        return self


SCALERS = {"none": lambda: "passthrough", "l2": lambda: Normalizer(norm="l2"), "standard": StandardScaler}


def build_pipeline(name: str, settings: dict, seed: int, n_jobs: int = 1) -> RecordingPipeline:
    """scale → final estimator, from complete settings (config.classifier_settings). Scaling is the
    pipeline's first step, so inside cross-validation it is fitted on the training folds only."""
    if name not in REGISTRY:
        raise ValueError(f"unknown classifier '{name}'; known: {sorted(REGISTRY)}")
    estimator = REGISTRY[name].build(settings, seed, n_jobs)
    valid = estimator.get_params(deep=False)
    for parameter in settings["grid"]:
        if parameter not in valid:
            raise ValueError(f"classifiers.{name}.grid: '{parameter}' is not a parameter of "
                             f"{type(estimator).__name__}; valid: {sorted(valid)}")
    return RecordingPipeline([("scale", SCALERS[settings["scaling"]]()), ("clf", estimator)])
