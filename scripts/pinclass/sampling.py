"""Sampling: per-category draw, stratified train/test split and CV folds, fixed once as data.

`sample.group_by: board | user` keeps every group's sampled pins together — on one side of the
split and in one fold — so no board (or user) is seen in training and again at test time.
"""

import numpy as np
import pandas as pd

from pinclass.grouping import TOLERANCE, deal_folds, group_sizes, hold_out
from pinclass.near_duplicates import Rule, groups_with_both, near_duplicate_groups, prints_of

GROUPINGS = ("none", "board", "user")


class SampleError(ValueError):
    pass


def draw_sample(clean: pd.DataFrame, categories: list[str], per_category: int, test_fraction: float,
                folds: int, seed: int, allow_fewer: bool = False, group_by: str = "none") -> pd.DataFrame:
    """The experiment's images with `label`, `split` and `fold`, identical for identical arguments.

    Within each category: `per_category` rows drawn without replacement, shuffled, the first
    round(n * test_fraction) are test, the rest train with folds dealt round-robin — so every split
    and every fold is stratified with counts as equal as the numbers allow. With `group_by`, the
    same rows are drawn and `assign_groups` splits them by group instead.
    """
    if group_by not in GROUPINGS:
        raise SampleError(f"sample.group_by must be one of {GROUPINGS}, not {group_by!r}")
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
        split, fold = _split_by_rank(rng.permutation(n), n_test, folds)
        parts.append(chosen.assign(label=np.int32(label), split=split, fold=fold))
    sample = pd.concat(parts, ignore_index=True)
    if group_by != "none":
        split, fold = assign_groups(group_keys(sample, group_by), sample["label"].to_numpy(), len(categories),
                                    test_fraction, folds, np.random.default_rng([seed, 1]))
        sample = sample.assign(split=split, fold=fold)
    return sample.astype({"label": "int32", "split": "string", "fold": "int8"})


