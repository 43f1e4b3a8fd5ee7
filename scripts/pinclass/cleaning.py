"""Cleaning: decide for every raw row whether it is kept, and why not.

`check_rows` is the expensive part (a full decode of every image, in threads; Pillow releases the
GIL while decoding; the perceptual hash comes from the decoded pixels) and runs per shard;
`merge_checks` is cheap and sees all shards, so exact duplicates and near-duplicates are found
across the whole crawl.
"""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pinclass.images import ImageRejected, inspect_image, set_pixel_limit
from pinclass.ingest import RAW_COLUMNS, REJECTED_COLUMNS, sort_by_path
from pinclass.near_duplicates import HASH_COLUMNS, Rule, near_duplicate_groups, prints_of

NEAR_DUPLICATE_MODES = ("keep", "drop")

SHARD_COLUMNS = ["image_id", "path", "category"]  # what check_rows reads of raw
_STRINGS = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
FACTS = ["width", "height", "format", "sha256", *HASH_COLUMNS, "box", "thumbnail"]  # a kept image's check adds
CHECK_COLUMNS = ["image_id", "reason", "detail", *FACTS]
CHECK_DTYPES = {"image_id": "string", "reason": "string", "detail": "string", "width": "Int32", "height": "Int32",
                "format": "string", "sha256": "string", "dhash": "UInt64", "phash": "UInt64", "colour": "UInt32",
                "box": "UInt64", "thumbnail": "object"}  # thumbnail: bytes (`images.thumbnail`)
CLEAN_DTYPES = {"width": "int32", "height": "int32", "dhash": "uint64", "phash": "uint64", "colour": "uint32",
                "box": "uint64"}


def read_shard(raw_path, shard: int, shards: int, batch_rows: int = 65_536) -> pd.DataFrame:
    """Rows `shard` of `shards` of raw.parquet (the slice `shards.shard_rows` takes), with only the
    columns check_rows reads, read in batches: a job holds its own rows, not the whole crawl."""
    source = pq.ParquetFile(raw_path)
    rows = source.metadata.num_rows
    start, stop = rows * shard // shards, rows * (shard + 1) // shards
    batches, offset = [], 0
    for batch in source.iter_batches(batch_size=batch_rows, columns=SHARD_COLUMNS):
        low, high = max(start - offset, 0), min(stop - offset, batch.num_rows)
        if low < high:
            batches.append(batch.slice(low, high - low))
        offset += batch.num_rows
        if offset >= stop:
            break
    schema = pa.schema([source.schema_arrow.field(column) for column in SHARD_COLUMNS])
    return pa.Table.from_batches(batches, schema=schema).to_pandas(types_mapper=_STRINGS.get)


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
    """One check row per raw row, in row order: reason None (kept so far) with image facts, or a
    rejection. categories None (a prediction set): any category or none is fine."""
    set_pixel_limit(max_pixels)
    root = Path(root)
    labelled = categories is not None
    categories, exclude = set(categories or ()), set(exclude)
    paths, found = rows["path"].tolist(), rows["category"].tolist()
    results = [None] * len(paths)

    def check(i):
        problem = category_problem(found[i], categories, exclude) if labelled else None
        if problem:  # no need to decode an image the experiment cannot use
            results[i] = (*problem, *[None] * len(FACTS))
            return
        try:
            facts = inspect_image(root / paths[i], min_size)
        except ImageRejected as rejected:
            results[i] = (rejected.reason, rejected.detail, *[None] * len(FACTS))
            return
        results[i] = (None, None, *(facts[name] for name in FACTS))

    run_indexed(check, len(paths), threads)
    columns = list(zip(*results)) if results else [()] * (len(CHECK_COLUMNS) - 1)
    return pd.DataFrame({
        "image_id": pd.array(rows["image_id"], dtype="string"),
        **{name: pd.array(values, dtype=CHECK_DTYPES[name]) for name, values in zip(CHECK_COLUMNS[1:], columns)},
    })


