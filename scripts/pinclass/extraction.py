"""Feature extraction: files on disk → one pooled feature vector per image.

Decoding and resizing run in a thread pool (Pillow releases the GIL while it works) a few batches
ahead of the model, so the model is not kept waiting for pixels; the model runs as one compiled
tf.function on fixed-size batches (the last batch is padded, then cut back).
"""

import logging
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pinclass.images import load_rgb, resize

PROGRESS_EVERY_S = 30.0
_COMPILED = weakref.WeakKeyDictionary()  # model → its tf.function, traced once per model and shape


def decode(path, input_size: int) -> np.ndarray:
    """The model's input for one file: `images.load_rgb` (JPEGs decoded at a reduced DCT scale where
    that still covers the input size), then a bicubic resize to a square."""
    return resize(load_rgb(path, draft_size=input_size), input_size)


def decoded_batches(paths: list, input_size: int, batch_size: int, threads: int, prefetch: int = 2):
    """Yield float32 batches (n, size, size, 3), RGB 0..255, decoded `prefetch` batches ahead."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending = deque()
        for start in range(0, len(paths), batch_size):
            pending.append([pool.submit(decode, p, input_size) for p in paths[start:start + batch_size]])
            if len(pending) > prefetch:
                yield np.stack([f.result() for f in pending.popleft()])
        while pending:
            yield np.stack([f.result() for f in pending.popleft()])


def configure_threads(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def extract_features(paths: list, model, input_size: int, batch_size: int, threads: int,
                     log: logging.Logger | None = None) -> np.ndarray:
    """Run `model` over the images at `paths`; return float32 features (len(paths), width)."""
    import tensorflow as tf

    log = log or logging.getLogger(__name__)
    if model not in _COMPILED:
        _COMPILED[model] = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    infer = _COMPILED[model]
    outputs, done = [], 0
    began = last_report = time.perf_counter()
    for batch in decoded_batches(paths, input_size, batch_size, threads):
        n = len(batch)
        if n < batch_size:  # keep one input shape: a single trace of the model
            batch = np.concatenate([batch, np.zeros((batch_size - n,) + batch.shape[1:], batch.dtype)])
        outputs.append(np.asarray(infer(tf.constant(batch)), dtype=np.float32)[:n])
        done += n
        now = time.perf_counter()
        if now - last_report >= PROGRESS_EVERY_S or done == len(paths):
            log.info("%d/%d images, %.1f img/s", done, len(paths), done / max(now - began, 1e-9))
            last_report = now
    if not outputs:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(outputs)


def features_table(image_ids, features: np.ndarray) -> pa.Table:
    """`image_id` and a fixed_size_list<float32> column `features` (DESIGN.md)."""
    dim = features.shape[1]
    flat = pa.array(np.ascontiguousarray(features, dtype=np.float32).reshape(-1), type=pa.float32())
    column = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table({"image_id": pa.array(list(image_ids), type=pa.string()), "features": column})


def features_matrix(table: pa.Table) -> np.ndarray:
    """The (n, dim) float32 matrix of a features table."""
    column = table.column("features").combine_chunks()
    dim = column.type.list_size
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)


def merge_shards(sample_ids: pd.Series, shards: list[pa.Table]) -> pa.Table:
    """Join shard tables by image_id into sample order; any missing or extra id is an error."""
    table = pa.concat_tables(shards)
    ids = table.column("image_id").to_pylist()
    position = {image_id: i for i, image_id in enumerate(ids)}
    if len(position) != len(ids):
        raise ValueError("an image_id appears in more than one feature shard")
    wanted = list(sample_ids)
    missing = [i for i in wanted if i not in position]
    extra = set(position) - set(wanted)
    if missing or extra:
        raise ValueError(f"feature shards do not match the sample: {len(missing)} missing "
                         f"(e.g. {missing[:3]}), {len(extra)} extra (e.g. {sorted(extra)[:3]})")
    return table.take(pa.array([position[i] for i in wanted]))


def image_paths(sample: pd.DataFrame, root) -> list[Path]:
    return [Path(root) / p for p in sample["path"]]
