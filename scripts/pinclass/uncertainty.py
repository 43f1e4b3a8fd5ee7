"""How sure are the test macro F1 numbers? Bootstrap intervals and paired comparisons between cells.

Macro F1 is the one definition of `pinclass.scoring`: `sklearn.metrics.f1_score(y_true, y_pred,
average="macro", labels=range(n_classes), zero_division=0)` — every class counts, and a class with
no true and no predicted image in a (resampled) test set contributes an F1 of 0.

The bootstrap resamples the unit the split holds out — test images, or with a grouped split
(`sample.group_by`) whole test boards or users with all their images, as a reviewer's next crawl
would draw new boards, not new pins of the same boards — with replacement and within each category
(stratified: a unit's category is its images' most frequent label, and every resample keeps the
categories' numbers of units, as macro F1 weighs categories equally). Draws come from numpy
`default_rng(seed)` in a fixed order (`iter_resample_indices`, so `resample_indices` gives exactly
the resamples the fast code uses). Cells' intervals and comparisons of cells share the resamples,
and the comparisons of one table are adjusted together by Holm's method. Across repeated splits
(`repeats`), `repeats_comparison` compares cells with the corrected resampled t-test of Nadeau and
Bengio (2003), whose variance term accounts for the training sets the splits share. Each resample's macro F1 comes from confusion counts — per class: true count T, predicted
count P, true positives TP, and F1 = 2·TP / (T + P), 0 where T + P = 0 — for a whole chunk of
resamples at once: one `np.bincount` gives how often each image is drawn in each resample, and one
matrix product with the images' one-hot true / predicted / hit labels gives every count (exact:
whole numbers below 2**24 in float32). No sklearn call per resample; the tests check the result
against sklearn on the very same resamples. `bootstrap_cis` and `pairwise_table` share one pass
(and the same resamples) among all cells.

Every dict returned holds plain Python floats, ints, bools and strings, ready for json.dumps.
"""

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.stats import binomtest, t as student_t

from pinclass.grouping import group_sizes
from pinclass.scoring import _as_label_indices

UNITS = {"none": "image", "board": "board", "user": "user"}  # sample.group_by → the unit resampled


def method(unit: str, paired: bool = False) -> str:
    return f"{'paired ' if paired else ''}percentile bootstrap over test {unit}s, stratified by category"


# Resample indices (and the counting) go in chunks of at most this many index entries, to bound memory.
_CHUNK_ENTRIES = 2_000_000


# ---------------------------------------------------------------- resampling and vectorised macro F1

