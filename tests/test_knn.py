"""The KNN's shared neighbour search: one search for the grid's largest k gives, for every k,
exactly scikit-learn's predictions and probabilities — distance ties and vote ties included."""

import numpy as np
import pytest
from sklearn import config_context
from sklearn.metrics._pairwise_distances_reduction import ArgKmin
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from pinclass.knn import TieBreakingKNN

GRID = [1, 5, 10, 20, 50]  # the paper's


def tied_grid(dims, seed=0):
    """Integer coordinates on a small lattice: many training rows equally far from a query (exact
    in every way of computing a distance), some duplicated under another label, 6 classes."""
    rng = np.random.default_rng(seed)
    X_train = rng.integers(0, 3, (300, dims)).astype(np.float64)
    y_train = rng.integers(0, 6, 300)
    X_train = np.vstack([X_train, X_train[:40]])  # the same points again, other labels
    y_train = np.concatenate([y_train, (y_train[:40] + 1) % 6])
    X_query = rng.integers(0, 3, (150, dims)).astype(np.float64)
    return X_train, y_train, X_query


def planted(seed=0, dims=16, n_query=150, duplicated=90):
    """Six far-apart clusters of integer points (distances exact), `duplicated` of the 360 training rows
    duplicated under the next label: pairs of neighbours exactly equally far, of two labels, where
    the cluster's own class still has a clear majority — like the ties of the paper-size folds."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(-5, 6, (6, dims)) * 1000
    y_train = np.arange(360) % 6
    X_train = (centres[y_train] + rng.integers(-50, 51, (360, dims))).astype(np.float64)
    X_train = np.vstack([X_train, X_train[:duplicated]])
    y_train = np.concatenate([y_train, (y_train[:duplicated] + 1) % 6])
    X_query = (centres[np.arange(n_query) % 6] + rng.integers(-50, 51, (n_query, dims))).astype(np.float64)
    return X_train, y_train, X_query


def continuous(dims, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (8, dims))
    y_train = np.arange(600) % 8
    X_train = (centres[y_train] + rng.normal(0, 2, (600, dims))).astype(np.float32)
    X_query = (centres[np.arange(200) % 8] + rng.normal(0, 2, (200, dims))).astype(np.float32)
    return X_train, y_train, X_query


def reference(k, weights, tie_break, metric, X_train, y_train, X_query):
    """For k: the estimator searching k itself (the most probable class of scikit-learn's
    probabilities, ties broken by `tie_break`) and scikit-learn's probabilities."""
    alone = TieBreakingKNN(n_neighbors=k, weights=weights, metric=metric, tie_break=tie_break).fit(X_train, y_train)
    sklearn = KNeighborsClassifier(n_neighbors=k, weights=weights, metric=metric).fit(X_train, y_train)
    if tie_break == "lowest_label" and weights == "uniform":  # scikit-learn's own predict, to the row
        np.testing.assert_array_equal(alone.predict(X_query), sklearn.predict(X_query))
    return alone.predict(X_query), sklearn.predict_proba(X_query)


