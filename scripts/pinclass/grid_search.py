"""Phase 3 for one (backbone, classifier) cell: grid search on the sample's folds, refit on all of
train, score once on test. `evaluate()` is the whole step; the rule script only reads the features
and the sample, calls it, and writes the JSON and the predictions around it.

- Folds: exactly the `fold` column of the sample (fold f validates, the other folds train), so every
  backbone and classifier sees the same folds. CV score: macro F1 over all classes. Best grid point:
  highest mean CV macro F1, ties to the first in grid order (scikit-learn's ParameterGrid order).
- Every fit — grid point × fold, then the refit — returns its macro F1, the warnings it raised
  (never just printed) and its fit info (iterations, epochs). Grid points × folds run in `n_jobs`
  worker processes, or one after another for a classifier that uses the threads itself (the NN,
  the batched LSVM). KNN fits each fold's grid on one estimator, whose one neighbour search serves
  every grid point. A classifier with a warm path (the batched LSVM: C) fits each fold's grid
  points in ascending order of it on one estimator, each fit starting from the previous one's
  solution; its refit on all training rows starts from the mean of the winning grid point's fold
  solutions (`warm_start_params`; any start reaches the same optimum, the stopping test being a
  duality gap). A classifier may take refit parameters from the winning grid point's folds (the NN:
  its epochs, trained on all training rows).
"""

import inspect
import time
import warnings
from functools import partial

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import ParameterGrid
from threadpoolctl import threadpool_limits

from pinclass.classifiers import REGISTRY, build_pipeline, summarise_warnings
from pinclass.config import classifier_settings
from pinclass.jsonable import plain
from pinclass.probabilities import class_scores, fit_temperature, softmax
from pinclass.scoring import score_predictions


def check_inputs(features, labels, split, fold, n_classes):
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


def warm_chains(points: list[dict], k: int, path: str | None, shared: bool = False) -> list[list[tuple[int, int]]]:
    """The fits (grid point index, fold) in chains fitted one after another on one estimator: with
    `shared`, one chain per fold over the whole grid in grid order; with a warm path, one chain per
    fold and per setting of the other parameters, in ascending order of the path parameter;
    otherwise one fit per chain."""
    if shared:
        return [[(i, f) for i in range(len(points))] for f in range(k)]
    if path is None:
        return [[(i, f)] for i in range(len(points)) for f in range(k)]
    groups: dict = {}
    for i, params in enumerate(points):
        rest = tuple(sorted((name, repr(value)) for name, value in params.items() if name != path))
        groups.setdefault(rest, []).append(i)
    return [[(i, f) for i in sorted(members, key=lambda i: points[i][path])]
            for members in groups.values() for f in range(k)]


def fit_chain(name, pipeline, points, chain, X, y, folds, n_classes, groups=None) -> list[dict]:
    """`fit_fold` for each (point, fold) of a chain, on one clone of the pipeline."""
    estimator = clone(pipeline)
    return [fit_fold(name, estimator, points[i], X, y, folds, f, n_classes, groups) for i, f in chain]


def group_params(pipeline, groups, rows) -> dict:
    """The fit parameter that hands the rows' groups to a final estimator whose fit takes them (the
    NN's grouped early stopping); nothing for the others, or without groups."""
    if groups is None or "groups" not in inspect.signature(pipeline[-1].fit).parameters:
        return {}
    return {"clf__groups": groups[rows]}


