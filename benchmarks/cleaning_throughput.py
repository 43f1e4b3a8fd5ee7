"""Data stages at crawl scale: ingest and cleaning throughput, their memory, and a projection for
the real crawl (1,069,477 images) — in one run.

The crawl is synthetic but laid out as the real one — <user>/boards.json (one user in ten
describes its boards in <board>/board.json instead), <user>/<board>/<pin_id>/{<pin_id>.jpg,
pin.json} — and holds photo-like JPEGs (colour field, blobs, film grain; quality 85): a mix
(--large-fraction) of 236 px wide thumbnails (236 x 236..420, ~10-25 kB) and 736 x 1100 pins
(~80-150 kB). Everything is measured through the project's own functions:

  ingest     pinclass.ingest.ingest_crawl on the tree: image files/s (median of 3 runs);
  clean      pinclass.cleaning.check_rows, what a clean_shard job runs, on ONE thread (img/s per
             core), against
  decode     a bare Pillow full decode of the same files on one thread,
             `with Image.open(path) as im: im.load()` — the least that any check decoding every
             pixel must do. Files go in blocks of --block; each block runs clean then decode, or
             decode then clean (alternating), --rounds times; clean/decode is the median of the
             per-block ratios (quartiles beside it), so a busy machine slows both sides alike;
  GIL share  the part of one thread's check_rows time that holds Python's GIL: everything but
             Pillow's decoder calls, its resamplings (Image.resize, which the fingerprints run;
             the few microseconds of Python around each count as released), hashing and file
             reads, which release it. A job's threads cannot check more than 1 / share times one
             thread's rate, whatever their number;
  threads    check_rows on --threads threads against one thread (one pass each; noisy on a
             shared machine);
  memory     each stage in a fresh child process, run as its rule script runs it — ingest
             (ingest_crawl, writing raw.parquet), clean_shard (read_shard of all rows as one
             shard, check_rows on --threads threads, writing the checks), clean (merge_checks,
             writing clean/rejected): peak RSS (VmHWM, reset after imports) above the RSS after
             imports. These stages hold per-file rows, not pixels (bar a decoded image per
             thread), so they run on a crawl of the same layout with small unique 64 x 64 JPEGs,
             at each of --memory-files sizes (the largest made, the others hard-linked subsets);
             MB per 100,000 files is the slope between the smallest and the largest size;
  projection the real crawl on --cores cores: ingest time and memory; clean_shard threads per
             job (8 as rule clean_shard asks, fewer where the GIL share caps a job), jobs at a
             time, the clean.shards to set, decode wall time and memory per job; the merge.

    .venv/bin/python benchmarks/cleaning_throughput.py --files 2000
    .venv/bin/python benchmarks/cleaning_throughput.py --files 2000 --memory-files 25000 100000 200000
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.config import repository_config  # noqa: E402

REAL_CRAWL_IMAGES = 1_069_477  # the paper's crawl (670 users)
JOB_THREADS = 8  # rule clean_shard's threads
PINS_PER_BOARD, BOARDS_PER_USER = 30, 20
GRAIN_SHAPE = (1200, 800, 3)
STAGES = ("ingest", "clean_shard", "clean")


# ------------------------------------------------------------------------------------------ crawl


def photo(rng, grain: np.ndarray, width: int, height: int) -> Image.Image:
    """A photo-like picture: a smooth colour field, blobs about width/30 across, and film grain."""
    field = Image.fromarray(rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC)
    blobs = Image.fromarray(rng.integers(0, 256, (max(2, height * 30 // width), 30, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(field, dtype=np.float32) * 0.6 + np.asarray(blobs, dtype=np.float32) * 0.4
    y, x = rng.integers(0, GRAIN_SHAPE[0] - height + 1), rng.integers(0, GRAIN_SHAPE[1] - width + 1)
    pixels += grain[y:y + height, x:x + width] * rng.uniform(2, 6)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_crawl(root: Path, files: int, categories: list[str], large_fraction: float, seed: int,
               small: bool = False) -> dict:
    """Write `files` pins under root; return {relative path: "large" | "thumb" | "small"} in the order
    written. small: 64 x 64 noise JPEGs instead of pins (for the memory stages: quick to make)."""
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 1, GRAIN_SHAPE).astype(np.float32)
    kinds = {}
    user_number = 0
    while len(kinds) < files:
        user = f"user_{user_number:05d}"
        boards = {}
        for b in range(BOARDS_PER_USER):
            if len(kinds) >= files:
                break
            category = categories[int(rng.integers(len(categories)))]
            board = f"{category.replace('_', '-')}-{b}"
            boards[board] = {"category": category, "title": f"board {b} of {user}"}
            for _ in range(min(PINS_PER_BOARD, files - len(kinds))):
                pin_id = str(10**17 + len(kinds) * 7919)
                pin_dir = root / user / board / pin_id
                pin_dir.mkdir(parents=True)
                (pin_dir / "pin.json").write_text(json.dumps({"id": pin_id, "board": board, "user": user}))
                if small:
                    kind, image = "small", Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
                else:
                    kind = "large" if rng.random() < large_fraction else "thumb"
                    image = photo(rng, grain, *((736, 1100) if kind == "large" else (236, int(rng.integers(236, 421)))))
                image.save(pin_dir / f"{pin_id}.jpg", "JPEG", quality=85)
                kinds[f"{user}/{board}/{pin_id}/{pin_id}.jpg"] = kind
        if user_number % 10 == 9:  # this user describes each board in <board>/board.json
            for board, info in boards.items():
                (root / user / board / "board.json").write_text(json.dumps(info))
        else:
            (root / user / "boards.json").write_text(json.dumps(boards, indent=1))
        user_number += 1
    return kinds


def subset_crawl(root: Path, kinds: dict, files: int, target: Path) -> None:
    """The first `files` pins of `root`, hard-linked under `target` with their users' board files."""
    for rel in list(kinds)[:files]:
        user, board, pin, _ = rel.split("/")
        shutil.copytree(root / user / board / pin, target / user / board / pin, copy_function=os.link)
        for meta in (Path(user) / "boards.json", Path(user) / board / "board.json"):
            if (root / meta).exists() and not (target / meta).exists():
                os.link(root / meta, target / meta)


