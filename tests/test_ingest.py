"""Ingest on hostile crawl trees and manifest CSVs: nothing crashes, nothing is lost."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pinclass.demo_crawl import category_image, write_image
import pinclass.ingest
from pinclass.ingest import image_id, ingest_crawl, ingest_manifest, sort_by_path, suffix


def pin(root, user, board, pin_id, kind="jpeg"):
    return write_image(root / user / board / pin_id / pin_id, kind, category_image(0, _rng(), 48))


def _rng():
    return np.random.default_rng(0)


def boards_json(root, user, mapping):
    (root / user).mkdir(parents=True, exist_ok=True)
    (root / user / "boards.json").write_text(json.dumps({b: {"category": c} for b, c in mapping.items()}))


def by_path(frame):
    return {row["path"]: row for row in frame.to_dict("records")}


def test_regular_tree_lists_every_image_with_its_board_category(tmp_path):
    boards_json(tmp_path, "u1", {"b1": "art", "b2": "travel"})
    a = pin(tmp_path, "u1", "b1", "111")
    b = pin(tmp_path, "u1", "b2", "222", "png")
    (a.parent / "pin.json").write_text("{}")
    raw, rejected, summary = ingest_crawl(tmp_path)
    assert list(raw.columns) == ["image_id", "path", "user", "board", "pin_id", "category", "bytes"]
    rows = by_path(raw)
    assert rows["u1/b1/111/111.jpg"]["category"] == "art"
    assert rows["u1/b2/222/222.png"] == {"image_id": image_id("u1/b2/222/222.png"), "path": "u1/b2/222/222.png",
                                        "user": "u1", "board": "b2", "pin_id": "222", "category": "travel",
                                        "bytes": b.stat().st_size}
    assert rejected.empty
    assert summary["users"] == 1 and summary["boards"] == 2 and summary["pins"] == 2


def test_image_id_is_stable_and_unique():
    assert image_id("u/b/1/1.jpg") == image_id("u/b/1/1.jpg")
    assert image_id("u/b/1/1.jpg") != image_id("u/c/1/1.jpg")
    assert len(image_id("x")) == 16


def test_board_json_fallback_and_malformed_boards_json(tmp_path):
    (tmp_path / "u1").mkdir()
    (tmp_path / "u1" / "boards.json").write_text("{not json")
    pin(tmp_path, "u1", "described", "1")
    (tmp_path / "u1" / "described" / "board.json").write_text(json.dumps({"category": "food_drink"}))
    pin(tmp_path, "u1", "undescribed", "2")
    raw, rejected, summary = ingest_crawl(tmp_path)
    rows = by_path(raw)
    assert rows["u1/described/1/1.jpg"]["category"] == "food_drink"
    assert pd.isna(rows["u1/undescribed/2/2.jpg"]["category"])
    assert summary["malformed_board_files"] == 1
    assert "u1/boards.json" in summary["malformed_board_files_list"][0]


def test_boards_json_of_the_wrong_shape_is_recorded(tmp_path):
    (tmp_path / "u1").mkdir()
    (tmp_path / "u1" / "boards.json").write_text("[1, 2]")
    pin(tmp_path, "u1", "b", "1")
    raw, _, summary = ingest_crawl(tmp_path)
    assert pd.isna(raw.loc[0, "category"])
    assert "expected an object" in summary["malformed_board_files_list"][0]


def test_hostile_structures_are_recorded_not_fatal(tmp_path):
    boards_json(tmp_path, "u1", {"b": "art"})
    good = pin(tmp_path, "u1", "b", "1")
    (tmp_path / "u1" / "b" / "2").mkdir()                                  # empty pin folder
    (tmp_path / "u1" / "b" / "3").mkdir()
    (tmp_path / "u1" / "b" / "3" / "readme.txt").write_text("x")          # non-image in a pin folder
    (tmp_path / "u1" / "b" / "notes.txt").write_text("x")                 # stray file in a board
    Image.new("RGB", (40, 40)).save(tmp_path / "u1" / "b" / "loose.jpg")   # image outside a pin folder
    os.symlink(tmp_path / "u1", tmp_path / "u1" / "b" / "loop")           # directory symlink loop
    (tmp_path / "u1" / "b" / "4").mkdir()
    os.symlink("self.jpg", tmp_path / "u1" / "b" / "4" / "self.jpg")      # a link to itself
    bad_name = os.fsencode(tmp_path / "u1" / "b" / "5") + b"/caf\xe9.jpg"
    os.makedirs(os.path.dirname(bad_name))
    with open(bad_name, "wb") as f:                                       # non-UTF-8 file name
        f.write(good.read_bytes())

    raw, rejected, summary = ingest_crawl(tmp_path)

    assert list(raw["path"]) == ["u1/b/1/1.jpg"]
    reasons = dict(zip(rejected["path"], rejected["reason"]))
    assert reasons == {
        "u1/b/3/readme.txt": "not_image_name",
        "u1/b/loose.jpg": "misplaced_file",
        "u1/b/4/self.jpg": "broken_link",
        "u1/b/5/caf\\xe9.jpg": "bad_filename",
    }
    assert set(rejected["category"]) == {"art"}
    assert summary["empty_pin_folders_list"] == ["u1/b/2"]
    assert summary["stray_files_list"] == ["u1/b/notes.txt"]
    assert summary["symlink_loops_list"] == ["u1/b/loop"]


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ingest_crawl(tmp_path / "nowhere")


def test_manifest_csv_relative_absolute_missing_and_repeated(tmp_path):
    images = tmp_path / "imgs"
    rel = write_image(images / "a", "jpeg", category_image(1, _rng(), 48))
    absolute = write_image(tmp_path / "elsewhere" / "b", "png", category_image(2, _rng(), 48))
    csv = tmp_path / "list.csv"
    pd.DataFrame({
        "path": ["imgs/a.jpg", str(absolute), "imgs/missing.jpg", "imgs/a.jpg"],
        "category": ["art", "travel", "art", "art"],
        "board": ["b1", "", "", ""],
    }).to_csv(csv, index=False)
    raw, rejected, summary = ingest_manifest(csv)
    rows = by_path(raw)
    assert set(rows) == {"imgs/a.jpg", str(absolute)}
    assert rows["imgs/a.jpg"]["bytes"] == rel.stat().st_size and rows["imgs/a.jpg"]["board"] == "b1"
    assert rows[str(absolute)]["category"] == "travel" and rows[str(absolute)]["user"] == ""
    assert dict(zip(rejected["path"], rejected["reason"])) == {"imgs/missing.jpg": "missing_file",
                                                               "imgs/a.jpg": "duplicate_entry"}
    assert not set(rejected["image_id"]) & set(raw["image_id"]), "a repeated listing needs its own id"


def test_manifest_without_required_columns_is_refused(tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text("file,label\na.jpg,art\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['category', 'path'\]"):
        ingest_manifest(csv)


@pytest.mark.parametrize("name", ["a.jpg", "a.JPG", "a.tar.gz", ".jpg", "..jpg", "a.", "a", "a..b", ".", ""])
def test_suffix_is_pathlibs(name):
    from pathlib import PurePosixPath

    assert suffix(name) == PurePosixPath(name).suffix


def test_raw_is_in_path_order_though_the_walk_is_in_name_order(tmp_path):
    """Board "x" walks before "x-2" and "x.y", but its paths sort after theirs ('/' > '-', '.')."""
    boards_json(tmp_path, "u", {"x": "art", "x-2": "art", "x.y": "art", "x 3": "art"})
    for board in ("x", "x-2", "x.y", "x 3"):
        pin(tmp_path, "u", board, "1")
    raw, _, _ = ingest_crawl(tmp_path)
    assert list(raw["path"]) == sorted(raw["path"]) and len(raw) == 4
    assert list(raw.index) == [0, 1, 2, 3]


def test_rows_gathered_in_batches_make_the_same_tables(tmp_path, monkeypatch):
    boards_json(tmp_path, "u1", {"b1": "art", "b2": "travel"})
    boards_json(tmp_path, "u2", {"b1": "food_drink"})
    for user, board, pin_id in [("u1", "b1", "1"), ("u1", "b1", "2"), ("u1", "b2", "3"), ("u2", "b1", "4"),
                                ("u2", "b1", "5"), ("u2", "b1", "6"), ("u2", "b9", "7")]:
        pin(tmp_path, user, board, pin_id)
    whole = ingest_crawl(tmp_path)
    monkeypatch.setattr(pinclass.ingest, "BATCH_ROWS", 2)
    batched = ingest_crawl(tmp_path)
    pd.testing.assert_frame_equal(whole[0], batched[0])
    pd.testing.assert_frame_equal(whole[1], batched[1])
    assert whole[2] == batched[2]
    assert whole[0]["category"].isna().sum() == 1


def test_a_board_linked_twice_is_listed_once(tmp_path):
    """A symbolic link to a board is followed (its resolved path is looked up); the pins of the
    board it points to are then seen again, as loops. Plain folders resolve without os.path.realpath."""
    boards_json(tmp_path, "u", {"a-link": "art", "x": "art"})
    pin(tmp_path, "u", "x", "1")
    os.symlink(tmp_path / "u" / "x", tmp_path / "u" / "a-link")
    raw, _, summary = ingest_crawl(tmp_path)
    assert list(raw["path"]) == ["u/a-link/1/1.jpg"]
    assert summary["symlink_loops_list"] == ["u/x/1"]


def test_sort_by_path_copies_only_when_needed():
    table = pd.DataFrame({"path": pd.array(["b", "a", "c"], dtype="string"), "n": [1, 2, 3]}, index=[5, 6, 7])
    ordered = sort_by_path(table)
    assert list(ordered["path"]) == ["a", "b", "c"] and list(ordered["n"]) == [2, 1, 3]
    assert list(ordered.index) == [0, 1, 2]
    assert sort_by_path(ordered)["n"].tolist() == [2, 1, 3]
