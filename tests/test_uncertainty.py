"""Bootstrap intervals and paired comparisons of test macro F1 (pinclass.uncertainty)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from pinclass import uncertainty
from pinclass.scoring import score_predictions
from pinclass.uncertainty import (PAIRWISE_COLUMNS, align_predictions, bootstrap_ci, bootstrap_cis, holm,
                                  iter_resample_indices, macro_f1_of_resamples, paired_comparison,
                                  pairwise_table, resample_indices)
from pinclass.table import pairwise_markdown


def sk_macro_f1(y_true, y_pred, n_classes):
    return f1_score(y_true, y_pred, average="macro", labels=list(range(n_classes)), zero_division=0)


def reference_bootstrap(y_true, predictions, n_classes, n_boot, seed, strata=None):
    """The slow way: sklearn on each resample, with the very resample indices the fast code uses."""
    return np.array([[sk_macro_f1(y_true[idx], y_pred[idx], n_classes) for idx in
                      resample_indices(len(y_true), n_boot, seed, strata)] for y_pred in predictions])


def noisy(y_true, n_classes, accuracy, seed):
    """Predictions right on about `accuracy` of the images, otherwise a random class."""
    rng = np.random.default_rng(seed)
    wrong = rng.integers(0, n_classes, y_true.size)
    return np.where(rng.random(y_true.size) < accuracy, y_true, wrong)


def frame(ids, labels, predicted):
    return pd.DataFrame({"image_id": list(ids), "label": np.asarray(labels, dtype=np.int32),
                         "predicted": np.asarray(predicted, dtype=np.int32)})


def correct_on(y_true, n_correct, n_classes):
    """Right on the first n_correct images, (label + 1) mod n_classes on the rest."""
    pred = (y_true + 1) % n_classes
    pred[:n_correct] = y_true[:n_correct]
    return pred


# ---------------------------------------------------------------- vectorised macro F1 and resampling

def test_vectorised_macro_f1_equals_sklearn_on_explicit_resamples():
    rng = np.random.default_rng(5)
    n_classes = 6                                  # class 5 never occurs; class 4 is only ever predicted
    y_true = rng.integers(0, 4, 70)
    y_pred = np.where(rng.random(70) < 0.5, y_true, rng.integers(0, 5, 70))
    indices = resample_indices(70, 25, seed=3)
    fast = macro_f1_of_resamples(y_true, y_pred, indices, n_classes)
    slow = [sk_macro_f1(y_true[idx], y_pred[idx], n_classes) for idx in indices]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert len(set(np.round(fast, 12))) > 5        # the resamples do differ


def test_resamples_are_seeded_draws_with_replacement_in_fixed_chunks(monkeypatch):
    indices = resample_indices(50, 40, seed=9)
    assert indices.shape == (40, 50) and indices.min() >= 0 and indices.max() < 50
    assert any(len(set(row)) < 50 for row in indices)             # with replacement
    np.testing.assert_array_equal(indices, resample_indices(50, 40, seed=9))
    monkeypatch.setattr(uncertainty, "_CHUNK_ENTRIES", 50 * 7)    # 7 resamples a chunk: 6 chunks
    chunks = list(iter_resample_indices(50, 40, seed=9))
    assert [len(chunk) for chunk in chunks] == [7, 7, 7, 7, 7, 5]
    np.testing.assert_array_equal(np.concatenate(chunks), resample_indices(50, 40, seed=9))


@pytest.mark.parametrize("chunk_entries", [None, 90 * 16])       # one chunk, and several chunks
def test_bootstrap_ci_is_exactly_the_slow_sklearn_bootstrap(monkeypatch, chunk_entries):
    if chunk_entries:
        monkeypatch.setattr(uncertainty, "_CHUNK_ENTRIES", chunk_entries)
    n_classes = 5
    y_true = np.arange(90) % n_classes
    y_pred = noisy(y_true, n_classes, 0.6, seed=1)
    result = bootstrap_ci(y_true, y_pred, n_classes, n_boot=150, seed=4)
    values = reference_bootstrap(y_true, [y_pred], n_classes, 150, 4, strata=y_true)[0]
    low, high = np.quantile(values, [0.025, 0.975])
    assert result["low"] == pytest.approx(low, abs=1e-12)
    assert result["high"] == pytest.approx(high, abs=1e-12)
    names = [f"c{i}" for i in range(n_classes)]
    assert result["macro_f1"] == pytest.approx(score_predictions(y_true, y_pred, names)["macro_f1"], abs=1e-12)


# ---------------------------------------------------------------- one cell: known answers

def test_perfect_predictions_give_the_interval_one_to_one():
    y_true = np.repeat([0, 1], 100)
    result = bootstrap_ci(y_true, y_true.copy(), 2, n_boot=300, seed=0)
    assert (result["macro_f1"], result["low"], result["high"]) == (1.0, 1.0, 1.0)


def test_half_correct_balanced_two_classes_interval_holds_truth_and_has_the_normal_width():
    n = 400
    y_true = np.repeat([0, 1], n // 2)
    y_pred = y_true.copy()
    y_pred[np.r_[0:100, 200:300]] = 1 - y_true[np.r_[0:100, 200:300]]   # confusion [[100, 100], [100, 100]]
    result = bootstrap_ci(y_true, y_pred, 2, n_boot=1000, seed=0)
    assert result["macro_f1"] == pytest.approx(0.5)
    assert result["low"] < 0.5 < result["high"]
    # Here macro F1 ≈ accuracy, a mean of n Bernoulli(0.5): 95% width ≈ 2 · 1.96 · sqrt(0.25 / n) = 0.098.
    normal_width = 2 * 1.96 * np.sqrt(0.25 / n)
    assert result["high"] - result["low"] == pytest.approx(normal_width, rel=0.2)
    assert result["level"] == 0.95 and result["n_boot"] == 1000
    assert result["method"] == "percentile bootstrap over test images, stratified by category"


def test_level_changes_the_interval_width():
    y_true = np.arange(300) % 3
    y_pred = noisy(y_true, 3, 0.5, seed=2)
    wide = bootstrap_ci(y_true, y_pred, 3, n_boot=500, seed=1, level=0.99)
    narrow = bootstrap_ci(y_true, y_pred, 3, n_boot=500, seed=1, level=0.80)
    assert wide["low"] < narrow["low"] < narrow["high"] < wide["high"]


def test_same_seed_same_result_other_seed_other_bounds():
    y_true = np.arange(200) % 4
    y_pred = noisy(y_true, 4, 0.5, seed=3)
    first = bootstrap_ci(y_true, y_pred, 4, n_boot=200, seed=7)
    assert bootstrap_ci(y_true, y_pred, 4, n_boot=200, seed=7) == first
    other = bootstrap_ci(y_true, y_pred, 4, n_boot=200, seed=8)
    assert (other["low"], other["high"]) != (first["low"], first["high"])
    assert other["macro_f1"] == first["macro_f1"] and other["seed"] == 8


def test_results_are_plain_python_and_json_ready():
    y_true = np.arange(60) % 3
    pred_a, pred_b = noisy(y_true, 3, 0.7, seed=1), noisy(y_true, 3, 0.4, seed=2)
    for result in (bootstrap_ci(y_true, pred_a, 3, n_boot=50),
                   paired_comparison(y_true, pred_a, pred_b, 3, n_boot=50)):
        json.dumps(result)
        for key, value in result.items():
            assert type(value) in (float, int, str, bool), (key, type(value))
        assert type(result.get("macro_f1", result.get("diff"))) is float


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        bootstrap_ci([0, 1, 2], [0, 1, 3], 3)                 # label index out of range
    with pytest.raises(ValueError):
        bootstrap_ci([0, 1, 2], [0, 1], 3)                    # lengths differ
    with pytest.raises(ValueError):
        bootstrap_ci([], [], 3)
    with pytest.raises(ValueError):
        bootstrap_ci([0, 1], [0, 1], 2, n_boot=0)
    with pytest.raises(ValueError):
        paired_comparison([0, 1, 1], [0, 1, 1], [0, 1], 2)


# ---------------------------------------------------------------- two cells

def test_identical_predictions_compare_as_equal():
    y_true = np.arange(120) % 4
    y_pred = noisy(y_true, 4, 0.5, seed=4)
    result = paired_comparison(y_true, y_pred, y_pred.copy(), 4, n_boot=300, seed=0)
    assert (result["diff"], result["low"], result["high"]) == (0.0, 0.0, 0.0)
    assert result["p_value"] == 1.0 and result["mcnemar_p"] == 1.0
    assert result["a_only_correct"] == result["b_only_correct"] == 0
    assert result["significant"] is False


def test_clearly_better_cell_is_significant():
    n, n_classes = 400, 4
    y_true = np.arange(n) % n_classes
    pred_a = correct_on(y_true, 360, n_classes)              # 90% right
    pred_b = correct_on(y_true, 200, n_classes)              # 50% right
    result = paired_comparison(y_true, pred_a, pred_b, n_classes, n_boot=1000, seed=0)
    assert result["diff"] == pytest.approx(sk_macro_f1(y_true, pred_a, 4) - sk_macro_f1(y_true, pred_b, 4))
    assert 0 < result["low"] < result["diff"] < result["high"]
    assert result["significant"] is True
    assert result["p_value"] < 0.01
    assert (result["a_only_correct"], result["b_only_correct"]) == (160, 0)
    assert result["mcnemar_p"] == pytest.approx(binomtest(160, 160, 0.5).pvalue) and result["mcnemar_p"] < 1e-40
    worse_first = paired_comparison(y_true, pred_b, pred_a, n_classes, n_boot=1000, seed=0)
    assert worse_first["low"] < worse_first["high"] < 0 and worse_first["significant"] is True
    assert worse_first["p_value"] == result["p_value"] and worse_first["mcnemar_p"] == result["mcnemar_p"]


def test_swapping_the_cells_flips_the_difference():
    y_true = np.arange(300) % 3
    pred_a, pred_b = noisy(y_true, 3, 0.55, seed=5), noisy(y_true, 3, 0.45, seed=6)
    ab = paired_comparison(y_true, pred_a, pred_b, 3, n_boot=400, seed=2)
    ba = paired_comparison(y_true, pred_b, pred_a, 3, n_boot=400, seed=2)
    assert ab["diff"] != 0 and ba["diff"] == pytest.approx(-ab["diff"], abs=1e-12)
    assert ba["low"] == pytest.approx(-ab["high"], abs=1e-12)
    assert ba["high"] == pytest.approx(-ab["low"], abs=1e-12)
    assert ba["p_value"] == ab["p_value"] and ba["mcnemar_p"] == ab["mcnemar_p"]
    assert (ba["a_only_correct"], ba["b_only_correct"]) == (ab["b_only_correct"], ab["a_only_correct"])


@pytest.mark.parametrize("swap", [False, True])        # diff < 0, then diff > 0
def test_paired_bootstrap_matches_the_slow_reference_and_its_p_value_definition(swap):
    n_classes = 3
    y_true = np.arange(150) % n_classes
    pred_a, pred_b = noisy(y_true, n_classes, 0.55, seed=11), noisy(y_true, n_classes, 0.47, seed=12)
    if swap:
        pred_a, pred_b = pred_b, pred_a
    result = paired_comparison(y_true, pred_a, pred_b, n_classes, n_boot=200, seed=3)
    values = reference_bootstrap(y_true, [pred_a, pred_b], n_classes, 200, 3, strata=y_true)
    differences = values[0] - values[1]               # the same resample for both cells: paired
    low, high = np.quantile(differences, [0.025, 0.975])
    assert (result["low"], result["high"]) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    diff = sk_macro_f1(y_true, pred_a, n_classes) - sk_macro_f1(y_true, pred_b, n_classes)
    assert result["diff"] == pytest.approx(diff, abs=1e-12)
    other_side = np.mean(differences <= 0) if diff > 0 else np.mean(differences >= 0)
    assert 0 < other_side < 0.5                        # a case where the p-value is neither 0 nor 1
    assert result["p_value"] == pytest.approx(min(1.0, 2 * other_side))
    assert (result["diff"] > 0) == swap


@pytest.mark.parametrize("swap", [False, True])
def test_p_value_counts_resampled_differences_of_exactly_zero_as_the_other_side(swap):
    """a and b differ on one image only, where a is right: every resample without it gives d = 0 exactly."""
    n = 100
    y_true = np.arange(n) % 2
    pred_b = noisy(y_true, 2, 0.6, seed=13)
    wrong = int(np.flatnonzero(pred_b != y_true)[0])
    pred_a = pred_b.copy()
    pred_a[wrong] = y_true[wrong]
    if swap:
        pred_a, pred_b = pred_b, pred_a
    result = paired_comparison(y_true, pred_a, pred_b, 2, n_boot=500, seed=0)
    drawn = (resample_indices(n, 500, 0, strata=y_true) == wrong).any(axis=1)
    zero_share = 1 - drawn.mean()                     # about (1 - 1/n)^n ≈ 0.37
    assert 0.25 < zero_share < 0.5
    assert result["p_value"] == pytest.approx(2 * zero_share)
    assert (result["a_only_correct"], result["b_only_correct"]) == ((0, 1) if swap else (1, 0))
    assert result["mcnemar_p"] == 1.0                 # one discordant image: binomial p = 1


# ---------------------------------------------------------------- aligning two predictions tables

def test_align_predictions_matches_reordered_frames_by_image_id():
    ids = [f"img{i}" for i in range(6)]
    labels = [0, 1, 2, 0, 1, 2]
    frame_a = frame(ids, labels, [0, 1, 2, 2, 2, 2])
    frame_b = frame(ids, labels, [1, 1, 1, 0, 1, 2]).iloc[[5, 3, 0, 4, 1, 2]].reset_index(drop=True)
    y_true, pred_a, pred_b = align_predictions(frame_a, frame_b)
    np.testing.assert_array_equal(y_true, labels)
    np.testing.assert_array_equal(pred_a, [0, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(pred_b, [1, 1, 1, 0, 1, 2])


def test_align_predictions_refuses_different_images_or_labels():
    frame_a = frame(["a", "b", "c"], [0, 1, 1], [0, 1, 0])
    with pytest.raises(ValueError, match="different test images"):
        align_predictions(frame_a, frame(["a", "b", "d"], [0, 1, 1], [0, 1, 0]))
    with pytest.raises(ValueError, match="different test images"):
        align_predictions(frame_a, frame(["a", "b"], [0, 1], [0, 1]))
    with pytest.raises(ValueError, match="true labels differ"):
        align_predictions(frame_a, frame(["c", "b", "a"], [0, 1, 0], [0, 1, 0]))
    with pytest.raises(ValueError, match="repeats"):
        align_predictions(frame_a, frame(["a", "b", "c", "c"], [0, 1, 1, 1], [0, 1, 0, 0]))
    with pytest.raises(ValueError, match="lacks"):
        align_predictions(frame_a, frame_a.drop(columns="label"))


# ---------------------------------------------------------------- the best cell against the others

def make_cells(n=240, n_classes=4, shuffle_seed=None):
    ids = [f"img{i:04d}" for i in range(n)]
    y_true = np.arange(n) % n_classes
    accuracies = {("convnext_base", "lsvm"): 0.5, ("convnext_base", "knn"): 0.9,
                  ("efficientnetv2_b0", "knn"): 0.3, ("efficientnetv2_b0", "nn"): 0.85}
    cells = {}
    for i, (cell, accuracy) in enumerate(accuracies.items()):
        cell_frame = frame(ids, y_true, noisy(y_true, n_classes, accuracy, seed=20 + i))
        if shuffle_seed is not None:
            cell_frame = cell_frame.sample(frac=1, random_state=shuffle_seed + i).reset_index(drop=True)
        cells[cell] = cell_frame
    return cells, y_true


def test_pairwise_table_compares_the_best_cell_with_every_other_once():
    cells, y_true = make_cells()
    table = pairwise_table(cells, 4, n_boot=200, seed=1)
    assert list(table.columns) == PAIRWISE_COLUMNS
    assert set(table["best"]) == {"convnext_base/knn"}
    assert list(table["other"]) == ["convnext_base/lsvm", "efficientnetv2_b0/knn", "efficientnetv2_b0/nn"]
    assert (table["diff"] > 0).all()
    assert table.attrs["best_macro_f1"] == pytest.approx(
        sk_macro_f1(y_true, cells["convnext_base", "knn"]["predicted"].to_numpy(), 4))
    # each row is exactly the paired comparison on the same (image_id-ordered) test images
    best = cells["convnext_base", "knn"]["predicted"].to_numpy()
    for row in table.itertuples(index=False):
        other = cells[tuple(row.other.split("/"))]["predicted"].to_numpy()
        expected = paired_comparison(y_true, best, other, 4, n_boot=200, seed=1)
        assert (row.diff, row.low, row.high, row.p_value, row.mcnemar_p) == tuple(
            expected[key] for key in ("diff", "low", "high", "p_value", "mcnemar_p"))
    np.testing.assert_array_equal(table["p_holm"], holm(table["p_value"]))
    np.testing.assert_array_equal(table["mcnemar_p_holm"], holm(table["mcnemar_p"]))
    assert list(table["significant"]) == list(table["p_holm"] < 0.05)
    json.dumps(table.to_dict(orient="records"))


def test_holm_matches_a_hand_computation():
    # sorted: 0.01 (×4 = 0.04), 0.02 (×3 = 0.06), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → kept at 0.06)
    np.testing.assert_allclose(holm([0.03, 0.01, 0.04, 0.02]), [0.06, 0.04, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.4]), [0.8, 0.8])
    np.testing.assert_allclose(holm([0.9, 0.6, 0.01]), [1.0, 1.0, 0.03])  # capped at 1


def test_comparisons_resample_within_each_category():
    y_true = np.repeat([0, 1, 2], [5, 30, 65])
    counts = [np.bincount(y_true[idx], minlength=3) for idx in resample_indices(100, 50, 0, strata=y_true)]
    assert all(list(c) == [5, 30, 65] for c in counts)  # every resample keeps the test counts
    plain = [np.bincount(y_true[idx], minlength=3) for idx in resample_indices(100, 50, 0)]
    assert any(list(c) != [5, 30, 65] for c in plain)


def test_pairwise_table_does_not_depend_on_row_order():
    ordered, _ = make_cells()
    shuffled, _ = make_cells(shuffle_seed=4)
    pd.testing.assert_frame_equal(pairwise_table(ordered, 4, n_boot=100, seed=0),
                                  pairwise_table(shuffled, 4, n_boot=100, seed=0))


def test_pairwise_table_refuses_cells_on_other_images():
    cells, _ = make_cells()
    cells["convnext_base", "nn"] = cells["convnext_base", "knn"].iloc[:-1]
    with pytest.raises(ValueError, match="different test images"):
        pairwise_table(cells, 4, n_boot=50, seed=0)


def test_pairwise_markdown_renders_every_row():
    cells, _ = make_cells()
    table = pairwise_table(cells, 4, n_boot=200, seed=1)
    text = pairwise_markdown(table)
    lines = text.strip().splitlines()
    assert lines[0].startswith("Best cell convnext_base/knn") and "bootstrap" in lines[0] and "McNemar" in lines[0]
    assert "within each category" in lines[0] and "a test of accuracy, not of macro F1" in lines[0]
    assert "Holm-adjusted for the 3 comparisons" in lines[0] and "chosen on these same test images" in lines[0]
    assert lines[2] == ("| best | other | diff | low | high | p_value | p_holm | mcnemar_p | mcnemar_p_holm "
                        "| significant |")
    body = lines[4:]
    assert len(body) == len(table)
    for line, row in zip(body, table.itertuples(index=False)):
        cells_text = [part.strip() for part in line.strip("|").split("|")]
        assert cells_text[:5] == [row.best, row.other, f"{row.diff:.3f}", f"{row.low:.3f}", f"{row.high:.3f}"]
        assert cells_text[7] == f"{row.mcnemar_p:.3g}"
        assert cells_text[9] == ("yes" if row.significant else "no")
    assert "| <0.005 | <0.015 |" in text  # a bootstrap p of 0: its 1/n_boot resolution, × 3 when adjusted


def test_bootstrap_cis_equal_one_cell_at_a_time():
    cells, y_true = make_cells(shuffle_seed=1)
    together = bootstrap_cis(cells, 4, n_boot=150, seed=2)
    assert list(together) == list(cells)
    for cell, cell_frame in cells.items():
        ordered = cell_frame.sort_values("image_id")
        assert together[cell] == bootstrap_ci(ordered["label"], ordered["predicted"], 4, n_boot=150, seed=2)


def test_a_predictions_tables_interval_does_not_depend_on_its_row_order():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"image_id": [f"i{n:03d}" for n in range(120)], "label": rng.integers(0, 4, 120),
                          "predicted": rng.integers(0, 4, 120)})
    shuffled = frame.sample(frac=1, random_state=1)
    assert uncertainty.predictions_ci(shuffled, 4, n_boot=200, seed=2) == bootstrap_ci(
        frame["label"].to_numpy(), frame["predicted"].to_numpy(), 4, n_boot=200, seed=2)


# ---------------------------------------------------------------- resampling boards

def clustered_draw(rng, boards_per_class=15, pins=20, n_classes=4, mean=0.7, concentration=2.5):
    """A test set drawn from a population of boards whose accuracy varies board to board (Beta with
    the given mean): per class, boards × pins; a wrong pin goes to another class at random. With equal
    class totals the population's macro F1 is `mean` exactly (every class: TP = mean·T, P = T)."""
    n_boards = boards_per_class * n_classes
    accuracy = rng.beta(mean * concentration, (1 - mean) * concentration, n_boards)
    board = np.repeat(np.arange(n_boards), pins)
    y_true = board % n_classes
    right = rng.random(board.size) < accuracy[board]
    wrong = (y_true + rng.integers(1, n_classes, board.size)) % n_classes
    return y_true, np.where(right, y_true, wrong), board


