"""The 6x3 table: layout, means, bold cells, the random-weights note, the paper comparison."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import PAPER_BACKBONES
from pinclass.plots import heatmap
from pinclass.table import (RANDOM_WEIGHTS_NOTE, build_table, paper_comparison, paper_table, repeat_table,
                            row_weights, to_csv, to_latex, to_markdown)

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
    t = table()
    sources = {(row, column): "random" for row in t.index[:-1] for column in t.columns[:-1]}
    frame = pd.read_csv(io.StringIO(to_csv(t, row_weights(sources))))  # a plain read: the header is line 1
    assert list(frame.columns) == ["backbone", "weights", *CLASSIFIERS, "mean"]
    assert frame.set_index("backbone").loc["convnext_base", "knn"] == pytest.approx(0.3)
    assert set(frame["weights"]) == {"random"}


def test_latex_escapes_every_text_and_prints_booktabs_in_a_captioned_table():
    t = build_table({("a&b%", "knn"): 0.1, ("a&b%", "nn"): 0.3, ("c_d#$", "knn"): 0.2, ("c_d#$", "nn"): 0.25},
                    ["a&b%", "c_d#$"], ["knn", "nn"])
    tex = to_latex(t, RANDOM_WEIGHTS_NOTE, {("a&b%", "knn"): (0.05, 0.15)})
    assert r"a\&b\% & 0.100 [0.050, 0.150] & \textbf{0.300} & 0.200 \\" in tex
    assert r"c\_d\#\$ & 0.200 & 0.250 & \textbf{0.225} \\" in tex
    lines = tex.splitlines()
    assert lines[0] == f"% {RANDOM_WEIGHTS_NOTE}" and lines[1] == r"\begin{table}" and lines[-1] == r"\end{table}"
    assert r"\label{tab:macro-f1}" in lines and any(line.startswith(r"\caption{") for line in lines)
    rules = [line for line in lines if line in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\midrule", r"\bottomrule"]  # a rule above the means
    assert lines[lines.index(r"\bottomrule") - 2] == r"\midrule" and r"\hline" not in tex
    assert "[" not in to_latex(t)  # intervals are optional


def test_each_row_of_the_csv_names_its_cells_weights_sources():
    sources = {("a", "knn"): "imagenet", ("a", "nn"): "imagenet", ("b", "knn"): "random", ("vote", "ensemble"): "random"}
    assert row_weights(sources) == {"a": "imagenet", "b": "random", "vote": "random", "mean": "imagenet+random"}


def test_random_weights_note_is_the_first_line_of_every_text_table():
    t = table()
    for text in (to_markdown(t, RANDOM_WEIGHTS_NOTE), to_latex(t, RANDOM_WEIGHTS_NOTE),
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


def test_heatmap_is_a_png_and_a_pdf_identical_when_redrawn(tmp_path):
    for name in ("a", "b"):
        heatmap(table(), tmp_path / f"{name}.png", RANDOM_WEIGHTS_NOTE, PAPER)
    with Image.open(tmp_path / "a.png") as image:
        assert image.format == "PNG" and image.width > 200
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    for kind in ("png", "pdf"):
        assert (tmp_path / f"a.{kind}").read_bytes() == (tmp_path / f"b.{kind}").read_bytes()


def test_the_heatmap_shows_the_papers_values_as_a_second_panel_when_there_are_any(tmp_path):
    theirs = paper_table(table(), PAPER)
    assert theirs.loc["convnext_base", "knn"] == pytest.approx(0.115) and "mean" in theirs.index
    assert paper_table(table(), {}) is None
    heatmap(table(), tmp_path / "one.png")
    heatmap(table(), tmp_path / "two.png", paper=PAPER)
    with Image.open(tmp_path / "one.png") as one, Image.open(tmp_path / "two.png") as two:
        assert two.width > 1.4 * one.width and abs(two.height - one.height) < 0.2 * one.height




def test_repeats_put_mean_and_sd_beside_each_single_split_value():
    repeats = repeat_table({("efficientnetv2_b0", "knn"): [0.10, 0.14, 0.12], ("convnext_base", "knn"): [0.30]})
    row = repeats.set_index(["backbone", "classifier"]).loc[("efficientnetv2_b0", "knn")]
    assert (row["repeats"], row["single_split"]) == (3, 0.10)
    assert row["mean"] == pytest.approx(0.12) and row["sd"] == pytest.approx(0.02)
    assert np.isnan(repeats.set_index("backbone").loc["convnext_base", "sd"])
    text = to_markdown(table(), repeats=repeats)
    assert "| efficientnetv2_b0 | 0.100 · 0.120 ± 0.020 |" in text and "over 3 splits" in text
    assert "| convnext_base | 0.300 |" in text  # one split: nothing beside it
    assert "0.100 · 0.120 ± 0.020" in to_latex(table(), repeats=repeats)
    assert "±" not in to_markdown(table(), repeats=repeat_table({("convnext_base", "knn"): [0.3]}))
