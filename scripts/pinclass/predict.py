"""Predict the topics of new images with a saved model, without Snakemake:

    python -m pinclass.predict MODEL_DIR PATH... [--top 3] [--boards] [--out file.csv]

PATH: an image file, any folder of images (its subfolders are its boards), or a crawl
(<user>/<board>/<pin>/<image>, found by its board files, or said with --crawl). The images go
through the workflow's own steps: ingest, the cleaning checks (an unreadable image is listed with
its reason, never skipped in silence), the features of the model's backbone made as the model's
were (ImageNet weights read from --weights and checked against the model's hash), the model.
Output: one row per image (--boards: per board) as CSV, on stdout or in --out.
"""

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pinclass.boards import BOARD_FILE, USER_BOARDS_FILE
from pinclass.cleaning import check_rows, merge_checks
from pinclass.config import repository_config
from pinclass.extraction import extraction_entry
from pinclass.ingest import REJECTED_COLUMNS, image_id, ingest, is_image_name
from pinclass.near_duplicates import Rule
from pinclass.pin_predictions import board_predictions, check_extraction, pins_table
from pinclass.runtimes import UnsupportedPrecision
from pinclass.saved_models import ModelError, SavedModel, load_model
from pinclass.weights import WeightsError

log = logging.getLogger("pinclass.predict")


def is_crawl(folder: Path) -> bool:
    """A crawl describes its boards: <user>/boards.json or <user>/<board>/board.json."""
    return any(folder.glob(f"*/{USER_BOARDS_FILE}")) or any(folder.glob(f"*/*/{BOARD_FILE}"))


