"""Placing whole groups (boards, users) on the sides of a split, stratified by category as far as whole
groups allow, without favouring groups of any size.

`sizes` is a (groups × categories) matrix of how many rows each group holds of each category.
Groups are taken in a seeded random order — never sorted by size, which would put the largest
groups on one side for every seed. `hold_out` fills the held-out side to each category's target;
`deal_folds` spreads the rest over the folds. Both used by the grouped split and by the NN's
grouped early-stopping part.
"""

import numpy as np

TOLERANCE = 0.02  # a category's held-out share may differ this much from the fraction asked for


def group_sizes(keys, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(each row's group 0..G-1, the groups × categories matrix of how many rows each group holds)."""
    _, group = np.unique(np.asarray(keys), return_inverse=True)
    group = group.ravel()
    return group, cross_counts(group, labels, (group.max() + 1 if len(group) else 0, n_classes))


def cross_counts(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The `shape` matrix of how many times each (row, column) pair occurs."""
    flat = np.asarray(rows, dtype=np.int64) * shape[1] + np.asarray(columns, dtype=np.int64)
    return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)


def _excess(counts: np.ndarray, target: np.ndarray, slack: np.ndarray) -> np.ndarray | float:
    """How far the counts (one row, or a row per candidate) lie outside target ± slack, summed over
    categories."""
    return np.maximum(np.abs(counts - target) - slack, 0).sum(axis=-1)


def _closer(counts: np.ndarray, adding: np.ndarray, target: np.ndarray) -> float:
    """How much adding `adding` to `counts` reduces the L1 distance to `target` (positive: closer)."""
    return float(np.abs(counts - target).sum() - np.abs(counts + adding - target).sum())


def hold_out(sizes: np.ndarray, fraction: float, rng: np.random.Generator, tolerance: float) -> np.ndarray:
    """Which groups go to the held-out side: per category round(n · fraction) rows, within
    tolerance · n where whole groups allow.

    1. Fill: groups in a random order; a group joins while it brings the held-out counts closer to
       the targets and overshoots no category by more than the tolerance, and a category within half
       its tolerance of the target closes at the first group it cannot take (rather than topping up with
       whatever small group comes next, which would favour small groups). A random prefix of the
       groups, so a group's chance barely depends on its size; a group larger than the room left
       waits for another seed, as in any split of whole groups.
    2. Balance, only where a category is still outside its tolerance: the first single group (in a
       new random order) whose move in or out brings the counts nearer to their tolerance band, then
       the first such swap of a held-out and a kept group, until none helps.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    per_class = sizes.sum(axis=0)
    target = np.round(per_class * fraction)
    slack = np.floor(per_class * tolerance)
    held, chosen = np.zeros(sizes.shape[1]), np.zeros(len(sizes), dtype=bool)
    closed = np.zeros(sizes.shape[1], dtype=bool)
    for g in rng.permutation(len(sizes)):
        touches = sizes[g] > 0
        if closed[touches].all():
            continue
        if _closer(held, sizes[g], target) > 0 and np.all(held + sizes[g] <= target + slack):
            held += sizes[g]
            chosen[g] = True
        else:  # a category within half its band stops at the first group it cannot take
            closed |= touches & (np.abs(held - target) <= slack / 2)
    while (excess := _excess(held, target, slack)) > 0:
        move = _first_better_move(sizes, chosen, held, target, slack, excess, rng)
        if move is None:
            break
        for g in move:
            held += -sizes[g] if chosen[g] else sizes[g]
            chosen[g] = not chosen[g]
    return chosen


def _first_better_move(sizes, chosen, held, target, slack, excess, rng) -> tuple[int, ...] | None:
    """The first move (one group flipped, else a held-out group swapped with a kept one) that lowers
    the excess, the groups tried in a random order; only groups holding a category outside its band."""
    outside = np.abs(held - target) > slack
    useful = rng.permutation(np.flatnonzero(sizes[:, outside].sum(axis=1) > 0))
    sign = np.where(chosen, -1, 1)[:, None]
    for g in useful:
        if _excess(held + sign[g] * sizes[g], target, slack) < excess:
            return (g,)
    inside, out = useful[chosen[useful]], useful[~chosen[useful]]
    for g in inside:
        changed = held - sizes[g] + sizes[out]  # every swap of g against a kept group at once
        better = np.flatnonzero(_excess(changed, target, slack) < excess)
        if len(better):
            return g, out[better[0]]
    return None


def deal_folds(sizes: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold per group: groups in a random order, each to the fold that brings the per-category
    counts closest to an equal share (ties → the lower fold); then, where a category is missing
    from a fold and another fold holds two or more of its groups, one of those moves over."""
    sizes = np.asarray(sizes, dtype=np.int64)
    target = sizes.sum(axis=0) / folds
    counts, fold_of = np.zeros((folds, sizes.shape[1])), np.full(len(sizes), -1, dtype=np.int8)
    for g in rng.permutation(len(sizes)):
        fold_of[g] = int(np.argmax([_closer(counts[f], sizes[g], target) for f in range(folds)]))
        counts[fold_of[g]] += sizes[g]
    for category in range(sizes.shape[1]):
        holders = np.flatnonzero(sizes[:, category] > 0)
        for empty in range(folds):
            if counts[empty, category]:
                continue
            per_fold = np.bincount(fold_of[holders], minlength=folds)
            donor = int(np.argmax(per_fold))
            if per_fold[donor] < 2:
                break  # fewer groups than folds: nothing to move
            g = rng.choice(holders[fold_of[holders] == donor])
            counts[donor] -= sizes[g]
            counts[empty] += sizes[g]
            fold_of[g] = empty
    return fold_of