def run_indexed(task, count: int, threads: int) -> None:
    """Call task(0) … task(count - 1), on `threads` threads that each take the next index when free.

    One thread runs in the caller. Several take indices from a shared counter: no future or hand-off
    per item, which on small images costs as much as a quarter of the decode. An exception stops the
    other threads at their next index and is raised here.
    """
    if threads <= 1 or count < 2:
        for i in range(count):
            task(i)
        return
    lock, counter, failed = threading.Lock(), itertools.count(), threading.Event()

    def work():
        while not failed.is_set():
            with lock:
                i = next(counter)
            if i >= count:
                return
            try:
                task(i)
            except BaseException:
                failed.set()
                raise

    with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
        workers = [pool.submit(work) for _ in range(min(threads, count))]
    for worker in workers:
        worker.result()


def merge_checks(raw: pd.DataFrame, checks: pd.DataFrame, ingest_rejected: pd.DataFrame,
                 ingest_summary: dict, near_duplicates: str, rule: Rule) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Combine shard checks into (clean, rejected, summary); exact duplicates keep their first path.
    Near-duplicates (`near_duplicates.near_duplicate_groups` under `rule`, in path order) are
    reported and, with near_duplicates="drop", only the image kept for each group stays.

    Matching ids and finding duplicates run on the Arrow columns (no Python string per row, no
    object column, no Python loop over groups), so a million-row crawl merges in seconds.
    """
    positions = _check_positions(raw["image_id"], checks["image_id"])
    facts = checks.drop(columns="image_id").take(positions).reset_index(drop=True)
    table = sort_by_path(pd.concat([raw.reset_index(drop=True), facts], axis=1))
    del facts

    passed = table["reason"].isna().to_numpy()
    first = _first_of_same_bytes(table["sha256"], passed)
    path = _arrow(table["path"])
    first_path = pd.Series(path.take(pa.array(np.where(passed, first, 0))), dtype="string", index=table.index)
    is_copy = passed & (table["path"] != first_path).to_numpy(dtype=bool, na_value=False)
    table.loc[is_copy, "reason"] = "duplicate"
    table.loc[is_copy, "detail"] = "same bytes as " + first_path[is_copy]
    conflicts = _conflicts(table, np.flatnonzero(passed), first[passed])
    if near_duplicates not in NEAR_DUPLICATE_MODES:
        raise ValueError(f"clean.near_duplicates must be one of {NEAR_DUPLICATE_MODES}, not {near_duplicates!r}")
    unique_rows = np.flatnonzero(passed & ~is_copy)
    groups = unique_rows[near_duplicate_groups(prints_of(table.take(unique_rows)), rule)]
    near = _near_duplicates(table, unique_rows, groups, near_duplicates, rule)
    if near_duplicates == "drop":
        is_near = np.zeros(len(table), dtype=bool)
        is_near[unique_rows[groups != unique_rows]] = True
        table.loc[is_near, "reason"] = "near_duplicate"
        kept_path = pd.Series(_arrow(table["path"]).take(pa.array(groups[groups != unique_rows])), dtype="string")
        table.loc[is_near, "detail"] = ("near-duplicate of " + kept_path).to_numpy()
        is_copy |= is_near

    kept = passed & ~is_copy
    clean = table.loc[kept, RAW_COLUMNS + FACTS].reset_index(drop=True).astype(CLEAN_DTYPES)
    rejected = pd.concat([table.loc[~kept, REJECTED_COLUMNS], ingest_rejected], ignore_index=True).astype("string")
    del table, first_path
    rejected = sort_by_path(rejected)
    summary = {
        "files_found": len(raw) + len(ingest_rejected),
        "clean": len(clean),
        "rejected": len(rejected),
        "rejected_by_reason": {k: int(v) for k, v in rejected["reason"].value_counts().sort_index().items()},
        "clean_by_category": {k: int(v) for k, v in clean["category"].value_counts().sort_index().items()},
        "duplicate_conflicts": conflicts,
        "near_duplicates": near,
        "ingest": ingest_summary,
    }
    return clean, rejected, summary


def _near_duplicates(table: pd.DataFrame, rows: np.ndarray, groups: np.ndarray, mode: str, rule: Rule) -> dict:
    """The near-duplicate groups among `rows` (each labelled by its first row) for the summary: how
    many, how many images, and every group whose images are filed under more than one category."""
    labels, sizes = np.unique(groups, return_counts=True)
    shared = labels[sizes > 1]
    members = rows[np.isin(groups, shared)]
    across = []
    if len(members):
        frame = pd.DataFrame({"group": groups[np.isin(groups, shared)], "path": table["path"].take(members).to_numpy(),
                              "category": table["category"].take(members).to_numpy()})
        spans = frame.groupby("group")["category"].nunique()  # one pass; rows only for groups that span
        for label, group in frame[frame["group"].isin(spans.index[spans > 1])].groupby("group", sort=True):
            across.append({"kept": table["path"].iat[label], "categories": sorted(set(group["category"])),
                           "paths": sorted(group["path"])})
    return {"rule": rule.as_dict(), "mode": mode, "groups": int(len(shared)),
            "images": int(len(members)), "across_categories": len(across), "groups_across_categories": across}


def _arrow(column: pd.Series) -> pa.Array:
    """A column's values as one Arrow array (a copy only when pandas holds them in several chunks)."""
    values = pa.array(column)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _check_positions(raw_ids: pd.Series, checked_ids: pd.Series) -> np.ndarray:
    """For each raw row, the row of checks with its image_id; ValueError unless checks and raw match one to one."""
    positions = pc.index_in(_arrow(raw_ids), value_set=_arrow(checked_ids))
    if (len(checked_ids) != len(raw_ids) or positions.null_count
            or pc.count_distinct(positions).as_py() != len(raw_ids)):
        raise ValueError(f"clean shards cover {len(checked_ids)} rows but raw.parquet has {len(raw_ids)} "
                         "(or an image_id is missing or repeated)")
    return positions.to_numpy(zero_copy_only=False)


