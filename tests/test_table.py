"""The 6x3 table: layout, means, bold cells, the random-weights note, the paper comparison."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import PAPER_BACKBONES
from pinclass.table import (RANDOM_WEIGHTS_NOTE, build_table, heatmap, paper_comparison, to_csv, to_latex,
                            to_markdown)

BACKBONES = ["efficientnetv2_b0", "convnext_base"]
CLASSIFIERS = ["knn", "lsvm", "nn"]
PAPER = {name: entry["paper"] for name, entry in PAPER_BACKBONES.items()}  # Table 4.1, from config.yaml
SCORES = {("efficientnetv2_b0", "knn"): 0.10, ("efficientnetv2_b0", "lsvm"): 0.40, ("efficientnetv2_b0", "nn"): 0.10,
          ("convnext_base", "knn"): 0.30, ("convnext_base", "lsvm"): 0.20, ("convnext_base", "nn"): 0.25}


def table():
    return build_table(SCORES, BACKBONES, CLASSIFIERS)


def test_layout_and_means():
    t = table()
    assert list(t.index) == BACKBONES + ["mean"] and list(t.columns) == CLASSIFIERS + ["mean"]
    assert t.loc["efficientnetv2_b0", "mean"] == pytest.approx(0.2)
    assert t.loc["convnext_base", "mean"] == pytest.approx(0.25)
    assert t.loc["mean", "knn"] == pytest.approx(0.2) and t.loc["mean", "lsvm"] == pytest.approx(0.3)
    assert np.isnan(t.loc["mean", "mean"])


def test_rows_and_columns_follow_the_config_order():
    t = build_table(SCORES, ["convnext_base", "efficientnetv2_b0"], ["nn", "knn", "lsvm"])
    assert list(t.index) == ["convnext_base", "efficientnetv2_b0", "mean"]
    assert list(t.columns) == ["nn", "knn", "lsvm", "mean"]


def test_a_missing_cell_is_an_error():
    scores = dict(SCORES)
    del scores["convnext_base", "nn"]
    with pytest.raises(ValueError, match="convnext_base', 'nn"):
        build_table(scores, BACKBONES, CLASSIFIERS)


def test_markdown_bolds_the_best_cell_and_means():
    lines = to_markdown(table()).splitlines()
    assert lines[0] == "| features | knn | lsvm | nn | mean |"
    assert lines[2] == "| efficientnetv2_b0 | 0.100 | **0.400** | 0.100 | 0.200 |"
    assert lines[3] == "| convnext_base | 0.300 | 0.200 | 0.250 | **0.250** |"
    assert lines[4] == "| mean | 0.200 | **0.300** | 0.175 |  |"


def test_latex_and_csv_render_the_same_numbers():
    tex = to_latex(table())
    assert r"efficientnetv2\_b0 & 0.100 & \textbf{0.400} & 0.100 & 0.200 \\" in tex
    frame = pd.read_csv(io.StringIO(to_csv(table())), comment="#")
    assert list(frame.columns) == ["backbone", *CLASSIFIERS, "mean"]
    assert frame.set_index("backbone").loc["convnext_base", "knn"] == pytest.approx(0.3)


def test_random_weights_note_is_the_first_line_everywhere():
    t = table()
    for text in (to_markdown(t, RANDOM_WEIGHTS_NOTE), to_latex(t, RANDOM_WEIGHTS_NOTE), to_csv(t, RANDOM_WEIGHTS_NOTE),
                 paper_comparison(t, 32, PAPER, RANDOM_WEIGHTS_NOTE)):
        assert "RANDOM weights" in text.splitlines()[0]
    assert "RANDOM" not in to_markdown(t).splitlines()[0]


def test_paper_comparison_puts_each_cell_beside_paper_and_chance():
    text = paper_comparison(table(), 32, PAPER)
    assert "Chance level (1/32 classes): 0.031." in text
    assert "| efficientnetv2_b0 | nn | 0.100 | 0.002 | +0.098 | yes |" in text
    assert "| convnext_base | knn | 0.300 | 0.115 | +0.185 | yes |" in text
    low = build_table({k: 0.01 for k in SCORES}, BACKBONES, CLASSIFIERS)
    assert "| convnext_base | lsvm | 0.010 | 0.110 | -0.100 | no |" in paper_comparison(low, 32, PAPER)
    assert "| resnet50 | knn | 0.500 | — | — | yes |" in paper_comparison(
        build_table({("resnet50", "knn"): 0.5}, ["resnet50"], ["knn"]), 32, PAPER)  # no paper value


def test_heatmap_is_a_png_and_identical_when_redrawn(tmp_path):
    heatmap(table(), tmp_path / "a.png")
    heatmap(table(), tmp_path / "b.png")
    with Image.open(tmp_path / "a.png") as image:
        assert image.format == "PNG" and image.width > 200
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
