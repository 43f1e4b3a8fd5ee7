"""Near-duplicates: the hash survives a resize and a re-encode, grouping finds exactly the close
pairs without comparing all of them, `drop` keeps one per group and files the rest, and the sample
reports test images with a near-duplicate in train."""

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pinclass.cleaning import check_rows, merge_checks
from pinclass.demo_crawl import category_image
from pinclass.images import dhash
from pinclass.ingest import image_id
from pinclass.near_duplicates import close_pairs, groups_with_both, near_duplicate_groups
from pinclass.sampling import split_summary

CATEGORIES = ["animals", "art", "travel"]


def picture(category, seed, size=256):
    return category_image(category, np.random.default_rng(seed), size)


def distance(a, b):
    return int(np.bitwise_count(np.uint64(a) ^ np.uint64(b)))


def test_a_resized_and_reencoded_copy_keeps_its_hash_and_another_picture_does_not(tmp_path):
    original = picture(0, 1)
    original.save(tmp_path / "a.png")
    original.resize((180, 180), Image.Resampling.BICUBIC).save(tmp_path / "b.jpg", quality=70)
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.jpg") as b:
        assert distance(dhash(a.convert("RGB")), dhash(b.convert("RGB"))) <= 4
    others = [dhash(picture(c, seed)) for c, seed in itertools.product(range(3), range(2, 6))]
    assert min(distance(dhash(original), other) for other in others) > 8


def test_close_pairs_are_exactly_the_pairs_within_the_distance():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2 ** 63, 400, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 400, dtype=np.uint64)
    flips = rng.integers(0, 64, (100, 3))
    copies = hashes[:100].copy()
    for bits in flips.T[: 3]:  # up to 3 flipped bits: within 4
        copies ^= np.uint64(1) << bits.astype(np.uint64)
    hashes = np.unique(np.concatenate([hashes, copies]))
    for max_distance in (0, 2, 4, 7):
        found = {tuple(sorted(pair)) for pair in close_pairs(hashes, max_distance).T.tolist()}
        expected = {(i, j) for i, j in itertools.combinations(range(len(hashes)), 2)
                    if distance(hashes[i], hashes[j]) <= max_distance}
        assert found == expected and (max_distance < 4 or len(expected) >= 90)


def test_groups_are_connected_components_labelled_by_their_first_member():
    far = 0b111 << 40  # 3 bits from 0, 6 from 0b111
    hashes = np.array([0b0, 0b111, 0b1, far, 0b11, far + 1, 0b0], dtype=np.uint64)
    # 0 ~ 1 ~ 11 ~ 111 by chains of one bit; far ~ far + 1; the last is identical to the first
    np.testing.assert_array_equal(near_duplicate_groups(hashes, 1), [0, 0, 0, 3, 0, 3, 0])
    np.testing.assert_array_equal(near_duplicate_groups(hashes, 0), [0, 1, 2, 3, 4, 5, 0])
    split = np.array(["train", "test", "test", "train", "train", "train", "train"])
    np.testing.assert_array_equal(groups_with_both(near_duplicate_groups(hashes, 1), split),
                                  [True, True, True, False, True, False, True])


def crawl_with_copies(root):
    """Six pictures, two of them re-pinned (resized + re-encoded), one of those under another category."""
    files = {}
    for i in range(6):
        rel = f"u/b{i}/{i}/{i}.png"
        (root / rel).parent.mkdir(parents=True)
        picture(i % 3, 10 + i).save(root / rel)
        files[rel] = CATEGORIES[i % 3]
    for i, category in ((0, "animals"), (1, "travel")):
        rel = f"v/repins/{i}/{i}.jpg"
        (root / rel).parent.mkdir(parents=True)
        picture(i % 3, 10 + i).resize((200, 200)).save(root / rel, quality=75)
        files[rel] = category
    raw = pd.DataFrame([{"image_id": image_id(rel), "path": rel, "user": "u", "board": "b", "pin_id": "p",
                         "category": c, "bytes": 1} for rel, c in files.items()]).astype(
        {c: "string" for c in ("image_id", "path", "user", "board", "pin_id", "category")})
    return raw


@pytest.mark.parametrize("mode", ["keep", "drop"])
def test_cleaning_reports_near_duplicates_and_drop_files_all_but_the_first(tmp_path, mode):
    raw = crawl_with_copies(tmp_path)
    checks = check_rows(raw, tmp_path, CATEGORIES, [], min_size=32, max_pixels=10 ** 7)
    empty = pd.DataFrame(columns=["image_id", "path", "category", "reason", "detail"]).astype("string")
    clean, rejected, summary = merge_checks(raw, checks, empty, {}, near_duplicates=mode, max_distance=4)
    near = summary["near_duplicates"]
    assert (near["groups"], near["images"], near["across_categories"]) == (2, 4, 1)
    assert near["groups_across_categories"] == [{"kept": "u/b1/1/1.png", "categories": ["art", "travel"],
                                                 "paths": ["u/b1/1/1.png", "v/repins/1/1.jpg"]}]
    assert sorted(clean["path"]) + sorted(rejected["path"]) != [] and len(clean) + len(rejected) == len(raw)
    assert set(clean["image_id"]).isdisjoint(rejected["image_id"])  # conservation: each file once
    if mode == "keep":
        assert len(clean) == 8 and rejected.empty
    else:
        assert sorted(rejected["path"]) == ["v/repins/0/0.jpg", "v/repins/1/1.jpg"]
        assert set(rejected["reason"]) == {"near_duplicate"}
        assert dict(zip(rejected["path"], rejected["detail"])) == {
            "v/repins/0/0.jpg": "near-duplicate of u/b0/0/0.png", "v/repins/1/1.jpg": "near-duplicate of u/b1/1/1.png"}
        assert summary["rejected_by_reason"] == {"near_duplicate": 2}


def test_the_sample_summary_counts_test_images_with_a_near_duplicate_in_train():
    sample = pd.DataFrame({"image_id": list("abcdef"), "label": [0, 0, 1, 1, 2, 2],
                           "split": ["train", "test", "train", "test", "train", "test"],
                           "dhash": np.array([0b0, 0b1, 2 ** 30, 7 * 2 ** 50, 2 ** 20, 2 ** 20 + 3], dtype=np.uint64)})
    summary = split_summary(sample, CATEGORIES, 0.5, "none", max_distance=2)
    assert summary["near_duplicate_test_images"] == 2  # b (of a) and f (of e); d has none
    assert split_summary(sample, CATEGORIES, 0.5, "none", max_distance=0)["near_duplicate_test_images"] == 0
