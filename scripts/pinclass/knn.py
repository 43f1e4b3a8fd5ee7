"""KNN with a choice of tie-break, whose one neighbour search serves every k up to `search_k`.

Cross-validation asks the same fold for k = 1, 5, 10, 20, 50, each for predictions and then for
probabilities: scikit-learn would search the neighbours ten times. Here the first call searches
the largest k (and one more) once, through scikit-learn's own search (the same distances to the
bit), and every k takes the first k columns. That is exactly what a search for k would have
chosen unless the k-th and (k+1)-th neighbours of some row are equally far and could change the
vote (a tie across the boundary between different labels, or one that runs past the searched
columns): for such a k the estimator asks scikit-learn itself. The
predictions and probabilities are therefore scikit-learn's, ties included (tests/test_knn.py).
"""

import hashlib

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

KNN_TIE_BREAKS = ("lowest_label", "nearest")


def digest(*arrays) -> str:
    """A content hash of arrays (shape, dtype and bytes): is this the same data as before?"""
    h = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        h.update(f"{array.shape}{array.dtype}".encode())
        h.update(array.data)
    return h.hexdigest()


class TieBreakingKNN(KNeighborsClassifier):
    """KNeighborsClassifier that counts its tied votes (`n_ties_`, for the last predict) and breaks
    them by `tie_break`: "lowest_label", scikit-learn's rule (the first tied class in label order,
    so early categories win more often), or "nearest": the tied class of the nearest neighbour
    among those of the tied classes.

    search_k: neighbours searched at once (the grid's largest k) and kept for the last query rows;
    a refit on the same rows keeps them, so a fold's grid points share one search. None: each
    call searches n_neighbors, as scikit-learn does."""

    def __init__(self, n_neighbors=5, *, weights="uniform", metric="minkowski", n_jobs=None,
                 tie_break="lowest_label", search_k=None):
        super().__init__(n_neighbors=n_neighbors, weights=weights, metric=metric, n_jobs=n_jobs)
        self.tie_break = tie_break
        self.search_k = search_k

    def fit(self, X, y):
        super().fit(X, y)
        self._fit_digest = digest(self._fit_X, self._y) if self.search_k else None
        return self

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

    def predict_proba(self, X):
        k = self.n_neighbors
        found = self._shared_search(X)
        if (found is None or not (k < found[0].shape[1] or k == self.n_samples_fit_)
                or self._boundary_tie(*found, k)):
            return self._own_search(X, k)
        distances, labels = found[0][:, :k], found[1][:, :k]
        if self.weights == "uniform":
            weights = np.ones(labels.shape)
        else:  # scikit-learn's distance weights: 1/d, or only the zero-distance neighbours
            with np.errstate(divide="ignore"):
                weights = 1.0 / distances
            infinite = np.isinf(weights)
            exact = infinite.any(axis=1)
            weights[exact] = infinite[exact]
        rows = np.arange(len(labels))
        votes = np.zeros((len(labels), len(self.classes_)))
        for column in range(k):  # neighbour by neighbour, nearest first: scikit-learn's order of sums
            votes[rows, labels[:, column]] += weights[:, column]
        return votes / votes.sum(axis=1, keepdims=True)

    def _own_search(self, X, k):
        """scikit-learn's probabilities for k, searched for k itself; with search_k kept for the
        last query rows, so that predict and predict_proba search once."""
        if not self.search_k:
            return super().predict_proba(X)
        key = (self._fit_digest, digest(np.asarray(X)), self.weights, k)
        cached = getattr(self, "_own", None)
        if cached is None or cached[0] != key:
            cached = self._own = (key, super().predict_proba(X))
        return cached[1].copy()

    def _shared_search(self, X):
        """(distances, labels) of the nearest `search_k` + 1 training rows of each query row,
        nearest first, kept for the last query rows; None when the search cannot be shared."""
        # one more than the largest k: whether the k-th neighbour ties with the next is seen for every k
        K = min((self.search_k or 0) + 1, self.n_samples_fit_)
        if K <= 1 or self.weights not in ("uniform", "distance") or self.outputs_2d_:
            return None
        X = np.asarray(X)
        key = (self._fit_digest, digest(X), self.weights, K)
        cached = getattr(self, "_search", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        # kneighbors computes each distance as scikit-learn's predict_proba does (its uniform vote
        # of the generic metrics computes them pair by pair too), whatever k.
        distances, index = self.kneighbors(X, n_neighbors=K)
        found = (distances, self._y[index])
        self._search = (key, found)
        return found

    @staticmethod
    def _boundary_tie(distances, labels, k) -> bool:
        """Could a search for k choose other neighbours than the first k columns, with another vote?
        Only where the k-th and (k+1)-th are equally far, and the tie either runs to the last
        searched column (its members beyond are unknown) or holds more than one label."""
        if k == distances.shape[1]:
            return False  # (called so only when every training row is a neighbour)
        rows = np.flatnonzero(distances[:, k] == distances[:, k - 1])
        if not len(rows):
            return False
        group = distances[rows] == distances[rows, k - 1][:, None]
        first = labels[rows, np.argmax(group, axis=1)]
        one_label = np.all(~group | (labels[rows] == first[:, None]), axis=1)
        return not np.all(one_label & ~group[:, -1])
