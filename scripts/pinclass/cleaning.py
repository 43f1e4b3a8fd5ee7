"""Cleaning: decide for every raw row whether it is kept, and why not.

`check_rows` is the expensive part (a full decode of every image, in threads; Pillow releases the
GIL while decoding) and runs per shard; `merge_checks` is cheap and sees all shards, so exact
duplicates are found across the whole crawl.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from pinclass.images import ImageRejected, inspect_image, set_pixel_limit
from pinclass.ingest import RAW_COLUMNS, REJECTED_COLUMNS

CHECK_COLUMNS = ["image_id", "reason", "detail", "width", "height", "format", "sha256"]


def category_problem(category, categories, exclude) -> tuple[str, str] | None:
    if category in exclude:
        return "excluded_category", f"category '{category}' is excluded by config"
    if category is None or pd.isna(category):
        return "unknown_category", "the board has no readable category (see clean_summary.json: ingest)"
    if category not in categories:
        return "unknown_category", f"category '{category}' is not in the config's categories"
    return None


def check_rows(rows: pd.DataFrame, root, categories, exclude, min_size: int, max_pixels: int,
               threads: int = 1) -> pd.DataFrame:
    """One check row per raw row: reason None (kept so far) with image facts, or a rejection."""
    set_pixel_limit(max_pixels)
    root = Path(root)
    categories, exclude = set(categories), set(exclude)

    def check(row):
        problem = category_problem(row["category"], categories, exclude)
        if problem:  # no need to decode an image the experiment cannot use
            return {"image_id": row["image_id"], "reason": problem[0], "detail": problem[1]}
        try:
            facts = inspect_image(root / row["path"], min_size)
        except ImageRejected as rejected:
            return {"image_id": row["image_id"], "reason": rejected.reason, "detail": rejected.detail}
        return {"image_id": row["image_id"], "reason": None, "detail": None, **facts}

    records = rows[["image_id", "path", "category"]].to_dict("records")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        checked = list(pool.map(check, records, chunksize=64))
    return pd.DataFrame(checked, columns=CHECK_COLUMNS).astype(
        {"image_id": "string", "reason": "string", "detail": "string", "width": "Int32",
         "height": "Int32", "format": "string", "sha256": "string"})


def merge_checks(raw: pd.DataFrame, checks: pd.DataFrame, ingest_rejected: pd.DataFrame,
                 ingest_summary: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Combine shard checks into (clean, rejected, summary); exact duplicates keep their first path."""
    if len(checks) != len(raw) or set(checks["image_id"]) != set(raw["image_id"]):
        raise ValueError(f"clean shards cover {len(checks)} rows but raw.parquet has {len(raw)}")
    table = raw.merge(checks, on="image_id", how="left", validate="one_to_one")
    table = table.sort_values("path", kind="stable").reset_index(drop=True)

    passed = table["reason"].isna()
    first_path = table[passed].groupby("sha256")["path"].transform("first").reindex(table.index)
    is_copy = passed & (table["path"] != first_path)
    table.loc[is_copy, "reason"] = "duplicate"
    table.loc[is_copy, "detail"] = "same bytes as " + first_path[is_copy]

    clean_columns = RAW_COLUMNS + ["width", "height", "format", "sha256"]
    clean = table[table["reason"].isna()][clean_columns].reset_index(drop=True)
    clean = clean.astype({"width": "int32", "height": "int32"})
    rejected = pd.concat([table[table["reason"].notna()][REJECTED_COLUMNS], ingest_rejected],
                         ignore_index=True).astype("string")
    rejected = rejected.sort_values("path", kind="stable").reset_index(drop=True)
    summary = {
        "files_found": len(raw) + len(ingest_rejected),
        "clean": len(clean),
        "rejected": len(rejected),
        "rejected_by_reason": {k: int(v) for k, v in rejected["reason"].value_counts().sort_index().items()},
        "clean_by_category": {k: int(v) for k, v in clean["category"].value_counts().sort_index().items()},
        "duplicate_conflicts": _conflicts(table[passed | is_copy]),
        "ingest": ingest_summary,
    }
    return clean, rejected, summary


def _conflicts(copies: pd.DataFrame) -> list[dict]:
    """Identical bytes filed under different categories: one image, two labels."""
    out = []
    for sha, group in copies.groupby("sha256", sort=True):
        labels = sorted(set(group["category"]))
        if len(labels) > 1:
            out.append({"sha256": sha, "categories": labels, "paths": sorted(group["path"]),
                        "kept": group["path"].iloc[0]})
    return out
