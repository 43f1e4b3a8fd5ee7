"""The grouped split on a crawl of realistic board sizes: does a board's size decide its side?

A synthetic crawl: --categories categories of --per-category images each, in boards whose sizes
are lognormal (median --median pins, sigma --sigma), one category per board. Over --seeds seeds,
`sampling.draw_sample(group_by="board")` against two references on the same boards: "random"
(groups in a random order, each to test while its category is under target — a plain random
group assignment, not balanced), and "largest first" (the same fill after sorting the groups by
size, as the split did before). Reported: P(test) of a board by size band, test boards and their
mean size, test share off the target, and the mean Jaccard overlap of the test sets between the
repeats of one seed (`sampling.resplit`).

    PYTHONPATH=scripts .venv/bin/python benchmarks/grouped_split.py
"""

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.sampling import draw_sample, resplit, split_summary  # noqa: E402

BANDS = [(1, 5), (5, 10), (10, 20), (20, 50), (50, 100), (100, 10 ** 6)]


def crawl(categories: int, per_category: int, median: float, sigma: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(categories):
        left, b = per_category, 0
        while left:
            size = min(left, max(1, int(round(rng.lognormal(np.log(median), sigma)))))
            rows += [{"image_id": f"c{c}-b{b}-{p}", "path": f"u{c}/b{b}/{p}.jpg", "category": f"cat{c}",
                      "user": f"u{c}", "board": f"b{b}"} for p in range(size)]
            left -= size
            b += 1
    return pd.DataFrame(rows).astype("string")


def reference_split(boards: pd.DataFrame, fraction: float, rng, largest_first: bool) -> set:
    """The test boards of a plain fill: groups in a random order (or that order sorted by size,
    largest first), each joining while its category's test count stays at most its target."""
    order = rng.permutation(len(boards))
    if largest_first:
        order = order[np.argsort(-boards["size"].to_numpy()[order], kind="stable")]
    target = (boards.groupby("category")["size"].sum() * fraction).round()
    held = dict.fromkeys(target.index, 0)
    test = set()
    for g in order:
        board = boards.iloc[g]
        if held[board["category"]] + board["size"] <= target[board["category"]]:
            held[board["category"]] += board["size"]
            test.add(board["key"])
    return test


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--categories", type=int, default=8)
    parser.add_argument("--per-category", type=int, default=1000)
    parser.add_argument("--median", type=float, default=6.0)
    parser.add_argument("--sigma", type=float, default=1.1)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()
    started = time.perf_counter()
    categories = [f"cat{c}" for c in range(args.categories)]
    clean = crawl(args.categories, args.per_category, args.median, args.sigma, seed=0)
    boards = (clean.assign(key=clean["user"] + "/" + clean["board"]).groupby("key")
              .agg(size=("image_id", "size"), category=("category", "first")).reset_index())
    sizes = boards.set_index("key")["size"]
    print(f"{len(boards)} boards, sizes: median {sizes.median():.0f}, mean {sizes.mean():.1f}, "
          f"max {sizes.max()}; {args.seeds} seeds, {args.repeats} repeats each\n")
    ways = {"draw_sample (group_by: board)": [], "random": [], "largest first": []}
    overlaps = {name: [] for name in ways}
    off = []
    for seed in range(args.seeds):
        sample = draw_sample(clean, categories, args.per_category, args.test_fraction, 5, seed, group_by="board")
        splits = [sample] + [resplit(sample, args.categories, args.test_fraction, 5, seed, r, "board")
                             for r in range(1, args.repeats)]
        tests = [set((s.loc[s["split"] == "test", "user"] + "/" + s.loc[s["split"] == "test", "board"]).unique())
                 for s in splits]
        ways["draw_sample (group_by: board)"].append(tests[0])
        overlaps["draw_sample (group_by: board)"] += [jaccard(a, b) for i, a in enumerate(tests) for b in tests[i + 1:]]
        summary = split_summary(sample, categories, args.test_fraction, "board")
        off.append(max(abs(v["test_share"] - args.test_fraction) for v in summary["categories"].values()))
        for name, largest in (("random", False), ("largest first", True)):
            rng = np.random.default_rng([seed, 9])
            refs = [reference_split(boards, args.test_fraction, rng, largest) for _ in range(args.repeats)]
            ways[name].append(refs[0])
            overlaps[name] += [jaccard(a, b) for i, a in enumerate(refs) for b in refs[i + 1:]]

    bands = [f"{low}–{high - 1}" if high < 10 ** 6 else f"≥ {low}" for low, high in BANDS]
    counts = [int(((sizes >= low) & (sizes < high)).sum()) for low, high in BANDS]
    print("P(test) of a board by its size (pins), over the seeds:\n")
    print("| way | " + " | ".join(f"{band} ({n})" for band, n in zip(bands, counts))
          + " | test boards | mean test board | mean train board | Jaccard of test sets between repeats |")
    print("|---|" + "---|" * (len(BANDS) + 4))
    for name, tests in ways.items():
        shares = []
        for low, high in BANDS:
            band = sizes[(sizes >= low) & (sizes < high)].index
            shares.append(np.mean([len(t & set(band)) / max(len(band), 1) for t in tests]) if len(band) else np.nan)
        n_test = np.mean([len(t) for t in tests])
        mean_test = np.mean([sizes[list(t)].mean() for t in tests])
        mean_train = np.mean([sizes.drop(list(t)).mean() for t in tests])
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in shares)
              + f" | {n_test:.0f} | {mean_test:.1f} | {mean_train:.1f} | {np.mean(overlaps[name]):.3f} |")
    print(f"\ndraw_sample: largest test share off {args.test_fraction} in any category, over the seeds: "
          f"median {np.median(off):.4f}, max {np.max(off):.4f}")
    command = " ".join(shlex.quote(a) for a in sys.argv)
    print(f"\n{time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs: PYTHONPATH=scripts .venv/bin/python {command}")


if __name__ == "__main__":
    main()
