"""A board's topic from its pins: the mean of the pins' class probabilities.

Why the mean probability and not the mean log-probability (the product of the pins' probabilities,
right if pins were independent draws of their board's topic): pins of one board are not
independent, boards hold off-topic pins, and several classifiers give exact zeros (KNN's votes,
the temperature-scaled SVMs far from a class) — one pin with probability 0 for the true topic would
veto it whatever the other pins say. The mean is a soft vote (as the ensembles take), bounded by
each pin's weight of 1/n.
"""

import numpy as np
import pandas as pd


def board_probabilities(probabilities: np.ndarray, boards) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """(board keys in first-seen order, (n_boards, n_classes) mean probabilities, pins per board)
    from the pins' (n, n_classes) probabilities and each pin's board key."""
    codes, keys = pd.factorize(pd.Series(boards, dtype="string"), sort=False)
    if (codes < 0).any():
        raise ValueError("every pin needs a board key (a missing one found)")
    counts = np.bincount(codes, minlength=len(keys))
    order = np.argsort(codes, kind="stable")  # each board's pins together: one reduceat, not a scatter-add
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sums = np.add.reduceat(np.asarray(probabilities, dtype=np.float64)[order], starts, axis=0) if len(codes) else \
        np.zeros((0, probabilities.shape[1]))
    return pd.Index(keys), sums / counts[:, None], counts
