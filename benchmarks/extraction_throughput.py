"""Extraction throughput: the model alone vs the whole pipeline, and ConvNeXt as Keras builds it.

For each backbone, in one process and on the same random weights:
  model   — pre-decoded tensors through the compiled model (the ceiling),
  pipeline — JPEG files on disk → decode → resize → model (what the extract rule does),
  keras   — (ConvNeXt only, --keras-predict) `model.predict` on the model as Keras builds it,
            with the grouped 7x7 convolution the depthwise conversion replaces.
Prints img/s and the ratios pipeline/model and fast/keras as a Markdown table.

    .venv/bin/python benchmarks/extraction_throughput.py --input-size 224 --batch 32 --images 64 --keras-predict
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

from pinclass.backbones import BACKBONES, build_backbone  # noqa: E402
from pinclass.extraction import configure_threads, extract_features  # noqa: E402


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
    run()  # warm-up: tracing, memory allocation
    began = time.perf_counter()
    run()
    return images / (time.perf_counter() - began)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--keras-predict", action="store_true", help="also time ConvNeXt as Keras builds it")
    args = parser.parse_args()

    import tensorflow as tf

    configure_threads(args.threads)
    rng = np.random.default_rng(0)
    gpus = tf.config.list_physical_devices("GPU")
    print(f"# {len(gpus)} GPU(s), {args.threads} threads, input {args.input_size} px, batch {args.batch}, "
          f"{args.images} images, tensorflow {tf.__version__}")
    print("| backbone | model img/s | pipeline img/s | pipeline/model | keras predict img/s | fast/keras |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        paths = pin_like_jpegs(Path(folder), args.images, rng)
        tensors = rng.uniform(0, 255, (args.batch, args.input_size, args.input_size, 3)).astype(np.float32)
        batches = -(-args.images // args.batch)
        for name in args.backbones:
            model = build_backbone(name, args.input_size, seed=0)
            infer = tf.function(lambda x, m=model: m(x, training=False))
            constant = tf.constant(tensors)
            model_rate = rate(lambda: [np.asarray(infer(constant)) for _ in range(batches)], batches * args.batch)
            pipeline_rate = rate(lambda: extract_features(paths, model, args.input_size, args.batch, args.threads),
                                 args.images)
            keras_cells = ["", ""]
            if args.keras_predict and name.startswith("convnext"):
                original = build_backbone(name, args.input_size, seed=0, fast=False)
                keras_rate = rate(lambda: original.predict(tensors, batch_size=args.batch, verbose=0), args.batch)
                keras_cells = [f"{keras_rate:.1f}", f"{model_rate / keras_rate:.1f}x"]
            print(f"| {name} | {model_rate:.1f} | {pipeline_rate:.1f} | {pipeline_rate / model_rate:.2f} | "
                  f"{' | '.join(keras_cells)} |", flush=True)


if __name__ == "__main__":
    main()