@pytest.mark.parametrize("data, metric", [(tied_grid(20), "euclidean"), (tied_grid(3), "euclidean"),
                                          (tied_grid(20), "manhattan"), (planted(), "euclidean"),
                                          (continuous(32), "euclidean")],
                         ids=["ties-brute", "ties-kdtree", "ties-manhattan", "planted-ties", "no-ties"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("tie_break", ["lowest_label", "nearest"])
def test_one_search_gives_scikit_learns_answer_for_every_k(data, metric, weights, tie_break):
    """(scikit-learn's uniform vote of a Manhattan distance is its own code, ArgKminClassMode. Its
    predict with distance weights sums the weights in another order than its predict_proba, so
    exactly equal distances of two classes can make them differ in the last bit: the estimator's
    prediction is always the most probable class of predict_proba.)"""
    X_train, y_train, X_query = data
    shared = TieBreakingKNN(weights=weights, metric=metric, tie_break=tie_break, search_k=max(GRID))
    for k in GRID:  # as a fold's chain runs them: one estimator, refitted on the same rows
        shared.set_params(n_neighbors=k).fit(X_train, y_train)
        predicted, probabilities = shared.predict(X_query), shared.predict_proba(X_query)
        expected, expected_probabilities = reference(k, weights, tie_break, metric, X_train, y_train, X_query)
        np.testing.assert_array_equal(predicted, expected, err_msg=f"k={k}")
        np.testing.assert_array_equal(probabilities, expected_probabilities, err_msg=f"k={k}")


def test_the_tied_data_really_has_ties_across_the_boundary_and_in_the_vote():
    X_train, y_train, X_query = tied_grid(20)
    model = TieBreakingKNN(n_neighbors=5, search_k=50).fit(X_train, y_train)
    model.predict(X_query)
    distances, labels = model._shared_search(X_query)
    assert (distances[:, 5] == distances[:, 4]).any() and model.n_ties_ > 0
    assert len(TieBreakingKNN._boundary_ties(distances, labels, 5))


def counting(monkeypatch):
    """The number of neighbours of each search scikit-learn runs."""
    calls = []
    original = KNeighborsClassifier.kneighbors

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        calls.append(n_neighbors or self.n_neighbors)
        return original(self, X, n_neighbors, return_distance)

    monkeypatch.setattr(KNeighborsClassifier, "kneighbors", kneighbors)
    return calls


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_a_folds_grid_searches_once(monkeypatch, weights):
    X_train, y_train, X_query = continuous(32)
    calls = counting(monkeypatch)
    shared = TieBreakingKNN(weights=weights, search_k=max(GRID))
    for k in GRID:
        shared.set_params(n_neighbors=k).fit(X_train, y_train)
        shared.predict(X_query)
        shared.predict_proba(X_query.copy())  # the same rows in another array
    assert calls == [max(GRID) + 2]
    shared.fit(X_train[1:], y_train[1:]).predict(X_query)  # other training rows: a new search
    shared.fit(X_train[1:], y_train[1:]).predict(X_query[1:])  # other query rows: a new search
    assert len(calls) == 3
    shared.set_params(n_neighbors=max(GRID) + 1).predict(X_query[1:])  # beyond search_k: scikit-learn's search
    assert calls[3:] == [max(GRID) + 1]


def test_a_k_searched_by_scikit_learn_is_searched_once_for_predict_and_predict_proba(monkeypatch):
    X_train, y_train, X_query = tied_grid(20)
    model = TieBreakingKNN(n_neighbors=5, search_k=50).fit(X_train, y_train)
    distances, labels = model._shared_search(X_query)
    ambiguous = TieBreakingKNN._boundary_ties(distances, labels, 5)  # so k = 5 is scikit-learn's own search
    assert not model._same_winner(distances, labels, 5, ambiguous)  # for predict too
    calls = counting(monkeypatch)
    model.predict(X_query)
    model.predict_proba(X_query)
    assert calls == [5]


def test_predict_skips_scikit_learns_search_where_every_choice_in_the_tie_has_one_winner(monkeypatch):
    """The case of cross-validation at the paper's size: a few rows tie across k's boundary, but
    however scikit-learn chooses among the tied neighbours, the same class wins by a majority."""
    X_train, y_train, X_query = planted()
    model = TieBreakingKNN(search_k=50).fit(X_train, y_train)
    distances, labels = model._shared_search(X_query)
    settled = [k for k in GRID[1:] if len(ambiguous := model._boundary_ties(distances, labels, k))
               and all(model._same_winner(distances, labels, k, [row]) for row in ambiguous)]
    assert settled, "the data has no boundary tie with one winner: nothing tested"
    calls = counting(monkeypatch)
    for k in settled:
        model.set_params(n_neighbors=k)
        expected = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train).predict(X_query)
        calls.clear()
        np.testing.assert_array_equal(model.predict(X_query), expected, err_msg=f"k={k}")
        assert calls == [], f"k={k}: predict searched"
        model.predict_proba(X_query)  # its probabilities are scikit-learn's: its own search
        assert calls == [k]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_chunk_of_query_rows_searched_alone_gets_the_same_distances_to_the_bit(dtype):
    """What searching only the chunks that hold a tie rests on: scikit-learn's search by chunks of
    query rows computes a chunk's distances alike whether the other chunks are there or not."""
    rng = np.random.default_rng(2)
    X_train, X_query = rng.normal(0, 1, (2000, 200)).astype(dtype), rng.normal(0, 1, (700, 200)).astype(dtype)

    def search(X):
        return ArgKmin.compute(X, X_train, 10, metric="euclidean", strategy="parallel_on_X", return_distance=True)

    distances, index = search(X_query)
    for chunk in (np.arange(256, 512), np.arange(512, 700), np.r_[0:256, 512:700]):  # (the last is short)
        alone = search(X_query[chunk])
        assert np.array_equal(alone[0], distances[chunk]) and np.array_equal(alone[1], index[chunk])


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_a_tie_is_searched_again_in_its_chunks_of_query_rows_only(monkeypatch, weights):
    """With more query rows than 4 chunks per thread, scikit-learn searches chunk by chunk of them:
    a k whose ties may change the vote searches only the chunks holding those rows, and every
    prediction and probability is still scikit-learn's (chunks of 20 rows here, 256 by default)."""
    X_train, y_train, X_query = planted(n_query=400, duplicated=12)  # ties in some chunks, not all
    searches = []
    compute = ArgKmin.compute

    def spy(*args, **kwargs):
        searches.append((len(kwargs["X"]), kwargs["k"], kwargs["strategy"]))
        return compute(*args, **kwargs)

    shared = TieBreakingKNN(weights=weights, search_k=max(GRID))
    with config_context(pairwise_dist_chunk_size=20), threadpool_limits(2, user_api="openmp"):
        for k in GRID:
            shared.set_params(n_neighbors=k).fit(X_train, y_train)
            with monkeypatch.context() as patch:
                patch.setattr(ArgKmin, "compute", spy)
                predicted, probabilities = shared.predict(X_query), shared.predict_proba(X_query)
            expected, expected_probabilities = reference(k, weights, "lowest_label", "euclidean",
                                                         X_train, y_train, X_query)
            np.testing.assert_array_equal(predicted, expected, err_msg=f"k={k}")
            np.testing.assert_array_equal(probabilities, expected_probabilities, err_msg=f"k={k}")
    assert searches[0] == (400, max(GRID) + 2, "auto")  # the shared search, as kneighbors runs it
    again = searches[1:]
    assert again, "no tie sent a k back to a search: nothing tested"
    assert all(rows < 400 and rows % 20 == 0 and strategy == "parallel_on_X" for rows, _, strategy in again)


def test_without_search_k_every_call_searches_its_own_k(monkeypatch):
    X_train, y_train, X_query = continuous(32)
    calls = counting(monkeypatch)
    model = TieBreakingKNN(n_neighbors=5).fit(X_train, y_train)
    model.predict(X_query)
    assert calls and max(GRID) not in calls


@pytest.mark.parametrize("distances, labels, k, ambiguous", [
    ([[1, 2, 3, 4]], [[0, 1, 2, 3]], 2, False),         # no tie at the boundary
    ([[1, 2, 2, 3]], [[0, 1, 1, 2]], 2, False),         # a tie across it, one label, ends inside
    ([[1, 2, 2, 2]], [[0, 1, 1, 1]], 2, True),          # ... runs to the last searched column
    ([[1, 2, 2, 3]], [[0, 1, 2, 2]], 2, True),          # ... holds two labels
    ([[1, 1, 2, 3]], [[0, 1, 2, 2]], 2, False),         # a tie inside the first k only
    ([[1, 2, 2, 2]], [[0, 1, 1, 1]], 4, False),         # k = every training row
])
def test_a_boundary_tie_is_ambiguous_only_when_it_can_change_the_vote(distances, labels, k, ambiguous):
    rows = TieBreakingKNN._boundary_ties(np.array(distances, float), np.array(labels), k)
    assert list(rows) == ([0] if ambiguous else [])


@pytest.mark.parametrize("distances, labels, k, weights, same", [
    ([1, 1, 2, 2, 3], [0, 0, 1, 2, 2], 3, "uniform", True),     # 2 votes against at most 1
    ([1, 2, 2, 2, 3], [2, 1, 2, 2, 0], 3, "uniform", True),     # class 2 keeps 2 of 3 whatever is chosen
    ([1, 2, 2, 2, 3], [0, 1, 2, 2, 0], 3, "uniform", False),    # 1 vote each: the tie-break decides
    ([1, 2, 2, 2, 3], [1, 1, 2, 2, 0], 3, "uniform", False),    # 1, 1 + a tied 2 could make 1 or 2 win
    ([1, 1, 2, 2, 2], [0, 0, 1, 2, 2], 3, "uniform", False),    # the tie runs past the searched columns
    ([1, 1, 2, 2, 3], [0, 0, 1, 2, 2], 3, "distance", False),   # weighted votes: always scikit-learn's search
])
def test_one_winner_whatever_the_tie_chooses(distances, labels, k, weights, same):
    model = TieBreakingKNN(weights=weights).fit(np.zeros((3, 1)), [0, 1, 2])
    assert model._same_winner(np.array([distances], float), np.array([labels]), k, [0]) is same


def test_one_winner_means_it_for_every_choice_of_the_tied_neighbours():
    """Random ties checked against every subset of the tied neighbours a search could keep."""
    from itertools import combinations
    rng = np.random.default_rng(1)
    model = TieBreakingKNN().fit(np.zeros((4, 1)), [0, 1, 2, 3])
    seen = {True: 0, False: 0}
    for _ in range(400):
        k = int(rng.integers(2, 8))
        distances = np.sort(rng.integers(0, 4, k + 4)).astype(float)
        distances[-1] = distances[-2] + 1  # the tie ends inside the searched columns
        labels = rng.integers(0, 4, k + 4)
        group = np.flatnonzero(distances == distances[k - 1])
        nearer = group[0]
        winners = set()
        for chosen in combinations(group, k - nearer):
            votes = np.bincount(np.concatenate([labels[:nearer], labels[list(chosen)]]), minlength=4)
            winners.add(int(np.argmax(votes)) if (votes == votes.max()).sum() == 1 else None)
        same = model._same_winner(distances[None], labels[None], k, [0])
        seen[same] += 1
        if same:
            assert len(winners) == 1 and None not in winners, (distances, labels, k)
    assert seen[True] > 20 and seen[False] > 20
