"""Near-duplicates: the same picture resized, re-encoded or trimmed by a few pixels (a re-pin), which
an exact hash misses.

Each kept image carries three fingerprints from its decoded pixels (`images.dhash`, `images.phash`,
`images.mean_colour`). Two images are near-duplicates when all three agree within the `Rule`:
the difference hash and the DCT hash within their numbers of bits, the mean colours within a
number of levels on every channel. One grey hash alone confuses distinct pictures with little
texture (quote cards, flat graphics) and cannot see colour; the figures behind the defaults, and the
families of pictures the rule still confuses, are in docs/benchmarks.md ("Near-duplicates").

Groups do not chain: images are taken in their given order (cleaning: path order), and each joins
the first earlier representative it matches, or becomes one. So every member of a group matches
the image kept for it, and `drop` never removes a picture far from the one it keeps.

**Bounded work.** Finding the pairs does not compare all pairs: the fingerprints are sorted PASSES
times, each time by a key of the mean colour's cell and a fixed random sample of the hash bits, and
each image is compared with the `Rule.candidates // (2 * PASSES)` images on either side of it in
each order — at most `Rule.candidates` comparisons an image whatever the mix of pictures (a crowd of
near-blank pictures whose hashes are all alike included), so time and memory grow linearly with the
crawl. The price: a pair is missed when, in every order, more images than that sort between the two
(its share is measured in docs/benchmarks.md).
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

HASH_COLUMNS = ("dhash", "phash", "colour")
PASSES = 8  # sorted orders the candidates are searched in
COLOUR_BITS = 3  # a channel's cells in each order's key: 2^COLOUR_BITS (+1 for the moved grid) of 32 levels
CELLS = (1 << COLOUR_BITS) + 1
CELL_BITS = (CELLS ** 3 - 1).bit_length()
SEED = 0x5EED  # the bits each order samples are part of the method: fixed


@dataclass(frozen=True)
class Rule:
    """Largest differences of a near-duplicate pair — bits of the difference hash and of the DCT
    hash, levels (0–255) of any channel of the mean colour — and the most images one image is
    compared with."""

    dhash: int
    phash: int
    colour: int
    candidates: int

    @classmethod
    def from_config(cls, clean: Mapping) -> "Rule":
        return cls(int(clean["near_duplicate_distance"]), int(clean["near_duplicate_phash_distance"]),
                   int(clean["near_duplicate_colour_distance"]), int(clean["near_duplicate_candidates"]))

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def window(self) -> int:
        """Neighbours compared on either side of an image in each sorted order."""
        return max(1, self.candidates // (2 * PASSES))


def _channels(colour: np.ndarray) -> np.ndarray:
    colour = np.asarray(colour, dtype=np.int64)
    return np.stack([(colour >> 16) & 255, (colour >> 8) & 255, colour & 255], axis=-1)


def matches(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """Whether each pair (a[i], b[i]) of fingerprints is a near-duplicate under `rule`."""
    def bits(column):
        return np.bitwise_count(np.asarray(a[column], dtype=np.uint64) ^ np.asarray(b[column], dtype=np.uint64))
    colour = np.abs(_channels(a["colour"]) - _channels(b["colour"])).max(axis=-1)
    return (bits("dhash") <= rule.dhash) & (bits("phash") <= rule.phash) & (colour <= rule.colour)


def sort_keys(hashes: Mapping[str, np.ndarray]) -> np.ndarray:
    """(PASSES, n) uint64 keys, one sorted order each: the mean colour's cell (COLOUR_BITS a channel;
    the grid moved by half a cell in every other order, so that two colours a few levels apart share
    a cell in one of the grids), then 64 - 3 COLOUR_BITS bits drawn from the 128 of the two hashes (a
    fixed random sample per order)."""
    words = np.stack([np.asarray(hashes[c], dtype=">u8") for c in ("dhash", "phash")], axis=1)
    bits = np.unpackbits(words.view(np.uint8), axis=1)  # (n, 128), most significant first
    channels = _channels(hashes["colour"])
    rng = np.random.default_rng(SEED)
    sampled_bits = 64 - CELL_BITS
    half_cell = 1 << (7 - COLOUR_BITS)
    keys = np.empty((PASSES, len(bits)), dtype=np.uint64)
    for p in range(PASSES):
        cells = ((channels + half_cell * (p % 2)) >> (8 - COLOUR_BITS)).astype(np.uint64)  # below CELLS
        cell = (cells[:, 0] * np.uint64(CELLS) + cells[:, 1]) * np.uint64(CELLS) + cells[:, 2]
        sample = np.packbits(bits[:, rng.permutation(128)[:sampled_bits]], axis=1, bitorder="big")
        value = np.zeros(len(bits), dtype=np.uint64)
        for byte in range(sample.shape[1]):
            value = (value << np.uint64(8)) | sample[:, byte].astype(np.uint64)
        value >>= np.uint64(8 * sample.shape[1] - sampled_bits)  # the pad bits packbits added
        keys[p] = (cell << np.uint64(sampled_bits)) | value
    return keys


def _pair_keys(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """The near-duplicate pairs under `rule` among each image's at most rule.candidates neighbours in
    the PASSES sorted orders (`sort_keys`), as unique keys later * n + earlier, ascending: by the later
    image, then by its earlier partner."""
    hashes = {c: np.asarray(hashes[c], dtype=np.uint64) for c in HASH_COLUMNS}
    n = len(hashes["dhash"])
    found = [np.zeros(0, dtype=np.int64)]
    for key in sort_keys(hashes):
        order = np.argsort(key, kind="stable")
        ordered = {c: v[order] for c, v in hashes.items()}
        for offset in range(1, min(rule.window, n - 1) + 1):
            close = matches({c: v[:-offset] for c, v in ordered.items()}, {c: v[offset:] for c, v in ordered.items()},
                            rule)
            a, b = order[:-offset][close], order[offset:][close]
            found.append(np.maximum(a, b).astype(np.int64) * n + np.minimum(a, b))
    found = np.concatenate(found)  # (the list's parts are freed here: the crowd's pairs are the memory)
    return _sorted_unique(found)  # a crowd's pairs recur in every order: one of each


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending, sorted in place (numpy's hashing `np.unique` takes seconds a
    million on these keys: they collide in its table)."""
    values.sort()
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def close_pairs(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """(2, m) positions i < j, each pair once and sorted by (i, j), of the pairs that are near-duplicates
    under `rule` among each image's at most rule.candidates neighbours in the PASSES sorted orders
    (`sort_keys`)."""
    n = len(hashes["dhash"])
    keys = _pair_keys(hashes, rule)
    later, earlier = keys // max(n, 1), keys % max(n, 1)
    order = np.argsort(earlier * n + later)
    return np.stack([earlier[order], later[order]])


def near_duplicate_groups(hashes: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """A group number per image: the position of the image kept for its group (an image alone in its
    group has its own position). In order, each image joins the first earlier kept image it
    matches, or is kept: a group never holds an image that does not match its kept one.

    Images whose fingerprints repeat exactly are searched once: the first of them (in order) is
    grouped, and the others join its group — the group every one of them would join in order, since
    they match exactly the images it matches. A crowd of identical pictures is one group."""
    columns = [np.asarray(hashes[c], dtype=np.uint64) for c in HASH_COLUMNS]
    order = np.lexsort(columns[::-1])  # by dhash, then phash, then colour; stable: in order among equals
    table = np.stack([column[order] for column in columns], axis=1)
    new = np.ones(len(order), dtype=bool)
    new[1:] = (table[1:] != table[:-1]).any(axis=1)
    fingerprint = np.empty(len(order), dtype=np.int64)
    fingerprint[order] = np.cumsum(new) - 1
    first = order[new]  # each distinct fingerprint's first image
    by_position = np.argsort(first)
    kept = _first_kept(_pair_keys(dict(zip(HASH_COLUMNS, table[new][by_position].T)), rule), len(first))
    # back to images: distinct fingerprint k (in order of first images) is image first[by_position[k]]
    image_of = first[by_position]
    group_of_fingerprint = np.empty(len(first), dtype=np.int64)
    group_of_fingerprint[by_position] = image_of[kept]
    return group_of_fingerprint[fingerprint]


def _first_kept(pair_keys: np.ndarray, n: int) -> np.ndarray:
    """Each of n items' kept item (`near_duplicate_groups`), from `_pair_keys` among them (in order)."""
    kept = np.arange(n)
    bounds = np.searchsorted(pair_keys, np.arange(n + 1, dtype=np.int64) * n)  # each later item's partners
    earlier = pair_keys % max(n, 1)
    is_kept = np.ones(n, dtype=bool)
    for j in np.flatnonzero(np.diff(bounds)):
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
