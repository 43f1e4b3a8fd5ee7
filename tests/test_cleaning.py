"""Cleaning: every file fully decoded; unusual-but-valid kept, broken rejected with a reason."""

import os

import threading

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from conftest import small_config
from pinclass.atomic import read_table, write_parquet
from pinclass.config import validate_config
from pinclass.cleaning import CHECK_DTYPES, SHARD_COLUMNS, check_rows, merge_checks, read_shard, run_indexed
from pinclass.images import decode_rgb, load_rgb
from pinclass.shards import shard_rows
from pinclass.demo_crawl import category_image, make_demo_crawl, write_image
from pinclass.ingest import ingest_crawl, image_id
from pinclass.near_duplicates import Rule

CATEGORIES = ["animals", "art", "travel"]
EXCLUDE = ["none", "other"]
LIMITS = {"min_size": 32, "max_pixels": 20_000_000}
RULE = Rule.from_config(validate_config(small_config())["clean"])  # the schema's defaults


def base_image(category=0, seed=0):
    return category_image(category, np.random.default_rng(seed), 64).crop((0, 0, 64, 48))


def make_raw(root, files: dict) -> pd.DataFrame:
    rows = [{"image_id": image_id(rel), "path": rel, "user": "u", "board": "b", "pin_id": "p",
             "category": category, "bytes": (root / rel).stat().st_size} for rel, category in files.items()]
    return pd.DataFrame(rows).astype({c: "string" for c in ("image_id", "path", "user", "board", "pin_id",
                                                            "category")})


def clean_files(root, files: dict, **limits):
    raw = make_raw(root, files)
    checks = check_rows(raw, root, CATEGORIES, EXCLUDE, **(LIMITS | limits))
    empty = pd.DataFrame(columns=["image_id", "path", "category", "reason", "detail"]).astype("string")
    return merge_checks(raw, checks, empty, {}, "keep", RULE)


def one(root, kind, category="art", **limits):
    path = write_image(root / kind, kind, base_image())
    clean, rejected, _ = clean_files(root, {path.name: category}, **limits)
    return clean, rejected


@pytest.mark.parametrize("kind, fmt, size", [
    ("cmyk_jpeg", "JPEG", (64, 48)),
    ("png16", "PNG", (64, 48)),
    ("palette_alpha_png", "PNG", (64, 48)),
    ("animated_gif", "GIF", (64, 48)),
    ("webp", "WEBP", (64, 48)),
    ("exif_rotated_jpeg", "JPEG", (36, 64)),  # stored 64x36, displayed rotated
    ("uppercase_ext", "JPEG", (64, 48)),
])
def test_unusual_but_valid_images_are_kept(tmp_path, kind, fmt, size):
    clean, rejected = one(tmp_path, kind)
    assert rejected.empty, rejected.to_dict("records")
    row = clean.iloc[0]
    assert (row["format"], (row["width"], row["height"])) == (fmt, size)
    assert len(row["sha256"]) == 64


@pytest.mark.parametrize("kind, reason, detail", [
    ("zero_byte", "unreadable", "empty file"),
    ("truncated_jpeg", "unreadable", "Truncated"),
    ("html_as_jpg", "unreadable", "starts with b'<!DOCTYPE html>"),
    ("bomb_png", "too_large", "exceeds limit of 20000000 pixels"),
    ("tiny_png", "too_small", "16x16 is below the minimum side of 32 px"),
])
def test_broken_images_are_rejected_with_reason(tmp_path, kind, reason, detail):
    clean, rejected = one(tmp_path, kind)
    assert clean.empty
    row = rejected.iloc[0]
    assert row["reason"] == reason and detail in row["detail"] and row["category"] == "art"


def test_truncated_png_is_caught_by_the_full_decode(tmp_path):
    path = write_image(tmp_path / "x", "png", category_image(3, np.random.default_rng(1), 64))
    path.write_bytes(path.read_bytes()[:-200])
    clean, rejected, _ = clean_files(tmp_path, {path.name: "art"})
    assert clean.empty and rejected.iloc[0]["reason"] == "unreadable"


def test_pixel_and_size_limits_are_configurable(tmp_path):
    clean, _ = one(tmp_path, "bomb_png", max_pixels=40_000_000)
    assert len(clean) == 1
    _, rejected = one(tmp_path, "png", min_size=50)
    assert rejected.iloc[0]["reason"] == "too_small"


def test_categories_are_checked_before_decoding(tmp_path):
    files = {write_image(tmp_path / n, "zero_byte", base_image()).name: c
             for n, c in (("a", "none"), ("b", "cats_and_dogs"), ("c", None))}
    clean, rejected, _ = clean_files(tmp_path, files)
    assert clean.empty
    assert dict(zip(rejected["path"], rejected["reason"])) == {
        "a.jpg": "excluded_category", "b.jpg": "unknown_category", "c.jpg": "unknown_category"}


