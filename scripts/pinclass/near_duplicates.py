"""Near-duplicates: the same picture resized or re-encoded (a re-pin), which an exact hash misses.

Each kept image has a 64-bit difference hash (`images.dhash`); two images whose hashes differ in at
most `max_distance` bits are near-duplicates, and groups are the connected components of that
relation. Finding the close pairs does not compare all pairs: the 64 bits are cut into
max_distance + 1 slices, and two hashes within max_distance bits agree exactly on at least one
slice (pigeonhole), so only hashes sharing a slice value are compared — near-linear in the number
of images for hashes that spread over the slice values.
"""

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def close_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """(2, m) positions of the pairs of distinct `hashes` (uint64) within `max_distance` bits; a pair
    may appear more than once."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    found = [np.zeros((2, 0), dtype=np.int64)]
    bounds = np.linspace(0, 64, max_distance + 2).round().astype(int)
    for low, high in zip(bounds[:-1], bounds[1:]):
        key = (hashes >> np.uint64(low)) & np.uint64((1 << (high - low)) - 1)
        order = np.argsort(key, kind="stable")
        key = key[order]
        for offset in range(1, len(order)):  # runs of equal slice values, compared at growing offsets
            same = key[offset:] == key[:-offset]
            if not same.any():
                break
            a, b = order[:-offset][same], order[offset:][same]
            close = np.bitwise_count(hashes[a] ^ hashes[b]) <= max_distance
            found.append(np.stack([a[close], b[close]]))
    return np.concatenate(found, axis=1)


def near_duplicate_groups(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """A group number per image: the position of the group's first image (so an image alone in its
    group has its own position)."""
    unique, inverse = np.unique(np.asarray(hashes, dtype=np.uint64), return_inverse=True)
    pairs = close_pairs(unique, max_distance)
    graph = coo_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(len(unique), len(unique)))
    _, component = connected_components(graph, directed=False)
    labels = component[inverse]
    first = np.full(labels.max() + 1 if len(labels) else 0, len(labels), dtype=np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    return first[labels]


def groups_with_both(groups: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Whether each row's near-duplicate group also holds a row of the other split ('train'/'test')."""
    in_train = np.zeros(len(groups), dtype=bool)
    in_test = np.zeros(len(groups), dtype=bool)
    in_train[groups[split == "train"]] = True
    in_test[groups[split == "test"]] = True
    return in_train[groups] & in_test[groups]
