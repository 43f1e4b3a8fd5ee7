"""Near-duplicate grouping at crawl scale: the bounded search of `near_duplicates.close_pairs` against
comparing all pairs, and the whole grouping (`near_duplicate_groups`) at 100,000 to 1,000,000
fingerprints, under the config's rule, with wall time and peak memory.

Synthetic fingerprints of the two shapes that set the cost (the quality of the rule on real
pictures is near_duplicate_families.py's): "spread" pictures, whose hashes and colours are spread
out like textured photos', and a "near-blank crowd", whose hashes have a few bits set and whose
colours are a few levels from white, all within the rule of one another (empty pages, white cards
and product shots at their most alike: every comparison passes the hashes), while their thumbnails
are distinct (faint marks at different places), so that no candidate is confirmed and every image
of the crowd stays kept — the most thumbnail comparisons grouping can meet. Planted copies have
their hashes flipped within the rule, their colour kept and their thumbnail a few levels off; their
share found is the bound's price.
Mixes: "textured" (70 % spread, 30 % copies of them), "low-texture" (40 % crowd, 30 % spread,
30 % copies of the spread ones) and "crowd" (100 % crowd, the worst case).

1. On --compare fingerprints of the low-texture mix: all pairs (`matches` and `confirmed` on every pair) against the
   bounded search — wall time, their ratio, the share of all close pairs the bound finds and of the
   planted copies. 2. The grouping alone on each mix at each of --sizes, each in a fresh process
   (its peak memory is the process's): wall time, µs an image, peak RSS, and the share of planted
   copies the search pairs with their original (measured after the timing).

    PYTHONPATH=scripts .venv/bin/python benchmarks/near_duplicates.py
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.config import repository_config  # noqa: E402
from pinclass.near_duplicates import (HASH_COLUMNS, THUMBNAIL_SIDE, Pictures, Rule, close_pairs,  # noqa: E402
                                      confirmed, matches, near_duplicate_groups)

THUMBNAIL_BYTES = 3 * THUMBNAIL_SIDE ** 2

MIXES = {"textured": (0.0, 0.7), "low-texture": (0.4, 0.3), "crowd": (1.0, 0.0)}  # (crowd, spread); the rest: copies


def flipped(values: np.ndarray, max_bits: int, rng) -> np.ndarray:
    """Each value with 1 to max_bits of its 64 bits flipped (fewer where a bit is drawn twice)."""
    flips = rng.integers(1, max(max_bits, 1) + 1, len(values))
    noise = np.zeros(len(values), dtype=np.uint64)
    for k in range(max_bits):
        bit = np.uint64(1) << rng.integers(0, 64, len(values)).astype(np.uint64)
        noise |= np.where(k < flips, bit, np.uint64(0))
    return values ^ noise


def sparse_bits(n: int, bits: int, rng) -> np.ndarray:
    value = np.zeros(n, dtype=np.uint64)
    for _ in range(bits):
        value |= np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)
    return value


def synthetic_fingerprints(n: int, mix: str, rule: Rule, seed: int) -> tuple[dict, np.ndarray]:
    """The mix's fingerprints in a random order, and for each the position of the picture it copies
    (-1 for an original)."""
    rng = np.random.default_rng(seed)
    crowd_share, spread_share = MIXES[mix]
    n_crowd, n_spread = int(n * crowd_share), int(n * spread_share)
    n_copies = n - n_crowd - n_spread
    grey = rng.integers(248, 252, (n_crowd, 3))
    crowd = {"dhash": sparse_bits(n_crowd, 2, rng), "phash": sparse_bits(n_crowd, 4, rng),
             "colour": ((grey[:, 0] << 16) | (grey[:, 1] << 8) | grey[:, 2]).astype(np.uint64)}
    spread = {"dhash": rng.integers(0, 2 ** 64, n_spread, dtype=np.uint64),
              "phash": rng.integers(0, 2 ** 64, n_spread, dtype=np.uint64),
              "colour": rng.integers(0, 2 ** 24, n_spread).astype(np.uint64)}
    sources = rng.integers(0, max(n_spread, 1), n_copies)
    copies = {"dhash": flipped(spread["dhash"][sources], rule.dhash, rng),
              "phash": flipped(spread["phash"][sources], rule.phash, rng), "colour": spread["colour"][sources]}
    crowd["thumbnail"] = (245 + rng.integers(-10, 11, (n_crowd, THUMBNAIL_BYTES))).astype(np.uint8)
    spread["thumbnail"] = rng.integers(0, 256, (n_spread, THUMBNAIL_BYTES), dtype=np.uint8)
    copies["thumbnail"] = np.clip(spread["thumbnail"][sources] + rng.integers(-3, 4, (n_copies, THUMBNAIL_BYTES)),
                                  0, 255).astype(np.uint8)
    order = rng.permutation(n)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)  # where each generated row lands
    source = np.concatenate([np.full(n_crowd + n_spread, -1), position[n_crowd + sources]])
    prints = {c: np.concatenate([crowd[c], spread[c], copies[c]])[order] for c in crowd}
    # the content fills every picture: the place check never applies, the thumbnails decide
    prints |= {"width": np.full(n, 100), "height": np.full(n, 100), "box": np.full(n, 0xFFFF_FFFF, dtype=np.uint64)}
    return prints, source[order]


def all_pairs(prints: dict, rule: Rule, block: int = 1024) -> np.ndarray:
    """Every pair compared with `matches`, and those confirmed (`confirmed`), in blocks of rows (the
    reference): keys i * n + j, i < j."""
    n = len(prints["dhash"])
    pictures = Pictures(prints)
    found = []
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        a, b = np.repeat(rows, n), np.tile(np.arange(n), len(rows))
        keep = (a < b) & matches({c: prints[c][a] for c in HASH_COLUMNS}, {c: prints[c][b] for c in HASH_COLUMNS}, rule)
        a, b = a[keep], b[keep]
        agree = confirmed(pictures, a, b, rule)
        found.append(a[agree] * n + b[agree])
    return np.concatenate(found)


def peak_memory_gb() -> float:
    """This process's peak resident memory (VmHWM: unlike getrusage, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def copies_found(keys: np.ndarray, source: np.ndarray) -> float:
    """Share of planted copies paired with their original among pair keys i * n + j (i < j)."""
    copy = np.flatnonzero(source >= 0)
    if not len(copy):
        return float("nan")
    n = len(source)
    return float(np.isin(np.minimum(copy, source[copy]) * n + np.maximum(copy, source[copy]), keys).mean())