def test_intervals_over_boards_cover_the_board_populations_macro_f1_and_image_intervals_do_not():
    rng = np.random.default_rng(2026)
    covered = {"board": 0, "image": 0}
    draws = 300
    for draw in range(draws):
        y_true, y_pred, board = clustered_draw(rng)
        for unit, units in (("board", board), ("image", None)):
            ci = bootstrap_ci(y_true, y_pred, 4, n_boot=400, seed=draw, units=units, unit=unit)
            covered[unit] += ci["low"] <= 0.7 <= ci["high"]
    assert 0.90 <= covered["board"] / draws <= 0.98, covered
    assert covered["image"] / draws < 0.8, covered  # pins of one board are not independent


def test_a_board_resample_keeps_each_boards_pins_together_and_each_categorys_boards():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    board = np.array(["a", "a", "b", "c", "c", "d", "d", "e", "e"])
    unit_of, strata = uncertainty.resampling_units(y_true, board)
    # category 1's only board (c) is resampled by its images: alone, it would be redrawn every time
    np.testing.assert_array_equal(unit_of, [2, 2, 3, 1, 0, 4, 4, 5, 5])
    np.testing.assert_array_equal(strata, [1, 1, 0, 0, 2, 2])
    draws = resample_indices(len(strata), 200, seed=1, strata=strata)
    assert all(sorted(strata[row]) == sorted(strata) for row in draws)  # per category, as many units
    assert any(sorted(row[strata[row] == 0]) == [2, 2] for row in draws)  # board a drawn twice: boards resampled
    result = bootstrap_ci(y_true, y_true, 3, n_boot=50, seed=0, units=board, unit="board")
    assert result["unit"] == "board" and result["method"] == "percentile bootstrap over test boards, stratified by category"
    single = bootstrap_ci(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 0, 1, 1, 0]), 2, n_boot=200, seed=0,
                          units=np.array(["a", "a", "a", "b", "b", "b"]), unit="board")
    assert single["low"] < single["macro_f1"] < single["high"]  # one board per category: still an interval
    with pytest.raises(ValueError, match="needs each test image's board"):
        uncertainty.predictions_ci(frame(list("abc"), [0, 1, 1], [0, 1, 0]), 2, unit="board")


