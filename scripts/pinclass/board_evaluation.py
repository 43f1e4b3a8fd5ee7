"""Board-level evaluation on the test set: labels are given per board (an owner files a whole board
under one topic), so the question a user asks is whether a board's topic comes out right, and how
many of its pins that takes.

A board is scored from its test pins' mean class probabilities (`board_votes.board_probabilities`:
why the mean, there). The curve draws n of each board's test pins (all of them where it has fewer)
and scores the boards from those alone.
"""

import numpy as np
import pandas as pd
import pyarrow as pa

from pinclass.board_votes import board_probabilities
from pinclass.feature_tables import vector_matrix
from pinclass.grouping import cross_counts
from pinclass.leakage import macro_f1_of_present
from pinclass.sampling import group_keys
from pinclass.scoring import score_predictions


def cell_pins(predictions: pa.Table, sample: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities (n, n_classes), labels, board keys) of a cell's test predictions, in their order.
    A prediction whose image is missing from the sample, or not on its test side, stops the run: it
    would be scored against a board it does not belong to."""
    ids = pd.Series(predictions.column("image_id").to_pylist(), dtype="string")
    test = sample[sample["split"] == "test"]
    position = pd.Index(test["image_id"].astype("string")).get_indexer(ids)
    if (position < 0).any():
        raise ValueError(f"{int((position < 0).sum())} predicted image(s) are not test images of the sample "
                         f"(first: {ids[position < 0].iloc[0]})")
    boards = group_keys(test, "board")[position]
    return vector_matrix(predictions, "probabilities"), predictions.column("label").to_numpy(), boards


def board_labels(labels: np.ndarray, boards: np.ndarray, keys: pd.Index) -> tuple[np.ndarray, int]:
    """Each board's true label (in `keys` order) as its pins' majority label — they all share it unless
    a board was filed under two categories — and how many boards have pins of more than one label."""
    codes = keys.get_indexer(pd.Series(boards, dtype="string"))
    counts = cross_counts(codes, labels, (len(keys), int(labels.max()) + 1))
    return counts.argmax(axis=1), int(((counts > 0).sum(axis=1) > 1).sum())


def board_scores(probabilities: np.ndarray, labels: np.ndarray, boards: np.ndarray) -> dict:
    """Board accuracy and macro F1 with all test pins. Macro F1 averages over the categories that have
    a test board (`classes`): a category without one has no board F1 to give. `mixed`: boards whose
    pins disagree on the label (scored against their majority)."""
    keys, mean, _ = board_probabilities(probabilities, boards)
    truth, mixed = board_labels(labels, boards, keys)
    predicted = mean.argmax(axis=1)
    macro_f1, classes = macro_f1_of_present(truth, predicted)
    return {"boards": len(keys), "accuracy": float((predicted == truth).mean()), "macro_f1": macro_f1,
            "classes": classes, "mixed": mixed}


def pin_counts(largest: int) -> list[int]:
    """The curve's points: 1, 2, 4, … up to the largest board."""
    return [2 ** k for k in range(int(largest).bit_length())]


def board_curve(probabilities: np.ndarray, labels: np.ndarray, boards: np.ndarray, seed: int,
                draws: int) -> pd.DataFrame:
    """Board accuracy against the pins used: for n = 1, 2, 4, … and "all", every board scored from
    min(n, its test pins) of its pins drawn without replacement, accuracy averaged over `draws` draws.

    One draw orders each board's pins at random and takes the first n, so one draw's points are nested
    (the n = 2 pins hold the n = 1 pin): the points differ by n, not by the luck of separate draws. The
    same seed gives the same curve. Columns: pins (n, or "all"), boards, boards_with_n (boards with at
    least n test pins), accuracy.
    """
    keys, mean, pins = board_probabilities(probabilities, boards)
    truth, _ = board_labels(labels, boards, keys)
    codes = keys.get_indexer(pd.Series(boards, dtype="string"))
    first = np.cumsum(pins) - pins  # where each board's pins start once sorted by board
    counts = pin_counts(int(pins.max()))
    correct = np.zeros(len(counts))
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        shuffled = np.lexsort((rng.random(len(codes)), codes))  # by board, in random order within each
        rank = np.arange(len(codes)) - first[codes[shuffled]]
        for i, n in enumerate(counts):
            chosen = shuffled[rank < n]
            drawn_keys, drawn, _ = board_probabilities(probabilities[chosen], boards[chosen])
            predicted = drawn.argmax(axis=1)[drawn_keys.get_indexer(keys)]
            correct[i] += (predicted == truth).mean()
    rows = [{"pins": str(n), "boards": len(keys), "boards_with_n": int((pins >= n).sum()), "accuracy": c / draws}
            for n, c in zip(counts, correct)]
    rows.append({"pins": "all", "boards": len(keys), "boards_with_n": len(keys),
                 "accuracy": float((mean.argmax(axis=1) == truth).mean())})
    return pd.DataFrame(rows)


