"""Are the test images really unseen? Each test image's nearest training image in a backbone's
feature space (cosine similarity), and each cell's macro F1 without the test images that have a
near-copy in train."""

import numpy as np
import pandas as pd

from pinclass.scoring import score_predictions

QUANTILES = (0.5, 0.9, 0.99, 1.0)
_CHUNK = 1024  # test rows per matrix product: bounds memory at chunk × train rows


def nearest_train(features: np.ndarray, split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each test row (in order): the position among the train rows of its most similar train
    row, and that cosine similarity (rows are L2-normalised; an all-zero row has similarity 0)."""
    X = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    train, test = X[split == "train"], X[split == "test"]
    nearest, similarity = np.empty(len(test), dtype=np.int64), np.empty(len(test), dtype=np.float32)
    for start in range(0, len(test), _CHUNK):
        products = test[start:start + _CHUNK] @ train.T
        nearest[start:start + _CHUNK] = products.argmax(axis=1)
        similarity[start:start + _CHUNK] = products[np.arange(len(products)), nearest[start:start + _CHUNK]]
    return nearest, np.clip(similarity, -1.0, 1.0)


def nearest_table(sample: pd.DataFrame, features: np.ndarray) -> pd.DataFrame:
    """One row per test image: image_id, nearest_train (its image_id), similarity."""
    split = sample["split"].to_numpy()
    nearest, similarity = nearest_train(features, split)
    train_ids = sample.loc[split == "train", "image_id"].to_numpy()
    return pd.DataFrame({"image_id": sample.loc[split == "test", "image_id"].to_numpy(),
                         "nearest_train": train_ids[nearest], "similarity": similarity}).astype(
        {"image_id": "string", "nearest_train": "string", "similarity": "float32"})


def cell_without_near_copies(predictions: pd.DataFrame, nearest: pd.DataFrame, threshold: float,
                             label_names: list[str]) -> dict:
    """A cell's test macro F1 on all its test images and on those whose nearest training image is
    at most `threshold` similar."""
    merged = predictions.merge(nearest[["image_id", "similarity"]], on="image_id", how="left", validate="1:1")
    if merged["similarity"].isna().any():
        raise ValueError("predictions hold test images the nearest-neighbour table does not")
    kept = merged[merged["similarity"] <= threshold]
    result = {"macro_f1": score_predictions(merged["label"], merged["predicted"], label_names)["macro_f1"],
              "n_test": len(merged), "excluded": int(len(merged) - len(kept))}
    result["macro_f1_without"] = (score_predictions(kept["label"], kept["predicted"], label_names)["macro_f1"]
                                  if len(kept) else None)
    return result


def leakage_markdown(nearest: dict, cells: dict, threshold: float, note: str | None = None) -> str:
    """nearest {backbone: nearest_table}; cells {(backbone, classifier): cell_without_near_copies}."""
    lines = [f"> **{note}**", ""] if note else []
    lines += [f"Each test image's cosine similarity to its nearest training image, per backbone's features; "
              f"a test image above {threshold:g} has a near-copy in train. A score that drops once they are "
              f"left out rests on near-copies.", "",
              "| features | test images | " + " | ".join(f"q{q:g}" for q in QUANTILES)
              + f" | above {threshold:g} |", "|---|---|" + "---|" * len(QUANTILES) + "---|"]
    for backbone, table in nearest.items():
        values = table["similarity"].to_numpy(dtype=float)
        above = int((values > threshold).sum())
        lines.append(f"| {backbone} | {len(values)} | " + " | ".join(f"{np.quantile(values, q):.3f}" for q in QUANTILES)
                     + f" | {above} ({above / max(len(values), 1):.1%}) |")
    lines += ["", f"Each cell's test macro F1 on all test images and without those above {threshold:g}:", "",
              "| features | classifier | macro F1 | without near-copies | difference | left out |",
              "|---|---|---|---|---|---|"]
    for (backbone, classifier), cell in cells.items():
        without = cell["macro_f1_without"]
        text = "—" if without is None else f"{without:.3f}"
        difference = "—" if without is None else f"{without - cell['macro_f1']:+.3f}"
        lines.append(f"| {backbone} | {classifier} | {cell['macro_f1']:.3f} | {text} | {difference} "
                     f"| {cell['excluded']} of {cell['n_test']} |")
    return "\n".join(lines) + "\n"
