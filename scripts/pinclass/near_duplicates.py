"""Near-duplicates: the same picture resized, re-encoded or trimmed by a few pixels (a re-pin), which
an exact hash misses.

Each kept image carries three fingerprints from its decoded pixels (`images.dhash`, `images.phash`,
`images.mean_colour`). Two images are near-duplicates when all three agree within the `Rule`:
the difference hash and the DCT hash within their numbers of bits, the mean colours within a
number of levels on every channel. One grey hash alone confuses distinct pictures with little
texture (quote cards, flat graphics) and cannot see colour; the figures behind the defaults are in
docs/benchmarks.md ("Near-duplicates").

Groups do not chain: images are taken in their given order (cleaning: path order), and each joins
the first earlier representative it matches, or becomes one. So every member of a group matches
the image kept for it, and `drop` never removes a picture far from the one it keeps.

Finding the pairs does not compare all pairs: the 64 bits of the difference hash are cut into
Rule.dhash + 1 slices, and two hashes within Rule.dhash bits agree exactly on at least one slice
(pigeonhole); two mean colours within Rule.colour levels share one of each one's eight colour
blocks. Only
fingerprints sharing a slice value and a block are compared — near-linear in the number of images
while fingerprints spread over slice values and colours.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

HASH_COLUMNS = ("dhash", "phash", "colour")


@dataclass(frozen=True)
class Rule:
    """Largest differences of a near-duplicate pair: bits of the difference hash and of the DCT hash,
    and levels (0–255) of any channel of the mean colour."""

    dhash: int
    phash: int
    colour: int

    @classmethod
    def from_config(cls, clean: Mapping) -> "Rule":
        return cls(int(clean["near_duplicate_distance"]), int(clean["near_duplicate_phash_distance"]),
                   int(clean["near_duplicate_colour_distance"]))

    def as_dict(self) -> dict:
        return asdict(self)


def _channels(colour: np.ndarray) -> np.ndarray:
    colour = np.asarray(colour, dtype=np.int64)
    return np.stack([(colour >> 16) & 255, (colour >> 8) & 255, colour & 255], axis=-1)


def matches(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """Whether each pair (a[i], b[i]) of fingerprints is a near-duplicate under `rule`."""
    def bits(column):
        return np.bitwise_count(np.asarray(a[column], dtype=np.uint64) ^ np.asarray(b[column], dtype=np.uint64))
    colour = np.abs(_channels(a["colour"]) - _channels(b["colour"])).max(axis=-1)
    return (bits("dhash") <= rule.dhash) & (bits("phash") <= rule.phash) & (colour <= rule.colour)


def _colour_blocks(colour: np.ndarray, max_levels: int) -> np.ndarray:
    """Each colour's blocks, shape (copies, n): two colours within max_levels on every channel share at
    least one block — per channel the cell v // (max_levels + 1) or the next one up, the 8
    combinations (one copy, all zeros, when the colour check is off)."""
    if max_levels >= 255:
        return np.zeros((1, len(colour)), dtype=np.uint64)
    cells = _channels(colour) // (max_levels + 1)
    return np.stack([((cells[:, 0] + dr) * 4096 + (cells[:, 1] + dg) * 64 + cells[:, 2] + db).astype(np.uint64)
                     for dr in (0, 1) for dg in (0, 1) for db in (0, 1)])


def candidate_pairs(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """(2, m) positions of pairs of distinct fingerprints that are near-duplicates under `rule`; a pair
    may appear more than once. Only fingerprints that share a colour block (`_colour_blocks`) and one
    of the rule.dhash + 1 slices of the difference hash (pigeonhole) are compared."""
    dhash = np.asarray(hashes["dhash"], dtype=np.uint64)
    blocks = _colour_blocks(np.asarray(hashes["colour"]), rule.colour)
    n = len(dhash)
    found = [np.zeros((2, 0), dtype=np.int64)]
    bounds = np.linspace(0, 64, rule.dhash + 2).round().astype(int)
    for low, high in zip(bounds[:-1], bounds[1:]):
        # one number for (block, slice value) per copy: equal pairs give equal keys; a collision only
        # adds a candidate, which `matches` then turns down
        part = (dhash >> np.uint64(low)) & np.uint64((1 << (high - low)) - 1)
        key = ((blocks * np.uint64(0x9E3779B97F4A7C15)) ^ part).ravel()
        order = np.argsort(key)
        key = key[order]
        for offset in range(1, len(order)):  # runs of equal keys, compared at growing offsets
            same = key[offset:] == key[:-offset]
            if not same.any():
                break
            a, b = order[:-offset][same] % n, order[offset:][same] % n
            close = (a != b) & matches({c: v[a] for c, v in hashes.items()}, {c: v[b] for c, v in hashes.items()},
                                       rule)
            found.append(np.stack([a[close], b[close]]))
    return np.concatenate(found, axis=1)


def close_pairs(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """(2, m) positions i < j of the distinct pairs of images that are near-duplicates under `rule`,
    sorted; fingerprints that repeat exactly are not compared again."""
    columns = [np.asarray(hashes[c], dtype=np.uint64) for c in HASH_COLUMNS]
    order = np.lexsort(columns[::-1])  # by dhash, then phash, then colour
    table = np.stack([column[order] for column in columns], axis=1)
    new = np.ones(len(order), dtype=bool)
    new[1:] = (table[1:] != table[:-1]).any(axis=1)
    unique = table[new]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    pairs = _distinct(candidate_pairs(dict(zip(HASH_COLUMNS, unique.T)), rule), len(unique))
    # back to images: every image of one fingerprint with every image of the other, and repeats
    members = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[members], np.arange(len(unique) + 1))
    single = np.diff(starts) == 1
    both_single = single[pairs[0]] & single[pairs[1]]
    out = [members[starts[pairs[:, both_single]]]]  # the usual case, without a loop
    for u, v in pairs[:, ~both_single].T:
        a, b = members[starts[u]:starts[u + 1]], members[starts[v]:starts[v + 1]]
        out.append(np.stack(np.meshgrid(a, b, indexing="ij")).reshape(2, -1))
    for u in np.flatnonzero(~single):
        same = members[starts[u]:starts[u + 1]]
        i, j = np.triu_indices(len(same), 1)
        out.append(np.stack([same[i], same[j]]))
    return _distinct(np.concatenate(out, axis=1), len(inverse))


def _distinct(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs of positions below n as (2, m) rows i < j, each once, sorted by (i, j)."""
    low, high = np.minimum(pairs[0], pairs[1]), np.maximum(pairs[0], pairs[1])
    keys = np.unique(low.astype(np.int64) * n + high)
    return np.stack([keys // n, keys % n]) if len(keys) else np.zeros((2, 0), dtype=np.int64)


def near_duplicate_groups(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """A group number per image: the position of the image kept for its group (an image alone in its
    group has its own position). In order, each image joins the first earlier kept image it
    matches, or is kept: a group never holds an image that does not match its kept one."""
    n = len(hashes["dhash"])
    kept = np.arange(n)
    pairs = close_pairs(hashes, rule)
    if not pairs.shape[1]:
        return kept
    # each later image's earlier partners, in order: pairs are sorted by (i, j) with i < j
    by_later = np.lexsort((pairs[0], pairs[1]))
    later, earlier = pairs[1][by_later], pairs[0][by_later]
    bounds = np.searchsorted(later, np.arange(n + 1))
    is_kept = np.ones(n, dtype=bool)
    for j in np.unique(later):
        partners = earlier[bounds[j]:bounds[j + 1]]
        first = partners[is_kept[partners]]
        if len(first):
            kept[j], is_kept[j] = first[0], False
    return kept


def groups_with_both(groups: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Whether each row's near-duplicate group also holds a row of the other split ('train'/'test')."""
    in_train = np.zeros(len(groups), dtype=bool)
    in_test = np.zeros(len(groups), dtype=bool)
    in_train[groups[split == "train"]] = True
    in_test[groups[split == "test"]] = True
    return in_train[groups] & in_test[groups]
