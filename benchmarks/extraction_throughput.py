"""Extraction throughput: the model alone vs the whole pipeline, the decode rate that must feed it,
and ConvNeXt as Keras builds it.

For each backbone, in one process and on the same random weights:
  model    — pre-decoded tensors through the compiled model (the ceiling),
  pipeline — 736x1100 JPEG files on disk → decode → resize → model (what the extract rule does),
  decode   — decode + resize alone on ONE thread (img/s per thread); model / decode is how many
             decode threads keep the model fed: size a GPU job's `threads` with it,
  keras    — (ConvNeXt only, --keras-predict) `model.predict` on the model as Keras builds it,
             with the grouped 7x7 convolution the depthwise conversion replaces.
Prints a Markdown table. --native-sizes runs each backbone at the input size it was trained at;
--mixed-precision runs float16 (GPU only). It runs on a GPU when TensorFlow sees one, else on the
CPU, and says which in its first line.

    .venv/bin/python benchmarks/extraction_throughput.py --input-size 224 --batch 16 --images 64 --keras-predict
    .venv/bin/python benchmarks/extraction_throughput.py --native-sizes --batch 128 --images 2048 --mixed-precision
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass import devices  # noqa: E402
from pinclass.backbones import build_backbone  # noqa: E402
from pinclass.config import repository_config  # noqa: E402
from pinclass.extraction import configure_threads, decode, extract_features  # noqa: E402


def pin_like_jpegs(folder: Path, count: int, rng) -> list[Path]:
    """Photos the size of a large Pinterest pin (736x1100), smooth enough to compress like one."""
    paths = []
    for i in range(count):
        small = rng.integers(0, 255, (23, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((736, 1100), Image.Resampling.BICUBIC)
        paths.append(folder / f"{i}.jpg")
        image.save(paths[-1], "JPEG", quality=85)
    return paths


def rate(run, images: int) -> float:
    run()  # warm-up: tracing, memory allocation, file cache
    began = time.perf_counter()
    run()
    return images / (time.perf_counter() - began)


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
    print("| backbone | input | model img/s | pipeline img/s | pipeline/model | decode img/s/thread "
          "| threads to feed the model | keras predict img/s | fast/keras |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        paths = pin_like_jpegs(Path(folder), args.images, rng)
        batches = -(-args.images // args.batch)
        for name in args.backbones:
            size = backbones[name]["input_size"] if args.native_sizes else args.input_size
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
