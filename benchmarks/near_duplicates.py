"""Near-duplicate grouping at crawl scale: the blocked search of `near_duplicates.close_pairs` against
comparing all pairs, and the whole grouping (`near_duplicate_groups`), under the default rule on
synthetic fingerprints.

Hashes: uniformly random, plus a share of planted near copies (1 to max_distance bits flipped),
as a crawl's re-pins would give. 1. Both searches on --compare fingerprints: wall time, the ratio,
and whether they find the same pairs. 2. The grouping alone on each of --sizes images
(difference hash, DCT hash and mean colour each; a copy's hashes flipped within the rule, its colour
kept): wall time and microseconds per image (near-linear: constant per image).

    PYTHONPATH=scripts .venv/bin/python benchmarks/near_duplicates.py
"""

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.config import repository_config  # noqa: E402
from pinclass.near_duplicates import Rule, close_pairs, matches, near_duplicate_groups  # noqa: E402


def flipped(values: np.ndarray, max_bits: int, rng) -> np.ndarray:
    """Each value with 1 to max_bits of its 64 bits flipped (fewer where a bit is drawn twice)."""
    flips = rng.integers(1, max(max_bits, 1) + 1, len(values))
    noise = np.zeros(len(values), dtype=np.uint64)
    for k in range(max_bits):
        bit = np.uint64(1) << rng.integers(0, 64, len(values)).astype(np.uint64)
        noise |= np.where(k < flips, bit, np.uint64(0))
    return values ^ noise


def synthetic_fingerprints(n: int, copies: float, rule: Rule, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n_originals = int(n * (1 - copies))
    originals = {"dhash": rng.integers(0, 2 ** 64, n_originals, dtype=np.uint64),
                 "phash": rng.integers(0, 2 ** 64, n_originals, dtype=np.uint64),
                 "colour": rng.integers(0, 2 ** 24, n_originals).astype(np.uint64)}
    sources = rng.integers(0, n_originals, n - n_originals)
    order = rng.permutation(n)
    copied = {"dhash": flipped(originals["dhash"][sources], rule.dhash, rng),
              "phash": flipped(originals["phash"][sources], rule.phash, rng), "colour": originals["colour"][sources]}
    return {c: np.concatenate([originals[c], copied[c]])[order] for c in originals}


def all_pairs(hashes: dict, rule: Rule, block: int = 1024) -> np.ndarray:
    """Every pair compared with `matches`, in blocks of rows (the reference)."""
    n = len(hashes["dhash"])
    found = []
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        a, b = np.repeat(rows, n), np.tile(np.arange(n), len(rows))
        keep = (a < b) & matches({c: v[a] for c, v in hashes.items()}, {c: v[b] for c, v in hashes.items()}, rule)
        found.append(np.stack([a[keep], b[keep]]))
    return np.concatenate(found, axis=1)


def groups_from(pairs: np.ndarray, n: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    return connected_components(coo_matrix((np.ones(pairs.shape[1]), tuple(pairs)), shape=(n, n)),
                                directed=False)[1]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(np.unique(a)) == len(np.unique(b)) == np.unique(np.stack([a, b]), axis=1).shape[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=int, default=20_000, help="hashes for the two-way comparison")
    parser.add_argument("--sizes", default="50000,100000,200000", help="hashes for the bucketed way alone")
    parser.add_argument("--copies", type=float, default=0.1, help="share of planted near copies")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rule = Rule.from_config(repository_config()["clean"])
    command = "PYTHONPATH=scripts " + shlex.join([sys.executable.replace(os.getcwd() + "/", ""), *sys.argv])
    print(f"# Near-duplicate grouping\n\ncommand: `{command}`\n\n{os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"rule {rule}, {args.copies:.0%} planted copies\n")

    hashes = synthetic_fingerprints(args.compare, args.copies, rule, args.seed)
    t = time.perf_counter()
    reference = all_pairs(hashes, rule)
    t_all = time.perf_counter() - t
    t = time.perf_counter()
    bucketed = close_pairs(hashes, rule)
    t_bucketed = time.perf_counter() - t
    agree = same_partition(groups_from(reference, args.compare), groups_from(bucketed, args.compare))
    print("| way | images | close pairs | wall |\n|---|---|---|---|")
    print(f"| all pairs | {args.compare:,} | {reference.shape[1]:,} | {t_all:.2f} s |")
    print(f"| blocked search (close_pairs) | {args.compare:,} | {len({tuple(p) for p in np.sort(bucketed, axis=0).T.tolist()}):,} "
          f"| {t_bucketed:.3f} s |")
    print(f"\nall pairs / buckets: {t_all / t_bucketed:.0f}×; same groups: {'yes' if agree else 'NO'}\n")

    print("| images | grouping (near_duplicate_groups) | µs per image | groups of 2+ |\n|---|---|---|---|")
    for n in (int(size) for size in args.sizes.split(",")):
        hashes = synthetic_fingerprints(n, args.copies, rule, args.seed)
        t = time.perf_counter()
        labels = near_duplicate_groups(hashes, rule)
        seconds = time.perf_counter() - t
        _, sizes = np.unique(labels, return_counts=True)
        print(f"| {n:,} | {seconds:.2f} s | {1e6 * seconds / n:.1f} | {int((sizes > 1).sum()):,} |", flush=True)


if __name__ == "__main__":
    main()