def test_a_category_with_few_test_images_is_never_missing_from_a_resample():
    y_true = np.repeat(np.arange(8), 5)  # the demo's five test images per category
    draws = resample_indices(y_true.size, 500, seed=0, strata=y_true)
    assert all(len(np.unique(y_true[row])) == 8 for row in draws)
    unstratified = resample_indices(y_true.size, 500, seed=0)
    assert any(len(np.unique(y_true[row])) < 8 for row in unstratified)  # the check can fail


def test_the_corrected_resampled_t_test_widens_the_plain_one():
    differences = np.array([0.02, 0.015, 0.03, 0.01, 0.025])
    plain = uncertainty.corrected_t_test(differences, test_to_train=0.0)
    corrected = uncertainty.corrected_t_test(differences, test_to_train=0.25)
    se = differences.std(ddof=1) * np.sqrt(1 / 5 + 0.25)
    assert corrected["t"] == pytest.approx(differences.mean() / se)
    assert corrected["p_value"] > plain["p_value"] and corrected["high"] - corrected["low"] > plain["high"] - plain["low"]
    table = uncertainty.repeats_comparison({("b0", "knn"): [0.5, 0.52, 0.51], ("b0", "nn"): [0.4, 0.41, 0.43],
                                            ("b1", "nn"): [0.5, 0.5, 0.49]}, 0.25)
    assert list(table["other"]) == ["b0/nn", "b1/nn"] and table.attrs["best_mean"] == pytest.approx(0.51)
    assert list(table["p_holm"]) == list(uncertainty.holm(table["p_value"]))