def evaluate_cell(predictions: pa.Table, sample: pd.DataFrame, categories: list[str], seed: int,
                  draws: int) -> tuple[dict, pd.DataFrame]:
    """A cell's board scores (`board_scores`, with the pin-level test macro F1 and accuracy of the
    table beside them) and its curve (`board_curve`)."""
    probabilities, labels, boards = cell_pins(predictions, sample)
    pin = score_predictions(labels, predictions.column("predicted").to_numpy(), categories)
    scores = board_scores(probabilities, labels, boards) | {"pin_macro_f1": pin["macro_f1"],
                                                            "pin_accuracy": pin["accuracy"]}
    return scores, board_curve(probabilities, labels, boards, seed, draws)


def boards_table(cells: dict) -> pd.DataFrame:
    """results/boards.csv from {(backbone, classifier): evaluate_cell(...)}: one row per cell and point
    of the curve; macro_f1 on the "all" rows only (the curve's draws give accuracy alone)."""
    parts = [curve.assign(cell=f"{backbone}/{classifier}", backbone=backbone, classifier=classifier,
                          macro_f1=np.where(curve["pins"] == "all", scores["macro_f1"], np.nan))
             for (backbone, classifier), (scores, curve) in cells.items()]
    columns = ["cell", "backbone", "classifier", "pins", "boards", "boards_with_n", "accuracy", "macro_f1"]
    return pd.concat(parts, ignore_index=True)[columns]


def group_by_note(group_by: str) -> str:
    """Whether the board scores can be trusted, given how the sample was split."""
    if group_by == "none":
        return ("> With `sample.group_by: none` the split is image by image: a test board's other pins are in "
                "training, so the classifier has seen every board it is scored on and these board scores are "
                "optimistic. Split with `group_by: board` or `user` for scores on unseen boards.")
    return (f"With `sample.group_by: {group_by}` no test board has a pin in training"
            + (" (nor does its owner)" if group_by == "user" else "") + ": these are scores on unseen boards.")


def boards_markdown(cells: dict, group_by: str, draws: int) -> str:
    """results/boards.md from {(backbone, classifier): evaluate_cell(...)}: the group_by note first, the
    scores with all pins beside the pin-level ones, then the curve."""
    lines = [group_by_note(group_by), "",
             "Each test board's topic is the argmax of its test pins' mean class probabilities. Board macro F1 "
             "averages over the categories that have a test board (how many: after the score); pin macro F1 "
             "is the table's, over every category.", "",
             "| features | classifier | boards | board accuracy | board macro F1 | pin accuracy | pin macro F1 |",
             "|---|---|---|---|---|---|---|"]
    for (backbone, classifier), (scores, _) in cells.items():
        lines.append(f"| {backbone} | {classifier} | {scores['boards']} | {scores['accuracy']:.3f} "
                     f"| {scores['macro_f1']:.3f} ({scores['classes']} classes) | {scores['pin_accuracy']:.3f} "
                     f"| {scores['pin_macro_f1']:.3f} |")
    first, shared = next(iter(cells.values()))  # every cell has the same test boards
    if first["mixed"]:
        lines += ["", f"{first['mixed']} test board(s) hold pins of more than one label: each is scored against "
                  "its majority label."]
    points = list(shared["pins"])
    lines += ["", f"Board accuracy from n test pins per board (a board with fewer uses all of its own), the mean "
              f"of {draws} random draws; boards with at least n test pins in the last row.", "",
              "| features | classifier | " + " | ".join(f"n={n}" if n != "all" else "all" for n in points) + " |",
              "|---|---|" + "---|" * len(points)]
    for (backbone, classifier), (_, curve) in cells.items():
        lines.append(f"| {backbone} | {classifier} | " + " | ".join(f"{a:.3f}" for a in curve["accuracy"]) + " |")
    lines.append("| boards with ≥ n | | " + " | ".join(str(b) for b in shared["boards_with_n"]) + " |")
    return "\n".join(lines) + "\n"
