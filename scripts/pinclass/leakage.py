"""Are the test images really unseen? Each test image's nearest training image in a backbone's
feature space (cosine similarity), and each cell's macro F1 without the test images that have a
near-copy in train — per backbone, and on the test images clear under every backbone."""

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

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


def clear_of_near_copies(nearest: dict, threshold: float) -> set:
    """The common test set: the test images that have no near-copy in train under any backbone."""
    tables = list(nearest.values())
    clear = set(tables[0]["image_id"])
    for table in tables:
        clear -= set(table.loc[table["similarity"] > threshold, "image_id"])
    return clear


def macro_f1_of_present(labels, predicted) -> tuple[float | None, int]:
    """Macro F1 over the classes that still have test images, and how many those are: a class whose
    test images were all left out has no F1 to give (None without any image)."""
    present = np.unique(np.asarray(labels))
    if not len(present):
        return None, 0
    return float(f1_score(labels, predicted, labels=present, average="macro", zero_division=0)), len(present)


def cell_without_near_copies(predictions: pd.DataFrame, nearest: pd.DataFrame, threshold: float,
                             label_names: list[str], common: set | None = None) -> dict:
    """A cell's test macro F1 on all its test images; on those whose nearest training image (in its
    own backbone's features) is at most `threshold` similar; and on the `common` test images (clear
    under every backbone, `clear_of_near_copies`), each over the classes still present."""
    merged = predictions.merge(nearest[["image_id", "similarity"]], on="image_id", how="left", validate="1:1")
    if merged["similarity"].isna().any():
        raise ValueError("predictions hold test images the nearest-neighbour table does not")
    kept = merged[merged["similarity"] <= threshold]
    result = {"macro_f1": score_predictions(merged["label"], merged["predicted"], label_names)["macro_f1"],
              "n_test": len(merged), "n_classes": len(label_names), "excluded": int(len(merged) - len(kept))}
    result["macro_f1_without"], result["classes_without"] = macro_f1_of_present(kept["label"], kept["predicted"])
    if common is not None:
        shared = merged[merged["image_id"].isin(common)]
        result["macro_f1_common"], result["classes_common"] = macro_f1_of_present(shared["label"], shared["predicted"])
        result["n_common"] = len(shared)
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
    common = next((cell["n_common"] for cell in cells.values() if "n_common" in cell), None)
    lines += ["", f"Each cell's test macro F1 on all test images; without the test images above {threshold:g} in "
              "its own backbone's features; and on the common test set, the test images above it under no "
              + (f"backbone ({common} images), where the rows compare. " if common is not None else "backbone. ")
              + "Without near-copies, macro F1 averages over the classes that still have test images "
              "(how many: after the score).", "",
              "| features | classifier | macro F1 | without near-copies | difference | left out | common test set |",
              "|---|---|---|---|---|---|---|"]
    for (backbone, classifier), cell in cells.items():
        without = cell["macro_f1_without"]
        text = "—" if without is None else f"{without:.3f} ({cell['classes_without']} of {cell['n_classes']} classes)"
        difference = "—" if without is None else f"{without - cell['macro_f1']:+.3f}"
        shared = cell.get("macro_f1_common")
        shared_text = "—" if shared is None else f"{shared:.3f} ({cell['classes_common']} of {cell['n_classes']} classes)"
        lines.append(f"| {backbone} | {classifier} | {cell['macro_f1']:.3f} | {text} | {difference} "
                     f"| {cell['excluded']} of {cell['n_test']} | {shared_text} |")
    return "\n".join(lines) + "\n"
