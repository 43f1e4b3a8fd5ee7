"""results/summary.md gathers the data counts, the table, the leakage check, the paper comparison and the board
scores."""

from pinclass.summary import summary_markdown
from pinclass.table import RANDOM_WEIGHTS_NOTE

CLEAN = {"files_found": 975, "clean": 960, "rejected": 15, "duplicate_conflicts": [{}],
         "rejected_by_reason": {"unreadable": 3, "duplicate": 2, "excluded_category": 10}}
SAMPLE = {"group_by": "board", "groups": 41, "test_groups": 9, "test_fraction": 0.2, "tolerance": 0.02,
          "outside_tolerance": ["art"], "missing_from_a_fold": ["travel"], "without_test_images": [],
          "categories": {"art": {"images": 24, "test": 7, "test_share": 0.2917},
                         "travel": {"images": 24, "test": 5, "test_share": 0.2083}}}
NOTE = f"> **{RANDOM_WEIGHTS_NOTE}**"


def test_the_summary_holds_each_part_once_with_the_note_on_top():
    table = f"{NOTE}\n\n| features | knn | mean |\n|---|---|---|\n| b0 | 0.500 | 0.500 |\n"
    leakage = f"{NOTE}\n\nEach test image's cosine similarity...\n\n| features | test images |\n"
    comparison = f"{NOTE}\n\nChance level (1/32 classes): 0.031.\n"
    boards = ("> With `sample.group_by: none` the split is image by image: a test board's other pins are in "
              "training.\n\n| features | classifier | boards | board accuracy |\n|---|---|---|---|\n"
              "| b0 | knn | 9 | 0.667 |\n")
    text = summary_markdown(CLEAN, SAMPLE, table, leakage, comparison, boards)
    lines = text.splitlines()
    assert lines[0] == "# Summary" and lines[2] == NOTE and text.count(RANDOM_WEIGHTS_NOTE) == 1
    assert "975 image files found, 960 kept, 15 rejected" in text
    assert "| excluded_category | 10 |" in text and "| unreadable | 3 |" in text
    assert "Identical files under different categories (label noise, one copy kept): 1." in text
    assert "Sample: 48 images in 2 categories, 12 for test, split `group_by: board` (41 groups, 9 in test)" in text
    assert "off the test share of 0.2: art; missing from a cross-validation fold: travel; without test images: none." in text
    assert "| b0 | 0.500 | 0.500 |" in text and "Each test image's cosine similarity" in text
    assert "Chance level (1/32 classes): 0.031." in text
    boards_section = text[text.index("## Boards"):]
    assert boards_section.index("other pins are in training") < boards_section.index("| b0 | knn | 9 | 0.667 |")
    sections = [line for line in lines if line.startswith("## ")]
    assert sections == ["## Data", "## Test macro F1", "## Near-copies between test and train", "## Against the paper",
                        "## Boards"]


def test_the_summary_shows_the_test_share_by_board_size_when_the_split_is_grouped():
    bands = [{"band": "1-4", "groups": 30, "images": 60, "test_groups": 7, "test_images": 13, "test_share": 0.2167},
             {"band": ">=30", "groups": 1, "images": 35, "test_groups": 0, "test_images": 0, "test_share": 0.0},
             {"band": "5-9", "groups": 0, "images": 0, "test_groups": 0, "test_images": 0, "test_share": None}]
    text = summary_markdown(CLEAN, SAMPLE | {"by_group_size": bands}, "| t |", "", "", "")
    assert "| board size | boards | images | test boards | test images | test share |" in text
    assert "| 1-4 | 30 | 60 | 7 | 13 | 0.217 |" in text and "| >=30 | 1 | 35 | 0 | 0 | 0.000 |" in text
    assert "| 5-9 | 0 | 0 | 0 | 0 | – |" in text
    assert "test share by" not in summary_markdown(CLEAN, SAMPLE, "| t |", "", "", "").lower()
