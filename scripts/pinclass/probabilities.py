"""Class probabilities of a fitted classifier, in label order: what an ensemble averages.

Classifiers with `predict_proba` (KNN, the NN, logreg) give them directly. Margin classifiers (the
SVMs) give decision values, which are calibrated by temperature scaling: softmax(margins / T), with
T fitted on out-of-fold decision values (each training row scored by the fold model that did not see
it), so probabilities from different cells are on one footing.
"""

import numpy as np
from scipy.optimize import minimize_scalar


def class_scores(fitted, X, n_classes: int) -> tuple[np.ndarray, str]:
    """(matrix n × n_classes, kind): probabilities ("probability") or decision values ("margin"), with
    columns for every label (a class absent from the training rows scores 0 or -inf)."""
    estimator = fitted[-1]
    if hasattr(estimator, "predict_proba"):
        values, kind, missing = fitted.predict_proba(X), "probability", 0.0
    else:
        values, kind, missing = fitted.decision_function(X), "margin", -np.inf
        if values.ndim == 1:  # two classes: one margin, positive for the second
            values = np.column_stack([-values, values]) / 2
    full = np.full((len(values), n_classes), missing)
    full[:, np.asarray(estimator.classes_, dtype=int)] = values
    return full, kind


def softmax(margins: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = margins / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(margins: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the mean negative log-likelihood of softmax(margins / T)."""
    rows = np.arange(len(labels))

    def nll(log_t):
        return -np.mean(np.log(softmax(margins, np.exp(log_t))[rows, labels] + 1e-300))

    return float(np.exp(minimize_scalar(nll, bounds=(-7, 7), method="bounded").x))
