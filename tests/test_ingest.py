"""Ingest on hostile crawl trees and manifest CSVs: nothing crashes, nothing is lost."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pinclass.demo_crawl import category_image, write_image
from pinclass.ingest import image_id, ingest_crawl, ingest_manifest


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