def fit_fold(name, pipeline, params, X, y, folds, fold, n_classes, groups=None) -> dict:
    """Fit `pipeline` (in place) on every fold but `fold`, score macro F1 on `fold`: the score,
    warnings, fit info, and the fold's class scores (out-of-fold: for calibrating the refit's
    decision values)."""
    fitted = pipeline.set_params(**{f"clf__{key}": value for key, value in params.items()})
    rows = folds != fold
    fitted.fit(X[rows], y[rows], **group_params(fitted, groups, rows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = fitted.predict(X[folds == fold])
        score = f1_score(y[folds == fold], predicted, average="macro", labels=list(range(n_classes)),
                         zero_division=0)
        scores, kind = class_scores(fitted, X[folds == fold], n_classes)
    info = REGISTRY[name].fit_info
    start = getattr(fitted[-1], "warm_start_params", None)
    return {"macro_f1": float(score), "warnings": fitted.fit_warnings_ + summarise_warnings(caught),
            "info": info(fitted[-1]) if info else {}, "scores": scores.astype(np.float32), "kind": kind,
            "start": {"classes": fitted[-1].classes_, "params": start()} if start else None}


def refit_start(folds: list[dict], classes) -> dict:
    """fit arguments starting the refit from the mean of the folds' solutions, when every fold has
    one over the same classes as the refit; else none (a cold start)."""
    starts = [outcome["start"] for outcome in folds]
    if not all(start and start["params"] and np.array_equal(start["classes"], classes) for start in starts):
        return {}
    return {f"clf__{key}": np.mean([start["params"][key] for start in starts], axis=0)
            for key in starts[0]["params"]}


def refit_probabilities(final, X_test, best: list[dict], y_train, train_fold, n_classes) -> tuple[np.ndarray, dict]:
    """The refit's class probabilities on the test rows, and how they were made: predict_proba, or
    decision values through a temperature fitted on the best grid point's out-of-fold decisions."""
    scores, kind = class_scores(final, X_test, n_classes)
    if kind == "probability":
        return scores, {"source": "predict_proba"}
    order = np.concatenate([np.flatnonzero(train_fold == f) for f in range(len(best))])
    out_of_fold = np.concatenate([outcome["scores"] for outcome in best])
    temperature = fit_temperature(out_of_fold.astype(np.float64), y_train[order])
    return softmax(scores, temperature), {"source": "decision_function", "calibration": "temperature",
                                          "temperature": temperature,
                                          "fitted_on": "out-of-fold decision values of the best grid point"}


def evaluate(classifier: str, features, labels, split, fold, label_names, settings: dict | None,
             seed: int, *, n_jobs: int = 1, return_probabilities: bool = False, return_fitted: bool = False,
             groups=None):
    """Grid search on the given folds, refit on all train rows, score on the test rows.

    settings: the classifier's config entry (missing keys take their schema defaults). n_jobs: the
    job's threads. groups: each row's board or user with a grouped split (the NN's early-stopping
    part then holds whole groups), or None. Returns (result, predicted): the JSON-ready result dict and the predicted label
    index of each test row, in the order the test rows appear in the inputs; with
    return_probabilities, also the (n_test, n_classes) class probabilities (`refit_probabilities`); with
    return_fitted, then the refit pipeline (what a saved model holds).
    """
    started = time.perf_counter()
    label_names = [str(name) for name in label_names]
    settings = classifier_settings(classifier, settings)
    X, y, train, test, train_fold, k = check_inputs(features, labels, split, fold, len(label_names))
    pipeline = build_pipeline(classifier, settings, seed, n_jobs)
    points = list(ParameterGrid(settings["grid"]))
    X_train, y_train = X[train], y[train]
    timings: dict = {}

    with threadpool_limits(limits=n_jobs):
        t = time.perf_counter()
        train_groups = None if groups is None else np.asarray(groups)[train]
        run = partial(fit_chain, classifier, pipeline, points, X=X_train, y=y_train, folds=train_fold,
                      n_classes=len(label_names), groups=train_groups)
        chains = warm_chains(points, k, REGISTRY[classifier].warm_path(settings),
                             REGISTRY[classifier].fold_shared(settings))
        if REGISTRY[classifier].threads_inside(settings) or n_jobs == 1:
            done = [run(chain=chain) for chain in chains]
        else:
            done = Parallel(n_jobs=n_jobs)(delayed(run)(chain=chain) for chain in chains)
        by_fit = {fit: outcome for chain, results in zip(chains, done) for fit, outcome in zip(chain, results)}
        outcomes = [by_fit[(i, f)] for i in range(len(points)) for f in range(k)]
        timings["grid_search_s"] = time.perf_counter() - t

        results, warning_log = [], []
        for i, params in enumerate(points):
            folds = outcomes[i * k:(i + 1) * k]
            scores = [outcome["macro_f1"] for outcome in folds]
            entry = {"params": plain(params), "mean_macro_f1": float(np.mean(scores)),
                     "std_macro_f1": float(np.std(scores)), "fold_macro_f1": scores}
            for key in folds[0]["info"]:
                entry[f"fold_{key}"] = [outcome["info"][key] for outcome in folds]
            results.append(entry)
            warning_log += [{"stage": "cv", "params": entry["params"], "fold": f, **w}
                            for f, outcome in enumerate(folds) for w in outcome["warnings"]]
        best = int(np.argmax([entry["mean_macro_f1"] for entry in results]))  # ties → first
        best_params = results[best]["params"]

        refit_params = REGISTRY[classifier].refit_params(
            settings, [outcome["info"] for outcome in outcomes[best * k:(best + 1) * k]])
        final = clone(pipeline).set_params(**{f"clf__{n}": v for n, v in (best_params | refit_params).items()})
        start = {}
        if REGISTRY[classifier].warm_path(settings) is not None:
            start = refit_start(outcomes[best * k:(best + 1) * k], np.unique(y_train))
        t = time.perf_counter()
        final.fit(X_train, y_train, **group_params(final, train_groups, slice(None)), **start)
        timings["refit_s"] = time.perf_counter() - t
        warning_log += [{"stage": "refit", "params": best_params, **w} for w in final.fit_warnings_]

        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predicted = np.asarray(final.predict(X[test])).astype(np.int64)
        timings["predict_s"] = time.perf_counter() - t
        warning_log += [{"stage": "predict", **w} for w in summarise_warnings(caught)]
        probabilities, made = refit_probabilities(final, X[test], outcomes[best * k:(best + 1) * k], y_train,
                                                 train_fold, len(label_names))

    scores = score_predictions(y[test], predicted, label_names)
    timings["total_s"] = time.perf_counter() - started
    info = REGISTRY[classifier].fit_info
    result = {
        "classifier": classifier,
        "macro_f1": scores["macro_f1"],
        "accuracy": scores["accuracy"],
        "best_params": best_params,
        "cv": {"grid": settings["grid"], "n_folds": k, "scoring": "macro_f1", "best_index": best,
               "results": results},
        "labels": label_names,
        "per_class": scores["per_class"],
        "confusion_matrix": scores["confusion_matrix"],
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "settings": settings,
        "seed": int(seed),
        "refit": info(final[-1]) if info else {},
        "refit_params": refit_params,
        "probabilities": made,
        "warnings": warning_log,
        "timings": {name: round(float(value), 3) for name, value in timings.items()},
    }
    out = (plain(result), predicted) + ((probabilities,) if return_probabilities else ())
    return out + ((final,) if return_fitted else ())