def _first_of_same_bytes(sha256: pd.Series, passed: np.ndarray) -> np.ndarray:
    """For each passed row, the first passed row (in table order) with the same sha256; -1 elsewhere."""
    rows = np.flatnonzero(passed)
    first = np.full(len(passed), -1, dtype=np.int64)
    if len(rows):
        codes = pc.dictionary_encode(_arrow(sha256).take(pa.array(rows))).indices.to_numpy(zero_copy_only=False)
        _, first_of_code = np.unique(codes, return_index=True)  # index of each code's first occurrence
        first[rows] = rows[first_of_code[codes]]
    return first


def _conflicts(table: pd.DataFrame, rows: np.ndarray, first: np.ndarray) -> list[dict]:
    """Identical bytes filed under different categories: one image, two labels.

    rows: the passed rows; first: for each, the first passed row with its bytes (the kept copy).
    Only groups of copies with more than one category are looked at row by row.
    """
    if not len(rows):
        return []
    categories = pc.dictionary_encode(_arrow(table["category"]).take(pa.array(rows)))
    codes = pc.fill_null(categories.indices, -1).to_numpy(zero_copy_only=False)  # -1: no category (unlabelled)
    pairs = np.unique(np.stack([first, codes]), axis=1)
    groups, labels = np.unique(pairs[0], return_counts=True)
    out = []
    for kept in groups[labels > 1]:
        members = rows[first == kept]
        out.append({"sha256": table["sha256"].iat[kept],
                    "categories": sorted(set(table["category"].take(members))),
                    "paths": sorted(table["path"].take(members)), "kept": table["path"].iat[kept]})
    return sorted(out, key=lambda conflict: conflict["sha256"])