def _split_by_rank(rank: np.ndarray, n_test: int, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """A random rank per row of one category: the lowest n_test go to test, the rest to folds
    round-robin in rank order."""
    return np.where(rank < n_test, "test", "train"), np.where(rank < n_test, -1, (rank - n_test) % folds).astype(np.int8)


def resplit(sample: pd.DataFrame, n_classes: int, test_fraction: float, folds: int, seed: int, repeat: int,
            group_by: str = "none") -> pd.DataFrame:
    """Repeat `repeat` (1, 2, …) of the split: the same sampled images with another split and folds,
    drawn as `draw_sample` draws them (per category, or by group) from a generator seeded by
    (seed, repeat) — so the repeats differ from the sample's split and from one another."""
    if repeat < 1:
        raise SampleError(f"repeat {repeat}: repeat 0 is the sample's own split")
    rng = np.random.default_rng([seed, 2, repeat])
    labels = sample["label"].to_numpy()
    if group_by != "none":
        split, fold = assign_groups(group_keys(sample, group_by), labels, n_classes, test_fraction, folds, rng)
    else:
        split, fold = np.empty(len(sample), dtype=object), np.empty(len(sample), dtype=np.int8)
        for label in range(n_classes):
            rows = np.flatnonzero(labels == label)
            split[rows], fold[rows] = _split_by_rank(rng.permutation(len(rows)), round(len(rows) * test_fraction),
                                                     folds)
    return sample.assign(split=split, fold=fold).astype({"split": "string", "fold": "int8"})


def group_keys(sample: pd.DataFrame, group_by: str) -> np.ndarray:
    """Each row's group: its user, or its board as (user, board folder) — folder names repeat across
    users. A row without them stops the run: grouping cannot place it."""
    columns = ["user"] if group_by == "user" else ["user", "board"]
    for column in columns:
        values = sample[column] if column in sample else pd.Series(pd.NA, index=sample.index)
        missing = values.isna() | (values.astype("string").str.strip() == "")
        if missing.any():
            first = sample.loc[missing, "image_id"].iloc[0]
            raise SampleError(f"sample.group_by={group_by} needs `{column}` for every image, but "
                              f"{int(missing.sum())} sampled image(s) have none (first: {first}); a manifest "
                              f"CSV must give {' and '.join(columns)} columns to group by them")
    return sample[columns].astype(str).agg("/".join, axis=1).to_numpy()


def assign_groups(keys: np.ndarray, labels: np.ndarray, n_classes: int, test_fraction: float, folds: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split and fold per row such that each group's rows share them, per category as close to the
    targets as whole groups allow, groups in a seeded random order (`grouping.hold_out` for the
    test side within TOLERANCE, `grouping.deal_folds` for the folds)."""
    group, sizes = group_sizes(keys, labels, n_classes)
    if len(sizes) < folds + 1:
        raise SampleError(f"only {len(sizes)} groups: too few for a test part and {folds} folds")
    in_test = hold_out(sizes, test_fraction, rng, TOLERANCE)
    fold_of = np.full(len(sizes), -1, dtype=np.int8)
    fold_of[~in_test] = deal_folds(sizes[~in_test], folds, rng)
    if not in_test.any() or len(np.unique(fold_of[~in_test])) < folds:
        raise SampleError(f"{len(sizes)} groups cannot fill a test part and {folds} folds")
    return np.where(in_test[group], "test", "train"), fold_of[group]


SIZE_BANDS = ((1, 4), (5, 9), (10, 29), (30, None))  # sampled images a group (board or user) holds


def by_group_size(keys: np.ndarray, test: np.ndarray) -> list[dict]:
    """Per band of SIZE_BANDS (a group's sampled images): groups, images, test groups, test images and
    the test share of the images. A split that cannot place large groups in test (a group larger than
    its category's test quota) shows as a low share in the top bands."""
    _, group, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    in_test = np.zeros(len(sizes), dtype=bool)
    in_test[group[test]] = True
    out = []
    for low, high in SIZE_BANDS:
        band = (sizes >= low) & (sizes <= (high if high is not None else sizes.max(initial=0)))
        images, test_images = int(sizes[band].sum()), int(sizes[band & in_test].sum())
        out.append({"band": f"{low}-{high}" if high is not None else f">={low}", "groups": int(band.sum()),
                    "images": images, "test_groups": int((band & in_test).sum()), "test_images": test_images,
                    "test_share": round(test_images / images, 4) if images else None})
    return out


def split_summary(sample: pd.DataFrame, categories: list[str], test_fraction: float, group_by: str,
                  rule: Rule | None = None) -> dict:
    """Per category: images, test images, test share and images per fold; the categories whose share
    is more than TOLERANCE from test_fraction (grouping can only move whole groups), those missing
    from a fold and those without any test image; with group_by, how many groups and how many of them
    in test, overall and per category, and the test share by group size (`by_group_size`); with
    `rule`, how many test images have a near-duplicate in train."""
    per, missing = {}, []
    folds = sorted(int(f) for f in sample.loc[sample["split"] == "train", "fold"].unique())
    for label, category in enumerate(categories):
        rows = sample[sample["label"] == label]
        n_test = int((rows["split"] == "test").sum())
        in_fold = rows.loc[rows["split"] == "train", "fold"].value_counts()
        per[category] = {"images": len(rows), "test": n_test, "test_share": round(n_test / max(len(rows), 1), 4),
                         "folds": [int(in_fold.get(f, 0)) for f in folds]}
        if len(rows) and not all(per[category]["folds"]):
            missing.append(category)
    off = sorted(c for c, v in per.items() if abs(v["test_share"] - test_fraction) > TOLERANCE + 1e-9)  # 0.18 is in
    summary = {"group_by": group_by, "test_fraction": test_fraction, "tolerance": TOLERANCE,
               "categories": per, "outside_tolerance": off, "missing_from_a_fold": missing,
               "without_test_images": [c for c, v in per.items() if v["images"] and not v["test"]]}
    if group_by != "none":
        keys = group_keys(sample, group_by)
        test = sample["split"].to_numpy() == "test"
        summary["groups"] = int(len(np.unique(keys)))
        summary["test_groups"] = int(len(np.unique(keys[test])))
        for label, category in enumerate(categories):  # the units the intervals resample, per category
            per[category]["test_groups"] = int(len(np.unique(keys[test & (sample["label"].to_numpy() == label)])))
        summary["by_group_size"] = by_group_size(keys, test)
    if rule is not None:
        split = sample["split"].to_numpy()
        both = groups_with_both(near_duplicate_groups(prints_of(sample), rule), split)
        summary["near_duplicate_test_images"] = int((both & (split == "test")).sum())
        summary["near_duplicate_rule"] = rule.as_dict()
    return summary
