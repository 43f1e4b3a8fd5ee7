"""Near-duplicates: the same picture resized, re-encoded or trimmed by a few pixels (a re-pin), which
an exact hash misses.

Each kept image carries fingerprints from its decoded pixels (`images.fingerprints`): three hashes
(`images.dhash`, `images.phash`, `images.mean_colour`) that propose candidates, and a thumbnail of its
content with the content's place in the picture that confirm them. Two images are near-duplicates
when all three hashes agree within the `Rule` (the difference hash and the DCT hash within their
numbers of bits, the mean colours within a number of levels on every channel) and the pictures agree
(`confirmed`): their 8 × 8 colour thumbnails are alike (`similarity`), and where the content is a small
part of either picture, it sits at the same place with the same size and shape. Hashes alone pair
distinct pictures with little texture (sparse cards, pale objects on white, smooth gradients: their
hashes are nearly empty) and cannot see where a motif is; the figures, and the families of pictures
the rule still confuses, are in docs/benchmarks.md ("Near-duplicates").

Groups do not chain: images are taken in their given order (cleaning: path order), and each joins
the first earlier representative it matches, or becomes one. So every member of a group matches
the image kept for it, and `drop` never removes a picture far from the one it keeps.

**Bounded work.** Finding the pairs does not compare all pairs: the fingerprints are sorted PASSES
times, each time by a key of the mean colour's cell and a fixed random sample of the hash bits, and
each image is compared with the `Rule.candidates // (2 * PASSES)` images on either side of it in
each order — at most `Rule.candidates` comparisons an image whatever the mix of pictures (a crowd of
near-blank pictures whose hashes are all alike included), so time and memory grow linearly with the
crawl. The price: a pair is missed when, in every order, more images than that sort between the two
(its share is measured in docs/benchmarks.md). Grouping compares the pictures of an image's kept
candidates only (`_first_kept`): at most one thumbnail comparison a candidate, bounded as the search is.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

THUMBNAIL_SIDE = 8  # px a side of the thumbnail `images.thumbnail` keeps: 8 × 8 RGB, 192 bytes
HASH_COLUMNS = ("dhash", "phash", "colour")  # propose candidates
PICTURE_COLUMNS = ("width", "height", "box", "thumbnail")  # confirm them (`confirmed`)
COLUMNS = HASH_COLUMNS + PICTURE_COLUMNS  # what grouping reads of each image
SIMILARITY_FLOOR = 4.0  # level² added to the thumbnails' (co)variances: two flat pictures are alike
SMALL_CONTENT = 0.5  # content under this share of a picture: its place in the picture must agree too
PLACE_TOLERANCE = 0.15  # largest distance of the content's centres, a share of the picture's width or height
SIZE_TOLERANCE = 0.5  # largest |log| of the ratio of the content's shares of the pictures (border, letterbox)
ASPECT_TOLERANCE = 0.2  # largest |log| of the ratio of the content's aspect ratios
CHUNK = 1 << 16  # pairs confirmed at once: bounds the thumbnails' copies
PASSES = 8  # sorted orders the candidates are searched in
COLOUR_BITS = 3  # a channel's cells in each order's key: 2^COLOUR_BITS (+1 for the moved grid) of 32 levels
CELLS = (1 << COLOUR_BITS) + 1
CELL_BITS = (CELLS ** 3 - 1).bit_length()
SEED = 0x5EED  # the bits each order samples are part of the method: fixed


@dataclass(frozen=True)
class Rule:
    """Largest differences of a near-duplicate pair — bits of the difference hash and of the DCT
    hash, levels (0–255) of any channel of the mean colour —, the most images one image is compared
    with, and the least similarity of the two pictures' thumbnails (`confirmed`)."""

    dhash: int
    phash: int
    colour: int
    candidates: int
    similarity: float

    @classmethod
    def from_config(cls, clean: Mapping) -> "Rule":
        return cls(int(clean["near_duplicate_distance"]), int(clean["near_duplicate_phash_distance"]),
                   int(clean["near_duplicate_colour_distance"]), int(clean["near_duplicate_candidates"]),
                   float(clean["near_duplicate_similarity"]))

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
    """Whether each pair (a[i], b[i]) of fingerprints is a candidate under `rule`: its hashes agree."""
    def bits(column):
        return np.bitwise_count(np.asarray(a[column], dtype=np.uint64) ^ np.asarray(b[column], dtype=np.uint64))
    colour = np.abs(_channels(a["colour"]) - _channels(b["colour"])).max(axis=-1)
    return (bits("dhash") <= rule.dhash) & (bits("phash") <= rule.phash) & (colour <= rule.colour)


