"""New images through a saved model: the features checked against the model's, each pin's top
categories, each board's topic (`board_votes`), and the page that sums them up. Used by the
workflow's predict rule and by the `python -m pinclass.predict` command alike."""

import numpy as np
import pandas as pd

from pinclass.board_votes import board_probabilities
from pinclass.saved_models import ModelError, SavedModel

# Of a features file's extraction record, what must match the model's: the features differ otherwise.
MADE_BY = ("model", "preprocess", "input_size", "width", "runtime", "precision", "mixed_precision")


def check_extraction(model: SavedModel, made: dict) -> None:
    """Stop unless each backbone's features were made as the model's were: {backbone: the features
    file's extraction entry}. Different weights are named by both hashes (or seeds)."""
    for backbone, expected in model.extraction.items():
        if backbone not in made:
            raise ModelError(f"model {model.document['cell']} needs features of {backbone}; none given")
        actual = made[backbone]
        if actual["weights"] != expected["weights"]:
            raise ModelError(f"{backbone}: the features come from other weights than the model's: model "
                             f"{_weights(expected['weights'])}, features {_weights(actual['weights'])}")
        differ = [f"{key} {expected.get(key)!r} (model) vs {actual.get(key)!r} (features)"
                  for key in MADE_BY if expected.get(key) != actual.get(key)]
        if differ:
            raise ModelError(f"{backbone}: the features were made differently from the model's: {'; '.join(differ)}")


def _weights(record: dict) -> str:
    if record["source"] == "random":
        return f"random weights of seed {record['seed']}"
    return f"{record.get('file', 'weights')} sha256 {record['sha256']}"


def top_categories(probabilities: np.ndarray, predicted: np.ndarray, labels: list[str], k: int) -> pd.DataFrame:
    """category_1, probability_1, … category_k, probability_k per row, most probable first; among
    equal probabilities the model's own prediction comes first, then label order."""
    n, n_labels = probabilities.shape
    k = min(k, n_labels)
    first = np.zeros((n, n_labels))
    first[np.arange(n), predicted] = 1
    order = np.lexsort((np.arange(n_labels)[None, :].repeat(n, 0), -first, -probabilities), axis=1)[:, :k]
    names = np.asarray(labels, dtype=object)
    columns = {}
    for i in range(k):
        columns[f"category_{i + 1}"] = pd.array(names[order[:, i]], dtype="string")
        columns[f"probability_{i + 1}"] = probabilities[np.arange(n), order[:, i]].astype(np.float32)
    return pd.DataFrame(columns)


def pins_table(clean: pd.DataFrame, predicted: np.ndarray, probabilities: np.ndarray, labels: list[str],
               k: int) -> pd.DataFrame:
    """One row per predicted image: its id, path, user, board, the crawl's category (empty when
    unlabelled), the model's prediction and its top k categories."""
    base = clean[["image_id", "path", "user", "board", "category"]].reset_index(drop=True).astype("string")
    names = pd.array(np.asarray(labels, dtype=object)[predicted] if len(predicted) else [], dtype="string")
    return pd.concat([base, pd.DataFrame({"predicted": names}),
                      top_categories(probabilities, predicted, labels, k)], axis=1)


def board_predictions(pins: pd.DataFrame, probabilities: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Per board (user, board): pins used, the topic of the mean probability and that probability,
    the runner-up, the board's own category where the crawl has one, and whether they agree
    (empty when the board has no category or one the model does not know)."""
    columns = ["user", "board", "pins", "predicted", "probability", "runner_up", "runner_up_probability",
               "category", "known_category", "agrees"]
    if pins.empty:
        return pd.DataFrame({column: [] for column in columns})
    keys = pins["user"].fillna("") + "\0" + pins["board"].fillna("")
    boards, mean, counts = board_probabilities(probabilities, keys)
    order = np.argsort(-mean, axis=1, kind="stable")
    rows = np.arange(len(boards))
    names = np.asarray(labels, dtype=object)
    second = order[:, 1] if mean.shape[1] > 1 else order[:, 0]
    category = pins.groupby(keys.to_numpy(), sort=False)["category"].agg(
        lambda values: values.dropna().mode().iloc[0] if values.notna().any() else pd.NA).reindex(boards)
    category = category.astype("string").reset_index(drop=True)
    known = category.isin(labels).to_numpy()
    predicted = names[order[:, 0]]
    agrees = (category == pd.array(predicted, dtype="string")).astype("boolean").array
    agrees[~known] = pd.NA
    user, board = zip(*(key.split("\0", 1) for key in boards)) if len(boards) else ((), ())
    return pd.DataFrame({
        "user": pd.array(user, dtype="string"), "board": pd.array(board, dtype="string"),
        "pins": counts.astype(np.int64), "predicted": pd.array(predicted, dtype="string"),
        "probability": mean[rows, order[:, 0]].astype(np.float32),
        "runner_up": pd.array(names[second], dtype="string"),
        "runner_up_probability": mean[rows, second].astype(np.float32),
        "category": category.array, "known_category": known,
        "agrees": agrees})


def summary_markdown(name: str, model: SavedModel, choice: dict | None, clean_summary: dict, pins: pd.DataFrame,
                     boards: pd.DataFrame) -> str:
    """results/predict/<name>/summary.md: the model, what went in, what came out, agreement where
    the crawl has categories."""
    document = model.document
    lines = [f"# Predictions: {name}", "",
             f"Model `{document['cell']}`" + (f", chosen as the best cell by {choice['chosen_on']} "
                                              f"({choice['cv_macro_f1']:.4f})" if choice else "")
             + f"; its test macro F1 {document['scores']['test_macro_f1']:.4f}.", "",
             f"{clean_summary['files_found']:,} image files found, {len(pins):,} predicted, "
             f"{clean_summary['rejected']:,} rejected (`rejected.parquet`, with reasons):", ""]
    if clean_summary["rejected_by_reason"]:
        lines += ["| reason | images |", "|---|---|"]
        lines += [f"| {reason} | {count:,} |" for reason, count in sorted(clean_summary["rejected_by_reason"].items())]
        lines.append("")
    labelled = int(boards["known_category"].sum()) if len(boards) else 0
    lines += [f"{len(boards):,} boards; {labelled:,} with a category the model knows."]
    if labelled:
        agree = int(boards["agrees"].sum())
        known_pins = pins["category"].isin(model.labels)
        pin_agree = int((pins.loc[known_pins, "predicted"] == pins.loc[known_pins, "category"]).sum())
        lines += ["", "| agreement with the crawl's categories | agree | of | share |", "|---|---|---|---|",
                  f"| boards (mean probability of their pins) | {agree:,} | {labelled:,} | {agree / labelled:.3f} |",
                  f"| pins | {pin_agree:,} | {int(known_pins.sum()):,} | "
                  f"{pin_agree / max(int(known_pins.sum()), 1):.3f} |"]
    if len(boards):
        lines += ["", "| predicted topic | boards | pins |", "|---|---|---|"]
        for topic, group in boards.groupby("predicted", sort=True):
            lines.append(f"| {topic} | {len(group):,} | {int(group['pins'].sum()):,} |")
    return "\n".join(lines) + "\n"
