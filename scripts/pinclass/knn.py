"""KNN with a choice of tie-break, whose one neighbour search serves every k up to `search_k`.

Cross-validation asks the same fold for k = 1, 5, 10, 20, 50, each for predictions and then for
probabilities: scikit-learn would search the neighbours ten times. Here the first call searches
the largest k (and two more) once, through scikit-learn's own search (the same distances to the
bit), and every k takes the first k columns. That is exactly what a search for k would have
chosen unless the k-th and (k+1)-th neighbours of some row are equally far and could change the
vote (a tie across the boundary between different labels, or one that runs past the searched
columns): for such a k those rows are searched again, as scikit-learn searches them. The
predictions and probabilities are therefore scikit-learn's, ties included (tests/test_knn.py).

Such ties are mostly not in the data but in the arithmetic: scikit-learn computes Euclidean
distances as |x|² - 2x·y + |y|², and two neighbours a few ulps apart come out equal (at the
paper's size, a few query rows per fold at k = 50). Which of them scikit-learn keeps depends on
the order of its heap's pushes and on the bits of the distances. Where its search runs chunk by
chunk of query rows, both are the same for a chunk searched alone (`_query_chunks`): only the
chunks that hold the tied rows are searched for that k; elsewhere every row is. Cross-validation
needs only the predictions, though: with uniform votes, when every choice among the tied
neighbours predicts the same class by a clear majority, predict takes the shared search as it is.
"""

import numpy as np
from sklearn import get_config
from sklearn.metrics._pairwise_distances_reduction import ArgKmin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from pinclass.array_digest import digest

KNN_TIE_BREAKS = ("lowest_label", "nearest")


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
        votes = self._votes(X, only_the_winner=True)
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
        return self._votes(X)

    def _votes(self, X, only_the_winner=False):
        """scikit-learn's probabilities for k; with only_the_winner, votes whose most probable class
        (and whether it is tied) are scikit-learn's, which may spare a search of its own."""
        k = self.n_neighbors
        X = np.asarray(X)
        query = digest(X) if self.search_k else None  # the key of both searches' caches
        found = self._shared_search(X, query)
        if found is None or k > self.search_k or k > found[0].shape[1]:  # (k = K: every training row)
            return self._own_search(X, k, query)
        ambiguous = self._boundary_ties(*found, k)
        distances, labels = found[0][:, :k], found[1][:, :k]
        if len(ambiguous) and not (only_the_winner and self._same_winner(*found, k, ambiguous)):
            searched = self._query_chunks(X, ambiguous)
            if searched is None:
                return self._own_search(X, k, query)
            distances, labels = distances.copy(), labels.copy()
            distances[searched], index = ArgKmin.compute(
                X=np.ascontiguousarray(X[searched]), Y=self._fit_X, k=k, metric=self.effective_metric_,
                metric_kwargs=self.effective_metric_params_, strategy="parallel_on_X", return_distance=True)
            labels[searched] = self._y[index]
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

    def _query_chunks(self, X, rows):
        """The query rows of the chunks that hold `rows`, in order, where scikit-learn's search of
        all query rows runs chunk by chunk, each chunk alone — so that a search of just those chunks
        chooses among tied neighbours as it does; None where it would not, or where those chunks
        are all the rows. Its brute-force search (kneighbors, under predict and predict_proba)
        splits the query rows into chunks of `pairwise_dist_chunk_size` when it parallelises over
        them (its rule for strategy "auto") and sends each chunk, in one thread, through every chunk
        of training rows in order: the distances come out the same to the bit for the chunk searched
        alone, the heap pushes in the same order. (A row searched alone can get other bits: a matrix
        product of another shape.)"""
        n_query, chunk = len(X), get_config()["pairwise_dist_chunk_size"]
        on_query_rows = self.n_samples_fit_ < n_query or 4 * chunk * _openmp_effective_n_threads() < n_query
        size = min(n_query, chunk)
        if not (on_query_rows and self._fit_method == "brute"
                and ArgKmin.is_usable_for(np.ascontiguousarray(X), self._fit_X, self.effective_metric_)):
            return None
        starts = np.unique(rows // size) * size
        searched = np.concatenate([np.arange(start, min(start + size, n_query)) for start in starts])
        return None if len(searched) == n_query else searched

    def _own_search(self, X, k, query):
        """scikit-learn's probabilities for k, searched for k itself; with search_k kept for the
        last query rows (`query`: their digest), so that predict and predict_proba search once."""
        if not self.search_k:
            return super().predict_proba(X)
        key = (self._fit_digest, query, self.weights, k)
        cached = getattr(self, "_own", None)
        if cached is None or cached[0] != key:
            cached = self._own = (key, super().predict_proba(X))
        return cached[1].copy()

    def _shared_search(self, X, query=None):
        """(distances, labels) of the nearest `search_k` + 2 training rows of each query row,
        nearest first, kept for the last query rows (`query`: their digest, computed when not
        given); None when the search cannot be shared."""
        # Two more than the largest k: whether the k-th neighbour ties with the next is seen for every
        # k, and where a tie of two across the largest k's boundary ends.
        K = min((self.search_k or 0) + 2, self.n_samples_fit_)
        if not self.search_k or self.weights not in ("uniform", "distance") or self.outputs_2d_:
            return None
        X = np.asarray(X)
        key = (self._fit_digest, query or digest(X), self.weights, K)
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
    def _boundary_ties(distances, labels, k) -> np.ndarray:
        """The rows for which a search for k could choose other neighbours than the first k columns,
        with another vote: where the k-th and (k+1)-th are equally far, and the tie either runs to
        the last searched column (its members beyond are unknown) or holds more than one label."""
        if k == distances.shape[1]:
            return np.empty(0, dtype=np.intp)  # (called so only when every training row is a neighbour)
        rows = np.flatnonzero(distances[:, k] == distances[:, k - 1])
        group = distances[rows] == distances[rows, k - 1][:, None]
        first = labels[rows, np.argmax(group, axis=1)]
        one_label = np.all(~group | (labels[rows] == first[:, None]), axis=1)
        return rows[~(one_label & ~group[:, -1])]

    def _same_winner(self, distances, labels, k, rows) -> bool:
        """With uniform votes, does every choice of these rows' tied neighbours make the same class
        win, by more votes than any other (so no vote tie either)? The class of the first k columns
        must beat each other class even when the tie's places go to that class first, to its own
        class last."""
        if self.weights != "uniform":
            return False
        n_classes = len(self.classes_)
        for row in rows:
            group = distances[row] == distances[row, k - 1]
            if group[-1]:
                return False  # the tie runs past the searched columns: its members are unknown
            nearer = int(np.argmax(group))  # the neighbours nearer than the tie, all of them chosen
            places = k - nearer  # how many of the tie are chosen
            certain = np.bincount(labels[row, :nearer], minlength=n_classes)
            in_tie = np.bincount(labels[row, group], minlength=n_classes)
            winner = np.argmax(np.bincount(labels[row, :k], minlength=n_classes))
            rival_places = np.minimum(in_tie, places)  # each rival's best case, alone
            left_to_winner = places - rival_places - (in_tie.sum() - in_tie - in_tie[winner])
            winner_votes = certain[winner] + np.maximum(left_to_winner, 0)
            rivals = np.arange(n_classes) != winner
            if np.any(winner_votes[rivals] <= (certain + rival_places)[rivals]):
                return False
        return True
