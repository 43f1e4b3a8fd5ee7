"""Board-level evaluation: boards scored by their pins' mean probability, and the curve of board
accuracy against the pins used."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pinclass.board_evaluation import (board_curve, board_scores, boards_markdown, boards_table, cell_pins,
                                       evaluate_cell, pin_counts)
from pinclass.feature_tables import vector_column
from pinclass.plots import board_curve_plot

# Three boards, pins interleaved, and a fourth class no board has:
# A (true 0): two pins lean to 1, one is sure of 0 — wrong by majority of pins, right by mean [.6, .4, 0].
# B (true 1): a pin splits 0/2 with nothing on 1 — right by mean and by majority, wrong by the product.
# C (true 2): both pins say 0 — wrong by any rule.
HAND = [("A", 0, [0.4, 0.6, 0, 0]), ("B", 1, [0, 0.9, 0.1, 0]), ("C", 2, [1, 0, 0, 0]),
        ("A", 0, [0.4, 0.6, 0, 0]), ("B", 1, [0, 0.9, 0.1, 0]), ("C", 2, [0.6, 0.4, 0, 0]),
        ("A", 0, [1, 0, 0, 0]), ("B", 1, [0.5, 0, 0.5, 0])]


def hand_case():
    boards, labels, probabilities = zip(*HAND)
    return np.array(probabilities, dtype=np.float32), np.array(labels), np.array(boards)


def random_case(sizes=(1, 2, 3, 5, 8), n_classes=4, seed=0, boost=0.6):
    """Boards of the given sizes, a label each, noisy probabilities that lean to it by up to `boost`."""
    rng = np.random.default_rng(seed)
    boards = np.repeat([f"u/b{i}" for i in range(len(sizes))], sizes)
    labels = np.repeat(np.arange(len(sizes)) % n_classes, sizes)
    probabilities = rng.dirichlet(np.ones(n_classes), len(labels))
    probabilities[np.arange(len(labels)), labels] += rng.uniform(0, boost, len(labels))
    order = rng.permutation(len(labels))  # pins of a board need not be adjacent
    return (probabilities / probabilities.sum(axis=1, keepdims=True))[order], labels[order], boards[order]


def test_a_board_is_scored_by_its_pins_mean_probability_not_their_majority():
    probabilities, labels, boards = hand_case()
    scores = board_scores(probabilities, labels, boards)
    assert scores["boards"] == 3 and scores["mixed"] == 0
    assert scores["accuracy"] == pytest.approx(2 / 3)  # A and B; majority of pins: B only, product: A only
    # truth (0, 1, 2), predicted (0, 1, 0): F1 2/3, 1, 0 over the three classes with a board, not the fourth
    assert scores["macro_f1"] == pytest.approx(5 / 9) and scores["classes"] == 3


def test_a_board_whose_pins_disagree_takes_their_majority_label_and_is_counted():
    probabilities = np.tile(np.float32([0.1, 0.9]), (3, 1))
    scores = board_scores(probabilities, np.array([1, 1, 0]), np.array(["u/b"] * 3))
    assert scores["mixed"] == 1 and scores["accuracy"] == 1.0


def test_the_curve_runs_in_powers_of_two_up_to_the_largest_board_then_all():
    assert pin_counts(1) == [1] and pin_counts(7) == [1, 2, 4] and pin_counts(8) == [1, 2, 4, 8]
    curve = board_curve(*random_case(), seed=0, draws=5)
    assert list(curve["pins"]) == ["1", "2", "4", "8", "all"]
    assert list(curve["boards_with_n"]) == [5, 4, 2, 1, 5] and set(curve["boards"]) == {5}


def test_one_pin_per_board_gives_the_pin_accuracy_averaged_per_board():
    probabilities, labels, boards = random_case(boost=0.3)  # the largest board's pins mostly wrong
    right = pd.Series(probabilities.argmax(axis=1) == labels).groupby(boards).mean()
    curve = board_curve(probabilities, labels, boards, seed=1, draws=1000)
    assert curve.loc[0, "accuracy"] == pytest.approx(right.mean(), abs=0.02)  # 4 standard errors
    assert right.mean() - (probabilities.argmax(axis=1) == labels).mean() > 0.1  # per board, not per pin


def test_all_pins_and_every_pin_of_the_largest_board_give_the_full_board_accuracy():
    probabilities, labels, boards = random_case()
    curve = board_curve(probabilities, labels, boards, seed=0, draws=7).set_index("pins")["accuracy"]
    full = board_scores(probabilities, labels, boards)["accuracy"]
    assert curve["all"] == full and curve["8"] == full  # 8 pins drawn without replacement are all of them
    assert board_curve(*hand_case(), seed=0, draws=3).iloc[-1]["accuracy"] == pytest.approx(2 / 3)


def test_the_curve_is_fixed_by_its_seed():
    case = random_case(sizes=(3, 4, 5, 6, 7, 9), seed=2)
    first = board_curve(*case, seed=5, draws=3)
    pd.testing.assert_frame_equal(first, board_curve(*case, seed=5, draws=3))
    assert not first.equals(board_curve(*case, seed=6, draws=3))


def predictions_and_sample():
    """Two users with a board folder of the same name (two boards), a training pin of the first."""
    probabilities, labels, _ = hand_case()
    boards = ["art", "art", "food", "art", "art", "food", "art", "art"]
    users = ["u1", "u2", "u1", "u1", "u2", "u1", "u1", "u2"]
    ids = [f"p{i}" for i in range(len(labels))]
    predictions = pa.table({"image_id": ids, "label": pa.array(labels, pa.int32()),
                            "predicted": pa.array(probabilities.argmax(axis=1), pa.int32()),
                            "unit": ids, "probabilities": vector_column(probabilities)})
    sample = pd.DataFrame({"image_id": ids + ["t0"], "user": users + ["u1"], "board": boards + ["art"],
                           "label": list(labels) + [0], "split": ["test"] * len(ids) + ["train"]})
    return predictions, sample


def test_a_board_is_its_user_and_folder_and_only_test_images_are_scored():
    predictions, sample = predictions_and_sample()
    probabilities, labels, boards = cell_pins(predictions, sample)
    assert list(boards) == ["u1/art", "u2/art", "u1/food", "u1/art", "u2/art", "u1/food", "u1/art", "u2/art"]
    scores, curve = evaluate_cell(predictions, sample, list("wxyz"), seed=0, draws=2)
    assert scores["boards"] == 3 and scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["pin_accuracy"] == pytest.approx(3 / 8)  # A's third pin, B's first two
    with pytest.raises(ValueError, match="not test images"):
        cell_pins(predictions, sample.assign(split=["test"] * 7 + ["train", "train"]))


def test_the_table_holds_a_row_per_cell_and_point_with_macro_f1_on_all_pins_only():
    predictions, sample = predictions_and_sample()
    cells = {("b0", "knn"): evaluate_cell(predictions, sample, list("wxyz"), 0, 2),
             ("pair", "ensemble"): evaluate_cell(predictions, sample, list("wxyz"), 0, 2)}
    table = boards_table(cells)
    assert list(table["cell"]) == ["b0/knn"] * 3 + ["pair/ensemble"] * 3
    assert list(table["pins"]) == ["1", "2", "all"] * 2
    assert table["macro_f1"].isna().tolist() == [True, True, False] * 2
    assert table.loc[2, "macro_f1"] == pytest.approx(5 / 9)


def test_the_page_warns_above_the_numbers_when_test_boards_have_pins_in_training():
    predictions, sample = predictions_and_sample()
    cells = {("b0", "knn"): evaluate_cell(predictions, sample, list("wxyz"), 0, 2)}
    ungrouped = boards_markdown(cells, "none", 2)
    assert ungrouped.index("in training") < ungrouped.index("| b0 | knn |")
    assert "optimistic" in ungrouped and "| b0 | knn | 3 | 0.667 | 0.556 (3 classes) | 0.375 |" in ungrouped
    for group_by in ("board", "user"):
        grouped = boards_markdown(cells, group_by, 2)
        assert "optimistic" not in grouped and grouped.startswith(f"With `sample.group_by: {group_by}` no test board")


def test_the_curve_plot_is_written_as_png_and_pdf(tmp_path):
    predictions, sample = predictions_and_sample()
    board_curve_plot(boards_table({("b0", "knn"): evaluate_cell(predictions, sample, list("wxyz"), 0, 2)}),
                     tmp_path / "boards.png")
    assert (tmp_path / "boards.png").stat().st_size and (tmp_path / "boards.pdf").stat().st_size