def _chunk_rows(n: int) -> int:
    return max(1, _CHUNK_ENTRIES // max(n, 1))


def iter_resample_indices(n: int, n_boot: int, seed: int, strata=None, rows: int | None = None) -> Iterator[np.ndarray]:
    """The bootstrap resamples, in chunks: arrays of shape (rows, n) of unit positions 0..n-1.

    Drawn from `np.random.default_rng(seed)` with `integers(0, n, size=(rows, n))`, chunk after
    chunk; the chunk size (`rows`, by default from n) is fixed by the caller's sizes, so
    (n, n_boot, seed) fixes every resample. With `strata` (one value per unit), each resample draws
    within each stratum, in sorted order of the values, as many units as the stratum has
    (`integers(0, size, (rows, size))`).
    """
    if n < 1:
        raise ValueError("no test images to resample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    rows = rows or _chunk_rows(n)
    groups = None if strata is None else [np.flatnonzero(strata == value) for value in np.unique(strata)]
    for start in range(0, n_boot, rows):
        size = min(rows, n_boot - start)
        if groups is None:
            yield rng.integers(0, n, size=(size, n))
        else:
            yield np.concatenate([group[rng.integers(0, len(group), size=(size, len(group)))] for group in groups],
                                 axis=1)


def resample_indices(n: int, n_boot: int, seed: int, strata=None, rows: int | None = None) -> np.ndarray:
    """All resamples at once, shape (n_boot, n): row b is the b-th resample's unit positions."""
    return np.concatenate(list(iter_resample_indices(n, n_boot, seed, strata, rows)), axis=0)


def _resample_counts(indices: np.ndarray, n: int, dtype) -> np.ndarray:
    """How often each image is drawn in each resample: shape (rows, n)."""
    rows = indices.shape[0]
    keys = (indices + (np.arange(rows, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(keys, minlength=rows * n).reshape(rows, n).astype(dtype, copy=False)


def _one_hot_design(y_true: np.ndarray, predictions, n_classes: int, dtype) -> np.ndarray:
    """Columns: true label one-hot, then per prediction array its predicted one-hot and its hit one-hot.

    (draw counts) @ design = per resample and class: the true count T, then per prediction
    array the predicted count P and the true positives TP.
    """
    n = y_true.size
    rows = np.arange(n)
    design = np.zeros((n, n_classes * (1 + 2 * len(predictions))), dtype=dtype)
    design[rows, y_true] = 1
    for i, y_pred in enumerate(predictions):
        base = n_classes * (1 + 2 * i)
        design[rows, base + y_pred] = 1
        hit = y_pred == y_true
        design[rows[hit], base + n_classes + y_true[hit]] = 1
    return design


def _macro_f1_from_counts(counts: np.ndarray, n_classes: int, n_predictions: int) -> np.ndarray:
    """counts (rows, K·(1+2m)) → macro F1, shape (m, rows): mean over classes of 2·TP / (T + P), 0 where T + P = 0."""
    counts = counts.astype(np.float64, copy=False)
    true_count = counts[:, :n_classes]
    out = np.empty((n_predictions, counts.shape[0]))
    for i in range(n_predictions):
        base = n_classes * (1 + 2 * i)
        pred_count = counts[:, base:base + n_classes]
        true_pos = counts[:, base + n_classes:base + 2 * n_classes]
        denominator = true_count + pred_count
        f1 = np.divide(2.0 * true_pos, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
        out[i] = f1.mean(axis=1)
    return out


def _count_dtype(n: int):
    # float32 sums of whole numbers stay exact below 2**24, and its matrix product is the faster.
    return np.float32 if n < 2 ** 24 else np.float64


def resampling_units(y_true: np.ndarray, units=None) -> tuple[np.ndarray, np.ndarray]:
    """(each image's unit 0..U-1, each unit's stratum): units = None resamples images (each its own
    unit); otherwise one value per image naming its board or user. A unit's stratum is the most
    frequent true label among its images (ties: the lowest). A category with a single unit has its
    images resampled instead: one board, redrawn in every resample, would show no uncertainty at all
    (and pooling such categories would drop some from resamples, scoring them 0)."""
    if units is None:
        return np.arange(y_true.size), y_true
    unit_of, counts = group_sizes(units, y_true, y_true.max() + 1)
    stratum_of_unit = counts.argmax(axis=1)
    image_stratum = stratum_of_unit[unit_of]
    values, sizes = np.unique(stratum_of_unit, return_counts=True)
    alone = np.isin(image_stratum, values[sizes == 1])  # the images of a category's only unit
    if alone.any():
        _, unit_of = np.unique(np.where(alone, -1 - np.arange(y_true.size), unit_of), return_inverse=True)
        unit_of = unit_of.ravel()
        image_stratum = np.where(alone, y_true, image_stratum)
    strata = np.empty(unit_of.max() + 1, dtype=np.int64)
    strata[unit_of] = image_stratum
    return unit_of, strata


def _bootstrap_macro_f1(y_true: np.ndarray, predictions, n_classes: int, n_boot: int, seed: int,
                        units=None) -> np.ndarray:
    """Macro F1 of every prediction array on every resample, shape (len(predictions), n_boot).

    All prediction arrays see the same resamples (paired), of units stratified by category (see
    `resampling_units`). Per chunk of resamples: the draw counts W (rows × units) from one
    np.bincount, spread to the images of each unit, then one matrix product W @ one-hot design
    gives every confusion count needed.
    """
    n = y_true.size
    unit_of, strata = resampling_units(y_true, units)
    dtype = _count_dtype(n)
    design = _one_hot_design(y_true, predictions, n_classes, dtype)
    chunks = [_macro_f1_from_counts(_resample_counts(chunk, len(strata), dtype)[:, unit_of] @ design, n_classes,
                                    len(predictions))
              for chunk in iter_resample_indices(len(strata), n_boot, seed, strata, rows=_chunk_rows(n))]
    return np.concatenate(chunks, axis=1)


def macro_f1_of_resamples(y_true, y_pred, indices: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 of each resample (row of `indices`), shape (rows,), by the same vectorised counting.

    Equal (to rounding) to `f1_score(y_true[idx], y_pred[idx], average="macro",
    labels=range(n_classes), zero_division=0)` for each row idx.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    indices = np.atleast_2d(np.asarray(indices, dtype=np.int64))
    dtype = _count_dtype(y_true.size)
    counts = _resample_counts(indices, y_true.size, dtype) @ _one_hot_design(y_true, [y_pred], n_classes, dtype)
    return _macro_f1_from_counts(counts, n_classes, 1)[0]


def _macro_f1(y_true, y_pred, n_classes: int) -> float:
    return float(macro_f1_of_resamples(y_true, y_pred, np.arange(len(y_true))[None, :], n_classes)[0])


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = 1.0 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _check(y_true, predictions, n_classes: int, level: float):
    if n_classes < 1:
        raise ValueError("n_classes must be at least 1")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    y_true = _as_label_indices(y_true, n_classes, "y_true")
    if y_true.size == 0:
        raise ValueError("no predictions to score")
    checked = [y_true]
    for name, y_pred in predictions:
        y_pred = _as_label_indices(y_pred, n_classes, name)
        if y_pred.shape != y_true.shape:
            raise ValueError(f"y_true has {y_true.size} labels but {name} has {y_pred.size}")
        checked.append(y_pred)
    return checked


# ---------------------------------------------------------------- one cell

def _units(unit: str, values) -> np.ndarray | None:
    """The per-image unit values to resample by: None for images, else the given board/user keys."""
    if unit not in UNITS.values():
        raise ValueError(f"unit must be one of {sorted(set(UNITS.values()))}, not {unit!r}")
    if unit == "image":
        return None
    if values is None:
        raise ValueError(f"resampling {unit}s needs each test image's {unit} (a `unit` column)")
    return np.asarray(values)


def bootstrap_ci(y_true, y_pred, n_classes: int, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95, units=None, unit: str = "image") -> dict:
    """Percentile bootstrap interval of the test macro F1 of one cell.

    `macro_f1` is the value on all test images; `low`/`high` are the (1-level)/2 and 1-(1-level)/2
    quantiles (numpy's default linear interpolation) of the macro F1 over `n_boot` resamples of
    the test units (`unit`: images, or boards or users given per image by `units`) drawn with
    replacement within each category (see `resampling_units`, `iter_resample_indices`).
    """
    units = _units(unit, units)
    y_true, y_pred = _check(y_true, [("y_pred", y_pred)], n_classes, level)
    (values,) = _bootstrap_macro_f1(y_true, [y_pred], n_classes, n_boot, seed, units)
    low, high = _percentile_interval(values, level)
    return {"macro_f1": _macro_f1(y_true, y_pred, n_classes), "low": low, "high": high,
            "n_boot": int(n_boot), "level": float(level), "seed": int(seed), "unit": unit, "method": method(unit)}


def predictions_ci(predictions: pd.DataFrame, n_classes: int, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95, unit: str = "image") -> dict:
    """`bootstrap_ci` of a predictions table (image_id, label, predicted, and `unit` — each image's
    board or user — for unit board or user), its rows taken in image_id order so that the resamples
    do not depend on the order the rows were written in."""
    ordered = predictions.sort_values("image_id", kind="stable")
    return bootstrap_ci(ordered["label"].to_numpy(), ordered["predicted"].to_numpy(), n_classes, n_boot=n_boot,
                        seed=seed, level=level, units=ordered.get("unit"), unit=unit)


# ---------------------------------------------------------------- two cells on the same test images

def align_predictions(frame_a: pd.DataFrame, frame_b: pd.DataFrame):
    """Two predictions tables (image_id, label, predicted) → (y_true, pred_a, pred_b) numpy arrays.

    Rows are matched by image_id and returned in frame_a's row order. Raises ValueError when a
    column is missing, an image_id repeats, the two image sets differ, or an image's true label
    differs between the two tables (then they were not made from the same sample).
    """
    for name, frame in (("frame_a", frame_a), ("frame_b", frame_b)):
        missing = {"image_id", "label", "predicted"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name} lacks column(s) {sorted(missing)}")
        duplicated = frame["image_id"][frame["image_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"{name} repeats image_id(s) {sorted(map(str, duplicated.unique()))[:5]}")
    ids_a, ids_b = set(frame_a["image_id"]), set(frame_b["image_id"])
    if ids_a != ids_b:
        only_a, only_b = sorted(map(str, ids_a - ids_b)), sorted(map(str, ids_b - ids_a))
        raise ValueError(f"the two predictions cover different test images: {len(only_a)} only in the first "
                         f"(e.g. {only_a[:3]}), {len(only_b)} only in the second (e.g. {only_b[:3]})")
    b = frame_b.set_index("image_id").loc[frame_a["image_id"]]
    label_a = frame_a["label"].to_numpy()
    label_b = b["label"].to_numpy()
    differ = label_a != label_b
    if differ.any():
        ids = frame_a["image_id"].to_numpy()[differ]
        raise ValueError(f"true labels differ between the two predictions for {int(differ.sum())} image(s), "
                         f"e.g. {list(map(str, ids[:3]))}")
    return (label_a.astype(np.int64), frame_a["predicted"].to_numpy().astype(np.int64),
            b["predicted"].to_numpy().astype(np.int64))


def paired_comparison(y_true, pred_a, pred_b, n_classes: int, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95, units=None, unit: str = "image") -> dict:
    """Is cell a better than cell b on the same test images? Paired bootstrap and McNemar.

    Arrays must be aligned on the same test images (use `align_predictions` for two tables).
    - `diff`: macro F1 of a minus macro F1 of b, on all test images.
    - `low`, `high`: percentile interval (`level`, 95% by default) of that difference over
      `n_boot` resamples of test units (images, or the boards or users `units` names), stratified
      by category, where each resample is applied to BOTH cells (paired).
    - `p_value`: two-sided bootstrap p-value = 2 × (share of the n_boot resampled differences
      that lie on the other side of 0 from `diff`, 0 itself included: share of d ≤ 0 when
      diff > 0, of d ≥ 0 when diff < 0), capped at 1; 1 when diff = 0. Its resolution is
      1/n_boot: 0 means fewer than one resample in n_boot crossed 0.
    - `mcnemar_p`: McNemar's exact test on per-image correctness — a test of accuracy, not of
      macro F1 —, the two-sided binomial test
      (scipy.stats.binomtest, p = 0.5) of `a_only_correct` among the discordant images
      `a_only_correct + b_only_correct`; 1 when there is no discordant image.
    """
    units = _units(unit, units)
    y_true, pred_a, pred_b = _check(y_true, [("pred_a", pred_a), ("pred_b", pred_b)], n_classes, level)
    values_a, values_b = _bootstrap_macro_f1(y_true, [pred_a, pred_b], n_classes, n_boot, seed, units)
    return _paired_result(y_true, pred_a, pred_b, values_a, values_b, n_classes, n_boot, seed, level, unit)


def _paired_result(y_true, pred_a, pred_b, values_a, values_b, n_classes, n_boot, seed, level, unit) -> dict:
    differences = values_a - values_b
    diff = _macro_f1(y_true, pred_a, n_classes) - _macro_f1(y_true, pred_b, n_classes)
    low, high = _percentile_interval(differences, level)
    if diff > 0:
        p_value = min(1.0, 2.0 * float(np.mean(differences <= 0)))
    elif diff < 0:
        p_value = min(1.0, 2.0 * float(np.mean(differences >= 0)))
    else:
        p_value = 1.0
    correct_a, correct_b = pred_a == y_true, pred_b == y_true
    a_only, b_only = int(np.sum(correct_a & ~correct_b)), int(np.sum(correct_b & ~correct_a))
    mcnemar_p = 1.0 if a_only + b_only == 0 else min(1.0, float(binomtest(a_only, a_only + b_only, 0.5).pvalue))
    return {"diff": float(diff), "low": low, "high": high, "p_value": float(p_value),
            "significant": bool(low > 0 or high < 0),
            "mcnemar_p": mcnemar_p, "a_only_correct": a_only, "b_only_correct": b_only,
            "n_images": int(y_true.size), "n_boot": int(n_boot), "level": float(level), "seed": int(seed),
            "unit": unit, "method": method(unit, paired=True)}


# ---------------------------------------------------------------- many cells on the same test images

def _aligned_cells(cells: dict, n_classes: int, level: float, unit: str = "image"):
    """cells {key: predictions frame} → (units, y_true, {key: predicted}), all in image_id order;
    units: each image's board or user (`unit` column, the same in every frame), None for images.

    Sorting by image_id makes the resamples independent of the row order of the files.
    """
    if not cells:
        raise ValueError("no cells given")
    first = next(iter(cells.values()))
    align_predictions(first, first)            # column and duplicate checks
    reference = first.sort_values("image_id", kind="stable").reset_index(drop=True)
    predicted = {}
    y_true = None
    for key, frame in cells.items():
        y_true, _, pred = align_predictions(reference, frame)
        predicted[key] = pred
    y_true, *preds = _check(y_true, [(f"predicted of {_cell_name(key)}", pred) for key, pred in predicted.items()],
                            n_classes, level)
    units = _units(unit, reference.get("unit"))
    if units is not None:
        for key, frame in cells.items():
            theirs = frame.set_index("image_id").loc[reference["image_id"], "unit"].to_numpy()
            if not np.array_equal(theirs, units):
                raise ValueError(f"{_cell_name(key)} files test images under other {unit}s than the first cell")
    return units, y_true, dict(zip(predicted, preds))


def bootstrap_cis(cells: dict, n_classes: int, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                  unit: str = "image") -> dict:
    """`bootstrap_ci` of every cell {key: predictions frame (image_id, label, predicted)} in one pass.

    All frames must cover the same test images with the same labels (checked). Images are put in
    image_id order, so every cell gets the same resamples and the result does not depend on row
    order; each value equals `bootstrap_ci(y_true, predicted, ...)` on the image_id-sorted arrays.
    """
    units, y_true, predicted = _aligned_cells(cells, n_classes, level, unit)
    values = _bootstrap_macro_f1(y_true, list(predicted.values()), n_classes, n_boot, seed, units)
    out = {}
    for (key, pred), cell_values in zip(predicted.items(), values):
        low, high = _percentile_interval(cell_values, level)
        out[key] = {"macro_f1": _macro_f1(y_true, pred, n_classes), "low": low, "high": high,
                    "n_boot": int(n_boot), "level": float(level), "seed": int(seed), "unit": unit,
                    "method": method(unit)}
    return out


# ---------------------------------------------------------------- the best cell against every other

PAIRWISE_COLUMNS = ["best", "other", "diff", "low", "high", "p_value", "p_holm", "mcnemar_p", "mcnemar_p_holm",
                    "significant"]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of m p-values for testing them together: in ascending order the
    i-th (from 0) is multiplied by m − i, the results made non-decreasing and capped at 1; returned
    in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(p[order] * (p.size - np.arange(p.size))))
    return adjusted


def _cell_name(cell) -> str:
    return "/".join(map(str, cell)) if isinstance(cell, tuple) else str(cell)


def pairwise_table(cells: dict, n_classes: int, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95, unit: str = "image") -> pd.DataFrame:
    """The cell with the highest test macro F1 against every other cell, one row each.

    `cells` maps (backbone, classifier) → predictions DataFrame (image_id, label, predicted); all
    must cover the same test images with the same labels. The best cell is the first (in dict
    order) with the highest macro F1. Columns: best, other ("backbone/classifier"), diff (best −
    other), low, high, p_value, mcnemar_p (see `paired_comparison`), p_holm and mcnemar_p_holm
    (each adjusted by `holm` over the table's rows), significant (p_holm < 1 − level). Images are
    put in image_id order and every row uses the same (stratified) resamples, so a row's diff, low,
    high, p_value and mcnemar_p equal `paired_comparison` on the image_id-sorted arrays. Rows follow
    dict order. `df.attrs` holds best_macro_f1, n_boot, seed, level and n_images for
    `table.pairwise_markdown`.
    """
    if len(cells) < 2:
        raise ValueError("pairwise_table needs at least two cells")
    units, y_true, predicted = _aligned_cells(cells, n_classes, level, unit)
    scores = {key: _macro_f1(y_true, pred, n_classes) for key, pred in predicted.items()}
    best = max(scores, key=scores.get)         # max keeps the first of equal values
    values = dict(zip(predicted, _bootstrap_macro_f1(y_true, list(predicted.values()), n_classes, n_boot, seed,
                                                     units)))
    rows = []
    for key, pred in predicted.items():
        if key == best:
            continue
        result = _paired_result(y_true, predicted[best], pred, values[best], values[key], n_classes, n_boot,
                                seed, level, unit)
        rows.append({"best": _cell_name(best), "other": _cell_name(key),
                     **{column: result[column] for column in ("diff", "low", "high", "p_value", "mcnemar_p")}})
    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    if rows:
        table["p_holm"] = holm(table["p_value"])
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"])
        table["significant"] = table["p_holm"] < 1 - level
    table.attrs.update(best_macro_f1=scores[best], n_boot=int(n_boot), seed=int(seed), level=float(level),
                       n_images=int(y_true.size), unit=unit)
    return table


# ---------------------------------------------------------------- across repeated splits

REPEATS_COLUMNS = ["best", "other", "mean_diff", "low", "high", "t", "p_value", "p_holm", "significant"]


def corrected_t_test(differences, test_to_train: float, level: float = 0.95) -> dict:
    """Nadeau and Bengio's corrected resampled t-test of J differences of two cells' scores on J
    splits of the same images. The splits' training sets overlap, so the differences are correlated
    and the plain t-test's variance var/J is far too small; the correction uses
    (1/J + n_test/n_train) · var (var with ddof 1), Student's t with J − 1 degrees of freedom."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        raise ValueError("the corrected t-test needs at least two splits")
    mean = float(d.mean())
    scale = float(np.sqrt((1 / d.size + test_to_train) * d.var(ddof=1)))
    if scale == 0:
        return {"mean_diff": mean, "low": mean, "high": mean, "t": 0.0 if mean == 0 else float(np.sign(mean) * np.inf),
                "p_value": 1.0 if mean == 0 else 0.0}
    t = mean / scale
    half = float(student_t.ppf(0.5 + level / 2, d.size - 1)) * scale
    return {"mean_diff": mean, "low": mean - half, "high": mean + half, "t": float(t),
            "p_value": float(2 * student_t.sf(abs(t), d.size - 1))}


def repeats_comparison(splits: dict, test_to_train: float, level: float = 0.95) -> pd.DataFrame:
    """splits {cell: [macro F1 on each split, in the same split order for every cell]} → the cell with
    the highest mean against every other cell, `corrected_t_test` on their per-split differences,
    p-values Holm-adjusted over the rows; significant = p_holm < 1 − level."""
    means = {cell: float(np.mean(values)) for cell, values in splits.items()}
    best = max(means, key=means.get)
    rows = [{"best": _cell_name(best), "other": _cell_name(cell),
             **corrected_t_test(np.subtract(splits[best], values), test_to_train, level)}
            for cell, values in splits.items() if cell != best]
    table = pd.DataFrame(rows, columns=REPEATS_COLUMNS)
    if rows:
        table["p_holm"] = holm(table["p_value"])
        table["significant"] = table["p_holm"] < 1 - level
    table.attrs.update(best_mean=means[best], splits=len(splits[best]), level=float(level),
                       test_to_train=float(test_to_train))
    return table