def prints_of(rows) -> dict:
    """The COLUMNS of a table's rows (a manifest's, a cleaning check's) as the arrays grouping takes;
    ValueError naming the missing ones (a manifest made before the pictures were fingerprinted)."""
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"the near-duplicate fingerprints {missing} are missing: this table was made by an older "
                         "version of cleaning; rerun the clean step (snakemake reruns it when its code changed)")
    return {c: rows[c].to_numpy() if c == "thumbnail" else rows[c].to_numpy("uint64") for c in COLUMNS}


def thumbnails(values) -> np.ndarray:
    """(n, THUMBNAIL_SIDE², 3) uint8 thumbnails from a column of `images.thumbnail` bytes (or such an array)."""
    if isinstance(values, np.ndarray) and values.dtype == np.uint8:
        return values.reshape(len(values), THUMBNAIL_SIDE ** 2, 3)
    values = list(values)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), THUMBNAIL_SIDE ** 2, 3)


class Pictures:
    """What `confirmed` compares of n images: their thumbnails as bytes (a pair's products are summed
    from them: a quarter of the memory a float copy would read, the crowd's cost), each channel's sum
    and their variances (computed once, not once a pair), and where their content sits."""

    def __init__(self, prints: Mapping[str, np.ndarray]):
        pixels = thumbnails(prints["thumbnail"])
        self.values = pixels.reshape(len(pixels), 3 * THUMBNAIL_SIDE ** 2)
        self.sums = pixels.sum(axis=1, dtype=np.float64)  # (n, 3): each channel's
        n = len(pixels)
        self.variance = np.concatenate([np.zeros(0)] + [self._covariance(np.arange(start, min(start + CHUNK, n)), None)
                                                        for start in range(0, n, CHUNK)])  # in chunks: no float copy
        box = np.asarray(prints["box"], dtype=np.uint64)
        left, top, right, bottom = (((box >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.float64) / 0xFFFF
                                    for shift in (48, 32, 16, 0))
        width, height = np.maximum(right - left, 1e-6), np.maximum(bottom - top, 1e-6)
        self.centre = np.stack([(left + right) / 2, (top + bottom) / 2], axis=1)
        self.share = width * height
        ratio = np.asarray(prints["width"], dtype=np.float64) / np.asarray(prints["height"], dtype=np.float64)
        self.aspect = np.log(ratio * width / height)

    def __len__(self):
        return len(self.values)

    def _covariance(self, i: np.ndarray, j) -> np.ndarray:
        """The pooled covariance of each pair's channels (i[k] with j[k], with one image j, or with
        itself where j is None): (Σ a·b − Σ over channels of the sums' product / 64) / 192, each
        channel's 64 values about their mean. The products are integers summed in float32, below
        2^24: exact; the sums' products pass 2^24 and are summed in float64."""
        a = np.take(self.values, i, axis=0).astype(np.float32)
        sums = np.take(self.sums, i, axis=0)
        if j is None:
            products, channels = np.einsum("mk,mk->m", a, a), np.einsum("mc,mc->m", sums, sums)
        elif np.ndim(j):
            products = np.einsum("mk,mk->m", a, self.values[j].astype(np.float32))
            channels = np.einsum("mc,mc->m", sums, self.sums[j])
        else:  # one image against several (`_first_kept`): products with one vector
            products, channels = a @ self.values[j].astype(np.float32), sums @ self.sums[j]
        return (products.astype(np.float64) - channels / THUMBNAIL_SIDE ** 2) / self.values.shape[1]

    def similarity(self, i: np.ndarray, j) -> np.ndarray:
        """SSIM's contrast-structure term of the thumbnails of each pair (i[k], j[k]), or of each i[k]
        with one image j, the three channels' means removed and their (co)variances pooled: 1 for the
        same picture, about 0 for unrelated ones. SIMILARITY_FLOOR keeps two near-flat pictures alike
        (their structure is noise)."""
        covariance = self._covariance(i, j)
        return (2 * covariance + SIMILARITY_FLOOR) / (self.variance[i] + self.variance[j] + SIMILARITY_FLOOR)

    def placed(self, i: np.ndarray, j) -> np.ndarray:
        """Whether the content of i[k] and of j[k] (or of one image j) sits at the same place: true
        where it fills SMALL_CONTENT or more of both pictures, else when its centres, shares and aspect
        ratios agree within their tolerances (a border or a letterbox moves and shrinks the content a
        little; marks elsewhere on a page are another picture)."""
        small = (self.share[i] < SMALL_CONTENT) | (self.share[j] < SMALL_CONTENT)
        return ~small | ((np.abs(self.centre[i] - self.centre[j]).max(axis=1) <= PLACE_TOLERANCE)
                         & (np.abs(np.log(self.share[i] / self.share[j])) <= SIZE_TOLERANCE)
                         & (np.abs(self.aspect[i] - self.aspect[j]) <= ASPECT_TOLERANCE))


def confirmed(pictures: Pictures, i: np.ndarray, j: np.ndarray, rule: Rule) -> np.ndarray:
    """Whether pictures i[k] and j[k] agree (candidates are pairs whose hashes do: `matches`): their
    thumbnails' `Pictures.similarity` is at least rule.similarity, and their content is `Pictures.placed`
    alike (looked at only where the thumbnails agree)."""
    out = np.zeros(len(i), dtype=bool)
    for start in range(0, len(i), CHUNK):
        a, b = i[start:start + CHUNK], j[start:start + CHUNK]
        alike = np.flatnonzero(pictures.similarity(a, b) >= rule.similarity)
        out[start + alike] = pictures.placed(a[alike], b[alike])
    return out


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


def close_pairs(prints: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """(2, m) positions i < j, each pair once and sorted by (i, j), of the pairs that are near-duplicates
    under `rule` (`matches`, then `confirmed`) among each image's at most rule.candidates neighbours in
    the PASSES sorted orders (`sort_keys`). prints: the COLUMNS of each image."""
    n = len(prints["dhash"])
    keys = _pair_keys(prints, rule)
    later, earlier = keys // max(n, 1), keys % max(n, 1)
    agree = confirmed(Pictures(prints), earlier, later, rule)
    later, earlier = later[agree], earlier[agree]
    order = np.argsort(earlier * n + later)
    return np.stack([earlier[order], later[order]])


def near_duplicate_groups(prints: Mapping[str, np.ndarray], rule: Rule) -> np.ndarray:
    """A group number per image: the position of the image kept for its group (an image alone in its
    group has its own position). In order, each image joins the first earlier kept image it
    matches and agrees with (`matches`, `confirmed`), or is kept: a group never holds an image that
    is not a near-duplicate of its kept one. prints: the COLUMNS of each image.

    Images whose fingerprints (every column) repeat exactly are searched once: the first of them (in
    order) is grouped, and the others join its group — the group every one of them would join in
    order, since they match exactly the images it matches. A crowd of identical pictures is one group."""
    n = len(prints["dhash"])
    pixels = thumbnails(prints["thumbnail"])  # once: from a column of bytes this joins them all
    table = np.concatenate([np.stack([np.asarray(prints[c], dtype=np.uint64) for c in COLUMNS if c != "thumbnail"],
                                     axis=1).view(np.uint8).reshape(n, 8 * (len(COLUMNS) - 1)),
                            pixels.reshape(n, 3 * THUMBNAIL_SIDE ** 2)], axis=1)
    _, first, fingerprint = np.unique(table.view(np.dtype((np.void, table.shape[1]))).ravel(), return_index=True,
                                      return_inverse=True)  # first: each distinct fingerprint's first image
    del table
    by_position = np.argsort(first)
    image_of = first[by_position]  # distinct fingerprint k (in order of first images) is image image_of[k]
    distinct = {c: (np.asarray(prints[c]) if c != "thumbnail" else pixels)[image_of] for c in COLUMNS}
    kept = _first_kept(_pair_keys(distinct, rule), Pictures(distinct), rule)
    group_of_fingerprint = np.empty(len(first), dtype=np.int64)
    group_of_fingerprint[by_position] = image_of[kept]
    return group_of_fingerprint[fingerprint.ravel()]


def _first_kept(pair_keys: np.ndarray, pictures: Pictures, rule: Rule) -> np.ndarray:
    """Each item's kept item (`near_duplicate_groups`), from the candidates among them (`_pair_keys`,
    in order): only an item's kept candidates are confirmed, all at once, and it joins the first that
    agrees."""
    n = len(pictures)
    kept = np.arange(n)
    bounds = np.searchsorted(pair_keys, np.arange(n + 1, dtype=np.int64) * n)  # each later item's partners
    earlier = pair_keys % max(n, 1)
    is_kept = np.ones(n, dtype=bool)
    starts = bounds.tolist()  # Python ints: a slice a candidate list costs less than with numpy scalars
    for j in np.flatnonzero(np.diff(bounds)).tolist():
        partners = earlier[starts[j]:starts[j + 1]]
        partners = partners[is_kept[partners]]
        if len(partners):  # `confirmed`, of one image against its kept candidates
            alike = partners[pictures.similarity(partners, j) >= rule.similarity]
            if len(alike):
                agree = alike[pictures.placed(alike, j)]
                if len(agree):
                    kept[j], is_kept[j] = agree[0], False
    return kept


def groups_with_both(groups: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Whether each row's near-duplicate group also holds a row of the other split ('train'/'test')."""
    in_train = np.zeros(len(groups), dtype=bool)
    in_test = np.zeros(len(groups), dtype=bool)
    in_train[groups[split == "train"]] = True
    in_test[groups[split == "test"]] = True
    return in_train[groups] & in_test[groups]