def test_exact_duplicates_keep_one_copy_and_conflicts_are_reported(tmp_path):
    first = write_image(tmp_path / "a", "png", base_image())
    for name in ("b.png", "c.png"):
        (tmp_path / name).write_bytes(first.read_bytes())
    other = write_image(tmp_path / "d", "png", base_image(seed=5))
    clean, rejected, summary = clean_files(tmp_path, {"a.png": "art", "b.png": "art", "c.png": "travel",
                                                      other.name: "art"})
    assert sorted(clean["path"]) == ["a.png", "d.png"]
    assert set(rejected["reason"]) == {"duplicate"}
    assert set(rejected["detail"]) == {"same bytes as a.png"}
    [conflict] = summary["duplicate_conflicts"]
    assert conflict["categories"] == ["art", "travel"] and conflict["kept"] == "a.png"
    assert conflict["paths"] == ["a.png", "b.png", "c.png"]


def _demo(tmp_path):
    root = tmp_path / "crawl"
    make_demo_crawl(root, CATEGORIES, EXCLUDE, images_per_category=8, seed=1, size=48)
    raw, ingest_rejected, ingest_summary = ingest_crawl(root)
    return root, raw, ingest_rejected, ingest_summary


def _clean_sharded(root, raw, ingest_rejected, ingest_summary, shards, threads=1):
    checks = pd.concat([check_rows(shard_rows(raw, i, shards), root, CATEGORIES, EXCLUDE, **LIMITS,
                                   threads=threads) for i in range(shards)], ignore_index=True)
    return merge_checks(raw, checks, ingest_rejected, ingest_summary, "keep", RULE)


def test_every_file_found_ends_in_clean_or_rejected_exactly_once(tmp_path):
    root, *ingested = _demo(tmp_path)
    clean, rejected, summary = _clean_sharded(root, *ingested, shards=1)
    metadata = {"boards.json", "board.json", "pin.json"}
    found = []
    for folder, _, files in os.walk(root):
        depth = len(os.path.relpath(folder, root).split(os.sep))
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if name not in metadata and (depth == 3 or name.lower().endswith((".jpg", ".png"))):
                found.append(rel)
    listed = list(clean["path"]) + list(rejected["path"])
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(found)
    assert summary["files_found"] == len(found) == summary["clean"] + summary["rejected"]
    assert summary["clean_by_category"] == {c: 8 for c in CATEGORIES}
    assert set(summary["rejected_by_reason"]) == {"duplicate", "excluded_category", "too_large", "too_small",
                                                  "unknown_category", "unreadable"}


def test_shards_and_threads_do_not_change_the_result(tmp_path):
    root, *ingested = _demo(tmp_path)
    one_shard = _clean_sharded(root, *ingested, shards=1)
    three_shards = _clean_sharded(root, *ingested, shards=3, threads=2)
    pd.testing.assert_frame_equal(one_shard[0], three_shards[0])
    pd.testing.assert_frame_equal(one_shard[1], three_shards[1])
    assert one_shard[2] == three_shards[2]


def test_missing_shard_rows_are_refused(tmp_path):
    root, raw, ingest_rejected, ingest_summary = _demo(tmp_path)
    checks = check_rows(shard_rows(raw, 0, 2), root, CATEGORIES, EXCLUDE, **LIMITS)
    with pytest.raises(ValueError, match="clean shards cover"):
        merge_checks(raw, checks, ingest_rejected, ingest_summary, "keep", RULE)


def test_checks_in_any_order_and_repeated_ids_refused(tmp_path):
    root, raw, ingest_rejected, ingest_summary = _demo(tmp_path)
    checks = check_rows(raw, root, CATEGORIES, EXCLUDE, **LIMITS)
    in_order = merge_checks(raw, checks, ingest_rejected, ingest_summary, "keep", RULE)
    shuffled = merge_checks(raw, checks.sample(frac=1, random_state=0), ingest_rejected, ingest_summary, "keep",
                            RULE)
    pd.testing.assert_frame_equal(in_order[0], shuffled[0])
    pd.testing.assert_frame_equal(in_order[1], shuffled[1])
    assert in_order[2] == shuffled[2]
    repeated = pd.concat([checks.iloc[1:], checks.iloc[2:3]], ignore_index=True)  # right length, one id twice
    with pytest.raises(ValueError, match="clean shards cover .* missing or repeated"):
        merge_checks(raw, repeated, ingest_rejected, ingest_summary, "keep", RULE)


