"""Feature extraction: files on disk → one pooled feature vector per image.

Decoding and resizing run in a thread pool (Pillow releases the GIL while it works) a few batches
ahead of the model, so the model is not kept waiting for pixels; the model runs on fixed-size
batches (the last batch is padded, then cut back) through a runner of pinclass.runtimes: a
compiled tf.function, or the model converted to OpenVINO. Finished chunks of images are kept on
disk (`ChunkStore`) so that a killed or preempted job resumes where it stopped.
"""

import hashlib
import json
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from pinclass.atomic import replace_atomically
from pinclass.images import load_rgb, resize
from pinclass.runtimes import Runner, tensorflow_runner

PROGRESS_EVERY_S = 30.0


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


def as_runner(model) -> Runner:
    """A runner as it is; a Keras model as its TensorFlow runner."""
    return model if isinstance(model, Runner) else tensorflow_runner(model)


def extract_features(paths: list, model, input_size: int, batch_size: int, threads: int,
                     log: logging.Logger | None = None) -> np.ndarray:
    """Run `model` (a Keras model, or a `Runner` compiled for `batch_size`) over the images at
    `paths`; return float32 features (len(paths), width)."""
    log = log or logging.getLogger(__name__)
    runner = as_runner(model)
    outputs, done = [], 0
    began = last_report = time.perf_counter()
    for batch in decoded_batches(paths, input_size, batch_size, threads):
        n = len(batch)
        if n < batch_size:  # one input shape: a single trace, and the batch OpenVINO was compiled for
            batch = np.concatenate([batch, np.zeros((batch_size - n,) + batch.shape[1:], batch.dtype)])
        outputs.append(runner.run(batch)[:n])
        done += n
        now = time.perf_counter()
        if now - last_report >= PROGRESS_EVERY_S or done == len(paths):
            log.info("%d/%d images, %.1f img/s", done, len(paths), done / max(now - began, 1e-9))
            last_report = now
    if not outputs:
        return np.zeros((0, runner.width), dtype=np.float32)
    return np.concatenate(outputs)


class ChunkStore:
    """Finished chunks of one extraction job, outside Snakemake's outputs (which a failed job loses).

    A chunk's file name is a hash of everything that made it: the job's `identity` (backbone, the
    job's params — input size, weights source, seed —, the weights file's hash, the device used, the
    code under scripts/, the library versions and TensorFlow's build) and the chunk's image ids and
    file hashes. A chunk is reused only when all of these match, so
    chunks from other weights, another sample or other code are never read.
    """

    def __init__(self, folder, identity: dict):
        self.folder = Path(folder)
        self.identity = json.dumps(identity, sort_keys=True, default=str)

    def key(self, image_ids, sha256s) -> str:
        digest = hashlib.sha256(self.identity.encode())
        for image_id, sha256 in zip(image_ids, sha256s, strict=True):
            digest.update(f"{image_id}\0{sha256}\n".encode())
        return digest.hexdigest()

    def load(self, key: str) -> np.ndarray | None:
        path = self.folder / f"{key}.npy"
        return np.load(path) if path.exists() else None

    def save(self, key: str, features: np.ndarray) -> None:
        def write(tmp):
            with open(tmp, "wb") as f:
                np.save(f, features)
        replace_atomically(self.folder / f"{key}.npy", write)

    def clear(self) -> None:
        """Remove the folder once the job's output is written."""
        for path in self.folder.glob("*.npy"):
            path.unlink()
        if self.folder.exists() and not any(self.folder.iterdir()):
            self.folder.rmdir()


def extract_resumable(paths: list, image_ids: list, sha256s: list, model, input_size: int, batch_size: int,
                      threads: int, chunk_size: int, store: ChunkStore, log: logging.Logger | None = None
                      ) -> np.ndarray:
    """`extract_features` chunk by chunk, each chunk saved in `store` when done and read back instead
    of recomputed when a rerun finds it. Chunks hold whole batches, so the batches the model sees —
    and the features — are those of an uninterrupted run."""
    log = log or logging.getLogger(__name__)
    runner = as_runner(model)
    step = max(1, chunk_size // batch_size) * batch_size
    parts, reused = [], 0
    for start in range(0, len(paths), step):
        end = min(start + step, len(paths))
        key = store.key(image_ids[start:end], sha256s[start:end])
        features = store.load(key)
        if features is None:
            features = extract_features(paths[start:end], runner, input_size, batch_size, threads, log)
            store.save(key, features)
        else:
            reused += 1
        parts.append(features)
        log.info("chunk %d/%d saved: %d/%d images", len(parts), -(-len(paths) // step), end, len(paths))
    log.info("%d chunk(s) of %d images read back from an interrupted run, %d computed",
             reused, step, len(parts) - reused)
    if not parts:
        return np.zeros((0, runner.width), dtype=np.float32)
    return np.concatenate(parts)


def extraction_entry(backbone: str, spec: dict, weights: dict, width: int, runtime: str, precision: str,
                     mixed_precision: bool) -> dict:
    """What made a backbone's features, as a features file records it (metadata `extraction`) and a
    saved model carries it: features for the model must be made the same way. weights: the
    extraction's record — for ImageNet weights their file name and sha256, for random ones the seed."""
    if weights["source"] == "random":
        made = {"source": "random", "seed": weights["seed"]}
    else:
        made = {"source": "imagenet", "file": Path(weights["file"]).name, "sha256": weights["sha256"]}
    return {"backbone": backbone, "model": spec["model"], "preprocess": spec.get("preprocess", "none"),
            "input_size": spec["input_size"], "batch_size": spec["batch_size"], "width": int(width),
            "weights": made, "runtime": runtime,
            "precision": precision, "mixed_precision": bool(mixed_precision)}


def image_paths(sample: pd.DataFrame, root) -> list[Path]:
    return [Path(root) / p for p in sample["path"]]
