"""A fitted scale → classifier pipeline as plain values and numeric arrays, and back, without pickle.

A node describes one estimator: {"type": a name in TYPES, "params": its constructor parameters,
"values": fitted attributes that are plain JSON values, "tuples": fitted tuples of plain values,
"arrays": fitted numeric arrays (keys of the arrays file), "estimators":
fitted attributes that are estimators themselves (nodes)}. Restoring builds only the types listed
in TYPES, from plain values, and sets attributes: nothing in a model file is ever executed, and an
array file is read with allow_pickle=False. Saving refuses any fitted attribute it cannot write as
such (rather than dropping it), except those listed in NOT_STATE: records of how a fit went.

Two estimators are rebuilt rather than set attribute by attribute: KNN is refitted on its stored
training rows (its search structures are objects, and its fit does no more than store and index
them), and the network's Keras model is built as `estimators.mlp_model` and given its weights.
"""

import json

import numpy as np
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC

from pinclass.estimators import RBFSVC, KerasMLPClassifier, OvRLinearSVC, import_keras, mlp_model
from pinclass.knn import TieBreakingKNN

TYPES = {cls.__name__: cls for cls in (StandardScaler, Normalizer, TieBreakingKNN, OvRLinearSVC, LogisticRegression,
                                       RBFSVC, Nystroem, SVC, KerasMLPClassifier)}
NOT_STATE = {
    "OvRLinearSVC": {"solution_", "_warm"},  # the solver's convergence record and its warm-start cache
    "KerasMLPClassifier": {"model_", "history_", "validation_rows_"},  # model_: its weights are the arrays
    "TieBreakingKNN": {"n_ties_"},
}
KNN_REFIT = {"_fit_X", "_y", "classes_"}  # what KNN's fit is given; the rest of its state is derived from it


class StateError(ValueError):
    """A model that cannot be written, or a file that does not describe one this code can build."""


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_json_value(value) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (list, dict)) or all(map(_is_json_value, value.values() if isinstance(value, dict)
                                                            else value))


def _fitted_names(estimator) -> list[str]:
    """Attributes set by fit (scikit-learn's convention: a trailing or leading underscore)."""
    return sorted(name for name in vars(estimator) if name.endswith("_") or name.startswith("_"))


def export(estimator, arrays: dict, prefix: str = "") -> dict:
    """The node of a fitted estimator; its arrays go into `arrays` under prefix + name."""
    kind = type(estimator).__name__
    if TYPES.get(kind) is not type(estimator):
        raise StateError(f"cannot save a {type(estimator).__module__}.{kind}: not one of {sorted(TYPES)}")
    params = {name: _plain(value) for name, value in estimator.get_params(deep=False).items()}
    for name, value in params.items():
        if not _is_json_value(value):
            raise StateError(f"{kind}: parameter {name}={value!r} is not a plain value")
    node = {"type": kind, "params": params, "values": {}, "tuples": {}, "arrays": {}, "estimators": {}}
    names = _fitted_names(estimator)
    if isinstance(estimator, TieBreakingKNN):
        names = sorted(KNN_REFIT)
    for name in names:
        if name in NOT_STATE.get(kind, ()):
            continue
        value = _plain(getattr(estimator, name))
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise StateError(f"{kind}.{name}: an array of {value.dtype} (only numbers are saved)")
            arrays[prefix + name] = value
            node["arrays"][name] = prefix + name
        elif isinstance(value, tuple) and _is_json_value(list(map(_plain, value))):
            node["tuples"][name] = list(map(_plain, value))
        elif type(value).__name__ in TYPES:
            node["estimators"][name] = export(value, arrays, f"{prefix}{name}.")
        elif _is_json_value(value):
            node["values"][name] = value
        else:
            raise StateError(f"{kind}.{name}: a {type(value).__name__} cannot be saved as plain values")
    if isinstance(estimator, KerasMLPClassifier):
        for i, weights in enumerate(estimator.model_.get_weights()):
            arrays[f"{prefix}weights.{i}"] = weights
            node["arrays"][f"weights.{i}"] = f"{prefix}weights.{i}"
    return node


def _attribute_name(name: str) -> str:
    if not name.isidentifier() or name.startswith("__"):
        raise StateError(f"not an attribute name: {name!r}")
    return name


def restore(node: dict, arrays, prefix: str = ""):
    """The estimator a node describes, its arrays read from `arrays` (a mapping: an NpzFile) under
    prefix + the node's keys."""
    kind = node.get("type")
    if kind not in TYPES:
        raise StateError(f"unknown estimator type {kind!r}; a model holds only {sorted(TYPES)}")
    estimator = TYPES[kind](**node["params"])

    def array(key):
        try:
            return arrays[prefix + key]
        except KeyError:
            raise StateError(f"{kind}: array {prefix + key!r} is missing from the arrays file") from None

    stored = {name: array(key) for name, key in node["arrays"].items() if not name.startswith("weights.")}
    if isinstance(estimator, TieBreakingKNN):
        return estimator.fit(stored["_fit_X"], stored["classes_"][stored["_y"]])
    for name, value in node["values"].items():
        setattr(estimator, _attribute_name(name), value)
    for name, value in node["tuples"].items():
        setattr(estimator, _attribute_name(name), tuple(value))
    for name, value in stored.items():
        setattr(estimator, _attribute_name(name), value)
    for name, child in node["estimators"].items():
        setattr(estimator, _attribute_name(name), restore(child, arrays, prefix))
    if isinstance(estimator, KerasMLPClassifier):
        keras = import_keras(None)
        weights = [array(node["arrays"][f"weights.{i}"]) for i in range(sum(k.startswith("weights.")
                                                                         for k in node["arrays"]))]
        estimator.model_ = mlp_model(keras, int(estimator.n_features_in_), int(estimator.hidden_units),
                                     estimator.activation, float(estimator.dropout), len(estimator.classes_))
        estimator.model_.set_weights(weights)
    return estimator


def export_pipeline(pipeline: Pipeline, arrays: dict) -> list:
    """[[step name, node or "passthrough"], ...] of a fitted scale → classifier pipeline."""
    return [[name, "passthrough" if step in (None, "passthrough") else export(step, arrays, f"{name}.")]
            for name, step in pipeline.steps]


def restore_pipeline(steps: list, arrays, prefix: str = "") -> Pipeline:
    """The pipeline of `export_pipeline`'s steps; prefix: where its arrays lie in a shared file (an
    ensemble's member)."""
    return Pipeline([(name, "passthrough" if node == "passthrough" else restore(node, arrays, prefix))
                     for name, node in steps])
