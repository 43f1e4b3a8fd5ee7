"""Test-set metrics from (true, predicted) label indices — the one definition every step and audit uses.

Every class of `label_names` counts, present in the test set or not: macro F1 is
`sklearn.metrics.f1_score(y_true, y_pred, average="macro", labels=range(len(label_names)),
zero_division=0)`, and the confusion matrix has one row (true label) and one column (predicted
label) per class in label order. All values are plain Python, ready for json.dumps.
"""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def _as_label_indices(y, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of label indices, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{name}: label indices must be whole numbers")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name}: label indices must lie in 0..{n_classes - 1}, "
                         f"found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64, copy=False)


def score_predictions(y_true, y_pred, label_names) -> dict:
    """macro_f1, accuracy, per_class {name: {precision, recall, f1, support}} and confusion_matrix."""
    label_names = [str(name) for name in label_names]
    n = len(label_names)
    if n == 0:
        raise ValueError("label_names is empty")
    y_true = _as_label_indices(y_true, n, "y_true")
    y_pred = _as_label_indices(y_pred, n, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("no predictions to score")
    labels = list(range(n))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
    }
