"""Sampling: per-category draw, stratified train/test split and CV folds, fixed once as data."""

import numpy as np
import pandas as pd


class SampleError(ValueError):
    pass


def draw_sample(clean: pd.DataFrame, categories: list[str], per_category: int, test_fraction: float,
                folds: int, seed: int, allow_fewer: bool = False) -> pd.DataFrame:
    """The experiment's images with `label`, `split` and `fold`, identical for identical arguments.

    Within each category: `per_category` rows drawn without replacement, shuffled, the first
    round(n * test_fraction) are test, the rest train with folds dealt round-robin — so every split
    and every fold is stratified with counts as equal as the numbers allow.
    """
    counts = clean["category"].value_counts()
    short = {c: int(counts.get(c, 0)) for c in categories if counts.get(c, 0) < per_category}
    if short and not allow_fewer:
        listed = ", ".join(f"'{c}' has {n}" for c, n in short.items())
        raise SampleError(f"too few clean images for sample.per_category={per_category}: {listed} "
                          "(set sample.allow_fewer: true to take all of them)")
    rng = np.random.default_rng(seed)
    parts = []
    for label, category in enumerate(categories):
        rows = clean[clean["category"] == category].sort_values("image_id", kind="stable")
        n = min(per_category, len(rows))
        n_test = round(n * test_fraction)
        if n - n_test < folds or n_test < 1:
            raise SampleError(f"category '{category}' has {n} images: too few for a test part and "
                              f"{folds} folds")
        chosen = rows.iloc[np.sort(rng.choice(len(rows), size=n, replace=False))]
        rank = rng.permutation(n)  # a random rank per chosen row: the lowest n_test go to test
        split = np.where(rank < n_test, "test", "train")
        fold = np.where(rank < n_test, -1, (rank - n_test) % folds).astype(np.int8)
        parts.append(chosen.assign(label=np.int32(label), split=split, fold=fold))
    sample = pd.concat(parts, ignore_index=True)
    return sample.astype({"label": "int32", "split": "string", "fold": "int8"})
