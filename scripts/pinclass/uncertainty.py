"""How sure are the test macro F1 numbers? Bootstrap intervals and paired comparisons between cells.

Macro F1 is the one definition of `pinclass.scoring`: `sklearn.metrics.f1_score(y_true, y_pred,
average="macro", labels=range(n_classes), zero_division=0)` — every class counts, and a class with
no true and no predicted image in a (resampled) test set contributes an F1 of 0.

The bootstrap resamples test images with replacement (numpy `default_rng(seed)`, drawn in a fixed
order by `iter_resample_indices`, so `resample_indices` gives exactly the resamples the fast code
uses). A cell's interval resamples all test images; a comparison of cells resamples them within
each category (stratified: every resample keeps the categories' test counts, as macro F1 weighs
categories equally), and the comparisons of one table are adjusted together by Holm's method. Each resample's macro F1 comes from confusion counts — per class: true count T, predicted
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
from scipy.stats import binomtest

from pinclass.scoring import _as_label_indices

METHOD = "percentile bootstrap over test images"
PAIRED_METHOD = "paired percentile bootstrap over test images, stratified by category"
# Resample indices (and the counting) go in chunks of at most this many index entries, to bound memory.
_CHUNK_ENTRIES = 2_000_000


# ---------------------------------------------------------------- resampling and vectorised macro F1

def _chunk_rows(n: int) -> int:
    return max(1, _CHUNK_ENTRIES // max(n, 1))


def iter_resample_indices(n: int, n_boot: int, seed: int, strata=None) -> Iterator[np.ndarray]:
    """The bootstrap resamples, in chunks: arrays of shape (rows, n) of image positions 0..n-1.

    Drawn from `np.random.default_rng(seed)` with `integers(0, n, size=(rows, n))`, chunk after
    chunk; the chunk size depends on n only, so (n, n_boot, seed) fixes every resample. With
    `strata` (one value per image), each resample draws within each stratum, in sorted order of
    the values, as many images as the stratum has (`integers(0, size, (rows, size))`).
    """
    if n < 1:
        raise ValueError("no test images to resample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    rows = _chunk_rows(n)
    groups = None if strata is None else [np.flatnonzero(strata == value) for value in np.unique(strata)]
    for start in range(0, n_boot, rows):
        size = min(rows, n_boot - start)
        if groups is None:
            yield rng.integers(0, n, size=(size, n))
        else:
            yield np.concatenate([group[rng.integers(0, len(group), size=(size, len(group)))] for group in groups],
                                 axis=1)


def resample_indices(n: int, n_boot: int, seed: int, strata=None) -> np.ndarray:
    """All resamples at once, shape (n_boot, n): row b is the b-th resample's image positions."""
    return np.concatenate(list(iter_resample_indices(n, n_boot, seed, strata)), axis=0)


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


def _bootstrap_macro_f1(y_true: np.ndarray, predictions, n_classes: int, n_boot: int, seed: int,
                        strata=None) -> np.ndarray:
    """Macro F1 of every prediction array on every resample, shape (len(predictions), n_boot).

    All prediction arrays see the same resamples (paired). Per chunk of resamples: the draw counts
    W (rows × images) from one np.bincount, then one matrix product W @ one-hot design gives every
    confusion count needed.
    """
    n = y_true.size
    dtype = _count_dtype(n)
    design = _one_hot_design(y_true, predictions, n_classes, dtype)
    chunks = [_macro_f1_from_counts(_resample_counts(chunk, n, dtype) @ design, n_classes, len(predictions))
              for chunk in iter_resample_indices(n, n_boot, seed, strata)]
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