def test_duplicates_and_conflicts_match_their_definition():
    """Many random copies: the first path of each sha256 is kept, every later one names it, and
    conflicts list each sha256 filed under more than one category — as a plain groupby says."""
    rng = np.random.default_rng(0)
    n = 400
    paths = [f"u{rng.integers(9)}/b{rng.integers(5)}/{i}/{i}.jpg" for i in range(n)]
    raw = pd.DataFrame({"image_id": [f"{i:016x}" for i in range(n)], "path": paths, "user": "u", "board": "b",
                        "pin_id": [str(i) for i in range(n)], "category": rng.choice(CATEGORIES, n),
                        "bytes": 1}).astype({c: "string" for c in SHARD_COLUMNS + ["user", "board", "pin_id"]})
    reason = rng.choice([None, None, None, "unreadable"], n)
    copy_of = rng.integers(0, 60, n)  # which of 60 pictures each file holds
    far_apart = rng.integers(0, 2 ** 63, 60, dtype=np.uint64)  # their hashes: no two near-duplicates
    checks = pd.DataFrame({"image_id": raw["image_id"], "reason": reason, "detail": reason,
                           "width": [None if r else 64 for r in reason], "height": [None if r else 48 for r in reason],
                           "format": [None if r else "PNG" for r in reason],
                           "sha256": [None if r else f"{h:064x}" for r, h in zip(reason, copy_of)],
                           "dhash": [None if r else int(far_apart[h]) for r, h in zip(reason, copy_of)],
                           "phash": [None if r else 0 for r in reason], "colour": [None if r else 0 for r in reason],
                           "box": [None if r else 0xFFFF_FFFF for r in reason],
                           "thumbnail": [None if r else bytes(192) for r in reason]})
    checks = checks.astype(CHECK_DTYPES)
    empty = pd.DataFrame(columns=["image_id", "path", "category", "reason", "detail"]).astype("string")
    clean, rejected, summary = merge_checks(raw, checks, empty, {}, "keep", RULE)

    merged = raw.merge(checks, on="image_id")
    passed = merged[merged["reason"].isna()].sort_values("path")
    first = passed.groupby("sha256")["path"].first()
    assert sorted(clean["path"]) == sorted(first)
    copies = rejected[rejected["reason"] == "duplicate"]
    sha_of = dict(zip(passed["path"], passed["sha256"]))
    assert len(copies) == len(passed) - len(first)
    for path, detail in zip(copies["path"], copies["detail"]):
        assert detail == f"same bytes as {first[sha_of[path]]}"
    expected = [{"sha256": sha, "categories": sorted(set(group["category"])), "paths": sorted(group["path"]),
                 "kept": first[sha]} for sha, group in passed.groupby("sha256") if group["category"].nunique() > 1]
    assert summary["duplicate_conflicts"] == expected and expected


def test_read_shard_reads_shard_rows_of_the_needed_columns_in_batches(tmp_path):
    root, raw, _, _ = _demo(tmp_path)
    write_parquet(raw, tmp_path / "raw.parquet")
    table = read_table(tmp_path / "raw.parquet")
    for shards in (1, 2, 5, len(raw) + 3):
        for shard in range(shards):
            part = read_shard(tmp_path / "raw.parquet", shard, shards, batch_rows=7)
            assert list(part.columns) == SHARD_COLUMNS
            pd.testing.assert_frame_equal(part, shard_rows(table[SHARD_COLUMNS], shard, shards).reset_index(drop=True))


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_run_indexed_runs_every_index_once(threads):
    seen, lock = [], threading.Lock()

    def task(i):
        with lock:
            seen.append(i)

    run_indexed(task, 103, threads)
    assert sorted(seen) == list(range(103))
    run_indexed(task, 0, threads)


def test_run_indexed_raises_a_task_error():
    def task(i):
        if i == 7:
            raise RuntimeError("boom")

    for threads in (1, 3):
        with pytest.raises(RuntimeError, match="boom"):
            run_indexed(task, 50, threads)


def test_decode_rgb_decodes_in_place_and_load_rgb_returns_an_independent_image(tmp_path):
    """The cleaning decode makes no copy of an upright RGB JPEG; extraction's load_rgb still
    returns pixels that outlive the file, equal to Pillow's own transpose + convert."""
    plain = write_image(tmp_path / "plain", "jpeg", base_image())
    rotated = write_image(tmp_path / "rotated", "exif_rotated_jpeg", base_image())
    cmyk = write_image(tmp_path / "cmyk", "cmyk_jpeg", base_image())
    with Image.open(plain) as image:
        assert decode_rgb(image) is image
    with Image.open(rotated) as image:
        upright = decode_rgb(image)
        assert upright is not image and upright.size == (image.height, image.width)
    for path in (plain, rotated, cmyk):
        with Image.open(path) as image:
            reference = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        loaded = load_rgb(path)
        assert loaded.mode == "RGB" and np.array_equal(np.asarray(loaded), reference)
