"""Whole groups on the sides of a split (pinclass.grouping): a board's size does not decide its side,
each category lands within its tolerance where groups allow, and every category reaches every fold
where it has the groups for it."""

import numpy as np

from pinclass.grouping import TOLERANCE, deal_folds, hold_out


def board_sizes(seed=0, categories=3, per_category=400):
    """One row per board, one category each, lognormal sizes (median 6 pins) as a crawl has them."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(categories):
        left = per_category
        while left:
            size = min(left, max(1, int(round(rng.lognormal(np.log(6), 1.1)))))
            rows.append(np.eye(categories, dtype=np.int64)[c] * size)
            left -= size
    return np.array(rows)


def largest_first(sizes, fraction, rng):
    """The split as it was: a seeded order sorted by size, largest first, each while it fits."""
    order = rng.permutation(len(sizes))
    order = order[np.argsort(-sizes.sum(axis=1)[order], kind="stable")]
    target, held, chosen = np.round(sizes.sum(axis=0) * fraction), np.zeros(sizes.shape[1]), np.zeros(len(sizes), bool)
    for g in order:
        if np.all(held + sizes[g] <= target):
            held += sizes[g]
            chosen[g] = True
    return chosen


def test_board_size_does_not_decide_the_test_side():
    sizes = board_sizes()
    total = sizes.sum(axis=1)
    big, small = total >= 25, total < 5
    largest = [np.flatnonzero(sizes[:, c] == sizes[:, c].max())[0] for c in range(3)]
    for split, flat in ((hold_out, True), (largest_first, False)):
        chosen = np.array([split(sizes, 0.2, np.random.default_rng(seed), *([TOLERANCE] if flat else []))
                           for seed in range(40)])
        p_big, p_small = chosen[:, big].mean(), chosen[:, small].mean()
        always = chosen[:, largest].all(axis=0)
        if flat:
            assert 0.14 < p_big < 0.26 and 0.14 < p_small < 0.26, (p_big, p_small)
            assert not always.any()  # no category's largest board is in test for every seed
        else:  # the check can fail: sorting by size did
            assert p_big > 0.3 and p_small < 0.1 and always.all()


def test_each_category_lands_within_its_tolerance_and_the_seed_changes_the_split():
    sizes = board_sizes(seed=1)
    splits = [hold_out(sizes, 0.2, np.random.default_rng(seed), TOLERANCE) for seed in range(10)]
    for chosen in splits:
        share = sizes[chosen].sum(axis=0) / sizes.sum(axis=0)
        assert np.all(np.abs(share - 0.2) <= TOLERANCE + 1e-9), share
    overlap = [len(np.flatnonzero(a & b)) / len(np.flatnonzero(a | b)) for a, b in zip(splits, splits[1:])]
    assert np.mean(overlap) < 0.3  # other seeds, other boards (sorted by size: ~0.7)


def test_balancing_pulls_a_category_back_into_its_band():
    # one board of 35 of 100 comes first in many orders: the fill alone could land far from 20
    sizes = np.array([[35]] + [[5]] * 13)
    for seed in range(20):
        chosen = hold_out(sizes, 0.2, np.random.default_rng(seed), TOLERANCE)
        assert sizes[chosen].sum() == 20


def test_every_category_reaches_every_fold_where_its_groups_allow():
    # category 0: one board of 600 and 20 of 10; category 1: three boards only (fewer than the folds)
    sizes = np.array([[600, 0]] + [[10, 0]] * 20 + [[0, 50]] * 3 + [[0, 0]] * 0)
    for seed in range(10):
        fold_of = deal_folds(sizes, 5, np.random.default_rng(seed))
        per_fold = np.array([sizes[fold_of == f].sum(axis=0) for f in range(5)])
        assert (per_fold[:, 0] > 0).all()  # the big board does not leave folds without the category
        assert (per_fold[:, 1] > 0).sum() == 3  # three groups: three folds at most