def bootstrap_ci(y_true, y_pred, n_classes: int, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """Percentile bootstrap interval of the test macro F1 of one cell.

    `macro_f1` is the value on all test images; `low`/`high` are the (1-level)/2 and 1-(1-level)/2
    quantiles (numpy's default linear interpolation) of the macro F1 over `n_boot` resamples of
    the test images drawn with replacement (see `iter_resample_indices`).
    """
    y_true, y_pred = _check(y_true, [("y_pred", y_pred)], n_classes, level)
    (values,) = _bootstrap_macro_f1(y_true, [y_pred], n_classes, n_boot, seed)
    low, high = _percentile_interval(values, level)
    return {"macro_f1": _macro_f1(y_true, y_pred, n_classes), "low": low, "high": high,
            "n_boot": int(n_boot), "level": float(level), "seed": int(seed), "method": METHOD}


def predictions_ci(predictions: pd.DataFrame, n_classes: int, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict:
    """`bootstrap_ci` of a predictions table (image_id, label, predicted), its rows taken in image_id
    order so that the resamples do not depend on the order the rows were written in."""
    ordered = predictions.sort_values("image_id", kind="stable")
    return bootstrap_ci(ordered["label"].to_numpy(), ordered["predicted"].to_numpy(), n_classes, n_boot=n_boot,
                        seed=seed, level=level)


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
                      level: float = 0.95) -> dict:
    """Is cell a better than cell b on the same test images? Paired bootstrap and McNemar.

    Arrays must be aligned on the same test images (use `align_predictions` for two tables).
    - `diff`: macro F1 of a minus macro F1 of b, on all test images.
    - `low`, `high`: percentile interval (`level`, 95% by default) of that difference over
      `n_boot` resamples of test images, stratified by true category, where each resample is
      applied to BOTH cells (paired).
    - `p_value`: two-sided bootstrap p-value = 2 × (share of the n_boot resampled differences
      that lie on the other side of 0 from `diff`, 0 itself included: share of d ≤ 0 when
      diff > 0, of d ≥ 0 when diff < 0), capped at 1; 1 when diff = 0. Its resolution is
      1/n_boot: 0 means fewer than one resample in n_boot crossed 0.
    - `mcnemar_p`: McNemar's exact test on per-image correctness — a test of accuracy, not of
      macro F1 —, the two-sided binomial test
      (scipy.stats.binomtest, p = 0.5) of `a_only_correct` among the discordant images
      `a_only_correct + b_only_correct`; 1 when there is no discordant image.
    """
    y_true, pred_a, pred_b = _check(y_true, [("pred_a", pred_a), ("pred_b", pred_b)], n_classes, level)
    values_a, values_b = _bootstrap_macro_f1(y_true, [pred_a, pred_b], n_classes, n_boot, seed, strata=y_true)
    return _paired_result(y_true, pred_a, pred_b, values_a, values_b, n_classes, n_boot, seed, level)


def _paired_result(y_true, pred_a, pred_b, values_a, values_b, n_classes, n_boot, seed, level) -> dict:
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
            "method": PAIRED_METHOD}


# ---------------------------------------------------------------- many cells on the same test images

def _aligned_cells(cells: dict, n_classes: int, level: float):
    """cells {key: predictions frame} → (image_ids sorted, y_true, {key: predicted}), all in image_id order.

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
    return reference["image_id"].to_numpy(), y_true, dict(zip(predicted, preds))


def bootstrap_cis(cells: dict, n_classes: int, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """`bootstrap_ci` of every cell {key: predictions frame (image_id, label, predicted)} in one pass.

    All frames must cover the same test images with the same labels (checked). Images are put in
    image_id order, so every cell gets the same resamples and the result does not depend on row
    order; each value equals `bootstrap_ci(y_true, predicted, ...)` on the image_id-sorted arrays.
    """
    _, y_true, predicted = _aligned_cells(cells, n_classes, level)
    values = _bootstrap_macro_f1(y_true, list(predicted.values()), n_classes, n_boot, seed)
    out = {}
    for (key, pred), cell_values in zip(predicted.items(), values):
        low, high = _percentile_interval(cell_values, level)
        out[key] = {"macro_f1": _macro_f1(y_true, pred, n_classes), "low": low, "high": high,
                    "n_boot": int(n_boot), "level": float(level), "seed": int(seed), "method": METHOD}
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
                   level: float = 0.95) -> pd.DataFrame:
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
    _, y_true, predicted = _aligned_cells(cells, n_classes, level)
    scores = {key: _macro_f1(y_true, pred, n_classes) for key, pred in predicted.items()}
    best = max(scores, key=scores.get)         # max keeps the first of equal values
    values = dict(zip(predicted, _bootstrap_macro_f1(y_true, list(predicted.values()), n_classes, n_boot, seed,
                                                     strata=y_true)))
    rows = []
    for key, pred in predicted.items():
        if key == best:
            continue
        result = _paired_result(y_true, predicted[best], pred, values[best], values[key], n_classes, n_boot,
                                seed, level)
        rows.append({"best": _cell_name(best), "other": _cell_name(key),
                     **{column: result[column] for column in ("diff", "low", "high", "p_value", "mcnemar_p")}})
    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    if rows:
        table["p_holm"] = holm(table["p_value"])
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"])
        table["significant"] = table["p_holm"] < 1 - level
    table.attrs.update(best_macro_f1=scores[best], n_boot=int(n_boot), seed=int(seed), level=float(level),
                       n_images=int(y_true.size))
    return table