def one_grouping(n: int, mix: str, seed: int) -> dict:
    rule = Rule.from_config(repository_config()["clean"])
    prints, source = synthetic_fingerprints(n, mix, rule, seed)
    start = time.perf_counter()
    groups = near_duplicate_groups(prints, rule)
    seconds = time.perf_counter() - start
    peak = peak_memory_gb()
    del groups
    if not (source >= 0).any():  # no planted copies (the crowd): nothing to find
        return {"seconds": seconds, "peak_gb": peak, "found": float("nan")}
    pairs = close_pairs(prints, rule)
    return {"seconds": seconds, "peak_gb": peak, "found": copies_found(pairs[0] * n + pairs[1], source)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=int, default=20_000, help="fingerprints for the two-way comparison")
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--mixes", nargs="*", default=list(MIXES), choices=list(MIXES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # n,mix: one grouping, as JSON (a child process)
    args = parser.parse_args(argv)
    if args.one:
        n, mix = args.one.split(",")
        print(json.dumps(one_grouping(int(n), mix, args.seed)))
        return
    rule = Rule.from_config(repository_config()["clean"])
    print(f"# Near-duplicate grouping\n\n    {shlex.join(['benchmarks/near_duplicates.py', *sys.argv[1:]])}\n\n"
          f"{os.cpu_count()} CPUs, numpy {np.__version__}, rule {rule.as_dict()}\n")

    prints, source = synthetic_fingerprints(args.compare, "low-texture", rule, args.seed)
    start = time.perf_counter()
    reference = all_pairs(prints, rule)
    t_all = time.perf_counter() - start
    start = time.perf_counter()
    pairs = close_pairs(prints, rule)
    t_bounded = time.perf_counter() - start
    n = args.compare
    bounded = pairs[0] * n + pairs[1]
    print("| way | fingerprints | close pairs | planted copies found | wall |\n|---|---|---|---|---|")
    print(f"| all pairs | {n:,} | {len(reference):,} | {copies_found(reference, source):.4f} | {t_all:.2f} s |")
    print(f"| bounded search (close_pairs) | {n:,} | {len(bounded):,} ({len(bounded) / len(reference):.1%} of all"
          f"{'' if np.isin(bounded, reference).all() else '; SOME NOT AMONG THEM'}) | "
          f"{copies_found(bounded, source):.4f} | {t_bounded:.2f} s |")
    print(f"\nall pairs / bounded: {t_all / t_bounded:.0f}×\n")

    print("| mix | fingerprints | grouping | µs per image | peak memory | planted copies found |\n|---|---|---|---|---|---|")
    for mix in args.mixes:
        for n in (int(size) for size in args.sizes.split(",")):
            child = subprocess.run([sys.executable, __file__, "--one", f"{n},{mix}", "--seed", str(args.seed)],
                                   capture_output=True, text=True, check=True)
            found = json.loads(child.stdout)
            print(f"| {mix} | {n:,} | {found['seconds']:.1f} s | {1e6 * found['seconds'] / n:.1f} | "
                  f"{found['peak_gb']:.2f} GB | {found['found']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