# --------------------------------------------------------------------------------------- timings


def clean_args(root: Path, config: dict) -> tuple:
    return (root, config["categories"], config["exclude_categories"], config["clean"]["min_size"],
            config["clean"]["max_pixels"])


def bare_decode(paths) -> None:
    for path in paths:
        with Image.open(path) as image:
            image.load()


def time_clean_vs_decode(rows, root: Path, kinds: dict, config: dict, block: int, rounds: int) -> dict:
    """Per kind of pin and for all: img/s of check_rows and of a bare decode, one thread, and their ratio."""
    from pinclass.cleaning import check_rows

    args = clean_args(root, config)
    rows = rows.assign(kind=rows["path"].map(kinds))
    blocks = []
    for kind in ("thumb", "large"):
        part = rows[rows["kind"] == kind].drop(columns="kind")
        blocks += [(kind, part.iloc[i:i + block]) for i in range(0, len(part), block)]
    order = np.random.default_rng(1).permutation(len(blocks))
    bare_decode(root / p for p in rows["path"])  # warm-up: page cache, code paths
    check_rows(rows.iloc[:block], *args)
    totals = {kind: {"clean": 0.0, "decode": 0.0, "images": 0, "ratios": []} for kind in ("thumb", "large")}
    for r in range(rounds):
        for number, index in enumerate(order):
            kind, part = blocks[index]
            paths = [root / p for p in part["path"]]
            seconds = {}
            for step in ("clean", "decode") if (r + number) % 2 == 0 else ("decode", "clean"):
                began = time.perf_counter()
                if step == "clean":
                    checks = check_rows(part, *args, threads=1)
                else:
                    bare_decode(paths)
                seconds[step] = time.perf_counter() - began
            assert checks["reason"].isna().all(), checks[checks["reason"].notna()].to_dict("records")[:3]
            total = totals[kind]
            total["clean"] += seconds["clean"]
            total["decode"] += seconds["decode"]
            total["images"] += len(part)
            total["ratios"].append(seconds["decode"] / seconds["clean"])
    out = {}
    for kind, total in list(totals.items()) + [("all", None)]:
        parts = [totals[kind]] if total else list(totals.values())
        ratios = [x for p in parts for x in p["ratios"]]
        images = sum(p["images"] for p in parts)
        if images:
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            out[kind] = {"clean": images / sum(p["clean"] for p in parts),
                         "decode": images / sum(p["decode"] for p in parts),
                         "ratio": statistics.median(ratios), "quartiles": (quartiles[0], quartiles[2]),
                         "images": images // rounds}
    return out


def gil_share(paths: list[Path], rows, root: Path, config: dict) -> float:
    """Share of check_rows' single-thread time that holds the GIL (see the module docstring)."""
    from pinclass.cleaning import check_rows

    free = [0.0]
    getdecoder = Image._getdecoder

    class TimedDecoder:  # Pillow's decoder with its decode() calls (GIL released inside) timed
        def __init__(self, decoder):
            self._decoder = decoder

        def decode(self, data):
            began = time.perf_counter()
            try:
                return self._decoder.decode(data)
            finally:
                free[0] += time.perf_counter() - began

        def __getattr__(self, name):
            return getattr(self._decoder, name)

    resize = Image.Image.resize

    def timed_resize(self, *args, **kwargs):  # Pillow's resampling (GIL released inside), timed
        began = time.perf_counter()
        try:
            return resize(self, *args, **kwargs)
        finally:
            free[0] += time.perf_counter() - began

    Image._getdecoder = lambda *args, **kwargs: TimedDecoder(getdecoder(*args, **kwargs))
    Image.Image.resize = timed_resize
    try:
        began = time.perf_counter()
        check_rows(rows, *clean_args(root, config), threads=1)
        total = time.perf_counter() - began
    finally:
        Image._getdecoder = getdecoder
        Image.Image.resize = resize
    began = time.perf_counter()
    for path in paths:  # reading and hashing release the GIL too
        with open(path, "rb") as f:
            hashlib.sha256(f.read()).hexdigest()
    free[0] += time.perf_counter() - began
    return min(1.0, max(0.0, 1 - free[0] / total))


def time_threads(rows, root: Path, config: dict, threads: int) -> dict:
    from pinclass.cleaning import check_rows

    rates = {}
    for n in (threads, 1):
        began = time.perf_counter()
        check_rows(rows, *clean_args(root, config), threads=n)
        rates[n] = len(rows) / (time.perf_counter() - began)
    return rates


def time_ingest(root: Path, repeats: int = 3) -> tuple[float, int]:
    from pinclass.ingest import ingest_crawl

    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        raw, rejected, _ = ingest_crawl(root)
        times.append(time.perf_counter() - began)
    return statistics.median(times), len(raw) + len(rejected)


# ---------------------------------------------------------------------------- memory (child stages)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def run_stage(stage: str, root: Path, results: Path, config: dict, threads: int) -> dict:
    """One data stage as its rule script runs it (scripts/ingest.py, clean_shard.py, clean.py)."""
    import pandas as pd

    from pinclass.atomic import read_table, write_json, write_parquet
    from pinclass.cleaning import check_rows, merge_checks, read_shard
    from pinclass.ingest import ingest
    from pinclass.near_duplicates import Rule

    try:  # reset the peak (VmHWM) to the RSS after imports
        Path("/proc/self/clear_refs").write_text("5")
        peak_kb = lambda: _status_kb("VmHWM")  # noqa: E731
    except OSError:
        peak_kb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    baseline = _status_kb("VmRSS")
    began = time.perf_counter()
    if stage == "ingest":
        raw, rejected, summary = ingest({"root": str(root), "manifest": None})
        write_parquet(rejected, results / "ingest_rejected.parquet")
        write_json(summary, results / "ingest_summary.json")
        write_parquet(raw, results / "raw.parquet")
        rows = len(raw) + len(rejected)
    elif stage == "clean_shard":
        part = read_shard(results / "raw.parquet", 0, 1)
        checks = check_rows(part, *clean_args(root, config), threads)
        write_parquet(checks, results / "checks-0-of-1.parquet")
        rows = len(part)
    elif stage == "clean":
        checks = pd.concat([read_table(results / "checks-0-of-1.parquet")], ignore_index=True)
        with open(results / "ingest_summary.json") as f:
            ingest_summary = json.load(f)
        clean, rejected, summary = merge_checks(read_table(results / "raw.parquet"), checks,
                                                read_table(results / "ingest_rejected.parquet"), ingest_summary,
                                                config["clean"]["near_duplicates"], Rule.from_config(config["clean"]))
        write_parquet(rejected, results / "rejected.parquet")
        write_json(summary, results / "clean_summary.json")
        write_parquet(clean, results / "clean.parquet")
        rows = len(clean) + len(rejected)
    else:
        raise ValueError(stage)
    return {"stage": stage, "rows": rows, "seconds": time.perf_counter() - began,
            "peak_mb": (peak_kb() - baseline) / 1024}


def stage_in_child(stage: str, root: Path, results: Path, threads: int) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--root", str(root), "--results", str(results),
               "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- report


def fmt_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def line_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(MB at zero files, MB per file) through the smallest and the largest size."""
    (n0, m0), (n1, m1) = points[0], points[-1]
    slope = (m1 - m0) / (n1 - n0)
    return m0 - slope * n0, slope


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="pins of the crawl the timings run on")
    parser.add_argument("--memory-files", type=int, nargs="+", default=[10000, 50000],
                        help="sizes of the small-image crawls the memory stages run on (two or more)")
    parser.add_argument("--large-fraction", type=float, default=0.5, help="share of 736x1100 pins")
    parser.add_argument("--block", type=int, default=200, help="files per timed block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads of the scaling run and of the clean_shard memory stage")
    parser.add_argument("--keep", action="store_true", help="keep the crawls (default: deleted at the end)")
    parser.add_argument("--cores", type=int, default=32, help="cores of the machine projected onto")
    parser.add_argument("--workdir", help="make the crawl and outputs under this folder (default: /tmp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args()
    config = repository_config()

    if args.stage:  # child: one stage, its figures as a JSON line
        print(json.dumps(run_stage(args.stage, Path(args.root), Path(args.results), config, args.threads)))
        return

    sizes = sorted(set(args.memory_files))
    if len(sizes) < 2:
        parser.error("--memory-files needs two sizes or more (memory per file is a slope)")
    work = Path(tempfile.mkdtemp(prefix="cleaning_throughput.", dir=args.workdir))
    try:
        run(args, config, sizes, work)
    finally:
        if not args.keep:
            shutil.rmtree(work)
        else:
            print(f"\n(kept {work})")


def run(args, config: dict, sizes: list[int], work: Path) -> None:
    import pandas as pd

    began = time.perf_counter()
    root = work / "crawl"
    kinds = make_crawl(root, args.files, config["categories"], args.large_fraction, args.seed)
    made = time.perf_counter() - began
    kb = {k: [os.path.getsize(root / p) / 1000 for p, v in kinds.items() if v == k] for k in ("thumb", "large")}
    kb["all"] = kb["thumb"] + kb["large"]
    small = make_crawl(work / "small", sizes[-1], config["categories"], 0, args.seed, small=True)
    roots = {sizes[-1]: work / "small"}
    for n in sizes[:-1]:
        subset_crawl(work / "small", small, n, work / f"small-{n}")
        roots[n] = work / f"small-{n}"
    print(f"# {args.files:,} pins made in {made:.0f} s: "
          + ", ".join(f"{len(kb[k]):,} {k} (median {np.median(kb[k]):.0f} kB)" for k in ("thumb", "large") if kb[k])
          + f"; {os.cpu_count()} cores seen, Pillow {Image.__version__}\n")

    memory = {}
    for n in sizes:
        (work / f"results-{n}").mkdir()
        memory[n] = {stage: stage_in_child(stage, roots[n], work / f"results-{n}", args.threads) for stage in STAGES}
    (work / "results").mkdir()
    stage_in_child("ingest", root, work / "results", args.threads)  # raw.parquet of the pins
    raw = pd.read_parquet(work / "results" / "raw.parquet")
    ingest_seconds, ingest_files = time_ingest(root)
    rates = time_clean_vs_decode(raw, root, kinds, config, args.block, args.rounds)
    kind_of = raw["path"].map(kinds)
    shares = {kind: gil_share([root / p for p in part["path"]], part, root, config)
              for kind, part in (("thumb", raw[kind_of == "thumb"]), ("large", raw[kind_of == "large"]), ("all", raw))
              if len(part)}
    threaded = time_threads(raw, root, config, args.threads)

    print(f"## Throughput, {args.files:,} pins (clean and bare decode on one thread: {args.rounds} rounds of "
          f"{args.block}-file blocks, order alternating)\n")
    print("| pins | clean img/s per core | bare decode img/s | clean / decode, median [quartiles] |")
    print("|---|---|---|---|")
    for kind, label in (("thumb", "236 px thumbnails"), ("large", "736x1100"), ("all", "all")):
        if kind in rates:
            r = rates[kind]
            print(f"| {label} ({r['images']:,}) | {r['clean']:,.0f} | {r['decode']:,.0f} | "
                  f"{r['ratio']:.2f} [{r['quartiles'][0]:.2f}, {r['quartiles'][1]:.2f}] |")
    print(f"\n- ingest: {ingest_files / ingest_seconds:,.0f} image files/s ({ingest_files:,} in "
          f"{ingest_seconds:.2f} s, median of 3)")
    print("- GIL share of check_rows: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
          + " (a job's threads check at most 1 / share times one thread's rate)")
    print(f"- check_rows on {args.threads} threads: {threaded[args.threads]:,.0f} img/s, "
          f"{threaded[args.threads] / threaded[1]:.2f}x one thread ({threaded[1]:,.0f} img/s)")

    print("\n## Peak memory above the RSS after imports, MB (each stage in a fresh process, on crawls of "
          "64 x 64 JPEGs)\n")
    print("| files | ingest | clean_shard (all rows, one job) | clean (merge) | ingest s | clean_shard s | clean s |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        m = memory[n]
        print(f"| {n:,} | " + " | ".join(f"{m[s]['peak_mb']:.1f}" for s in STAGES) + " | "
              + " | ".join(f"{m[s]['seconds']:.1f}" for s in STAGES) + " |")
    fits = {stage: line_fit([(n, memory[n][stage]["peak_mb"]) for n in sizes]) for stage in STAGES}
    print(f"| MB per 100,000 files (slope {sizes[0]:,} → {sizes[-1]:,}) | "
          + " | ".join(f"{fits[s][1] * 1e5:.0f}" for s in STAGES) + " |  |  |  |")
    if sizes[-1] < 100_000:
        print("\n(Below ~100,000 files the allocators' steps blur the slope: for figures to project from, "
              "run with --memory-files 25000 100000 200000.)")
    project(args.cores, ingest_files / ingest_seconds, rates, shares, kb, fits,
            sizes[-1] / memory[sizes[-1]]["clean"]["seconds"])


def project(cores: int, ingest_rate: float, rates: dict, shares: dict, kb: dict, fits: dict,
            merge_rate: float) -> None:
    """The real crawl on `cores` cores, from the figures measured here."""
    real = REAL_CRAWL_IMAGES

    def mb(stage, files):
        return fits[stage][0] + fits[stage][1] * files

    # a job's threads beyond 1 / GIL share wait for the GIL: keep the rule's 8 unless that wastes a quarter
    bound = 1 / shares["all"]
    threads = JOB_THREADS if bound >= 0.75 * JOB_THREADS else max(1, int(bound))
    at_once = max(1, cores // threads)
    per_job = -(-real // at_once)
    print(f"\n## Projection: {real:,} images on {cores} cores\n")
    print(f"- ingest (one job): {fmt_time(real / ingest_rate)} at {ingest_rate:,.0f} files/s from the page cache "
          f"(a network file system lists slower); peak ≈ {mb('ingest', real):,.0f} MB")
    print(f"- clean_shard: {threads} threads per job"
          + (f" (`--set-threads clean_shard={threads}`)" if threads != JOB_THREADS else "")
          + f", {at_once} jobs at a time: `clean.shards: {at_once}` (or a multiple of it, for shorter jobs), "
          f"{per_job:,} images per job, peak ≈ {mb('clean_shard', per_job):,.0f} MB per job")
    for kind, label in (("all", "this mix"), ("large", "all 736x1100"), ("thumb", "all thumbnails")):
        if kind in rates:
            rate = rates[kind]["clean"] * at_once * min(threads, 1 / shares[kind])
            print(f"  - {label}: {rates[kind]['clean']:,.0f} img/s per core x {at_once} jobs x "
                  f"{min(threads, 1 / shares[kind]):.1f} threads' worth = {rate:,.0f} img/s → "
                  f"{fmt_time(real / rate)} of decoding, if the file system delivers "
                  f"{rate * np.mean(kb[kind]) / 1e6:.1f} GB/s")
    print(f"- clean (merge, one job): {fmt_time(real / merge_rate)}, peak ≈ {mb('clean', real):,.0f} MB")


if __name__ == "__main__":
    main()
