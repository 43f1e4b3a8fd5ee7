"""What predicting new images costs against extracting their features alone — in one run.

A saved model per classifier (knn, lsvm, nn) is trained on a generated crawl's features (seeded
random weights, as the demo), then a second crawl (another seed) is predicted through
`pinclass.predict.predict` — ingest and cleaning, the model's feature extraction, loading and
applying the model — and, on the same clean files, features are extracted alone (backbone built
and run, as predict does). After a warm-up, each is run --rounds times, alternating which goes
first; medians.

  ratio       predict total / extraction alone: what predicting adds to the unavoidable part;
  model share loading and applying the model (with the pins and boards tables) / predict total.

    .venv/bin/python benchmarks/predict_cost.py                      # the demo's sizes
    .venv/bin/python benchmarks/predict_cost.py --images-per-category 30 --input-size 224
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.backbones import build_backbone  # noqa: E402
from pinclass.cleaning import check_rows  # noqa: E402
from pinclass.config import repository_config  # noqa: E402
from pinclass.demo_crawl import make_demo_crawl  # noqa: E402
from pinclass.extraction import configure_threads, extract_features, extraction_entry  # noqa: E402
from pinclass.grid_search import evaluate  # noqa: E402
from pinclass.ingest import ingest  # noqa: E402
from pinclass.predict import predict  # noqa: E402
from pinclass.saved_models import cell_description, save_model  # noqa: E402

CLASSIFIERS = {"knn": {}, "lsvm": {}, "nn": {"max_epochs": 20, "patience": 3}}


def train_models(folder: Path, crawl: Path, spec: dict, categories: list, threads: int) -> dict:
    """A saved model per classifier, on the crawl's clean images (every fourth one held out)."""
    raw, _, _ = ingest({"root": str(crawl)})
    checks = check_rows(raw, crawl, categories, ["none", "other"], 32, 20_000_000, threads)
    rows = raw[checks["reason"].isna().to_numpy()].reset_index(drop=True)
    network = build_backbone(spec, spec["input_size"], None, seed=0)
    X = extract_features([crawl / p for p in rows["path"]], network, spec["input_size"], spec["batch_size"], threads)
    y = rows["category"].map(categories.index).to_numpy()
    split = np.where(np.arange(len(y)) % 4 == 0, "test", "train")
    fold = np.where(split == "test", -1, np.arange(len(y)) % 5)
    entry = extraction_entry("efficientnetv2_b0", spec, {"source": "random", "seed": 0}, X.shape[1], "tensorflow",
                             "f32", False)
    models = {}
    for name, settings in CLASSIFIERS.items():
        result, _, fitted = evaluate(name, X, y, split, fold, categories, settings, 0, n_jobs=threads,
                                     return_fitted=True)
        save_model(folder / name, fitted, cell_description("efficientnetv2_b0", result, [entry], {}))
        models[name] = folder / name
    return models


def extraction_alone(paths: list, spec: dict, threads: int) -> float:
    began = time.perf_counter()
    network = build_backbone(spec, spec["input_size"], None, seed=0)
    extract_features(paths, network, spec["input_size"], spec["batch_size"], threads)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images-per-category", type=int, default=8, help="of the crawl predicted (demo: 8)")
    parser.add_argument("--input-size", type=int, default=64, help="backbone input (demo: 64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    categories = repository_config()["categories"]
    spec = {"model": "EfficientNetV2B0", "preprocess": "none", "input_size": args.input_size, "batch_size": 32}
    configure_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_demo_crawl(tmp / "train", categories, ["none", "other"], 24, seed=7)
        make_demo_crawl(tmp / "new", categories, ["none", "other"], args.images_per_category, seed=8)
        models = train_models(tmp / "models", tmp / "train", spec, categories, args.threads)
        print(f"EfficientNetV2B0 at {args.input_size} px, random weights, {args.threads} threads, "
              f"{args.rounds} rounds (medians)")
        print("| model | images | predict s | ingest+clean s | extract s | model s | extraction alone s | ratio "
              "| model share |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, folder in models.items():
            pins, _ = predict(folder, [tmp / "new"], crawl=True, threads=args.threads)  # warm-up; its clean files
            paths = list(pins.loc[pins["reason"].isna(), "path"])
            runs, alone = [], []
            for round_ in range(args.rounds):
                for what in ("predict", "alone") if round_ % 2 == 0 else ("alone", "predict"):
                    if what == "alone":
                        alone.append(extraction_alone(paths, spec, args.threads))
                        continue
                    timings: dict = {}
                    began = time.perf_counter()
                    predict(folder, [tmp / "new"], crawl=True, threads=args.threads, timings=timings)
                    runs.append(timings | {"total_s": time.perf_counter() - began})
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            extraction = statistics.median(alone)
            print(f"| {name} | {len(paths)} | {median['total_s']:.2f} | {median['ingest_clean_s']:.2f} | "
                  f"{median['extract_s']:.2f} | {median['model_s']:.3f} | {extraction:.2f} | "
                  f"{median['total_s'] / extraction:.2f} | {100 * median['model_s'] / median['total_s']:.1f} % |")


if __name__ == "__main__":
    main()
