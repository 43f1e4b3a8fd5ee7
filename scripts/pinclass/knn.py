"""KNN with a choice of tie-break."""

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

KNN_TIE_BREAKS = ("lowest_label", "nearest")


class TieBreakingKNN(KNeighborsClassifier):
    """KNeighborsClassifier that counts its tied votes (`n_ties_`, for the last predict) and breaks
    them by `tie_break`: "lowest_label", scikit-learn's rule (the first tied class in label order,
    so early categories win more often), or "nearest": the tied class of the nearest neighbour
    among those of the tied classes."""

    def __init__(self, n_neighbors=5, *, weights="uniform", metric="minkowski", n_jobs=None,
                 tie_break="lowest_label", search_k=None):
        super().__init__(n_neighbors=n_neighbors, weights=weights, metric=metric, n_jobs=n_jobs)
        self.tie_break = tie_break
        self.search_k = search_k

    def predict(self, X):
        if self.tie_break not in KNN_TIE_BREAKS:
            raise ValueError(f"tie_break: expected one of {KNN_TIE_BREAKS}, got {self.tie_break!r}")
        votes = self.predict_proba(X)
        top = votes == votes.max(axis=1, keepdims=True)
        tied = np.flatnonzero(top.sum(axis=1) > 1)
        index = np.argmax(votes, axis=1)  # the first of the tied classes: scikit-learn's predict
        if self.tie_break == "nearest" and len(tied):
            _, neighbours = self.kneighbors(np.asarray(X)[tied])
            for row, order in zip(tied, self._y[neighbours]):  # labels of the neighbours, nearest first
                index[row] = next(label for label in order if top[row, label])
        self.n_ties_ = len(tied)
        return self.classes_[index]
