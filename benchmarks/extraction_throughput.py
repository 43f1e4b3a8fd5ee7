"""Extraction throughput: the model alone vs the whole pipeline, the decode rate that must feed it,
ConvNeXt as Keras builds it, and (--runtimes) the TensorFlow path against OpenVINO f32 and bf16.

For each backbone, in one process and on the same random weights:
  model    — pre-decoded tensors through the compiled model (the ceiling),
  pipeline — 736x1100 JPEG files on disk → decode → resize → model (what the extract rule does),
  decode   — decode + resize alone on ONE thread (img/s per thread); model / decode is how many
             decode threads keep the model fed: size a GPU job's `threads` with it,
  keras    — (ConvNeXt only, --keras-predict) `model.predict` on the model as Keras builds it,
             with the grouped 7x7 convolution the depthwise conversion replaces.
--runtimes prints another table instead, every column the whole pipeline (files → features) on the
CPU, each after a one-batch warm-up:
  predict  — `model.predict` of the model as Keras builds it (no depthwise conversion),
  TF path  — the project's TensorFlow runner (extract.runtime: tensorflow),
  OpenVINO — the same model converted, compiled at f32 and at bf16 (extract.runtime: openvino),
with their ratios to the TF path, the largest |f32 - TF| / max |TF| on one batch, and the share of
the demo's test images whose KNN (k=5, the project's knn settings) prediction changes from f32 to
bf16 features: the demo's sampled images (results/manifest/sample.parquet after
`snakemake --configfile demo/config.yaml results/manifest/sample.parquet`) extracted with both,
KNN fitted on the train split of each.
Prints a Markdown table. --native-sizes runs each backbone at the input size it was trained at;
--mixed-precision runs float16 (GPU only). It runs on a GPU when TensorFlow sees one, else on the
CPU, and says which in its first line.

    .venv/bin/python benchmarks/extraction_throughput.py --input-size 224 --batch 16 --images 64 --keras-predict
    .venv/bin/python benchmarks/extraction_throughput.py --native-sizes --batch 128 --images 2048 --mixed-precision
    .venv/bin/python benchmarks/extraction_throughput.py --native-sizes --batch 16 --images 32 --threads 2 --runtimes
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass import devices  # noqa: E402
from pinclass.backbones import build_backbone  # noqa: E402
from pinclass.config import classifier_settings, repository_config  # noqa: E402
from pinclass.extraction import configure_threads, decode, extract_features, image_paths  # noqa: E402
from pinclass.runtimes import Runner, UnsupportedPrecision, openvino_runner, tensorflow_runner  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pin_like_jpegs(folder: Path, count: int, rng) -> list[Path]:
    """Photos the size of a large Pinterest pin (736x1100), smooth enough to compress like one."""
    paths = []
    for i in range(count):
        small = rng.integers(0, 255, (23, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((736, 1100), Image.Resampling.BICUBIC)
        paths.append(folder / f"{i}.jpg")
        image.save(paths[-1], "JPEG", quality=85)
    return paths


def rate(run, images: int, warm_up=None) -> float:
    (warm_up or run)()  # tracing, memory allocation, file cache
    began = time.perf_counter()
    run()
    return images / (time.perf_counter() - began)


def knn_changed(sample: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> float:
    """Share of test rows whose KNN (k=5, the project's knn settings) prediction differs between
    features `a` and `b` of the same images, each KNN fitted on its own train rows."""
    from sklearn.neighbors import KNeighborsClassifier

    settings = classifier_settings("knn")
    train, test = (sample["split"] == "train").to_numpy(), (sample["split"] == "test").to_numpy()
    predictions = [KNeighborsClassifier(5, metric=settings["metric"], weights=settings["weights"])
                   .fit(x[train], sample["label"][train]).predict(x[test]) for x in (a, b)]
    return float(np.mean(predictions[0] != predictions[1]))


def runtime_row(name, spec, size, args, paths, demo) -> str:
    """predict, TF path, OpenVINO f32 and bf16 over the same files; ratios; the bf16 KNN change."""
    batch, threads = args.batch, args.threads
    model = build_backbone(spec, size, seed=0)
    original = build_backbone(spec, size, seed=0, fast=False)  # the same weights, as Keras builds it
    width = model.output_shape[-1]
    runners = {"predict": Runner(lambda x: original.predict(x, batch_size=len(x), verbose=0), width),
               "tf": tensorflow_runner(model), "f32": openvino_runner(model, batch, "f32", threads)}
    try:
        runners["bf16"] = openvino_runner(model, batch, "bf16", threads)
    except UnsupportedPrecision:
        pass
    rates = {key: rate(lambda r=runner: extract_features(paths, r, size, batch, threads), len(paths),
                       lambda r=runner: extract_features(paths[:batch], r, size, batch, threads))
             for key, runner in runners.items()}
    tensors = np.stack([decode(path, size) for path in (paths * batch)[:batch]])
    reference = runners["tf"].run(tensors)
    f32_error = np.abs(runners["f32"].run(tensors) - reference).max() / np.abs(reference).max()
    cells = [f"{rates[k]:.1f}" if k in rates else "no bf16" for k in ("predict", "tf", "f32", "bf16")]
    cells += [f"{rates[k] / rates['tf']:.2f}" if k in rates else "" for k in ("predict", "f32", "bf16")]
    cells.append(f"{f32_error:.1e}")
    if demo is not None and "bf16" in runners:
        sample, demo_paths = demo
        f32, bf16 = (extract_features(demo_paths, runners[k], size, batch, threads) for k in ("f32", "bf16"))
        cells.append(f"{knn_changed(sample, f32, bf16):.1%} of {(sample['split'] == 'test').sum()}")
    else:
        cells.append("")
    return f"| {name} | {size} | {' | '.join(cells)} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    backbones = repository_config()["backbones"]
    parser.add_argument("--backbones", nargs="+", default=list(backbones), help="entries of config.yaml")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--native-sizes", action="store_true", help="each backbone at its ImageNet input size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPU only)")
    parser.add_argument("--keras-predict", action="store_true", help="also time ConvNeXt as Keras builds it")
    parser.add_argument("--runtimes", action="store_true",
                        help="instead: predict, the TF path and OpenVINO f32/bf16 on the CPU, and bf16's KNN change")
    parser.add_argument("--demo-sample", type=Path, default=REPO / "results/manifest/sample.parquet",
                        help="the demo's sample, for --runtimes' KNN column")
    parser.add_argument("--demo-root", type=Path, default=REPO / "resources/demo_crawl")
    parser.add_argument("--no-knn", action="store_true", help="--runtimes without the KNN column")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    facts = devices.gather_facts()
    device = devices.use(devices.choose("gpu" if facts.gpus_seen else "cpu", facts))
    if args.mixed_precision:
        if device["kind"] != "gpu":
            parser.error("--mixed-precision needs a GPU")
        keras.mixed_precision.set_global_policy("mixed_float16")
    configure_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# {device['kind']}: {device['name']}; {facts.build}; {args.threads} threads, batch {args.batch}, "
          f"{args.images} images 736x1100 JPEG, policy {keras.mixed_precision.global_policy().name}")
    demo = None
    if args.runtimes:
        if device["kind"] != "cpu":
            parser.error("--runtimes compares CPU runtimes: run it where TensorFlow sees no GPU")
        if not args.no_knn:
            if not args.demo_sample.exists():
                parser.error(f"{args.demo_sample} is missing: run `.venv/bin/snakemake --cores 2 --configfile "
                             "demo/config.yaml results/manifest/sample.parquet` first, or pass --no-knn")
            sample = pd.read_parquet(args.demo_sample)
            demo = sample, image_paths(sample, args.demo_root)
        print("| backbone | input | predict img/s | TF path img/s | OpenVINO f32 img/s | OpenVINO bf16 img/s "
              "| predict/TF | f32/TF | bf16/TF | f32 vs TF max rel. diff | bf16 KNN k=5 changed |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print("| backbone | input | model img/s | pipeline img/s | pipeline/model | decode img/s/thread "
              "| threads to feed the model | keras predict img/s | fast/keras |")
        print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        paths = pin_like_jpegs(Path(folder), args.images, rng)
        batches = -(-args.images // args.batch)
        for name in args.backbones:
            size = backbones[name]["input_size"] if args.native_sizes else args.input_size
            if args.runtimes:
                print(runtime_row(name, backbones[name], size, args, paths, demo), flush=True)
                continue
            tensors = rng.uniform(0, 255, (args.batch, size, size, 3)).astype(np.float32)
            model = build_backbone(backbones[name], size, seed=0)
            infer = tf.function(lambda x, m=model: m(x, training=False))
            constant = tf.constant(tensors)
            model_rate = rate(lambda: [np.asarray(infer(constant)) for _ in range(batches)], batches * args.batch)
            pipeline_rate = rate(lambda: extract_features(paths, model, size, args.batch, args.threads), args.images)
            sample = paths[: min(len(paths), 64)]
            decode_rate = rate(lambda: [decode(path, size) for path in sample], len(sample))
            keras_cells = ["", ""]
            if args.keras_predict and name.startswith("convnext"):
                original = build_backbone(backbones[name], size, seed=0, fast=False)
                keras_rate = rate(lambda: original.predict(tensors, batch_size=args.batch, verbose=0), args.batch)
                keras_cells = [f"{keras_rate:.1f}", f"{model_rate / keras_rate:.1f}x"]
            print(f"| {name} | {size} | {model_rate:.1f} | {pipeline_rate:.1f} | {pipeline_rate / model_rate:.2f} | "
                  f"{decode_rate:.0f} | {model_rate / decode_rate:.1f} | {' | '.join(keras_cells)} |", flush=True)


if __name__ == "__main__":
    main()