def single_file(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(raw, rejected, summary) for one file, as `ingest` gives them for a folder."""
    name = path.name
    raw = pd.DataFrame({"image_id": [image_id(name)], "path": [name], "user": [""], "board": ["."],
                        "pin_id": [path.stem], "category": [None]}).astype("string").assign(bytes=path.stat().st_size)
    rejected = pd.DataFrame(columns=REJECTED_COLUMNS).astype("string")
    if not is_image_name(name):
        rejected = pd.DataFrame({"image_id": [image_id(name)], "path": [name], "category": [None],
                                 "reason": ["not_image_name"], "detail": [f"extension {path.suffix or '(none)'} is "
                                                                           "not an image type"]}).astype("string")
        raw = raw.iloc[:0]
    return raw, rejected, {"files": 1}


def gather(path: Path, crawl: bool, threads: int, clean_settings: dict):
    """(clean rows, rejected rows, the folder their paths are relative to) of one PATH."""
    if path.is_file():  # one image: its row as ingest would list it, its folder not walked
        raw, rejected, summary = single_file(path)
        root = path.parent
    elif path.is_dir():
        source = "root" if crawl or is_crawl(path) else "images"
        raw, rejected, summary = ingest({source: str(path)}, labelled=False)
        root = path
    else:
        raise FileNotFoundError(f"{path}: no such file or folder")
    checks = check_rows(raw, root, None, [], clean_settings["min_size"], clean_settings["max_pixels"], threads)
    clean, rejected, _ = merge_checks(raw, checks, rejected.astype("string"), summary, "keep",
                                      Rule.from_config(clean_settings))
    return clean, rejected, root


def extract(model: SavedModel, clean: pd.DataFrame, roots: list, weights_dir: Path, threads: int):
    """The features of each backbone the model needs, made as its extraction entry says; and the
    extraction entries of what was made, for `check_extraction`."""
    import keras

    from pinclass.backbones import build_backbone
    from pinclass.extraction import configure_threads, extract_features
    from pinclass.runtimes import make_runner
    from pinclass.weights import WeightsFile, verify_weights

    configure_threads(threads)
    paths = [Path(root) / path for root, path in zip(roots, clean["path"])]
    features, made = {}, {}
    for backbone, entry in model.extraction.items():
        spec = {key: entry[key] for key in ("model", "preprocess", "input_size", "batch_size")}
        if entry["weights"]["source"] == "random":
            weights_path, weights = None, entry["weights"]
        else:
            weights_path = weights_dir / entry["weights"]["file"]
            # the model's own hash decides: another file, even a published one, made other features
            recorded = WeightsFile(entry["weights"]["file"], "(the model's weights)", "sha256", entry["weights"]["sha256"])
            weights = verify_weights(weights_path, recorded, backbone)
        mixed = entry["mixed_precision"] and bool(keras.config.list_logical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
        network = build_backbone(spec, spec["input_size"], weights_path,
                                 seed=weights["seed"] if weights_path is None else None)
        runner = make_runner(entry["runtime"], network, spec["batch_size"], entry["precision"], threads)
        features[backbone] = extract_features(paths, runner, spec["input_size"], spec["batch_size"], threads, log)
        made[backbone] = extraction_entry(backbone, spec, weights, features[backbone].shape[1], entry["runtime"],
                                          entry["precision"], mixed)
    return features, made


def predict(model_dir, paths: list, top: int = 3, crawl: bool = False, weights_dir="resources/weights",
            threads: int = 2, timings: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pins, boards) for the images under `paths`: pins holds a row per image found, predicted or
    rejected (its `reason` and `detail` then set, its predictions empty). timings: filled with the
    seconds of each stage (ingest and cleaning, extraction, the model: loading and applying it) when given."""
    timings = {} if timings is None else timings
    began = time.perf_counter()
    model = load_model(model_dir)  # first: a bad model stops before any image is read
    timings["model_s"] = time.perf_counter() - began
    began = time.perf_counter()
    clean_settings = repository_config()["clean"]
    parts, rejections, roots = [], [], []
    for path in map(Path, paths):
        clean, rejected, root = gather(path, crawl, threads, clean_settings)
        parts.append(clean)
        rejections.append(rejected.assign(path=[str(root / p) for p in rejected["path"]]))
        roots += [root] * len(clean)
    clean = pd.concat(parts, ignore_index=True)
    timings["ingest_clean_s"] = time.perf_counter() - began
    began = time.perf_counter()
    features, made = extract(model, clean, roots, Path(weights_dir), threads)
    timings["extract_s"] = time.perf_counter() - began
    began = time.perf_counter()
    check_extraction(model, made)
    predicted, probabilities = model.predict(features)
    pins = pins_table(clean, predicted, probabilities, model.labels, top)
    pins["path"] = [str(root / path) for root, path in zip(roots, clean["path"])]
    boards = board_predictions(pins, probabilities, model.labels)
    timings["model_s"] += time.perf_counter() - began
    rejected = pd.concat(rejections, ignore_index=True)[["image_id", "path", "reason", "detail"]]
    return pd.concat([pins.assign(reason=pd.NA, detail=pd.NA), rejected], ignore_index=True), boards


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pinclass.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model folder: results/models/<backbone>/<classifier>")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="an image, a folder of images, or a crawl")
    parser.add_argument("--top", type=int, default=3, help="categories per image, most probable first")
    parser.add_argument("--boards", action="store_true", help="one row per board instead of per image")
    parser.add_argument("--crawl", action="store_true", help="read folders as crawls (<user>/<board>/<pin>/)")
    parser.add_argument("--weights", default="resources/weights", help="folder of the ImageNet weights files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="CSV file to write (default: standard output)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.top < 1:
        parser.error("--top must be at least 1")
    try:
        pins, boards = predict(args.model, args.paths, args.top, args.crawl, args.weights, args.threads)
    except (ModelError, WeightsError, UnsupportedPrecision, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    table = boards if args.boards else pins
    table.to_csv(args.out or sys.stdout, index=False, float_format="%.4f")
    rejected = int(pins["reason"].notna().sum())
    log.info("%d images predicted, %d rejected (listed with their reason), %d boards", len(pins) - rejected,
             rejected, len(boards))
    return 0


if __name__ == "__main__":
    sys.exit(main())
